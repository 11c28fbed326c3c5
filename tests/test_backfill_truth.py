"""Backfills (`run --start/--end`) tell the truth about what they read.

1. A backfill recorded the step's input fingerprints as of its run, though it read only its
   interval: the next `run` found them unchanged and reused the step ("unchanged (no new
   input data)"), so a row newer than the window, inserted with the backfilled one, never came in.
2. A UTC offset in --start/--end was dropped: 10:00+00:00 was read as 10:00 in the project's
   time_zone (Berlin: an hour early) and that interval recorded as held.
"""

from __future__ import annotations

import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import cli, execute, make_project, query

SOURCES = '[app]\nschema = "app"\n\n[app.tables.ev]\ncolumns = {{ id = "bigint", ts = "{ts}" }}\n'
INC = """\
{{ config(materialized="incremental", time_column="ts", lookback="1 day") }}
select id, ts from {{ source("app", "ev") }}
"""
POSTGRES = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n{zone}\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


class Warehouse:
    """The project's warehouse, DuckDB or a fresh PostgreSQL database: SQL run on it as is."""

    def __init__(self, tmp_path, url: str | None, ts: str, zone: str = ""):
        files = {"warehouse/sources.toml": SOURCES.format(ts=ts), "features/inc.sql": INC}
        if url:
            files["toolkit.toml"] = POSTGRES.format(url=url, zone=zone)
        self.url, self.root = url, make_project(tmp_path / "proj", files)
        if zone and not url:
            config = self.root / "toolkit.toml"
            config.write_text(config.read_text().replace("dialect", f"{zone}\ndialect", 1))
        self.sql("create schema app")
        self.sql(f"create table app.ev (id bigint, ts {ts})")

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else execute(self.root, text)

    def rows(self, text: str) -> list[tuple]:
        return pg_query(self.url, text) if self.url else query(self.root, text)

    def ids(self) -> list[int]:
        return [i for (i,) in self.rows("select id from features.inc order by id")]

    def toolkit(self, *args: str):
        return cli(args[0], "-p", str(self.root), *args[1:])


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def test_new_rows_are_brought_in_after_a_backfill(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, "timestamp")
    w.sql("insert into app.ev values (1, '2024-04-10 00:00'), (2, '2024-04-15 00:00')")
    assert w.toolkit("run").code == 0
    w.sql("insert into app.ev values (3, '2024-04-20 01:00'), (4, '2024-04-05 05:00')")
    done = w.toolkit("run", "--start", "2024-04-05", "--end", "2024-04-06")
    assert done.code == 0 and w.ids() == [1, 2, 4], done.out + done.err  # the backfill: its interval only
    planned = w.toolkit("plan")
    assert planned.code == 0 and "no new input data" not in planned.out, planned.out
    assert w.toolkit("run").code == 0
    assert w.ids() == [1, 2, 3, 4]  # the window brought 04-20 in
    planned = w.toolkit("plan")  # and, nothing new since, reuses again
    assert "unchanged (no new input data)" in planned.out, planned.out


def test_a_backfill_with_nothing_new_elsewhere_still_leaves_the_step_reused_after(tmp_path):
    """The inputs kept are the last update's: when nothing but the backfilled interval came,
    the next run's window would read what it read before (2 was already in)."""
    w = Warehouse(tmp_path, None, "timestamp")
    w.sql("insert into app.ev values (1, '2024-04-10 00:00'), (2, '2024-04-15 00:00')")
    assert w.toolkit("run").code == 0
    assert w.toolkit("run", "--start", "2024-04-05", "--end", "2024-04-06").code == 0
    planned = w.toolkit("plan")
    assert "unchanged (no new input data)" in planned.out, planned.out


BERLIN = 'time_zone = "Europe/Berlin"'


def test_an_offset_in_start_and_end_is_converted_to_the_projects_time_zone(tmp_path, warehouse_url):
    """[10:00, 12:00) UTC is [11:00, 13:00) in Berlin: the 11:30 UTC row, not the 09:30 one."""
    w = Warehouse(tmp_path, warehouse_url, "timestamptz", zone=BERLIN)
    w.sql("insert into app.ev values (1, '2024-01-05 12:00+00')")
    assert w.toolkit("run").code == 0
    w.sql("insert into app.ev values (2, '2023-12-30 09:30+00'), (3, '2023-12-30 11:30+00')")
    done = w.toolkit("run", "--start", "2023-12-30T10:00+00:00", "--end", "2023-12-30T12:00+00:00")
    assert done.code == 0, done.out + done.err
    assert w.ids() == [1, 3]
    held = w.rows("select cast(start_at as varchar) from toolkit.intervals order by start_at")
    assert held[0][0].startswith("2023-12-30 11:00"), held
    mixed = w.toolkit("plan", "--start", "2023-12-30T12:00", "--end", "2023-12-30T10:30+00:00")  # 12:00 is 11:00 UTC
    assert mixed.code == 2 and "is not before --end" in mixed.err + mixed.out, mixed


def test_an_offset_for_a_time_column_without_a_zone_exits_2(tmp_path):
    w = Warehouse(tmp_path, None, "timestamp", zone=BERLIN)
    w.sql("insert into app.ev values (1, '2024-01-05 12:00')")
    assert w.toolkit("run").code == 0
    for command in ("plan", "run"):
        done = w.toolkit(command, "--start", "2023-12-30T10:00+00:00", "--end", "2023-12-30T12:00")
        said = done.out + done.err
        assert done.code == 2 and "has a UTC offset" in said and "Traceback" not in said, said
    assert w.ids() == [1]


def test_a_backfill_without_end_ends_at_now_in_the_projects_time_zone(tmp_path, monkeypatch):
    """No --end: the backfill ends now, a wall time of the project's zone like the intervals
    (it ended at now in UTC: in Berlin an hour early, the 12:10 UTC row left out)."""
    monkeypatch.setenv("TOOLKIT_NOW", "2024-01-05T12:30:00+00:00")
    w = Warehouse(tmp_path, None, "timestamptz", zone=BERLIN)
    w.sql("insert into app.ev values (1, '2024-01-04 12:00+00')")
    assert w.toolkit("run").code == 0
    w.sql("insert into app.ev values (2, '2024-01-05 12:10+00')")  # 13:10 in Berlin, before now (13:30 there)
    done = w.toolkit("run", "--start", "2024-01-05T12:00")
    assert done.code == 0 and w.ids() == [1, 2], done.out + done.err
