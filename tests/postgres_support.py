"""A fresh PostgreSQL database per test, on the server named by TOOLKIT_TEST_POSTGRES_URL.

    def test_something(pg_url):          # skips, saying why, when the variable is unset
        ...                              # pg_url points at an empty database, dropped afterwards

toolkit's schemas (features, toolkit, toolkit_physical, ...) have fixed names, so
isolation is by database rather than by schema.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER_URL = os.environ.get("TOOLKIT_TEST_POSTGRES_URL")
SKIP_REASON = "TOOLKIT_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against (.ci/run sets it)"

requires_postgres = pytest.mark.skipif(not SERVER_URL, reason=SKIP_REASON)


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _admin(statement: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(SERVER_URL, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(statement)


@pytest.fixture
def pg_url():
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    database = f"toolkit_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def icu_url():
    """A fresh database whose default collation is ICU en-US ('a' < 'B'), dropped afterwards
    (what a server set up for a language sorts by; DuckDB and toolkit sort by code point)."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    database = f"toolkit_test_icu_{uuid.uuid4().hex[:12]}"
    try:
        _admin(f"CREATE DATABASE \"{database}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
               "LOCALE 'C.UTF-8'")
    except Exception as error:  # noqa: BLE001 (a server built without ICU)
        pytest.skip(f"no ICU collation on this server: {error}")
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def two_target_project(root, url: str, files: dict[str, str], dialect: str = "duckdb", name: str = "pgt",
                       settings: str = "") -> None:
    """A project whose steps run on DuckDB (target `local`, warehouse/w.duckdb) and on the
    PostgreSQL database at `url` (target `pg`), to compare what each publishes; `settings`:
    more top-level toolkit.toml lines (time_zone = ...)."""
    config = (f'name = "{name}"\ndialect = "{dialect}"\ntarget = "local"\n{settings}'
              '[targets.local]\nengine = "duckdb"\npath = "warehouse/w.duckdb"\n'
              f'[targets.pg]\nengine = "postgres"\nurl = "{url}"\n')
    for relative, text in {"toolkit.toml": config, **files}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")


def published_differences(root, url: str, names) -> list[str]:
    """For each step in `names`, how its rows on PostgreSQL differ from DuckDB's (any order)."""
    import duckdb

    problems = []
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as duck:
        for name in names:
            want = duck.sql(f"select * from features.{name}").fetchall()
            got = pg_query(url, f"select * from features.{name}")
            if sorted(want, key=repr) != sorted(got, key=repr):
                problems.append(f"{name}: postgres {sorted(got, key=repr)}, duckdb {sorted(want, key=repr)}")
    return problems


def built_on_both(run_cli, root, url: str, step: str) -> tuple[dict, list, dict, list]:
    """Run a two_target_project on DuckDB, then on PostgreSQL; `step`'s published column
    types and rows (ordered by id) on each: (DuckDB's types, rows, PostgreSQL's types, rows)."""
    import duckdb

    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    columns = ("select column_name, data_type from information_schema.columns "
               f"where table_schema = 'features' and table_name = '{step}'")
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as duck:
        want_types, want = dict(duck.sql(columns).fetchall()), duck.sql(f"select * from features.{step} order by id").fetchall()
    return want_types, want, dict(pg_query(url, columns)), pg_query(url, f"select * from features.{step} order by id")


def pg_query(url: str, sql: str):
    """Rows of `sql` run on the database at `url` (autocommit, own connection)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []


def pg_arrow(url: str, sql: str):
    """`sql`'s result as Arrow, NUMERIC as float64 like toolkit reads it."""
    import adbc_driver_postgresql.dbapi as adbc

    from toolkit.engines.postgres import numeric_as_double

    with adbc.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return numeric_as_double(cursor.fetch_arrow_table())
