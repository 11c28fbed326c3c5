"""Ctrl-C during a run: the statements in flight are cancelled in the warehouse, the
command exits 130 without a traceback, what was published stays as it was, and the
next run goes on from there.

The slow step below would run for hours (a cross join of two ranges of 3 million);
each run is given a generous deadline to end after SIGINT, which it only meets when
the statement was cancelled: before, the run waited for its builds to finish.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _projects import make_project, query
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

pytestmark = pytest.mark.slow

SLOW = """\
{{ config(materialized="table") }}
select count(*) as n, sum(a.i * b.i) as total
from generate_series(1, {{ var("n", 10) }}) as a(i), generate_series(1, {{ var("n", 10) }}) as b(i)
"""
AFTER = "select n from {{ ref('slow') }}\n"
ENDS_WITHIN = 120  # seconds after SIGINT: a hang guard, not a timing claim
HOURS = 3_000_000  # the n that makes the slow step run for hours


def interrupted_run(root: Path, *arguments: str, after: float | None = None,
                    when: dict | None = None) -> tuple[int, str]:
    """Run toolkit, send SIGINT once the slow step has been running a second (or `after`
    seconds from the start, or a second after the JSON event `when`), and return the exit
    code and everything it printed."""
    when = when or {"event": "step_started", "step": "slow"}
    process = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "run", "--log-format", "json", *arguments], cwd=root,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background job may inherit SIG_IGN
    )
    printed = []
    try:
        for line in process.stdout if after is None else ():
            printed.append(line)
            if line.startswith("{") and when.items() <= json.loads(line).items():
                break
        else:
            if after is None:
                raise AssertionError("the slow step never started:\n" + "".join(printed))
        time.sleep(1.0 if after is None else after)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=ENDS_WITHIN)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, "".join(printed) + rest


def check_interrupted(code: int, printed: str) -> None:
    assert code == 130, printed
    assert "Traceback" not in printed, printed
    assert printed.rstrip().endswith("aborted"), printed


def test_ctrl_c_cancels_a_duckdb_build_and_keeps_what_was_published(tmp_path):
    root = make_project(tmp_path / "p", {"features/slow.sql": SLOW, "features/after.sql": AFTER})
    assert subprocess.run([sys.executable, "-m", "toolkit", "run"], cwd=root, capture_output=True).returncode == 0
    check_interrupted(*interrupted_run(root, "--vars", f"n={HOURS}"))
    assert query(root, "select n, total from features.slow") == [(100, 3025)]
    again = subprocess.run([sys.executable, "-m", "toolkit", "run"], cwd=root, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    # the interrupted run says so itself, with what it got to (it stayed 'running' until the next run called it abandoned)
    assert query(root, "select status from toolkit.runs order by run_id") == [("success",), ("interrupted",), ("success",)]
    assert query(root, "select step, status from toolkit.step_runs where run_id = 2 order by step") == [
        ("after", "interrupted"), ("slow", "interrupted")]


def test_ctrl_c_while_the_plan_reads_a_source_on_duckdb(tmp_path):
    """The statement runs on the main thread, where DuckDB answers Ctrl-C with a
    RuntimeError of its own: still exit 130, not an internal error."""
    sources = '[app]\nschema = "app"\n\n[app.tables.endless]\ncolumns = { id = "bigint" }\n'
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": sources,
                                         "features/slow.sql": "select count(*) as n from {{ source('app', 'endless') }}"},
                        setup_sql=f"create schema app; create view app.endless as select a.range * b.range as id "
                                  f"from range({HOURS}) as a, range({HOURS}) as b")
    check_interrupted(*interrupted_run(root, after=6.0))  # well past start-up: the plan fingerprints the source


def test_ctrl_c_while_the_plan_reads_a_source_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    """An ADBC call checks for no signal: the watcher thread (toolkit/interrupts.py) cancels it."""
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, f"create view app.endless as select a * b as id "
                     f"from generate_series(1, {HOURS}) as a, generate_series(1, {HOURS}) as b")
    sources = '[app]\nschema = "app"\n\n[app.tables.endless]\ncolumns = { id = "bigint" }\n'
    root = make_project(tmp_path / "p", {"toolkit.toml": PG_CONFIG.format(url=pg_url), "warehouse/sources.toml": sources,
                                         "features/slow.sql": "select count(*) as n from {{ source('app', 'endless') }}"})
    check_interrupted(*interrupted_run(root, after=6.0))
    still = "select count(*) from pg_stat_activity where state = 'active' and query like '%endless%' and pid <> pg_backend_pid()"
    assert pg_query(pg_url, still) == [(0,)]


PG_CONFIG = """\
name = "interrupted"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "{url}"
"""


def test_ctrl_c_cancels_the_statement_on_the_postgres_server(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = make_project(tmp_path / "p", {"toolkit.toml": PG_CONFIG.format(url=pg_url),
                                         "features/slow.sql": SLOW, "features/after.sql": AFTER})
    first = subprocess.run([sys.executable, "-m", "toolkit", "run"], cwd=root, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    check_interrupted(*interrupted_run(root, "--vars", f"n={HOURS}"))
    assert [(n, int(total)) for n, total in pg_query(pg_url, "select n, total from features.slow")] == [(100, 3025)]
    # cancelled on the server, not left running there by a client that went away
    still = "select count(*) from pg_stat_activity where state = 'active' and query like '%generate_series(1, 3000000)%' " \
            "and pid <> pg_backend_pid()"
    assert pg_query(pg_url, still) == [(0,)]


FAST_MODEL = """\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="training", label="label", key="id", split="random", metrics=["accuracy"])
def slow():
    return LogisticRegression()
"""
SLOW_MODEL = """\
import time

from sklearn.base import BaseEstimator, ClassifierMixin
from toolkit import model


class Sleepy(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        time.sleep(3600)  # in Python, like a long fit: no interrupt of the warehouse reaches it
        return self


@model(training="training", label="label", key="id", split="random", metrics=["accuracy"])
def slow():
    return Sleepy()
"""
TRAINING = "select i as id, i * 0.5 as x, i % 2 as label from range(100) as t(i)\n"


def test_ctrl_c_during_a_python_fit_ends_the_run_without_waiting_for_it(tmp_path):
    """A fit does not stop for Ctrl-C: the run used to wait for it to finish (an hour
    here). It ends after a short grace instead, saying which step it left running, and
    the registry and what was published are as before."""
    root = make_project(tmp_path / "p", {"features/training.sql": TRAINING, "models/slow.py": FAST_MODEL})
    first = subprocess.run([sys.executable, "-m", "toolkit", "run"], cwd=root, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    (root / "models/slow.py").write_text(SLOW_MODEL)
    code, printed = interrupted_run(root, when={"event": "step_progress", "step": "slow", "phase": "fitting candidate "
                                                "1 of 1 (Sleepy) on 80 rows, evaluating on 20"})
    check_interrupted(code, printed)
    assert "slow: still running after Ctrl-C (a model's fit does not stop for it)" in printed, printed
    assert query(root, "select version from toolkit.model_versions") == [(1,)]
    (root / "models/slow.py").write_text(FAST_MODEL)
    again = subprocess.run([sys.executable, "-m", "toolkit", "run"], cwd=root, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    # recorded at once, with the steps it published (training, reused) and the fit it left
    # running; it was left 'running' for the next run to call abandoned, with no step rows
    assert query(root, "select status from toolkit.runs order by run_id") == [("success",), ("interrupted",), ("success",)]
    assert query(root, "select step, status from toolkit.step_runs where run_id = 2 order by step") == [
        ("slow", "interrupted"), ("training", "reused")]
    assert query(root, "select version from toolkit.model_versions") == [(1,)]  # the same code: the same version
