"""Schedules (`cron` in config) and interval backfills of incremental steps.
"Now" is injected with TOOLKIT_NOW."""

from __future__ import annotations

import pytest

from _projects import Result, cli_args, env, execute, make_project, query, rows, write

import subprocess

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SOURCES = """
[app]
schema = "app"

[app.tables.events]
columns = { id = "bigint", ts = "timestamp" }
"""

DAILY = "{{ config(cron='@daily') }}\nselect count(*) as n from {{ source('app', 'events') }}"
STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/daily.sql": DAILY,
    "features/after.sql": "select n * 10 as n10 from {{ ref('daily') }}",
}
SETUP = """create schema app;
create table app.events as select i as id, timestamp '2024-01-01' + to_days(cast(i as integer)) as ts from range(10) t(i);"""


def toolkit(root, *args, now: str | None = None) -> Result:
    environment = env()
    if now:
        environment["TOOLKIT_NOW"] = now
    done = subprocess.run(cli_args(*args, "-p", str(root), "--log-format", "json"), capture_output=True, text=True, env=environment, timeout=120)
    return Result(done.returncode, done.stdout, done.stderr)


def plan(root, *args, now: str | None = None) -> dict[str, tuple[str, str]]:
    result = toolkit(root, "plan", *args, now=now)
    assert result.code == 0, result
    return {e["step"]: (e["action"], e["reason"]) for e in result.events() if e["event"] == "plan"}


def test_a_step_is_rebuilt_for_changed_data_only_when_due(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert toolkit(root, "run", now="2024-01-01T05:00").code == 0
    execute(root, "insert into app.events values (100, timestamp '2024-01-01 05:30')")
    planned = plan(root, now="2024-01-01T06:00")
    assert planned["daily"] == ("reuse", "source data changed (app.events), not due until 2024-01-02 00:00")
    assert planned["after"] == ("reuse", "unchanged")  # its input did not change: daily was not rebuilt
    assert toolkit(root, "run", now="2024-01-01T06:00").code == 0
    assert rows(root, "features.daily") == [(10,)]
    assert plan(root, "--ignore-schedule", now="2024-01-01T06:00")["daily"][0] == "rebuild"
    due = plan(root, now="2024-01-02T00:30")
    assert due["daily"] == ("rebuild", "source data changed (app.events); schedule due")
    assert due["after"][0] == "rebuild"
    assert toolkit(root, "run", now="2024-01-02T00:30").code == 0
    assert rows(root, "features.after") == [(110,)]
    assert set(a for a, _ in plan(root, now="2024-01-02T01:00").values()) == {"reuse"}


def test_a_changed_step_is_built_even_when_not_due(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert toolkit(root, "run", now="2024-01-01T05:00").code == 0
    write(root, {"features/daily.sql": DAILY.replace("count(*)", "count(*) + 1")})
    assert plan(root, now="2024-01-01T06:00")["daily"][0] == "rebuild"


@pytest.mark.parametrize("cron, message", [
    ("@often", "features/daily.sql:1: unknown schedule '@often'"),
    ("61 * * * *", "features/daily.sql:1: cron '61 * * * *' is not valid"),
    ("0 6 * *", "features/daily.sql:1: cron '0 6 * *' must have 5 fields"),
    # parsed, then every plan once an input changed was an internal error (CroniterBadDateError)
    ("0 0 31 2 *", "features/daily.sql:1: cron '0 0 31 2 *' never fires"),
])
def test_bad_cron_is_a_compile_error(tmp_path, cron, message):
    root = make_project(tmp_path / "proj", {**STEPS, "features/daily.sql": DAILY.replace("@daily", cron)}, SETUP)
    result = toolkit(root, "run")
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1, result


INCREMENTAL = """
{{ config(materialized="incremental", time_column="ts") }}
select id, ts from {{ source('app', 'events') }}
{% if start %} where ts >= {{ start }} and ts < {{ end }} {% endif %}
"""


def test_backfill_fills_only_missing_intervals(tmp_path):
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": SOURCES, "features/events.sql": INCREMENTAL}, SETUP)
    assert toolkit(root, "run").code == 0  # holds 2024-01-01 .. 2024-01-10
    execute(root, """insert into app.events values (-1, timestamp '2023-12-28'), (-2, timestamp '2023-12-30');
                     update app.events set id = id + 1000 where ts = timestamp '2024-01-02'""")
    planned = plan(root, "--start", "2023-12-25", "--end", "2024-01-05")
    assert planned["events"] == ("incremental", "backfill 1 missing interval(s): 2023-12-25 00:00..2024-01-01 00:00")
    result = toolkit(root, "run", "--start", "2023-12-25", "--end", "2024-01-05")
    assert result.code == 0, result
    ids = [r[0] for r in rows(root, "features.events")]
    assert -1 in ids and -2 in ids
    assert 1 in ids and 1001 not in ids  # 2024-01-02 was held already: not read again
    assert query(root, "select count(*) from toolkit.intervals where step = 'events'") == [(2,)]
    again = plan(root, "--start", "2023-12-25", "--end", "2024-01-05")
    assert again["events"][0] == "reuse" and "already" in again["events"][1]


def test_a_backfill_publishes_all_its_intervals_or_none(tmp_path):
    """Two missing intervals; the second fails its test. The first had been committed into
    the published table while the step said "data tests failed, not published"."""
    step = INCREMENTAL.replace('time_column="ts"', 'time_column="ts", tests={"id": [{"between": {"max": 100}}]}')
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": SOURCES, "features/events.sql": step}, SETUP)
    assert toolkit(root, "run").code == 0  # holds 2024-01-01 .. 2024-01-10
    before = rows(root, "features.events")
    execute(root, "insert into app.events values (-1, timestamp '2023-12-15'), (500, timestamp '2024-01-20')")
    result = toolkit(root, "run", "--start", "2023-12-01", "--end", "2024-02-01")
    assert result.code == 1 and "data tests failed, not published" in result.out, result
    assert rows(root, "features.events") == before
    assert query(root, "select count(*) from toolkit.intervals where step = 'events'") == [(1,)]
    execute(root, "delete from app.events where id = 500")
    assert toolkit(root, "run", "--start", "2023-12-01", "--end", "2024-02-01").code == 0  # both intervals again
    assert [r[0] for r in rows(root, "features.events")] == [-1] + [r[0] for r in before]


def test_a_step_is_due_at_exactly_its_fire_time(tmp_path):
    """croniter's previous fire time leaves out the instant itself: at 00:00 sharp a daily
    step waited for the next day."""
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert toolkit(root, "run", now="2024-01-01T05:00").code == 0
    execute(root, "insert into app.events values (100, timestamp '2024-01-01 05:30')")
    assert plan(root, now="2024-01-01T23:59:59")["daily"] == ("reuse", "source data changed (app.events), not due until 2024-01-02 00:00")
    assert plan(root, now="2024-01-02T00:00")["daily"] == ("rebuild", "source data changed (app.events); schedule due")


@pytest.mark.parametrize("setting", ["garbage", "2024-13-01"])
def test_a_malformed_toolkit_now_is_a_user_error(tmp_path, setting):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    result = toolkit(root, "plan", now=setting)
    assert result.code == 2, result
    assert f"TOOLKIT_NOW='{setting}' is not an ISO timestamp" in result.out + result.err
    assert "Traceback" not in result.err
