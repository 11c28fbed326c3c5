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
