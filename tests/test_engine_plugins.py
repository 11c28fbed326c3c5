"""Other warehouses plug in through the `toolkit.engines` entry point, no change to toolkit."""

from __future__ import annotations

import os
import textwrap

import pytest

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"


def install_plugin(site) -> None:
    """A minimal installed distribution declaring an engine (what pip would leave on disk)."""
    (site / "toolkit_fake").mkdir(parents=True)
    (site / "toolkit_fake" / "__init__.py").write_text(textwrap.dedent("""\
        from toolkit.engines.duckdb import DuckDBEngine

        class FakeWarehouse(DuckDBEngine):
            '''A "warehouse" that is DuckDB under another name and a setting of its own.'''
            name = "fake"

            def __init__(self, target, root):
                target.settings["path"] = target.settings.pop("file")
                super().__init__(target, root)
        """))
    info = site / "toolkit_fake-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toolkit-fake\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[toolkit.engines]\nfake = toolkit_fake:FakeWarehouse\n")


def test_engine_from_entry_point_runs_a_project(make_project, run_cli, tmp_path):
    site = tmp_path / "site"
    install_plugin(site)
    root = make_project({
        "toolkit.toml": 'name = "p"\ntarget = "wh"\n[targets.wh]\nengine = "fake"\nfile = "warehouse/fake.duckdb"\n',
        "features/a.sql": "select 1 as x",
    })
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    code, out, err = run_cli("run", cwd=root, env=env)
    assert code == 0, out + err
    assert (root / "warehouse" / "fake.duckdb").exists()


def test_unknown_engine_names_the_extension_point(make_project, run_cli):
    root = make_project({"toolkit.toml": 'name = "p"\ntarget = "wh"\n[targets.wh]\nengine = "snowflake"\n', "features/a.sql": "select 1 as x"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and "unknown engine 'snowflake'" in err and "toolkit.engines entry point" in err, err
