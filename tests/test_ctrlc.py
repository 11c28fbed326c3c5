"""Ctrl-C and incremental steps updated in place: such an update commits its new rows into
the published table before its publish, so after Ctrl-C none may start, and one that did
commit is recorded as published. An update queued behind a slow one (incremental updates
commit one at a time) used to start once the interrupted one let go, and commit: the
state said "interrupted before it was published" and named the previous run, while the
published table held the interrupted run's rows and toolkit.intervals its window.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest

from _projects import execute, make_project, query
from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, with_database
from test_interrupt import ENDS_WITHIN, HOURS, check_interrupted, interrupted_run

pytestmark = pytest.mark.slow

SOURCES = '[app]\nschema = "app"\n\n[app.tables.events]\ncolumns = { event_id = "bigint", amount = "double", happened_at = "timestamp" }\n'
SETUP = ("create schema app; create table app.events (event_id bigint, amount double precision, happened_at timestamp); "
         "insert into app.events values (1, 1.0, '2025-03-01 10:00'), (2, 2.0, '2025-03-30 10:00')")
NEW_EVENT = "insert into app.events values (9001, 5.0, '2025-04-01 01:00')"
# The slow update: its new rows are staged (inside the update, holding the lock) by a query that
# runs for hours once --vars spin is large.
MERGE = """\
{{ config(materialized="incremental", unique_key="event_id") }}
select event_id, amount, happened_at from {{ source("app", "events") }}
{% if is_incremental() %}
where happened_at > (select max(happened_at) from {{ this }})
  and (select count(*) from generate_series(1, {{ var("spin", 1) }}) as a(i), generate_series(1, {{ var("spin", 1) }}) as b(i)) >= 0
{% endif %}
"""
# Starts once `gate` is rebuilt (the new event), a second or more (--vars gate): by then the slow
# update holds the lock incremental updates take one at a time, and this one waits for its turn.
TIME = """\
{{ config(materialized="incremental", time_column="happened_at", lookback="2 days") }}
select event_id, amount, happened_at from {{ source("app", "events") }}
where event_id not in (select n from {{ ref("gate") }})
"""
GATE = """\
select -count(*) as n from {{ source("app", "events") }} as e, generate_series(1, {{ var("gate", 1) }}) as g(i)
"""
# Updated in place by a query that runs for hours once --vars spin is large: Ctrl-C stops it mid-update.
SLOW_TIME = """\
{{ config(materialized="incremental", time_column="happened_at", lookback="2 days") }}
select event_id, amount, happened_at from {{ source("app", "events") }}
where (select count(*) from generate_series(1, {{ var("spin", 1) }}) as a(i), generate_series(1, {{ var("spin", 1) }}) as b(i)) >= 0
"""
DUCKDB_GATE, PG_GATE = 1_000_000_000, 3_000_000  # rows per event: gate's build takes a second or more
PG_CONFIG = 'name = "ctrlc"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


def toolkit(root, *arguments: str) -> None:
    done = subprocess.run([sys.executable, "-m", "toolkit", *arguments], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def interrupted_behind_slow_update(root, gate: int) -> str:
    """Ctrl-C while ev_merge's update runs and ev_time's waits behind it; what the run printed."""
    code, printed = interrupted_run(root, "--vars", f"spin={HOURS},gate={gate}", when={"event": "step_started", "step": "ev_time"})
    check_interrupted(code, printed)
    return printed


def assert_untouched(read, printed: str) -> None:
    """ev_time as the first run left it, and the state saying so (read: rows of a query)."""
    assert read("select step, status from toolkit.step_runs where run_id = 2 and step like 'ev_%' order by step") == [
        ("ev_merge", "interrupted"), ("ev_time", "interrupted")], printed
    assert read("select count(*) from features.ev_time where event_id = 9001") == [(0,)], printed
    assert read("select run_id from toolkit.published where step = 'ev_time'") == [(1,)], printed
    assert read("select run_id from toolkit.intervals where step = 'ev_time' order by run_id") == [(1,)], printed


def test_ctrl_c_starts_no_in_place_update_queued_behind_a_slow_one_on_duckdb(tmp_path):
    files = {"warehouse/sources.toml": SOURCES, "features/ev_merge.sql": MERGE, "features/ev_time.sql": TIME,
             "features/gate.sql": GATE}
    root = make_project(tmp_path / "p", files, setup_sql=SETUP)
    toolkit(root, "run", "--vars", f"gate={DUCKDB_GATE}")
    execute(root, NEW_EVENT)
    printed = interrupted_behind_slow_update(root, DUCKDB_GATE)
    assert_untouched(lambda sql: query(root, sql), printed)
    toolkit(root, "run", "--vars", f"gate={DUCKDB_GATE}")  # the next run brings the new event in, once
    assert query(root, "select count(*) from features.ev_time where event_id = 9001") == [(1,)]
    assert query(root, "select count(*) from features.ev_merge where event_id = 9001") == [(1,)]


@pytest.fixture
def fixer_pg_url():
    """An empty PostgreSQL database named fixer_ctrlc_*, dropped afterwards."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    database = f"fixer_ctrlc_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_ctrl_c_starts_no_in_place_update_queued_behind_a_slow_one_on_postgres(tmp_path, fixer_pg_url):
    for statement in SETUP.split("; "):
        pg_query(fixer_pg_url, statement)
    files = {"toolkit.toml": PG_CONFIG.format(url=fixer_pg_url), "warehouse/sources.toml": SOURCES,
             "features/ev_merge.sql": MERGE, "features/ev_time.sql": TIME, "features/gate.sql": GATE}
    root = make_project(tmp_path / "p", files)
    toolkit(root, "run", "--vars", f"gate={PG_GATE}")
    pg_query(fixer_pg_url, NEW_EVENT)
    printed = interrupted_behind_slow_update(root, PG_GATE)
    assert_untouched(lambda sql: pg_query(fixer_pg_url, sql), printed)
    toolkit(root, "run", "--vars", f"gate={PG_GATE}")
    assert pg_query(fixer_pg_url, "select count(*) from features.ev_time where event_id = 9001") == [(1,)]


def test_ctrl_c_during_an_in_place_update_rolls_it_back(tmp_path):
    """The update running when Ctrl-C comes is cancelled inside its transaction: nothing of it stays."""
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, "features/ev_time.sql": SLOW_TIME}, setup_sql=SETUP)
    toolkit(root, "run")
    execute(root, NEW_EVENT)
    code, printed = interrupted_run(root, "--vars", f"spin={HOURS}", when={"event": "step_started", "step": "ev_time"})
    check_interrupted(code, printed)
    assert query(root, "select step, status from toolkit.step_runs where run_id = 2") == [("ev_time", "interrupted")], printed
    assert query(root, "select count(*) from features.ev_time where event_id = 9001") == [(0,)], printed
    assert query(root, "select run_id from toolkit.published where step = 'ev_time'") == [(1,)], printed
    assert query(root, "select run_id from toolkit.intervals where step = 'ev_time' order by run_id") == [(1,)], printed


SLOW_TABLE = 'select count(*) as n from generate_series(1, {{ var("hours", 1) }}) as a(i), generate_series(1, {{ var("hours", 1) }}) as b(i)\n'
PLAIN_TIME = """\
{{ config(materialized="incremental", time_column="happened_at", lookback="2 days") }}
select event_id, amount, happened_at from {{ source("app", "events") }}
"""
# toolkit with its publishes put off while a build runs (every hour rather than every half
# second): an update that committed in place is still waiting for its publish at Ctrl-C.
PUBLISHES_PUT_OFF = ("import runpy, sys; from toolkit import execute; execute._Runner.PUBLISH_INTERVAL = 3600; "
                     "sys.argv[0] = 'toolkit'; runpy.run_module('toolkit', run_name='__main__')")


def test_ctrl_c_after_an_in_place_update_committed_publishes_it_on_postgres(tmp_path, fixer_pg_url):
    """Its rows are in the published table already: the state says so (published by this run),
    rather than "interrupted before it was published" with the previous run's rows recorded."""
    for statement in SETUP.split("; "):
        pg_query(fixer_pg_url, statement)
    files = {"toolkit.toml": PG_CONFIG.format(url=fixer_pg_url), "warehouse/sources.toml": SOURCES,
             "features/ev_time.sql": PLAIN_TIME, "features/slow.sql": SLOW_TABLE}
    root = make_project(tmp_path / "p", files)
    toolkit(root, "run")
    pg_query(fixer_pg_url, NEW_EVENT)
    process = subprocess.Popen(
        [sys.executable, "-c", PUBLISHES_PUT_OFF, "run", "--vars", f"hours={HOURS}"], cwd=root,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + ENDS_WITHIN
        # its window is recorded once the update committed
        while pg_query(fixer_pg_url, "select count(*) from toolkit.intervals where run_id = 2") == [(0,)]:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0] if process.poll() is not None else ""
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        printed, _ = process.communicate(timeout=ENDS_WITHIN)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    check_interrupted(process.returncode, printed)
    assert pg_query(fixer_pg_url, "select step, status from toolkit.step_runs where run_id = 2 order by step") == [
        ("ev_time", "success"), ("slow", "interrupted")], printed
    assert pg_query(fixer_pg_url, "select count(*) from features.ev_time where event_id = 9001") == [(1,)], printed
    assert pg_query(fixer_pg_url, "select run_id from toolkit.published where step = 'ev_time'") == [(2,)], printed
    toolkit(root, "run")  # nothing of the interrupted run's is brought in again
    assert pg_query(fixer_pg_url, "select count(*) from features.ev_time where event_id = 9001") == [(1,)]
