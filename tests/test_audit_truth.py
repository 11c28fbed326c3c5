"""`toolkit test` after a run whose rebuild failed its tests: the older table stays
published, and `toolkit test` judges it with today's tests (it skipped it and exited 0
having tested nothing, a green CI gate on an untested table)."""

from __future__ import annotations

import json

from _projects import cli_tuple, make_project

STEP = "{{{{ config(tests={tests}) }}}}\nselect * from (values {rows}) t(id, v)\n"


def toolkit_test(root):
    code, out, err = cli_tuple("test", "-p", str(root), "--log-format", "json", cwd=root)
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def write_step(root, tests: str, rows: str) -> None:
    (root / "features" / "s.sql").write_text(STEP.format(tests=tests, rows=rows))


def test_the_table_an_older_definition_published_is_tested_with_todays_tests(tmp_path):
    root = make_project(tmp_path / "p", {"features/s.sql": STEP.format(tests='{"id": ["unique"]}', rows="(1, 'a'), (2, NULL)")})
    assert cli_tuple("run", "-p", str(root), cwd=root)[0] == 0
    write_step(root, '{"id": ["unique"]}', "(1, 'a'), (2, NULL), (2, 'b')")
    assert cli_tuple("run", "-p", str(root), cwd=root)[0] == 1  # unique fails: the first table stays
    code, events, err = toolkit_test(root)
    assert code == 0, (events, err)
    assert [(e["test"], e["status"]) for e in events if e["event"] == "test"] == [("unique(id)", "pass")]
    assert {"event": "test_older_definition", "name": "s"} in events

    write_step(root, '{"id": ["unique"], "v": ["not_null"]}', "(1, 'a'), (2, NULL), (2, 'b')")  # a test the old table fails
    code, events, err = toolkit_test(root)
    assert code == 1, (events, err)
    assert ("not_null(v)", "fail") in [(e["test"], e["status"]) for e in events if e["event"] == "test"]


def test_a_test_that_cannot_run_on_the_older_table_is_reported_untested(tmp_path):
    root = make_project(tmp_path / "p", {"features/s.sql": STEP.format(tests='{"id": ["unique"]}', rows="(1, 'a')")})
    assert cli_tuple("run", "-p", str(root), cwd=root)[0] == 0
    (root / "features" / "s.sql").write_text("{{ config(tests={'w': ['not_null']}) }}\nselect 1 as id, 'a' as w\n")
    code, events, err = toolkit_test(root)
    skipped = [e for e in events if e["event"] == "test_skipped"]
    assert [(e["name"], e["reason"]) for e in skipped] == [("s", "published from an older definition")], events
    assert "w" in skipped[0]["error"]  # the engine's reason: the older table has no column w
    assert code == 1 and "Traceback" not in err  # not a green gate over an untested table


def test_a_test_the_engine_cannot_run_on_todays_table_is_an_error_not_an_internal_error(tmp_path):
    """A view's source took a value its expression test cannot cast: `toolkit test` names the
    step and the engine's reason, exit 1 (it ended in "internal error: ConversionException")."""
    files = {
        "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.raw]\ncolumns = { id = "integer", v = "varchar" }\n',
        "features/s.sql": '{{ config(materialized="view", table_tests=[{"expression": "cast(v as integer) > 0"}]) }}\n'
                          'select id, v from {{ source("app", "raw") }}\n',
    }
    root = make_project(tmp_path / "p", files, "create schema app; create table app.raw as select 1 as id, '5' as v")
    assert cli_tuple("run", "-p", str(root), cwd=root)[0] == 0
    from _projects import execute

    execute(root, "insert into app.raw values (2, 'many')")
    code, events, err = toolkit_test(root)
    errors = [e for e in events if e["event"] == "test_error"]
    assert [e["name"] for e in errors] == ["s"] and "many" in errors[0]["error"], (events, err)
    assert code == 1 and "internal error" not in err and "Traceback" not in err
