"""The benchmark's project generator (tests/bench/layered_project.py) makes a
project toolkit builds: every step valid, the last one holding every source row.
No timing here; the benchmark itself is tests/bench/bench_run.py."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

BENCH = Path(__file__).resolve().parent / "bench" / "layered_project.py"


def _generator():
    spec = importlib.util.spec_from_file_location("layered_project", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("layered_project", module)
    spec.loader.exec_module(module)
    return module


def test_generated_project_runs(tmp_path):
    layered = _generator()
    project = layered.generate(tmp_path / "bench", 20)
    assert project.last_step == "step_0019"
    assert layered.floor_statements(20) == project.floor_statements()  # deterministic

    done = subprocess.run(
        [sys.executable, "-m", "toolkit", "run", "--threads", "2"],
        cwd=project.root,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    with duckdb.connect(str(project.database), read_only=True) as connection:
        assert connection.execute("select count(*) from features.step_0019").fetchone()[0] == 10_000
        statuses = connection.execute(
            "select status, count(*) from toolkit.step_runs group by status"
        ).fetchall()
    assert statuses == [("success", 20)]


def _toolkit_run(root: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "toolkit", "run", "--threads", "2"], cwd=root,
                          env={**os.environ, "NO_COLOR": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _floor(path: Path, layered, statements: list[str]) -> None:
    layered.create_source(path)
    with duckdb.connect(str(path)) as connection:
        for statement in statements:
            connection.execute(statement)


def test_one_change_rebuilds_exactly_the_steps_whose_data_changes(tmp_path):
    """Column fingerprints: after one computed expression changes, toolkit rebuilds the
    steps whose data the change reaches, and every published table equals the same
    SQL run directly (a missed rebuild would leave one stale)."""
    layered = _generator()
    project = layered.generate(tmp_path / "bench", 100)
    _toolkit_run(project.root)
    _floor(tmp_path / "before.duckdb", layered, project.floor_statements())
    changed, downstream = project.change_step()
    done = _toolkit_run(project.root)
    _floor(tmp_path / "after.duckdb", layered, project.floor_statements())
    rebuilt = {line.split()[1] for line in done.stdout.splitlines() if line.strip().startswith("success")}

    with duckdb.connect(str(project.database), read_only=True) as connection:
        connection.execute(f"attach '{tmp_path / 'before.duckdb'}' as before (read_only)")
        connection.execute(f"attach '{tmp_path / 'after.duckdb'}' as after (read_only)")
        catalog = connection.execute("select current_database()").fetchone()[0]

        def differ(left: str, right: str, step: str) -> bool:
            a, b = f"{left}.features.{step}", f"{right}.features.{step}"
            query = f"select count(*) from ((from {a} except all from {b}) union all (from {b} except all from {a}))"
            return connection.execute(query).fetchone()[0] > 0

        data_changed = {s.name for s in project.steps if differ("before", "after", s.name)}
        stale = [s.name for s in project.steps if differ("after", catalog, s.name)]
    assert stale == []
    assert changed in data_changed and data_changed <= rebuilt <= {changed} | downstream
    assert len(rebuilt) < len(downstream) / 2, (rebuilt, downstream)  # readers of other columns are reused
