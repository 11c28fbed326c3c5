"""Source data tests that cannot run, and the messages after failed runs (DuckDB; one PostgreSQL case).

1. a source test the warehouse cannot run (an expression dividing by zero, a relationships
   test comparing a number with text) ended the whole `toolkit run` with exit 1 before any
   build. Now it does what a failing source test does: the steps reading that source fail,
   naming the test, the source and the test's line in warehouse/sources.toml; the other
   steps build and publish. `toolkit test` names that line too.
2. `toolkit promote dev prod` after dev's only run failed said "nothing has been run on
   this target yet"; after a failed dev run whose published state is prod's already, it
   warned that prod "now has" dev's tables and then said "nothing to promote". A failing
   custom test's message said steps never published kept "their previous versions".
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

import duckdb

from _projects import cli_tuple, database_path, make_test_project

pytestmark = pytest.mark.slow  # end-to-end runs

SOURCES = """
[app]
schema = "app"

[app.tables.par]
columns = { id = "bigint", name = "varchar" }
table_tests = [{ row_count = { min = 1 } },
               { expression = { expression = "1 // (id - id) > 0", severity = "warn" } }]

[app.tables.kid]
columns = { kid = "bigint", pid = "bigint" }
"""
ROWS = {"app.par": "select i as id, 'n' || i as name from range(1, 11) t(i)",
        "app.kid": "select i as kid, i as pid from range(1, 11) t(i)"}
STEPS = {
    "features/pt.sql": "select id from {{ source('app', 'par') }}\n",
    "features/reader.sql": "select id from {{ ref('pt') }}\n",
    "features/k.sql": "select kid from {{ source('app', 'kid') }}\n",
}
NOT_RUN = "data test expression(1 // (id - id) > 0) of severity warn could not run on source app.par"


def query(root: Path, text: str) -> list[tuple]:
    with duckdb.connect(str(database_path(root)), read_only=True) as connection:
        return connection.execute(text).fetchall()


def execute(root: Path, text: str) -> None:
    with duckdb.connect(str(database_path(root))) as connection:
        connection.execute(text)


def statuses(root: Path) -> dict[str, str]:
    return dict(query(root, "select step, status from toolkit.step_runs where run_id = (select max(run_id) from toolkit.runs)"))


def published(root: Path, env: str = "prod") -> set[str]:
    return {row[0] for row in query(root, f"select step from toolkit.published where env = '{env}'")}


def failure_line(out: str, step: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(f"failed   {step} "))


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err


def test_a_source_test_that_cannot_run_fails_only_the_steps_reading_it(tmp_path):
    root = make_test_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, **STEPS}, ROWS)
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    assert "error:" not in err, err  # not the whole run's end
    line = failure_line(out, "pt")
    # the line of its declaration (the table_tests entry), not the table's header (line 5)
    assert f"warehouse/sources.toml:8: {NOT_RUN}" in line, out
    assert "a test that cannot run proves nothing" in line and "Division by zero" in line, out
    assert statuses(root) == {"pt": "failed", "reader": "skipped", "k": "success"}
    assert published(root) == {"k"}
    assert query(root, "select kid from features.k order by kid limit 2") == [(1,), (2,)]
    # the source's test that ran is recorded, the one that could not is not (as for a step's)
    assert query(root, "select step, kind, test, status from toolkit.test_results") == [("app.par", "source", "row_count(min=1)", "pass")]


def test_a_column_test_of_a_source_that_cannot_run_names_its_line_and_the_rest_still_run(tmp_path):
    sources = SOURCES.replace("table_tests = [{ row_count = { min = 1 } },\n"
                              "               { expression = { expression = \"1 // (id - id) > 0\", severity = \"warn\" } }]\n", "")
    sources += ("\n[app.tables.kid.tests]\n"
                "kid = [\"not_null\"]\n"
                "pid = [{ relationships = { to = \"app.par\", field = \"name\" } }, \"not_null\"]\n")
    root = make_test_project(tmp_path / "p", {"warehouse/sources.toml": sources, **STEPS}, ROWS)
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    line = failure_line(out, "k")
    assert "warehouse/sources.toml:13: data test relationships(pid) could not run on source app.kid" in line, out
    assert statuses(root) == {"pt": "success", "reader": "success", "k": "failed"}
    assert published(root) == {"pt", "reader"}
    # the tests after the one that could not run still ran
    assert sorted(query(root, "select test, status from toolkit.test_results")) == [("not_null(kid)", "pass"), ("not_null(pid)", "pass")]


def test_toolkit_test_names_the_line_of_a_source_test_that_cannot_run(tmp_path):
    root = make_test_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, **STEPS}, ROWS)
    code, out, err = cli_tuple("test", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    assert f"{NOT_RUN} (warehouse/sources.toml:8: a test that cannot run proves nothing" in err, err


# -- PostgreSQL: the run goes on after the warehouse refused the test ------------------------------

SERVER_URL = os.environ.get("TOOLKIT_TEST_POSTGRES_URL")


def _admin(statement: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(SERVER_URL, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(statement)


@pytest.fixture
def fixer_pg_url():
    if not SERVER_URL:
        pytest.skip("TOOLKIT_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    from postgres_support import with_database

    database = f"fixer_srctests_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_a_source_test_that_cannot_run_on_postgresql(tmp_path, fixer_pg_url):
    from postgres_support import pg_query

    config = f'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{fixer_pg_url}"\n'
    root = make_test_project(tmp_path / "p", {"toolkit.toml": config, "warehouse/sources.toml": SOURCES, **STEPS})
    pg_query(fixer_pg_url, "create schema app")
    pg_query(fixer_pg_url, "create table app.par as select i::bigint as id, 'n' || i as name from generate_series(1, 10) i")
    pg_query(fixer_pg_url, "create table app.kid as select i::bigint as kid, i::bigint as pid from generate_series(1, 10) i")
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 1, out + err
    no_traceback(err)
    assert f"warehouse/sources.toml:8: {NOT_RUN}" in failure_line(out, "pt"), out
    assert "division by zero" in failure_line(out, "pt").lower(), out
    rows = pg_query(fixer_pg_url, "select step, status from toolkit.step_runs where run_id = (select max(run_id) from toolkit.runs)")
    assert dict(rows) == {"pt": "failed", "reader": "skipped", "k": "success"}
    assert pg_query(fixer_pg_url, "select count(*) from features.k") == [(10,)]


# == 2. messages after failed runs ===================================================================


def test_promote_after_the_only_run_failed_says_so(tmp_path):
    files = {"warehouse/sources.toml": SOURCES, "features/pt.sql": STEPS["features/pt.sql"]}
    root = make_test_project(tmp_path / "p", files, ROWS)
    code, out, err = cli_tuple("run", "--env", "dev", cwd=root)
    assert code == 1, out + err
    code, out, err = cli_tuple("promote", "dev", "prod", cwd=root)
    assert code == 2, out + err
    no_traceback(err)
    assert "nothing has been run" not in out + err, err
    assert "environment 'dev' has nothing published on this target: its runs published no step" in err and "(the last, run 1, failed)" in err, err


def test_promote_after_a_failed_run_that_changed_nothing_says_one_thing(tmp_path):
    root = make_test_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, **STEPS}, ROWS)
    assert cli_tuple("run", "--env", "dev", cwd=root)[0] == 1  # k published in dev; pt failed
    code, out, err = cli_tuple("promote", "dev", "prod", cwd=root)
    assert code == 0, out + err  # prod reads dev's k now
    assert cli_tuple("run", "--env", "dev", cwd=root)[0] == 1  # k reused: dev is prod's already, and the run failed
    code, out, err = cli_tuple("promote", "dev", "prod", cwd=root)
    assert code == 0, out + err
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert lines == ["nothing to promote: dev's last run (run 2) did not succeed (failed), and prod already reads dev's tables "
                     "(1 step(s)); no rollback state saved"], out + err


HOLDS = {
    "warehouse/sources.toml": '[app]\nschema = "app"\n\n[app.tables.a_src]\ncolumns = { id = "bigint", v = "bigint" }\n',
    "features/a.sql": 'select id, v from {{ source("app", "a_src") }}\n',
    "features/b.sql": 'select id, v from {{ ref("a") }}\n',
    "features/tests/no_negative.sql": 'select a.id from {{ ref("a") }} a join {{ ref("b") }} b using (id) where a.v < 0\n',
}


def test_a_held_step_never_published_is_not_said_to_keep_a_previous_version(tmp_path):
    root = make_test_project(tmp_path / "p", HOLDS, {"app.a_src": "select 1 as id, -1 as v"})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 1, out + err
    line = failure_line(out, "b")
    assert line.endswith("; held back with it, never published (no previous version): a"), out
    assert "previous versions stay" not in out, out


def test_held_steps_with_and_without_a_previous_version_are_told_apart(tmp_path):
    root = make_test_project(tmp_path / "p", HOLDS, {"app.a_src": "select 1 as id, 1 as v"})
    assert cli_tuple("run", cwd=root)[0] == 0
    from _projects import write

    # c is new, between a and b: held with a (published before) by the test that runs with b
    write(root, {"features/c.sql": 'select id, v from {{ ref("a") }}\n', "features/b.sql": 'select id, v from {{ ref("c") }}\n'})
    execute(root, "update app.a_src set v = -1")
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 1, out + err
    assert failure_line(out, "b").endswith("; held back with it, not published (their previous versions stay): a; "
                                           "held back with it, never published (no previous version): c"), out
