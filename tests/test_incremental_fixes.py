"""Incremental steps with a time_column, three defects a tester found:

1. The update replaced the window's rows from the earliest row it read, not from the
   window's start: rows deleted from the source at the window's start stayed published,
   and an emptied window deleted nothing.
2. Any error while a backfill built an interval was reported as "Current transaction is
   aborted": the staging table's DROP ran inside the aborted transaction, its error
   replacing the real one.
3. A time_column of text passed compile, plan and the first build; the next run failed
   with the engine's Binder Error, exit 1, no line.

Each runs on DuckDB and on PostgreSQL (TOOLKIT_TEST_POSTGRES_URL), and compares the
published table with plain SQL over the source's rows.
"""

from __future__ import annotations

import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import cli, execute, make_project, query

SOURCES = '[app]\nschema = "app"\n\n[app.tables.ev]\ncolumns = {{ {columns} }}\n'
POSTGRES = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'
WINDOW = """\
{{ config(materialized="incremental", time_column="ts", lookback="2 hours") }}
select id, ts from {{ source("app", "ev") }}
"""
# 00:00, 00:10, ... 06:00: the window of the next update starts at 04:00
EVERY_TEN_MINUTES = "select i, timestamp '2024-01-01 00:00' + i * interval '10 minutes' from generate_series(0, 36) as g(i)"


class Warehouse:
    """A project with one step, features.inc, reading app.ev; its warehouse DuckDB or a
    fresh PostgreSQL database, SQL run on it as is."""

    def __init__(self, tmp_path, url: str | None, columns: str, step: str):
        files = {"warehouse/sources.toml": SOURCES.format(columns=columns), "features/inc.sql": step}
        if url:
            files["toolkit.toml"] = POSTGRES.format(url=url)
        self.url, self.root = url, make_project(tmp_path / "proj", files)
        self.sql("create schema app")
        names = ", ".join(f"{part.split('=')[0].strip()} {part.split('=')[1].strip().strip(chr(34))}" for part in columns.split(","))
        self.sql(f"create table app.ev ({names})")

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else execute(self.root, text)

    def rows(self, text: str) -> list[tuple]:
        return pg_query(self.url, text) if self.url else query(self.root, text)

    def staging_left(self) -> list[str]:
        return [name for (name,) in self.rows("select table_name from information_schema.tables "
                                              "where table_schema = 'toolkit_physical' and table_name like '%staging%'")]

    def toolkit(self, *args: str):
        return cli(args[0], "-p", str(self.root), *args[1:])


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def published_and_source(w: Warehouse) -> tuple[list, list]:
    return w.rows("select id, ts from features.inc order by id"), w.rows("select id, ts from app.ev order by id")


def test_rows_deleted_at_the_start_of_the_window_are_deleted(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, 'id = "bigint", ts = "timestamp"', WINDOW)
    w.sql(f"insert into app.ev {EVERY_TEN_MINUTES}")
    assert w.toolkit("run").code == 0
    # 04:00 and 04:10 open the window [04:00, ...); 05:00 is inside it; 03:50 is before it
    w.sql("delete from app.ev where ts in ('2024-01-01 04:00', '2024-01-01 04:10', '2024-01-01 05:00')")
    w.sql("insert into app.ev values (100, '2024-01-01 06:10')")
    done = w.toolkit("run")
    assert done.code == 0 and "incremental" in done.out, done.out + done.err
    published, source = published_and_source(w)
    assert published == source
    assert len(published) == 37 - 3 + 1


def test_an_emptied_window_is_deleted(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, 'id = "bigint", ts = "timestamp"', WINDOW)
    w.sql(f"insert into app.ev {EVERY_TEN_MINUTES}")
    assert w.toolkit("run").code == 0
    w.sql("delete from app.ev where ts >= '2024-01-01 04:00'")  # the whole window, nothing new
    done = w.toolkit("run")
    assert done.code == 0 and "incremental" in done.out, done.out + done.err
    published, source = published_and_source(w)
    assert published == source
    assert len(published) == 24  # 00:00 .. 03:50 kept: before the window


BAD_CAST = """\
{{ config(materialized="incremental", time_column="ts") }}
select id, ts, cast(s as integer) as n from {{ source("app", "ev") }}
"""
ENGINE_ERROR = {None: "Could not convert string 'abc'", "postgres": 'invalid input syntax for type integer: "abc"'}


def test_an_error_building_a_backfill_interval_is_reported_as_it_is(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, 'id = "bigint", ts = "timestamp", s = "varchar"', BAD_CAST)
    w.sql("insert into app.ev values (1, '2024-01-10 00:00', '1')")
    assert w.toolkit("run").code == 0
    w.sql("insert into app.ev values (2, '2024-01-02 00:00', 'abc'), (3, '2024-01-03 00:00', '3')")
    done = w.toolkit("run", "--start", "2024-01-01", "--end", "2024-01-05")
    output = done.out + done.err
    assert done.code == 1, output
    assert ENGINE_ERROR["postgres" if warehouse_url else None] in output, output
    assert "aborted" not in output, output
    assert w.staging_left() == []
    # nothing of the interval came in: the table holds what the first run read
    published = w.rows("select id, ts, n from features.inc order by id")
    assert published == w.rows("select id, ts, cast(s as integer) from app.ev where ts >= '2024-01-10' order by id")


TEXT_TIME = """\
{{{{ config(materialized="incremental",
            time_column="t", lookback="1 day") }}}}
select id, {t} as t from {{{{ source("app", "ev") }}}}
"""


def test_a_text_time_column_of_a_known_type_is_refused_at_compile(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, 'id = "bigint", s = "varchar"', TEXT_TIME.format(t="s"))
    w.sql("insert into app.ev values (1, '2024-01-01')")
    for command in ("compile", "plan", "run"):
        done = w.toolkit(command)
        assert done.code == 2 and "features/inc.sql:2: config time_column='t' is text" in done.err, done.out + done.err
        assert "Traceback" not in done.err
    assert w.rows("select table_name from information_schema.tables where table_schema = 'toolkit_physical'") == []


def test_a_text_time_column_the_compile_cannot_type_fails_its_first_build_at_the_config_line(tmp_path, warehouse_url):
    # sqlglot infers no type for split_part: only the built table tells
    step = TEXT_TIME.format(t="split_part(s, ' ', 1)")
    w = Warehouse(tmp_path, warehouse_url, 'id = "bigint", s = "varchar"', step)
    w.sql("insert into app.ev values (1, '2024-01-01 00:00'), (2, '2024-01-02 00:00')")
    assert w.toolkit("compile").code == 0
    done = w.toolkit("run")
    assert done.code == 2 and "features/inc.sql:2: config time_column='t' of inc holds string" in done.out + done.err, done.out + done.err
    assert "Traceback" not in done.err
    assert w.rows("select table_name from information_schema.tables where table_schema = 'features'") == []
    # cast to a timestamp, the step builds and updates: its table is the source's rows
    write_step = w.root / "features" / "inc.sql"
    write_step.write_text(TEXT_TIME.format(t="cast(s as timestamp)"))
    assert w.toolkit("run").code == 0
    w.sql("insert into app.ev values (3, '2024-01-03 00:00')")
    done = w.toolkit("run")
    assert done.code == 0 and "incremental" in done.out, done.out + done.err
    assert w.rows("select id, t from features.inc order by id") == w.rows("select id, cast(s as timestamp) from app.ev order by id")


def test_rows_deleted_at_the_start_of_the_window_are_deleted_when_copied_on_write(tmp_path):
    """dev's table, promoted to prod, is shared: dev's update writes kept and new rows into a
    new table (replace_rows with `into`), keeping the rows of the window's start there too."""
    w = Warehouse(tmp_path, None, 'id = "bigint", ts = "timestamp"', WINDOW)
    w.sql(f"insert into app.ev {EVERY_TEN_MINUTES}")
    assert w.toolkit("run", "--env", "dev").code == 0
    assert w.toolkit("promote", "dev", "prod").code == 0
    prod_before = w.rows("select id, ts from features.inc order by id")
    w.sql("delete from app.ev where ts in ('2024-01-01 04:00', '2024-01-01 04:10', '2024-01-01 05:00')")
    w.sql("insert into app.ev values (100, '2024-01-01 06:10')")
    done = w.toolkit("run", "--env", "dev")
    assert done.code == 0 and "incremental" in done.out, done.out + done.err
    assert w.rows("select id, ts from features__dev.inc order by id") == w.rows("select id, ts from app.ev order by id")
    assert w.rows("select id, ts from features.inc order by id") == prod_before  # prod's table untouched
