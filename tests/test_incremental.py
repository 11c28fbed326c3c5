"""Incremental steps: merge on unique_key, append by time_column with a lookback,
`is_incremental()` / `{{ this }}`, full rebuild on a changed definition, and a
failing test during an update.

The step reads a declared source, app.events(id, v, ts); each test rewrites the
source's rows between runs. Runs go through toolkit.execute.run in this process
(many runs per test); the CLI path is covered by the last test and test_run.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import checksum, cli, execute, make_project, orphans, physical_relations, published, query, run, run_in_process, step_runs, write

SOURCES = """
[app]
schema = "app"

[app.tables.events]
columns = { id = "bigint", v = "varchar", ts = "timestamp" }
"""
START = datetime(2025, 1, 1)


def day(n: int) -> datetime:
    return START + timedelta(days=n)


INITIAL = [(i, "a", day(i)) for i in range(10)]  # ts 2025-01-01 .. 2025-01-10


def set_source(root, rows: list[tuple]) -> None:
    """Replace app.events with `rows` (id, v, ts)."""
    execute(root, "create schema if not exists app; create or replace table app.events (id bigint, v varchar, ts timestamp)")
    if rows:
        values = ", ".join(f"({'NULL' if i is None else i}, {'NULL' if v is None else repr(v)}, "
                           f"{'NULL' if ts is None else repr(ts.isoformat(sep=' '))}::timestamp)" for i, v, ts in rows)
        execute(root, f"insert into app.events values {values}")


def make(tmp_path, sql: str, rows=INITIAL):
    """A project with one incremental step, events_inc, built once from `rows`."""
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": SOURCES})
    set_source(root, rows)
    write_step(root, sql)
    summary = run_in_process(root)
    assert summary.ok, summary
    assert result_of(summary).action == "build"
    return root


def write_step(root, sql: str) -> None:
    write(root, {"features/events_inc.sql": sql})


def table(root) -> list[tuple]:
    return query(root, "select id, v, ts from features.events_inc order by id")


def result_of(summary, step="events_inc"):
    return next(r for r in summary.results if r.step == step)


MERGE = """\
{{ config(materialized="incremental", unique_key="id") }}
select id, v, ts from {{ source("app", "events") }}
"""

APPEND = """\
{{ config(materialized="incremental", time_column="ts", lookback="3 days") }}
select id, v, ts from {{ source("app", "events") }}
"""


def test_merge_on_unique_key_replaces_changed_rows_and_adds_new_ones(tmp_path):
    root = make(tmp_path, MERGE)
    physical = published(root)["events_inc"]["physical_name"]
    assert table(root) == INITIAL

    changed = [(i, "changed" if i == 3 else v, ts) for i, v, ts in INITIAL] + [(10, "new", day(15))]
    set_source(root, changed)
    summary = run_in_process(root)
    outcome = result_of(summary)
    assert (outcome.action, outcome.status) == ("incremental", "success"), outcome
    assert table(root) == sorted(changed)
    assert query(root, "select count(*), count(distinct id) from features.events_inc") == [(11, 11)]
    assert published(root)["events_inc"]["physical_name"] == physical  # updated in place
    assert published(root)["events_inc"]["run_id"] == 2
    assert orphans(root) == set()

    # the same rows again: nothing changes, nothing is duplicated
    summary = run_in_process(root)
    assert summary.ok
    assert table(root) == sorted(changed)


def test_merge_on_a_composite_key(tmp_path):
    sql = MERGE.replace('unique_key="id"', 'unique_key=["id", "v"]')
    root = make(tmp_path, sql)
    # (3, 'b') is a new key next to (3, 'a'); (4, 'a') arrives again with a new ts
    new = [r for r in INITIAL if r[0] != 4] + [(3, "b", day(3)), (4, "a", day(30))]
    set_source(root, new)
    summary = run_in_process(root)
    assert result_of(summary).action == "incremental" and summary.ok, summary
    assert query(root, "select id, v, ts from features.events_inc order by id, v") == sorted(new)


def test_append_with_lookback_picks_up_late_rows_inside_the_window_only(tmp_path):
    root = make(tmp_path, APPEND)
    physical = published(root)["events_inc"]["physical_name"]

    late = [
        (100, "late, inside the window", day(8)),  # max was day 9: the window starts at day 6
        (101, "late, outside the window", day(1)),
        (102, "new", day(19)),
    ]
    set_source(root, INITIAL + late)
    summary = run_in_process(root)
    outcome = result_of(summary)
    assert (outcome.action, outcome.status) == ("incremental", "success"), outcome
    expected = sorted(INITIAL + [late[0], late[2]])
    assert table(root) == expected
    assert published(root)["events_inc"]["physical_name"] == physical

    # rerunning re-reads the (moved) window: nothing is duplicated, nothing lost
    for _ in range(2):
        assert run_in_process(root).ok
        assert table(root) == expected
    assert orphans(root) == set()


FILTERED = """\
{{{{ config(materialized="incremental"{strategy}) }}}}
select id, v, ts from {{{{ source("app", "events") }}}}
{{% if is_incremental() %}}
where ts > (select max(ts) from {{{{ this }}}})
{{% endif %}}
"""


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(', unique_key="id"', id="unique_key"),
        pytest.param("", id="plain_append"),
    ],
)
def test_is_incremental_filter_on_this(tmp_path, strategy):
    root = make(tmp_path, FILTERED.format(strategy=strategy))
    assert table(root) == INITIAL  # the first build reads everything

    # a row older than max(ts) is not picked up (proof that the filter ran),
    # the newer ones are, and the existing rows all stay
    added = [(101, "old", day(2)), (102, "new", day(20)), (103, "newer", day(21))]
    set_source(root, INITIAL + added)
    summary = run_in_process(root)
    outcome = result_of(summary)
    assert (outcome.action, outcome.status) == ("incremental", "success"), outcome
    assert outcome.rows_written == 2
    assert table(root) == sorted(INITIAL + added[1:])

    # nothing newer (a row older than max(ts) only): nothing added
    set_source(root, INITIAL + added + [(104, "late", day(3))])
    summary = run_in_process(root)
    assert summary.ok and result_of(summary).action == "incremental" and result_of(summary).rows_written == 0
    assert table(root) == sorted(INITIAL + added[1:])

    # nothing read changed: reused, not run (a plain append without a filter would add its rows twice)
    summary = run_in_process(root)
    assert summary.ok and result_of(summary).action == "reuse"
    assert table(root) == sorted(INITIAL + added[1:])


def test_a_time_column_step_re_reads_its_window_whatever_its_own_filter(tmp_path):
    """The template's is_incremental() filter (here on another column, id) left rows of the
    window out, and replacing the window from the earliest new time deleted them: three
    events were lost and the run said success. toolkit narrows the whole query itself."""
    template = """\
{{ config(materialized="incremental", time_column="ts", lookback="3 days") }}
select id, v, ts from {{ source("app", "events") }}
{% if is_incremental() %}
where id > (select max(id) from {{ this }})
{% endif %}
"""
    root = make(tmp_path, template)
    late = (100, "late", day(7))  # a new id, at a time inside the window
    set_source(root, INITIAL + [late])
    summary = run_in_process(root)
    assert summary.ok and result_of(summary).action == "incremental"
    assert table(root) == sorted(INITIAL + [late])


@pytest.mark.parametrize("sql", [MERGE, APPEND], ids=["merge", "append"])
def test_changing_the_sql_rebuilds_in_full(tmp_path, sql):
    root = make(tmp_path, sql)
    old_physical = published(root)["events_inc"]["physical_name"]

    # a late row outside any window: only a full rebuild reads it
    set_source(root, INITIAL + [(101, "late", day(1))])
    write_step(root, sql.replace("select id, v, ts", "select id, v, ts, upper(v) as v_upper"))
    summary = run_in_process(root)
    outcome = result_of(summary)
    assert (outcome.action, outcome.status) == ("rebuild", "success"), outcome
    assert query(root, "select id, v_upper from features.events_inc order by id") == [
        (i, v.upper()) for i, v, _ in sorted(INITIAL + [(101, "late", day(1))])
    ]
    new_physical = published(root)["events_inc"]["physical_name"]
    assert new_physical != old_physical
    assert old_physical not in physical_relations(root)
    assert orphans(root) == set()

    # and after the rebuild, updates are incremental again
    set_source(root, INITIAL + [(101, "late", day(1)), (102, "new", day(40))])
    summary = run_in_process(root)
    assert result_of(summary).action == "incremental" and summary.ok
    assert (102, "NEW") in query(root, "select id, v_upper from features.events_inc")


def test_comment_only_edit_keeps_updating_incrementally(tmp_path):
    root = make(tmp_path, APPEND)
    write_step(root, "-- a new comment\n" + APPEND.replace("select id", "SELECT   id"))
    set_source(root, INITIAL + [(102, "new", day(19))])
    summary = run_in_process(root)
    assert result_of(summary).action == "incremental" and summary.ok, summary
    assert len(table(root)) == 11


def test_full_refresh_rebuilds_an_incremental_step(tmp_path):
    root = make(tmp_path, APPEND)
    set_source(root, INITIAL + [(101, "late", day(1))])
    summary = run_in_process(root, full_refresh=True)
    assert result_of(summary).action == "rebuild" and summary.ok
    assert (101, "late", day(1)) in table(root)


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(MERGE.replace('unique_key="id"', 'unique_key="id", tests={"v": ["not_null"]}'), id="merge"),
        pytest.param(APPEND.replace('lookback="3 days"', 'lookback="3 days", tests={"v": ["not_null"]}'), id="append"),
    ],
)
def test_failing_test_during_an_update_leaves_the_table_as_before(tmp_path, sql):
    root = make(tmp_path, sql)
    before = checksum(root, "features.events_inc")
    state = published(root)["events_inc"]
    relations = physical_relations(root)

    set_source(root, INITIAL + [(102, None, day(20)), (103, "fine", day(21))])
    summary = run_in_process(root)
    outcome = result_of(summary)
    assert not summary.ok
    assert (outcome.action, outcome.status) == ("incremental", "failed"), outcome
    assert "not_null(v)" in outcome.error
    assert checksum(root, "features.events_inc") == before
    assert table(root) == INITIAL
    assert published(root)["events_inc"] == state
    assert step_runs(root)["events_inc"]["status"] == "failed"
    assert physical_relations(root) == relations  # no staging tables left behind

    # once the bad row is fixed, the update goes through
    set_source(root, INITIAL + [(102, "fixed", day(20)), (103, "fine", day(21))])
    summary = run_in_process(root)
    assert summary.ok, summary
    assert len(table(root)) == 12


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        pytest.param([(3, "again", day(40))], "unique_key id repeats in this run's new rows: id = 3 in 2 rows", id="repeat"),
        pytest.param([(None, "keyless", day(40))], "unique_key id has a NULL in 1 of this run's new rows (id = NULL)",
                     id="null"),
    ],
)
def test_a_key_a_merge_cannot_keep_unique_fails_the_update(tmp_path, rows, message):
    """Before, a repeated key was published twice, and a NULL key's row was added again by
    every run (it matches no key): published data grew wrong with each run."""
    root = make(tmp_path, MERGE)
    before, relations = checksum(root, "features.events_inc"), physical_relations(root)
    set_source(root, INITIAL + rows)
    for _ in range(2):
        summary = run_in_process(root)
        outcome = result_of(summary)
        assert (outcome.action, outcome.status) == ("incremental", "failed"), outcome
        assert message in outcome.error, outcome.error
        assert checksum(root, "features.events_inc") == before
        assert physical_relations(root) == relations  # no staging table left behind


def test_a_repeated_key_spelled_with_capitals_is_found(tmp_path):
    sql = MERGE.replace('unique_key="id"', 'unique_key="ID"').replace("select id,", 'select id as "ID",')
    root = make(tmp_path, sql)
    set_source(root, INITIAL + [(3, "again", day(40))])
    outcome = result_of(run_in_process(root))
    assert outcome.status == "failed" and "unique_key id repeats in this run's new rows: id = 3" in outcome.error, outcome
    assert table(root) == INITIAL


def test_a_key_a_merge_cannot_keep_unique_fails_the_first_build(tmp_path):
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": SOURCES})
    set_source(root, INITIAL + [(None, "keyless", day(40))])
    write_step(root, MERGE)
    summary = run_in_process(root)
    outcome = result_of(summary)
    assert (outcome.action, outcome.status) == ("build", "failed"), outcome
    assert "unique_key id has a NULL in 1 of its rows" in outcome.error, outcome.error
    assert "events_inc" not in published(root)
    assert orphans(root) == set() and physical_relations(root) == {}


def test_append_by_time_keeps_rows_without_a_time_as_a_rebuild_would(tmp_path):
    """A row whose time_column is NULL is in no window: before, an update never read one,
    so the table lacked every such row added after its first build."""
    root = make(tmp_path, APPEND, rows=INITIAL + [(50, "untimed", None)])
    arrived = INITIAL + [(50, "untimed", None), (51, "untimed too", None), (11, "new", day(11))]
    for extra in ([], [(12, "newer", day(12))]):  # the second update adds the untimed rows no second time
        set_source(root, arrived + extra)
        summary = run_in_process(root)
        assert result_of(summary).action == "incremental" and summary.ok, summary
        assert query(root, "select id, v from features.events_inc where ts is null order by id") == \
            [(50, "untimed"), (51, "untimed too")]
        assert query(root, "select count(*) from features.events_inc") == [(13 + len(extra),)]


def test_failing_query_during_an_update_leaves_the_table_as_before(tmp_path):
    sql = MERGE.replace("select id, v, ts", "select id, v, ts, cast(v as integer) as v_int")
    root = make(tmp_path, sql, rows=[(i, str(i), day(i)) for i in range(5)])
    before = checksum(root, "features.events_inc")
    set_source(root, [(i, str(i), day(i)) for i in range(5)] + [(5, "x", day(6))])
    summary = run_in_process(root)
    assert not summary.ok and result_of(summary).status == "failed"
    assert checksum(root, "features.events_inc") == before
    assert orphans(root) == set()


def test_incremental_run_through_the_cli(tmp_path):
    """The CLI path: an update run exits 0 and logs action 'incremental'."""
    root = make(tmp_path, APPEND)
    set_source(root, INITIAL + [(102, "new", day(19))])
    result = run(root)
    assert result.code == 0, result
    finished = [e for e in result.events() if e["event"] == "step_finished"]
    assert [(e["step"], e["action"], e["status"]) for e in finished] == [("events_inc", "incremental", "success")]
    assert len(table(root)) == 11
    assert step_runs(root)["events_inc"]["action"] == "incremental"


@pytest.mark.parametrize("config", ['unique_key="id"', 'time_column="ts", lookback="3 days"'], ids=["merge", "append"])
def test_a_source_column_retyped_rebuilds_instead_of_casting_the_new_rows(tmp_path, config):
    """v became a DOUBLE in the source (which declares no columns): the update cast 1.25
    into the table's INTEGER (1) and the plan said `incremental new rows`; a rebuild is
    what a changed definition gets."""
    root = make_project(tmp_path / "proj", {
        "warehouse/sources.toml": '[app]\nschema = "app"\n\n[app.tables.events]\n',
        "features/events_inc.sql": f"{{{{ config(materialized='incremental', {config}) }}}}\n"
                                   "select id, v, ts from {{ source('app', 'events') }}\n",
    }, setup_sql="create schema app; create table app.events as select 1 as id, 1 as v, timestamp '2025-01-01' as ts")
    assert run_in_process(root).ok
    execute(root, "create or replace table app.events as select * from (values (1, 1.25, timestamp '2025-01-01'), "
                  "(2, 2.5, timestamp '2025-01-02')) t(id, v, ts)")
    summary = run_in_process(root)
    outcome = result_of(summary)
    assert summary.ok and (outcome.action, outcome.status) == ("rebuild", "success"), outcome
    assert "v int32 -> decimal" in outcome.reason, outcome.reason
    assert query(root, "select v from features.events_inc order by id") == [(Decimal("1.25"),), (Decimal("2.50"),)]
    assert run_in_process(root).ok  # and then it updates again


def test_a_source_column_retyped_on_postgres_rebuilds_too(tmp_path, pg_url):  # noqa: F811 (fixture)
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.events as select 1 as id, 1 as v")
    config = f'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'
    root = make_project(tmp_path / "proj", {
        "toolkit.toml": config, "warehouse/sources.toml": '[app]\nschema = "app"\n\n[app.tables.events]\n',
        "features/events_inc.sql": "{{ config(materialized='incremental', unique_key='id') }}\n"
                                   "select id, v from {{ source('app', 'events') }}\n"})
    assert run_in_process(root).ok
    pg_query(pg_url, "drop table app.events")
    pg_query(pg_url, "create table app.events as select 1 as id, 1.25::double precision as v")
    summary = run_in_process(root)
    outcome = result_of(summary)
    assert summary.ok and (outcome.action, outcome.status) == ("rebuild", "success"), outcome
    assert pg_query(pg_url, "select v from features.events_inc") == [(1.25,)]


# -- backfills (--start/--end) ---------------------------------------------------------

LOADS = """
[app]
schema = "app"

[app.tables.loads]
columns = { id = "bigint", ts = "timestamp", loaded_at = "timestamp" }
"""


def set_loads(root, rows: list[tuple]) -> None:
    """Replace app.loads with `rows` (id, ts, loaded_at)."""
    execute(root, "create schema if not exists app; create or replace table app.loads (id bigint, ts timestamp, loaded_at timestamp)")
    values = ", ".join(f"({i}, '{ts.isoformat(sep=' ')}'::timestamp, '{at.isoformat(sep=' ')}'::timestamp)" for i, ts, at in rows)
    execute(root, f"insert into app.loads values {values}")


def backfill_in_process(root, start: datetime, end: datetime, env: str = "prod"):
    """`toolkit run --start START --end END [--env ENV]`, in this process."""
    from toolkit.compiler import compile_project
    from toolkit.execute import run as run_project
    from toolkit.planning import Options

    return run_project(compile_project(root), options=Options(start=start, end=end, env=env))


def test_a_backfill_reads_its_interval_from_the_whole_query_not_the_templates_filter(tmp_path):
    """The template filtered the interval on loaded_at, not on its time_column ts: an event
    of the interval loaded after it (late data) was left out, and the interval recorded as
    held, so no later backfill brought it in (11 of 12 rows, the run said success)."""
    template = """\
{{ config(materialized="incremental", time_column="ts") }}
select id, ts, loaded_at from {{ source("app", "loads") }}
{% if start %} where loaded_at >= {{ start }} and loaded_at < {{ end }} {% endif %}
"""
    initial = [(i, day(i), day(i) + timedelta(hours=1)) for i in range(10)]  # ts 2025-01-01 .. 2025-01-10
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": LOADS, "features/events_inc.sql": template})
    set_loads(root, initial)
    assert run_in_process(root).ok
    earlier = [(-1, day(-4), day(-4)), (-2, day(-2), day(1))]  # -2: of 2024-12-30, loaded on 2025-01-02
    set_loads(root, initial + earlier)
    summary = backfill_in_process(root, day(-7), day(0))
    assert summary.ok and result_of(summary).action == "incremental", summary
    assert query(root, "select count(*) from features.events_inc") == [(12,)]
    assert query(root, "select id from features.events_inc where id < 0 order by id") == [(-2,), (-1,)]


DAILY = """\
{{ config(materialized="incremental", time_column="day") }}
select date_trunc('day', ts) as day, count(*) as n from {{ source("app", "events") }}
{% if start %} where ts >= {{ start }} and ts < {{ end }} {% endif %}
group by 1
"""


def test_a_backfill_ending_inside_a_day_keeps_that_days_whole_aggregate(tmp_path):
    """time_column is date_trunc('day', ts); the template filtered ts. An interval ending at
    12:00 holds the row of that day (00:00), which the template aggregated from the morning's
    events only: 2024-12-28 counted 1 of its 2 events, and once [.., 12:00) was held no
    later backfill read the day again."""
    root = make(tmp_path, DAILY)
    earlier = [(-1, "x", day(-4) + timedelta(hours=6)), (-2, "x", day(-4) + timedelta(hours=18)), (-3, "x", day(-6))]
    set_source(root, INITIAL + earlier)
    summary = backfill_in_process(root, day(-7), day(-4) + timedelta(hours=12))
    assert summary.ok and result_of(summary).action == "incremental", summary
    assert backfill_in_process(root, day(-7), day(0)).ok  # the rest: [12:00, 2025-01-01)
    counts = query(root, "select day, n from features.events_inc where day < '2025-01-01' order by day")
    assert counts == [(day(-6), 1), (day(-4), 2)]


def test_a_backfill_of_rows_held_but_not_recorded_keeps_the_rows_its_template_filters_out(tmp_path):
    """A table whose intervals toolkit does not know (built before it recorded them; prod's
    table after a promote, until intervals were looked up by table): the backfill replaced
    all of [start, end) with the template's rows, and the ones its filter (on loaded_at)
    dropped were deleted from the published table: 1 of 3 rows left, the run said success."""
    template = """\
{{ config(materialized="incremental", time_column="ts") }}
select id, ts, loaded_at from {{ source("app", "loads") }}
{% if start %} where loaded_at >= {{ start }} and loaded_at < {{ end }} {% endif %}
"""
    rows = [(1, day(0), day(0)), (2, day(1), day(5)), (3, day(2), day(6))]  # 2 and 3: loaded after 2025-01-04
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": LOADS, "features/events_inc.sql": template})
    set_loads(root, rows)
    assert run_in_process(root).ok
    execute(root, "delete from toolkit.intervals")
    summary = backfill_in_process(root, day(0), day(4))
    assert summary.ok and result_of(summary).action == "incremental", summary
    assert query(root, "select id from features.events_inc order by id") == [(1,), (2,), (3,)]


def test_a_backfill_on_postgres_keeps_that_days_whole_aggregate_too(tmp_path, pg_url):  # noqa: F811 (fixture)
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.events as select i as id, 'a' as v, timestamp '2025-01-01' + i * interval '1 day' as ts "
                     "from generate_series(0, 9) i")
    config = f'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'
    root = make_project(tmp_path / "proj", {"toolkit.toml": config, "warehouse/sources.toml": SOURCES, "features/events_inc.sql": DAILY})
    assert run_in_process(root).ok
    pg_query(pg_url, "insert into app.events values (-1, 'x', '2024-12-28 06:00'), (-2, 'x', '2024-12-28 18:00')")
    assert backfill_in_process(root, day(-7), day(-4) + timedelta(hours=12)).ok
    assert backfill_in_process(root, day(-7), day(0)).ok
    assert pg_query(pg_url, "select day, n from features.events_inc where day < '2025-01-01'") == [(day(-4), 2)]


def test_an_update_after_a_backfill_leaves_the_gap_between_them_missing(tmp_path):
    """An update recorded the table's whole span as held: after a backfill of December 1-10
    that was 2024-12-01 .. 2025-01-10, the gap December 10-31 too, which no run had read;
    a backfill of December then said it held it already and its rows never came in."""
    root = make(tmp_path, APPEND)  # holds 2025-01-01 .. 2025-01-10
    december = [(-1, "dec 1", datetime(2024, 12, 1)), (-2, "dec 15", datetime(2024, 12, 15))]
    set_source(root, INITIAL + december[:1])
    assert backfill_in_process(root, datetime(2024, 12, 1), datetime(2024, 12, 10)).ok
    assert run_in_process(root).ok  # an ordinary update, its window at the end
    set_source(root, INITIAL + december)
    summary = backfill_in_process(root, datetime(2024, 12, 1), datetime(2025, 1, 1))
    assert (result_of(summary).action, result_of(summary).reason) == (
        "incremental", "backfill 1 missing interval(s): 2024-12-10 00:00..2025-01-01 00:00")
    assert [r[0] for r in table(root) if r[0] < 0] == [-2, -1]


def test_a_backfill_of_a_timestamptz_time_column_reads_start_and_end_in_the_projects_time_zone(tmp_path):
    """--start/--end are wall times in the project's time_zone, like the intervals recorded:
    2025-01-01 03:00 UTC is 2024-12-31 in New York and stays out of [2025-01-01, 2025-01-02)."""
    sources = SOURCES.replace('ts = "timestamp"', 'ts = "timestamptz"')
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources, "features/events_inc.sql": APPEND})
    config = root / "toolkit.toml"
    config.write_text(config.read_text().replace("dialect", 'time_zone = "America/New_York"\ndialect', 1))
    execute(root, "create schema app; create table app.events (id bigint, v varchar, ts timestamptz); "
                  "insert into app.events values (1, 'a', '2025-01-05 12:00+00')")
    assert run_in_process(root).ok
    assert query(root, "select cast(start_at as varchar), cast(end_at as varchar) from toolkit.intervals") == [
        ("2025-01-05 07:00:00", "2025-01-05 07:00:00.000001")]  # 12:00 UTC is 07:00 in New York
    execute(root, "insert into app.events values (2, 'a', '2025-01-01 03:00+00'), (3, 'a', '2025-01-01 06:00+00')")
    summary = backfill_in_process(root, day(0), day(1))
    assert result_of(summary).reason == "backfill 1 missing interval(s): 2025-01-01 00:00..2025-01-02 00:00", summary
    assert query(root, "select id from features.events_inc order by id") == [(1,), (3,)]  # 3: 01:00 on January 1 in New York


def test_prod_knows_the_intervals_of_a_table_promoted_from_dev(tmp_path):
    """Intervals were looked up by environment: prod knew none of the table it published
    after `promote dev prod`, and a backfill read all of [start, end) again."""
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": SOURCES, "features/events_inc.sql": APPEND})
    set_source(root, INITIAL)
    assert backfill_in_process(root, day(0), day(4), env="dev").ok  # the first build, in dev
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0
    summary = backfill_in_process(root, day(0), day(4))
    assert (result_of(summary).action, result_of(summary).reason) == ("reuse", "holds 2025-01-01 00:00 .. 2025-01-05 00:00 already")


HISTORY = {
    "warehouse/sources.toml": SOURCES,
    "features/ev.sql": "{{ config(materialized='incremental', time_column='ts') }}\nselect id, v, ts from {{ source('app', 'events') }}",
    "features/daily.sql": "select cast(ts as date) as day, count(*) as n from {{ ref('ev') }} group by 1",
}


def test_readers_of_an_incremental_step_see_the_rows_a_backfill_or_a_full_refresh_brought(tmp_path):
    """An incremental table's rows depend on its history, not on its inputs alone: a late
    row behind the window is missing until a full refresh, a backfill fills intervals in.
    Both left the readers "unchanged", publishing counts that contradict the table."""
    root = make_project(tmp_path / "proj", HISTORY)
    set_source(root, INITIAL)
    assert run(root).code == 0
    execute(root, "insert into app.events values (100, 'late', timestamp '2025-01-03 12:00'), (101, 'new', timestamp '2025-01-12')")
    assert run(root).code == 0  # the window starts at 2025-01-10: the late row is not read
    assert query(root, "select n from features.daily where day = date '2025-01-03'") == [(1,)]
    assert run(root, "--full-refresh", "--select", "ev").code == 0
    assert query(root, "select count(*) from features.ev where cast(ts as date) = date '2025-01-03'") == [(2,)]
    assert run(root).code == 0
    assert query(root, "select n from features.daily where day = date '2025-01-03'") == [(2,)]
    execute(root, "insert into app.events values (200, 'old', timestamp '2024-12-15')")
    assert run(root).code == 0
    assert run(root, "--start", "2024-12-01", "--end", "2025-01-01").code == 0
    assert query(root, "select count(*) from features.ev where ts < '2025-01-01'") == [(1,)]
    assert query(root, "select n from features.daily where day = date '2024-12-15'") == [(1,)]
    for args in ((), ("--start", "2024-12-01", "--end", "2025-01-01")):  # nothing new, all held: the readers stay
        again = cli("plan", "-p", str(root), *args)
        assert again.code == 0 and "daily  reuse" in again.out, again
