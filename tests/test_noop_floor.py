"""The no-op run's fixed costs (issue 17): what a run does is unchanged, it only does less
of it twice. The step order is sorted once per project; `toolkit run` and `toolkit plan`
start opening the target before importing the planner; a session reads the state's
catalog once to check its version and its owner; a run's closing state rows (its steps,
its tests, its status) commit together."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from toolkit import dag as dag_module
from toolkit.dag import Dag

from _projects import database_path, env, make_test_project, run_in_process

FILES = {
    "features/a.sql": "select 1 as id, 'x' as label\n",
    "features/b.sql": "select id, label from {{ ref('a') }}\n",
}


def query(root, sql: str) -> list[tuple]:
    with duckdb.connect(str(database_path(root)), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_the_step_order_is_sorted_once_and_handed_out_as_a_fresh_list(monkeypatch):
    sorts = []
    real = dag_module.TopologicalSorter

    def counting(graph):
        sorts.append(1)
        return real(graph)

    monkeypatch.setattr(dag_module, "TopologicalSorter", counting)
    graph = Dag({"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}})
    first = graph.order()
    first.append("changed by a caller")
    assert graph.order() == ["a", "b", "c", "d"] and graph.order() is not graph.order()
    assert len(sorts) == 1


OPENED = """\
import sys
from toolkit import session
from toolkit.cli import main

seen = []
start = session.SessionAhead.__init__

def recording(self, *args, **kwargs):
    seen.append(sorted(m for m in ("toolkit.execute", "toolkit.planning") if m in sys.modules))
    start(self, *args, **kwargs)

session.SessionAhead.__init__ = recording
sys.argv = ["toolkit", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as done:
    code = done.code
print("SEEN", seen, "EXIT", code)
"""


@pytest.mark.parametrize("command", ["run", "plan"])
def test_the_target_opens_before_the_planner_is_imported(tmp_path, command):
    """The open (importing duckdb, attaching the file) overlaps the planner's imports."""
    root = make_test_project(tmp_path / "p", FILES)
    done = subprocess.run([sys.executable, "-c", OPENED, command], cwd=root, capture_output=True, text=True, env=env(), timeout=120)
    assert "EXIT 0" in done.stdout, done.stdout + done.stderr
    assert "SEEN [[]]" in done.stdout, done.stdout


def test_a_bad_option_is_still_refused_before_the_target_is_opened(tmp_path):
    root = make_test_project(tmp_path / "p", FILES)
    done = subprocess.run([sys.executable, "-m", "toolkit", "run", "--env", "Bad-Name"], cwd=root, capture_output=True, text=True,
                          env=env(), timeout=120)
    assert done.returncode == 2 and "environment name 'Bad-Name' is not valid" in done.stderr + done.stdout
    assert not (root / "warehouse").exists() or not any((root / "warehouse").glob("*.duckdb"))


def test_a_session_reads_the_state_catalog_once(tmp_path, monkeypatch):
    from toolkit.config import load_config
    from toolkit.engines.duckdb import DuckDBEngine
    from toolkit.session import open_session

    root = make_test_project(tmp_path / "p", FILES)
    run_in_process(root)
    reads = []
    catalog = DuckDBEngine.catalog

    def counting(self, schema):
        reads.append(schema)
        return catalog(self, schema)

    monkeypatch.setattr(DuckDBEngine, "catalog", counting)
    with open_session(load_config(root)) as session:
        assert session.state.owner() is not None
    assert reads == ["toolkit"]


def test_a_runs_closing_rows_commit_together(tmp_path, monkeypatch):
    """Its step rows are not left behind without its status (and the next run still
    calls the unfinished run abandoned)."""
    from toolkit.state import State

    root = make_test_project(tmp_path / "p", FILES)
    run_in_process(root)

    def fails(self, run_id, status):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(State, "finish_run", fails)
    with pytest.raises(RuntimeError):
        run_in_process(root)
    monkeypatch.undo()
    assert query(root, "select count(*) from toolkit.step_runs where run_id = 2") == [(0,)]
    run_in_process(root)
    assert query(root, "select run_id, status from toolkit.runs order by run_id") == [(1, "success"), (2, "abandoned"), (3, "success")]


def test_the_options_module_imports_no_sqlglot_and_agrees_with_the_state():
    code = "from toolkit import planoptions, state; print(planoptions.PROD == state.PROD)"
    done = subprocess.run([sys.executable, "-c", "import sys, toolkit.cli, toolkit.planoptions; "
                           "print(sorted(m for m in sys.modules if m.startswith('sqlglot')))"],
                          capture_output=True, text=True, env=env(), timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=60)
    assert done.stdout.strip() == "True", done.stdout + done.stderr
