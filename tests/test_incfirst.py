"""An update of an incremental step (or a re-run of a step reading the clock) keeps the column
definitions it was built with: its incremental readers take new rows, not a rebuild.

The first update after a build recorded one pseudo column "*" where the build had recorded
its columns apart; the definition of every incremental step reading it (which holds the
definitions of the upstream columns it reads) changed, and that step was rebuilt from scratch,
losing the rows its inputs no longer held (planning._accumulated, _volatile).
"""

from __future__ import annotations

import json

from _projects import execute, make_project, published, query, run_in_process

SOURCES = """
[app]
schema = "app"

[app.tables.events]
columns = { id = "bigint", user_id = "bigint", ts = "timestamp" }

[app.tables.users]
columns = { user_id = "bigint", tier = "varchar" }
"""
SETUP = """
create schema app;
create table app.events as select i as id, i % 4 as user_id, timestamp '2025-01-01' + to_days(cast(i as integer)) as ts
    from range(20) t(i);
create table app.users as select i as user_id, 'tier' || i as tier from range(4) t(i);
"""
EVENTS = "{{ config(materialized='incremental', time_column='ts', lookback='2 days') }}\nselect id, user_id, ts from {{ source('app', 'events') }}"
# An incremental log of events enriched from a dimension whose rows come and go.
ENRICHED = """\
{{ config(materialized='incremental', unique_key='id') }}
select e.id, e.ts, u.tier
from {{ ref('ev') }} e join {{ source('app', 'users') }} u on u.user_id = e.user_id
{% if is_incremental() %} where e.ts > (select max(ts) from {{ this }}) {% endif %}
"""
COUNTS = "select count(*) as n from {{ ref('ev') }}"
FILES = {"warehouse/sources.toml": SOURCES, "features/ev.sql": EVENTS, "features/enriched.sql": ENRICHED, "features/counts.sql": COUNTS}


def project(tmp_path, files=FILES):
    root = make_project(tmp_path / "proj", files, SETUP)
    summary = run_in_process(root)
    assert summary.ok, summary
    return root


def actions(summary) -> dict[str, tuple[str, str]]:
    return {r.step: (r.action, r.reason) for r in summary.results}


def new_event_and_a_user_gone(root, event_id: int) -> None:
    execute(root, f"delete from app.users where user_id = {event_id % 4}; "
                  f"insert into app.events values ({event_id}, {event_id % 4 + 1}, timestamp '2025-02-01' + to_days({event_id}))")


def column_names(root, step: str) -> list[str]:
    return sorted(json.loads(published(root)[step]["columns"]))


def test_the_first_update_after_a_build_updates_an_incremental_reader(tmp_path):
    root = project(tmp_path)
    built = column_names(root, "ev")
    assert built == ["id", "ts", "user_id"]
    new_event_and_a_user_gone(root, 100)
    summary = run_in_process(root)
    assert summary.ok, summary
    found = actions(summary)
    assert found["ev"] == ("incremental", "new rows")
    assert found["enriched"] == ("incremental", "new rows"), found  # was: rebuild, upstream changed (ev)
    assert query(root, "select count(*) from features.enriched") == [(21,)]  # the gone user's 5 rows kept
    assert column_names(root, "ev") == built  # not one "*"
    # A reader that is a table is rebuilt: ev's rows changed.
    assert found["counts"][0] == "rebuild"
    assert query(root, "select n from features.counts") == [(21,)]
    new_event_and_a_user_gone(root, 101)  # later updates, as before
    found = actions(run_in_process(root))
    assert (found["enriched"], found["counts"][0]) == (("incremental", "new rows"), "rebuild")
    assert query(root, "select count(*) from features.enriched") == [(22,)]


def test_the_first_update_after_a_full_refresh_updates_an_incremental_reader(tmp_path):
    root = project(tmp_path)
    new_event_and_a_user_gone(root, 100)
    assert run_in_process(root).ok
    assert run_in_process(root, full_refresh=True, select=("ev",)).ok
    assert run_in_process(root).ok  # the readers see the rebuilt ev
    kept = query(root, "select count(*) from features.enriched")[0][0]
    new_event_and_a_user_gone(root, 101)
    found = actions(run_in_process(root))
    assert found["ev"] == ("incremental", "new rows")
    assert found["enriched"] == ("incremental", "new rows"), found
    assert query(root, "select count(*) from features.enriched") == [(kept + 1,)]


def test_a_step_reading_the_clock_run_again_updates_an_incremental_reader(tmp_path):
    files = {**FILES, "features/ev.sql": "select id, user_id, ts, current_timestamp as seen from {{ source('app', 'events') }}"}
    root = project(tmp_path, files)
    built = column_names(root, "ev")
    assert built == ["id", "seen", "ts", "user_id"]
    execute(root, "delete from app.users where user_id = 1")
    summary = run_in_process(root)
    assert summary.ok, summary
    found = actions(summary)
    assert found["ev"][0] == "rebuild" and found["ev"][1].startswith("reads the clock"), found
    assert found["enriched"] == ("incremental", "new rows"), found  # was: rebuild, upstream changed (ev)
    assert query(root, "select count(*) from features.enriched") == [(20,)]  # user 1's rows kept
    assert column_names(root, "ev") == built
    assert found["counts"][0] == "rebuild"  # its upstream's data moved


def test_an_update_keeps_one_pseudo_column_recorded_by_an_older_update(tmp_path):
    """A state an older toolkit left: ev's update recorded "*", and enriched was rebuilt over
    it. The next update keeps "*": its columns apart again changed enriched's definition."""
    root = project(tmp_path)
    row = published(root)["ev"]
    whole = json.dumps({"*": [row["definition"], row["fingerprint"]]})
    execute(root, f"update toolkit.published set columns = '{whole}' where step = 'ev'")
    summary = run_in_process(root)
    assert actions(summary)["enriched"][0] == "rebuild"  # over "*", as the older toolkit did
    new_event_and_a_user_gone(root, 100)
    found = actions(run_in_process(root))
    assert found["ev"] == ("incremental", "new rows")
    assert found["enriched"] == ("incremental", "new rows"), found
    assert column_names(root, "ev") == ["*"]


def test_a_backfill_rebuilds_an_incremental_reader(tmp_path):
    """README: a backfill that fills an interval rebuilds the steps reading the table, an
    incremental reader included: its watermark (`ts > max(ts)`) is past the backfilled rows,
    which an update would never bring in. With the column definitions kept by an update, the
    backfill must still change them."""
    from _projects import run

    root = project(tmp_path)
    execute(root, "insert into app.events values (500, 1, timestamp '2024-12-05')")  # before ev's first interval

    done = run(root, "--start", "2024-12-01", "--end", "2025-01-01")

    assert done.code == 0, str(done)
    assert query(root, "select count(*) from features.ev") == [(21,)]
    assert query(root, "select count(*) from features.enriched where id = 500") == [(1,)]  # rebuilt, the row in
    new_event_and_a_user_gone(root, 100)
    assert actions(run_in_process(root))["enriched"] == ("incremental", "new rows")  # and once only
