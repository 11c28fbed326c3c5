"""`toolkit plan` tells the truth: it writes nothing (not even the database a run would
create) and it shows what the run does before any step, the sources' data tests."""

from __future__ import annotations

import json

import duckdb
import pytest

from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

pytestmark = pytest.mark.slow  # end-to-end: the CLI in a subprocess

MISSING_FILE_CONFIG = """\
name = "p"
dialect = "duckdb"
target = "dev"

[targets.dev]
engine = "duckdb"
path = "nonexistent/dir/w.duckdb"
"""

SOURCES = """\
[app]
schema = "app"

[app.tables.t]
columns = { v = "bigint" }
tests = { v = [{ between = { max = 5 } }] }
"""

READS_SOURCE = {
    "warehouse/sources.toml": SOURCES,
    "features/a.sql": "select v from {{ source('app', 't') }}",
    "features/b.sql": "select v from {{ ref('a') }}",
}


def _files(root) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if ".toolkit" not in path.parts}


def test_plan_on_a_missing_duckdb_file_creates_nothing_and_names_the_file(make_project, run_cli):
    root = make_project({"toolkit.toml": MISSING_FILE_CONFIG, **READS_SOURCE})
    before = _files(root)
    code, out, err = run_cli("plan", cwd=root)
    assert code == 2, out + err
    assert "Traceback" not in err
    assert f"the DuckDB file {root / 'nonexistent/dir/w.duckdb'} of target dev, toolkit.toml line 5, does not exist (a wrong path?" in err, err
    assert _files(root) == before  # neither the folders nor the file
    assert not (root / "nonexistent").exists()


def test_read_only_commands_on_a_project_never_run_create_nothing(make_project, run_cli):
    """Before the first run a project without sources plans every step as a build, as the run would."""
    root = make_project({"toolkit.toml": MISSING_FILE_CONFIG, "features/a.sql": "select 1 as x"})
    before = _files(root)
    code, out, err = run_cli("plan", cwd=root)
    assert code == 0, out + err
    assert out.splitlines()[-1] == "plan for env prod: 1 build", out
    for command in (["models", "list"], ["monitor"], ["test"]):
        code, out, err = run_cli(*command, cwd=root)
        assert code == 0, (command, out, err)
    assert _files(root) == before
    code, out, err = run_cli("run", cwd=root)  # a run still creates the file and its folders
    assert code == 0, out + err
    assert (root / "nonexistent/dir/w.duckdb").is_file()


def _failing_source_project(make_project, run_cli):
    """A project whose source app.t passed its test when last run and fails it now (v=8)."""
    root = make_project(READS_SOURCE, {"app.t": "select 1::bigint as v"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse/test.duckdb")) as connection:
        connection.execute("insert into app.t values (8)")
    return root


def test_plan_shows_the_source_tests_the_run_runs_first(make_project, run_cli):
    root = _failing_source_project(make_project, run_cli)
    code, out, err = run_cli("plan", cwd=root)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["app.t", "test"], out
    assert "between(v) (a failure fails a and skips what reads it)" in lines[0], out
    assert lines[-1] == "plan for env prod: 2 rebuild; 1 source tested first", out

    code, out, err = run_cli("plan", "--log-format", "json", cwd=root)
    assert code == 0, out + err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0] == {"event": "plan_source_test", "env": "prod", "source": "app.t", "action": "test",
                         "reason": "source data tests: between(v) (a failure fails a and skips what reads it)",
                         "tests": ["between(v)"], "blocking": True, "readers": ["a"]}
    assert events[-1] == {"event": "plan_summary", "env": "prod", "rebuild": 2}

    code, out, err = run_cli("run", cwd=root)  # what the plan said: the test fails, its readers do not run
    assert code == 1, out + err
    assert "source app.t failed its tests" in out, out


def test_plan_of_steps_reading_no_tested_source_shows_no_source_test(make_project, run_cli):
    root = make_project({**READS_SOURCE, "features/c.sql": "select 1 as x"}, {"app.t": "select 1::bigint as v"})
    code, out, err = run_cli("plan", "--select", "c", cwd=root)
    assert code == 0, out + err
    assert out.splitlines() == ["c     build        new", "plan for env prod: 1 build"], out


def test_plan_shows_source_tests_on_postgres(make_project, run_cli, pg_url):  # noqa: F811 (pg_url is a fixture)
    config = 'name = "p"\ndialect = "postgres"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "${PG_URL}"\n'
    root = make_project({"toolkit.toml": config, **READS_SOURCE})
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.t as select 8::bigint as v")
    code, out, err = run_cli("plan", cwd=root, env={"PG_URL": pg_url})
    assert code == 0, out + err
    assert out.splitlines()[0].split()[:2] == ["app.t", "test"], out
    code, out, err = run_cli("run", cwd=root, env={"PG_URL": pg_url})
    assert code == 1 and "source app.t failed its tests" in out, out + err
