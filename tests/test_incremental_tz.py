"""Incremental intervals are wall times of the project's time_zone on every engine, as
--start/--end are: a backfill then re-reads every row it does not hold.

1. On PostgreSQL a timestamptz time_column arrived in UTC and its built span was recorded
   as UTC clock values (00:00 for a first row at 01:00 Berlin): a backfill took
   [00:00, 01:00) Berlin as held and never read late rows there (lost, exit 0).
2. The repeated hour of a fall-back (02:30 twice in Berlin on 2024-10-27): a span ending at
   02:30 of the first pass was recorded as wall time 02:30, which both engines read as the
   second pass; late rows of the hour between were skipped as held.
3. A state of an older toolkit keeps its UTC clock values: migration 8 narrows them to what
   they hold read either way, so the backfill reads the edges again.

Every backfilled table is compared with a full refresh of the step: its query is
`select id, ts from the source`, so the full refresh holds every source row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import cli, execute, make_project, query

SOURCES = '[app]\nschema = "app"\n\n[app.tables.ev]\ncolumns = {{ id = "bigint", ts = "{ts}" }}\n'
INC = """\
{{ config(materialized="incremental", time_column="ts", lookback="1 hour") }}
select id, ts from {{ source("app", "ev") }}
"""
DUCKDB_ZONE = 'time_zone = "{zone}"\n'
POSTGRES = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\ntime_zone = "{zone}"\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


class Warehouse:
    """A project with one incremental step over app.ev, on DuckDB or a fresh PostgreSQL database."""

    def __init__(self, tmp_path, url: str | None, ts: str, zone: str):
        files = {"warehouse/sources.toml": SOURCES.format(ts=ts), "features/inc.sql": INC}
        if url:
            files["toolkit.toml"] = POSTGRES.format(url=url, zone=zone)
        self.url, self.root = url, make_project(tmp_path / "proj", files)
        if not url:
            config = self.root / "toolkit.toml"
            config.write_text(DUCKDB_ZONE.format(zone=zone) + config.read_text())
        self.sql("create schema app")
        self.sql(f"create table app.ev (id bigint, ts {ts})")

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else execute(self.root, text)

    def rows(self, text: str) -> list[tuple]:
        return pg_query(self.url, text) if self.url else query(self.root, text)

    def insert(self, rows: dict[int, str]) -> None:
        self.sql("insert into app.ev values " + ", ".join(f"({i}, '{t}')" for i, t in rows.items()))

    def toolkit(self, *args: str):
        done = cli(args[0], "-p", str(self.root), *args[1:])
        assert done.code == 0, done.out + done.err
        return done

    def assert_as_full_refresh(self) -> None:
        """Same rows as a full refresh: every source row, once."""
        held = sorted(self.rows("select id, cast(ts as varchar) from features.inc"))
        assert held == sorted(self.rows("select id, cast(ts as varchar) from app.ev")), held


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def test_a_timestamptz_span_is_recorded_as_the_project_time_zone_wall_time(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, "timestamptz", "Europe/Berlin")
    w.insert({i: f"{datetime(2024, 3, 30) + timedelta(minutes=30 * i):%Y-%m-%d %H:%M}+00" for i in range(10)})
    w.toolkit("run")
    assert w.rows("select start_at from toolkit.intervals") == [(datetime(2024, 3, 30, 1, 0),)]  # 00:00 UTC is 01:00 Berlin
    w.insert({100: "2024-03-29 23:00+00", 101: "2024-03-29 23:30+00"})  # 00:00 and 00:30 Berlin, late
    w.toolkit("run", "--start", "2024-03-29", "--end", "2024-03-30T12:00")
    w.assert_as_full_refresh()


@pytest.mark.parametrize("ts, first, late", [
    ("timestamp", "2024-03-30 01:00", {100: "2024-03-30 00:00", 101: "2024-03-30 00:30"}),
    ("date", "2024-03-30", {100: "2024-03-28", 101: "2024-03-29"}),
])
def test_columns_without_a_zone_hold_wall_times_already(tmp_path, warehouse_url, ts, first, late):
    w = Warehouse(tmp_path, warehouse_url, ts, "Europe/Berlin")
    w.insert({1: first, 2: "2024-03-30 05:30" if ts == "timestamp" else "2024-03-31"})
    w.toolkit("run")
    assert w.rows("select start_at from toolkit.intervals") == [(datetime.fromisoformat(first),)]
    w.insert(late)
    w.toolkit("run", "--start", "2024-03-28", "--end", "2024-03-30T12:00")
    w.assert_as_full_refresh()


# The UTC instant of each change: the spring gap and the fall-back's repeated hour.
TRANSITIONS = {
    "berlin-march": ("Europe/Berlin", datetime(2024, 3, 31, 1)),
    "berlin-october": ("Europe/Berlin", datetime(2024, 10, 27, 1)),
    "new-york-march": ("America/New_York", datetime(2024, 3, 10, 7)),
    "new-york-november": ("America/New_York", datetime(2024, 11, 3, 6)),
}


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M}+00"


@pytest.mark.parametrize("change", list(TRANSITIONS))
def test_a_backfill_across_a_daylight_saving_change_reads_every_late_row(tmp_path, warehouse_url, change):
    """Built up to half an hour before the change (in a fall-back: 02:30 of the first pass),
    then late rows arrive on both sides of it and inside the repeated hour."""
    zone, change_at = TRANSITIONS[change]
    w = Warehouse(tmp_path, warehouse_url, "timestamptz", zone)
    w.insert({i: _utc(change_at - timedelta(minutes=30 * i)) for i in range(1, 9)})
    w.toolkit("run")
    late = [-360, -15, 0, 15, 45, 120]
    w.insert({100 + i: _utc(change_at + timedelta(minutes=m)) for i, m in enumerate(late)})
    day = change_at.date()
    w.toolkit("run", "--start", f"{day - timedelta(days=1)}", "--end", f"{day + timedelta(days=1)}")
    w.assert_as_full_refresh()
    w.sql(f"insert into app.ev values (200, '{_utc(change_at + timedelta(hours=3))}')")
    w.toolkit("run")  # the window after the backfill: nothing lost, nothing twice
    w.assert_as_full_refresh()


def test_an_older_state_in_utc_clock_values_loses_no_row(tmp_path, pg_url):  # noqa: F811
    """A state written before migration 8: the built span as UTC clock values."""
    w = Warehouse(tmp_path, pg_url, "timestamptz", "Europe/Berlin")
    w.insert({i: f"{datetime(2024, 3, 30) + timedelta(minutes=30 * i):%Y-%m-%d %H:%M}+00" for i in range(10)})
    w.toolkit("run")
    w.sql("update toolkit.intervals set start_at = '2024-03-30 00:00', end_at = '2024-03-30 04:30:00.000001'")
    w.sql("delete from toolkit.schema_version where version > 7")
    w.insert({100: "2024-03-29 23:00+00", 101: "2024-03-29 23:30+00"})
    w.toolkit("run", "--start", "2024-03-29", "--end", "2024-03-30T12:00")
    w.assert_as_full_refresh()
    assert max(v for (v,) in w.rows("select version from toolkit.schema_version")) >= 8
