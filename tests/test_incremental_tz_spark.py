"""Incremental intervals on Spark are wall times of the project's time_zone, as --start/--end
are (tests/test_incremental_tz.py for DuckDB and PostgreSQL).

Spark's TIMESTAMP_LTZ (instant semantics; a bare TIMESTAMP is TIMESTAMP_NTZ in toolkit's
session) arrives through Arrow in UTC, and the engine made it naive keeping the UTC clock
values: with the session in Europe/Berlin, a built span starting at 01:00 Berlin was
recorded as 00:00, and a backfill took [00:00, 01:00) as held and never read late rows
there (lost, exit 0). Every backfilled table is compared with the source rows: the step's
query is `select id, ts from the source`.

In this process, on the process's shared Spark warehouse (a JVM per test would cost
seconds each); each test has a state store, a source table and a step of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from spark_support import SKIP_REASON, run_here, shared_warehouse

pytestmark = pytest.mark.slow  # starts (or shares) the embedded Spark

if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)

CONFIG = """\
name = "tz"
dialect = "duckdb"
target = "spark"
time_zone = "Europe/Berlin"

[targets.spark]
engine = "spark"
master = "local[2]"
warehouse = "{warehouse}"
state = "{state}"
"""
SOURCES = '[app_tz]\n[app_tz.tables.{table}]\ncolumns = {{ id = "bigint", ts = "timestamptz" }}\n'
STEP = """\
{{{{ config(materialized="incremental", time_column="ts", lookback="1 hour") }}}}
select id, ts from {{{{ source("app_tz", "{table}") }}}}
"""


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M}:00+00:00"


class Project:
    """A Berlin project with one incremental step, `features.<name>`, over app_tz.<name>_ev (TIMESTAMP_LTZ)."""

    def __init__(self, tmp_path: Path, name: str):
        from _projects import write_files

        self.root, self.state, self.name, self.source = tmp_path / "project", tmp_path / "state.duckdb", name, f"{name}_ev"
        write_files(self.root, {
            "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=self.state),
            "warehouse/sources.toml": SOURCES.format(table=self.source),
            f"features/{name}.sql": STEP.format(table=self.source),
        })
        self.spark("create schema if not exists app_tz")
        self.spark(f"drop table if exists app_tz.{self.source}")
        self.spark(f"create table app_tz.{self.source} (id bigint, ts timestamp_ltz)")

    def _engine(self):
        from toolkit.config import load_config
        from toolkit.engines import connect

        return connect(load_config(self.root).target(), self.root, exclusive=False)

    def spark(self, sql: str) -> list:
        engine = self._engine()
        try:
            return engine._spark.sql(sql).collect()  # the test's own setup, in Spark SQL as written
        finally:
            engine.close()

    def insert(self, rows: dict[int, datetime]) -> None:
        values = ", ".join(f"({i}, timestamp_ltz'{_utc(at)}')" for i, at in rows.items())
        self.spark(f"insert into app_tz.{self.source} values {values}")

    def rows(self, relation: str) -> list[tuple]:
        """(id, the instant in UTC) of each row, as read through toolkit's engine."""
        engine = self._engine()
        try:
            found = engine.fetch_rows(f"select id, ts from {relation}")
        finally:
            engine.close()
        # old code gave naive UTC clock values, the fixed one aware instants: compared as UTC instants
        as_utc = lambda v: v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(timezone.utc).replace(tzinfo=None)  # noqa: E731
        return sorted((i, as_utc(ts)) for i, ts in found)

    def intervals(self) -> list[tuple]:
        with duckdb.connect(str(self.state), read_only=True) as state:
            return state.execute("select start_at, end_at from toolkit.intervals order by start_at").fetchall()

    def toolkit(self, *args: str) -> str:
        code, out = run_here(self.root, *args)
        assert code == 0, out
        return out

    def assert_holds_every_source_row(self) -> None:
        held = self.rows(f"features.{self.name}")
        assert held == self.rows(f"app_tz.{self.source}"), held


def test_a_timestamp_ltz_span_is_recorded_as_berlin_wall_time_and_a_backfill_loses_nothing(tmp_path):
    p = Project(tmp_path, "tz_span")
    p.insert({i: datetime(2024, 3, 30) + timedelta(minutes=30 * i) for i in range(10)})  # 01:00 .. 05:30 Berlin
    p.toolkit("run")
    assert p.intervals() == [(datetime(2024, 3, 30, 1, 0), datetime(2024, 3, 30, 5, 30, 0, 1))]  # not 00:00 .. 04:30 (UTC)
    p.insert({100: datetime(2024, 3, 29, 23, 0), 101: datetime(2024, 3, 29, 23, 30)})  # 00:00 and 00:30 Berlin, late
    p.toolkit("run", "--start", "2024-03-29", "--end", "2024-03-30T12:00")
    p.assert_holds_every_source_row()


FALL_BACK = datetime(2024, 10, 27, 1)  # UTC: Berlin's 03:00 CEST becomes 02:00 CET, 02:00-03:00 comes twice


US = timedelta(microseconds=1)


@pytest.mark.parametrize("name, built, late, span", [
    # built up to 02:30 of the first pass (00:30 UTC); late rows on both sides and inside the
    # repeated hour. The span's end moves down off the repeated hour: 01:30, claiming no unread row.
    ("tz_dst_up", [-30 * i for i in range(1, 9)], [-360, -15, 0, 15, 45, 120],
     (datetime(2024, 10, 26, 23), datetime(2024, 10, 27, 1, 30) + US)),
    # built from 02:15 of the second pass (01:15 UTC): its start moves up to 03:15, not
    # claiming the first pass's 02:15-03:00, which Spark reads a literal 02:15 as
    ("tz_dst_from", [15 + 30 * i for i in range(8)], [-90, -45, -15, 0, 10],
     (datetime(2024, 10, 27, 3, 15), datetime(2024, 10, 27, 5, 45) + US)),
])
def test_a_backfill_across_berlin_fall_back_reads_every_late_row(tmp_path, name, built, late, span):
    p = Project(tmp_path, name)
    p.insert({i: FALL_BACK + timedelta(minutes=m) for i, m in enumerate(built, 1)})
    p.toolkit("run")
    assert p.intervals() == [span]
    p.insert({100 + i: FALL_BACK + timedelta(minutes=m) for i, m in enumerate(late)})
    p.toolkit("run", "--start", "2024-10-26", "--end", "2024-10-28")
    p.assert_holds_every_source_row()
    p.insert({200: FALL_BACK + timedelta(hours=5)})
    p.toolkit("run")  # the window after the backfill: nothing lost, nothing twice
    p.assert_holds_every_source_row()


def test_a_state_from_before_migration_8_in_utc_clock_values_loses_no_row(tmp_path):
    """A Spark state written before the fix: the built span as UTC clock values. Migration 8
    narrows it in Spark's own state store too (it names the warehouse's engine and zone)."""
    p = Project(tmp_path, "tz_migrated")
    p.insert({i: datetime(2024, 3, 30) + timedelta(minutes=30 * i) for i in range(10)})
    p.toolkit("run")
    with duckdb.connect(str(p.state)) as state:
        state.execute("update toolkit.intervals set start_at = '2024-03-30 00:00', end_at = '2024-03-30 04:30:00.000001'")
        state.execute("delete from toolkit.schema_version where version > 7")
    p.insert({100: datetime(2024, 3, 29, 23, 0), 101: datetime(2024, 3, 29, 23, 30)})  # 00:00 and 00:30 Berlin, late
    p.toolkit("run", "--start", "2024-03-29", "--end", "2024-03-30T12:00")
    p.assert_holds_every_source_row()
    with duckdb.connect(str(p.state), read_only=True) as state:
        assert state.execute("select max(version) from toolkit.schema_version").fetchone()[0] >= 8


def test_each_target_runs_the_shared_session_in_its_own_zone():
    """The process's one session is opened by targets of different projects (tests, several
    projects in one process): each reads wall times in its own zone, not the first one's."""
    from toolkit.config import Target
    from toolkit.engines import connect

    def session_zone(zone: str) -> str:
        warehouse = shared_warehouse()
        engine = connect(Target("z", "spark", {"warehouse": str(warehouse)}, time_zone=zone), warehouse.parent, 5.0, exclusive=False)
        try:
            return engine.fetch_rows("select current_timezone()")[0][0]
        finally:
            engine.close()

    zones = ["Europe/Berlin", "UTC", "America/New_York", "Europe/Berlin"]
    assert [session_zone(zone) for zone in zones] == zones
