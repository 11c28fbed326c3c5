"""A broken target entry breaks only that target, and errors point at its own lines."""

from __future__ import annotations

import pytest

CONFIG = """\
name = "p"
target = "dev"

[targets.dev]
engine = "duckdb"
path = "warehouse/dev.duckdb"

[targets.broken]
engine = {engine}
path = "warehouse/broken.duckdb"
{extra}
"""


@pytest.mark.parametrize("engine, extra, line, message", [
    ('"oracle"', "", 9, "unknown engine 'oracle'"),
    ("123", "", 9, "must be a string, got 123"),
    ('"duckdb"', 'paht = "x.duckdb"', 11, "unknown key 'targets.broken.paht'"),
])
def test_a_broken_target_breaks_only_itself(make_project, run_cli, engine, extra, line, message):
    root = make_project({"toolkit.toml": CONFIG.format(engine=engine, extra=extra), "features/a.sql": "select 1 as x"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err  # the default target is fine
    code, out, err = run_cli("run", "--target", "broken", cwd=root)
    assert code == 2, out + err
    assert f"toolkit.toml:{line}:" in err and message in err and "Traceback" not in err, err


def test_a_target_that_is_not_a_table_points_at_itself(make_project, run_cli):
    config = 'name = "p"\n\n[targets]\ndev = { engine = "duckdb", path = "w.duckdb" }\nbad = "duckdb"\n'
    root = make_project({"toolkit.toml": config, "features/a.sql": "select 1 as x"})
    code, out, err = run_cli("plan", cwd=root)
    assert code == 2 and "toolkit.toml:5:" in err and "'targets.bad' must be a table" in err, err
