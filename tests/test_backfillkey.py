"""Backfills (`run --start/--end`) of an incremental merge: a step with a unique_key and a time_column.

1. A key whose time moved into the interval in the source was inserted again, its old row
   (outside the interval) kept: the key published twice, exit 0.
2. A key whose time moved out of the interval (into a period already held) was deleted with
   the interval and never read again: lost, exit 0.
Now a backfill replaces its keys wherever they are, and brings in the query's current row of
every key it deletes with the interval; a key the query no longer makes is deleted.
"""

from __future__ import annotations

import uuid

import pytest
from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, with_database

from _projects import cli, execute, make_project, query

SOURCES = '[app]\nschema = "app"\n\n[app.tables.ev]\ncolumns = { id = "bigint", amount = "double", ts = "timestamp" }\n'
MERGE = """\
{{ config(materialized="incremental", unique_key="id", time_column="ts") }}
select id, amount, ts from {{ source("app", "ev") }}
{% if is_incremental() %} where ts > (select max(ts) from {{ this }}) {% endif %}
"""
POSTGRES = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    if request.param == "duckdb":
        yield None
        return
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    database = f"fixer_backfillkey_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class Warehouse:
    def __init__(self, tmp_path, url: str | None):
        files = {"warehouse/sources.toml": SOURCES, "features/inc.sql": MERGE}
        if url:
            files["toolkit.toml"] = POSTGRES.format(url=url)
        self.url, self.root = url, make_project(tmp_path / "proj", files)
        self.sql("create schema app")
        self.sql("create table app.ev (id bigint, amount double precision, ts timestamp)")
        self.sql("insert into app.ev values (1, 1, '2025-01-02'), (2, 2, '2025-01-03'), (5, 5, '2025-01-06'), "
                 "(6, 6, '2025-01-20')")

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else execute(self.root, text)

    def table(self) -> list[tuple]:
        text = "select id, amount, cast(ts as date) from features.inc order by id, ts"
        rows = pg_query(self.url, text) if self.url else query(self.root, text)
        return [(int(i), float(a), str(d)) for i, a, d in rows]

    def toolkit(self, *args: str):
        done = cli(args[0], "-p", str(self.root), *args[1:])
        assert done.code == 0, done.out + done.err
        return done


def test_a_key_moved_into_the_interval_replaces_its_row_elsewhere(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url)
    w.toolkit("run")  # holds 2025-01-02 .. 2025-01-20: December is missing
    w.sql("update app.ev set ts = '2024-12-10', amount = 777 where id = 5")  # a correction: an earlier day
    w.toolkit("run", "--start", "2024-12-01", "--end", "2025-01-01")
    assert w.table() == [(1, 1.0, "2025-01-02"), (2, 2.0, "2025-01-03"), (5, 777.0, "2024-12-10"),
                         (6, 6.0, "2025-01-20")]


def test_a_key_moved_out_of_the_interval_is_kept_at_its_new_time(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url)
    w.toolkit("run")
    w.sql("insert into app.ev values (9001, 9, '2025-04-05')")
    w.toolkit("run")  # merged in
    # corrected into a period already held, and one row of the interval deleted from the source
    w.sql("update app.ev set ts = '2025-01-15 12:00' where id = 9001")
    w.sql("insert into app.ev values (7, 7, '2025-04-10')")
    w.toolkit("run")
    w.sql("delete from app.ev where id = 7")
    w.toolkit("run", "--start", "2025-04-01", "--end", "2025-05-01")
    assert w.table() == [(1, 1.0, "2025-01-02"), (2, 2.0, "2025-01-03"), (5, 5.0, "2025-01-06"),
                         (6, 6.0, "2025-01-20"), (9001, 9.0, "2025-01-15")]
    w.toolkit("run")  # nothing a later run undoes
    assert [row[0] for row in w.table()] == [1, 2, 5, 6, 9001]
