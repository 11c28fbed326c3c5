"""`toolkit test` runs the tests of sources no step reads.

A tester declared tests on a source no step reads (a raw table kept for auditing): `toolkit
test` printed "0 tests, 0 failed", exit 0, even when the table held NULLs and duplicates
or did not exist, and `toolkit test -s app.raw` was refused (no step is named so). Without
--select/--exclude every source's tests now run (a missing table is an error, exit 1); a
source's key given to --select runs that source's tests.
"""

from __future__ import annotations

import json

from _projects import cli_tuple, make_project

SOURCES = """\
[app]
schema = "app"
[app.tables.orders]
[app.tables.raw]
tests = { id = ["not_null", "unique"] }
[app.tables.gone]
tests = { id = ["not_null"] }
"""
SETUP = """
create schema app;
create table app.orders as select 1 as id;
create table app.raw as select * from (values (null), (2), (2)) t(id);
"""


def _project(tmp_path, sources: str = SOURCES):
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": sources,
                                         "features/o.sql": 'select id from {{ source("app", "orders") }}\n'}, SETUP)
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    return root


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_every_sources_tests_run_without_a_selection(tmp_path):
    root = _project(tmp_path)
    code, out, err = cli_tuple("test", "--log-format", "json", cwd=root)
    assert code == 1, out + err
    events = _events(out)
    failed = sorted(e["test"] for e in events if e.get("event") == "test" and e["name"] == "app.raw" and e["status"] == "fail")
    assert failed == ["not_null(id)", "unique(id)"], out
    errors = [e for e in events if e.get("event") == "test_error"]
    assert [e["name"] for e in errors] == ["source app.gone"] and "does not exist" in errors[0]["error"], out
    assert "Traceback" not in err


def test_a_source_named_by_select_is_tested_alone(tmp_path):
    root = _project(tmp_path)
    code, out, err = cli_tuple("test", "-s", "app.raw", cwd=root)
    assert code == 1, out + err
    assert "fail  source app.raw: not_null(id)" in out and "app.gone" not in out, out
    code, out, err = cli_tuple("test", "-s", "o", cwd=root)  # a step: only the sources it reads
    assert code == 0 and "app.raw" not in out and "0 tests" in out, out + err


def test_passing_unread_source_tests_pass(tmp_path):
    root = _project(tmp_path, SOURCES.replace('[app.tables.gone]\ntests = { id = ["not_null"] }\n', "").replace('"unique"', '"accepted_values"'
                    ).replace('["not_null", "accepted_values"]', '[{ accepted_values = { values = [2] } }]'))
    code, out, err = cli_tuple("test", cwd=root)
    assert code == 0, out + err
    assert "1 tests, 0 failed" in out, out


def test_exclude_leaves_unread_sources_tested_unless_it_names_them(tmp_path):
    """Tester N: any --exclude dropped the unread sources' tests (failing ones became "0
    tests", exit 0); a source's key was matched in its declared case only."""
    root = _project(tmp_path, SOURCES.replace('[app.tables.gone]\ntests = { id = ["not_null"] }\n', ""))
    code, out, err = cli_tuple("test", "--exclude", "o", cwd=root)
    assert code == 1 and "fail  source app.raw: not_null(id)" in out, out + err
    code, out, err = cli_tuple("test", "--exclude", "APP.RAW", cwd=root)
    assert code == 0 and "app.raw" not in out, out + err
    code, out, err = cli_tuple("test", "-s", "App.Raw", cwd=root)
    assert code == 1 and "fail  source app.raw: unique(id)" in out, out + err
    code, out, err = cli_tuple("test", "-s", "app.raw", "--exclude", "app.raw", cwd=root)
    assert code == 0 and "app.raw" not in out, out + err
