"""A table source's print covers its shape, not only its rows (sourceprints.py): two
columns renamed to each other, a column retyped with the same text, are seen on DuckDB
and PostgreSQL; a DuckDB source that is a view is hashed on every run when a view names
the clock or the like (its rows change with nothing written), else only when the file
changed."""

from __future__ import annotations

import time

import pytest

from _projects import execute, make_project, rows, run_in_process, statuses
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from toolkit.engines.duckdb import DuckDBEngine

SOURCES = '[app]\nschema = "app"\n[app.tables.acct]\n'
SPEND = 'select id, sum(credit) as credits, sum(debit) as debits from {{ source("app", "acct") }} group by id'
SWAP = ("alter table app.acct rename column credit to tmp; alter table app.acct rename column debit to credit; "
        "alter table app.acct rename column tmp to debit")


@pytest.fixture
def scans(monkeypatch):
    """The relations whose full-table fingerprint was computed, in order."""
    seen = []
    original = DuckDBEngine.table_fingerprint

    def recording(self, table):
        seen.append(f"{table.db}.{table.name}")
        return original(self, table)

    monkeypatch.setattr(DuckDBEngine, "table_fingerprint", recording)
    return seen


def duckdb_project(tmp_path, step: str, setup: str):
    return make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, "features/spend.sql": step}, setup)


def test_duckdb_columns_renamed_to_each_other_rebuild(tmp_path):
    root = duckdb_project(tmp_path, SPEND, "create schema app; create table app.acct(id int, credit int, debit int); "
                                           "insert into app.acct values (1, 100, 5), (2, 200, 7)")
    assert run_in_process(root).ok
    execute(root, SWAP)
    assert run_in_process(root).ok
    assert statuses(root) == {"spend": "success"}
    assert rows(root, "features.spend") == [(1, 5, 100), (2, 7, 200)]


def test_duckdb_column_retyped_rebuilds(tmp_path):
    root = duckdb_project(tmp_path, "select id from {{ source('app', 'acct') }}",
                          "create schema app; create table app.acct(id bigint); insert into app.acct values (1), (2)")
    assert run_in_process(root).ok
    execute(root, "alter table app.acct alter column id type integer")
    assert run_in_process(root).ok
    assert statuses(root) == {"spend": "success"}
    assert rows(root, "(select typeof(id) from features.spend limit 1)") == [("INTEGER",)]


def test_duckdb_unchanged_table_is_still_not_scanned_again(tmp_path, scans):
    root = duckdb_project(tmp_path, SPEND, "create schema app; create table app.acct(id int, credit int, debit int); "
                                           "insert into app.acct values (1, 100, 5)")
    assert run_in_process(root).ok and run_in_process(root).ok
    assert scans == ["app.acct"]
    assert statuses(root) == {"spend": "reused"}


def test_duckdb_view_source_is_hashed_every_run(tmp_path, scans):
    """The view's rows depend on the time: the file is unchanged, the rows are not."""
    root = duckdb_project(
        tmp_path, "select count(*) as n from {{ source('app', 'acct') }}",
        "create schema app; create table app.base(id int, ts timestamp); "
        "insert into app.base select i, now()::timestamp - (i * interval 1 second) from range(4) r(i); "
        "create view app.acct as select id from app.base where ts > now()::timestamp - interval 3 second")
    assert run_in_process(root).ok
    time.sleep(4)
    assert run_in_process(root).ok
    assert scans == ["app.acct", "app.acct"]
    assert statuses(root) == {"spend": "success"}
    assert rows(root, "features.spend") == [(0,)]


def test_duckdb_stable_view_source_is_not_hashed_again_while_the_file_is_unchanged(tmp_path, scans):
    """A view summing doubles answers with other last bits on every query (DuckDB sums in
    parallel): hashed anew on every run, it rebuilt its readers every run (tester D)."""
    root = duckdb_project(
        tmp_path, "select k, s from {{ source('app', 'acct') }}",
        "create schema app; create table app.big as select (i % 10) as k, (i * 0.37) / 7.0 as x from range(300000) t(i); "
        "create view app.acct as select k, sum(x) as s from app.big group by k")
    assert run_in_process(root).ok and run_in_process(root).ok and run_in_process(root).ok
    assert scans == ["app.acct"]
    assert statuses(root) == {"spend": "reused"}
    execute(root, "insert into app.big values (1, 1000.0)")  # the file changed: hashed again, the step rebuilt
    assert run_in_process(root).ok
    assert scans == ["app.acct", "app.acct"]
    assert statuses(root) == {"spend": "success"}


def test_duckdb_views_naming_a_volatile_call_are_not_stable(tmp_path):
    from toolkit.config import Target
    from toolkit.engines import connect

    target = Target("t", "duckdb", {"path": "w.duckdb"})
    engine = connect(target, tmp_path, 5.0)
    try:
        engine.execute("create table t(a int)")
        engine.execute("create view v as select a from t")
        assert engine.views_are_stable()
        engine.execute("create view w as select a, current_date as d from v")
        assert not engine.views_are_stable()
    finally:
        engine.close()


def pg_project(tmp_path, url: str, step: str, setup: str):
    root = tmp_path / "p"
    for folder in ("features", "warehouse", "models"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "toolkit.toml").write_text(f'name = "p"\ndialect = "duckdb"\ntarget = "pg"\n[targets.pg]\n'
                                       f'engine = "postgres"\nurl = "{url}"\n')
    (root / "warehouse/sources.toml").write_text(SOURCES)
    (root / "features/spend.sql").write_text(step)
    pg_statements(url, setup)
    return root


def pg_statements(url: str, sql: str) -> None:
    for statement in sql.split(";"):  # one statement a call (prepared statements)
        pg_query(url, statement)


def test_postgres_columns_renamed_to_each_other_rebuild(tmp_path, pg_url):  # noqa: F811
    root = pg_project(tmp_path, pg_url, SPEND, "create schema app; create table app.acct(id int, credit int, debit int); "
                                               "insert into app.acct values (1, 100, 5), (2, 200, 7)")
    assert run_in_process(root).ok
    pg_statements(pg_url, SWAP)
    assert run_in_process(root).ok
    # sums of integers are numeric(38,0) there, as DuckDB's HUGEINT
    assert pg_query(pg_url, "select id, credits::bigint, debits::bigint from features.spend order by 1") == [(1, 5, 100), (2, 7, 200)]


def test_postgres_text_retyped_integer_rebuilds(tmp_path, pg_url):  # noqa: F811
    root = pg_project(tmp_path, pg_url, "select max(credit) as m from {{ source('app', 'acct') }}",
                      "create schema app; create table app.acct(credit text); insert into app.acct values ('9'), ('10')")
    assert run_in_process(root).ok
    assert pg_query(pg_url, "select m::text from features.spend") == [("9",)]
    pg_query(pg_url, "alter table app.acct alter column credit type integer using credit::integer")
    assert run_in_process(root).ok
    assert pg_query(pg_url, "select m::text, pg_typeof(m)::text from features.spend") == [("10", "integer")]


def test_the_per_table_shapes_answer_as_the_one_query(tmp_path):
    """Engine.shapes (Spark's: a catalog read per table) says what DuckDB's one query says."""
    from toolkit.config import Target
    from toolkit.engines import connect
    from toolkit.engines.base import Engine
    from toolkit.engines.conformance import session, table

    target = Target("t", "duckdb", {"path": "w.duckdb"})
    with session(lambda **options: connect(target, tmp_path, 5.0)) as engine:
        engine.execute("create table conformance.t(b bigint, a varchar)")
        engine.execute("create view conformance.v as select a from conformance.t")
        tables = [table("t"), table("v"), table("missing")]
        assert Engine.shapes(engine, tables) == engine.shapes(tables) == {
            ("conformance", "t"): ("table", [("b", "BIGINT"), ("a", "VARCHAR")]),
            ("conformance", "v"): ("view", [("a", "VARCHAR")]),
        }
