"""A step whose rows read no step but whose tests read one: what the plan says and does.

The project of test_custom_test_holds.py (features/tests/a_and_b.sql reads a and b, runs
with b; c is a view over a, d reads a) with b reading only the source u_src: b's rows are
made from none of the steps, its test reads a. When a changes:

- the plan used to say "upstream changed (a)" (reads_upstream, empty for b, read as
  "unknown"): it says "a step its tests read changed (a)" (tests_input_changed);
- b used to be rebuilt from u_src into the same rows: it re-runs the tests reading a on
  its published table (action test), holding a, c and d until they pass, as a build did;
- a not-due step whose custom test of severity warn reads a step the run writes re-runs
  that test (it warns, holds nothing): the warning used to be missing.
"""

from __future__ import annotations

import json

import pytest
import test_custom_test_holds as holds  # the module, not its names: pytest would collect its tests here too
from postgres_support import pg_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # end-to-end runs

SOURCE_B = 'select id, 1 as w from {{ source("app", "u_src") }}\n'
TESTS_READ = "a step its tests read changed (a)"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def plan_events(w) -> dict[str, dict]:
    planned = w.toolkit("plan", "--log-format", "json")
    assert planned.code == 0, planned.out + planned.err
    return {e["step"]: e for e in map(json.loads, planned.out.splitlines()) if e.get("event") == "plan"}


def physical(w, step: str) -> list[tuple]:
    return w.rows(f"select physical_name, fingerprint from toolkit.published where step = '{step}'")


@pytest.fixture
def built(tmp_path, warehouse_url):
    w = holds.Warehouse(tmp_path, warehouse_url, b=SOURCE_B)
    first = w.toolkit("run")
    assert first.code == 0, first.out + first.err
    return w


def test_plan_names_the_step_its_tests_read_and_re_tests(built):
    w = built
    w.sql("insert into app.a_src values (1, 5)")  # a changes; b (from u_src) still has an id 1 row

    steps = plan_events(w)

    assert (steps["b"]["action"], steps["b"]["reason"]) == ("test", TESTS_READ), steps["b"]
    assert [r["kind"] for r in steps["b"]["reasons"]] == ["tests_input_changed"]
    held_by = [{"test": "a_and_b", "where": "features/tests/a_and_b.sql:2", "step": "b"}]
    assert {name: steps[name].get("held_by") for name in "acd"} == {name: held_by for name in "acd"}
    assert steps["u"]["action"] == "reuse"
    text = w.toolkit("plan").out
    assert [line.split(None, 2)[1:] for line in text.splitlines() if line.startswith("b ")] == [["test", TESTS_READ]], text


def test_a_passing_re_test_publishes_a_and_keeps_b_s_table(built):
    w = built
    before = physical(w, "b")
    w.sql("insert into app.a_src values (1, 5)")

    done = w.toolkit("run")

    assert done.code == 0, done.out + done.err
    assert w.published() == {"a": [(1, 1), (1, 5)], "b": [(1, 1)], "c": [(1, 1), (1, 5)], "d": [(1, 1), (1, 5)], "u": [(1,)]}
    after = physical(w, "b")
    assert after[0][0] == before[0][0]  # not rebuilt: the same physical table, published again
    assert w.rows("select action, status from toolkit.step_runs where run_id = 2 and step = 'b'") == [("test", "success")]
    tests = w.rows("select step, test, status from toolkit.test_results where run_id = 2 and step = 'b'")
    assert tests == [("b", "custom(a_and_b)", "pass")]
    # it recorded what it tested against: the next plan re-tests nothing
    steps = plan_events(w)
    assert {name: e["action"] for name, e in steps.items()} == {name: "reuse" for name in "abcdu"}, steps


def test_a_failing_re_test_holds_a_and_what_is_built_from_it(built):
    w = built
    before, published = physical(w, "b"), w.published()
    w.sql("insert into app.a_src values (1, -1)")

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.published() == published  # a, c and d held: their previous versions stay
    assert holds.HELD in done.out and "custom(a_and_b): 1 failing row" in done.out, done.out
    assert w.statuses(2) == {"a": "failed", "b": "failed", "c": "failed", "d": "failed", "u": "reused"}
    assert physical(w, "b") == before

    w.sql("delete from app.a_src where v < 0")  # back as published: the re-test passes, nothing rebuilt
    again = w.toolkit("run")
    assert again.code == 0, again.out + again.err
    assert physical(w, "b")[0][0] == before[0][0]
    assert w.published() == published


def test_a_build_for_its_own_source_names_a_apart(built):
    w = built
    w.sql("insert into app.u_src values (2)")
    w.sql("insert into app.a_src values (2, 5)")

    b = plan_events(w)["b"]

    assert (b["action"], [r["kind"] for r in b["reasons"]]) == ("rebuild", ["source_changed", "tests_input_changed"]), b
    assert b["reason"] == "source data changed (app.u_src); " + TESTS_READ, b


def test_an_edit_of_a_re_tests_b(built):
    w = built
    (w.root / "features" / "a.sql").write_text('select id, v + 1 as v from {{ source("app", "a_src") }}\n')

    steps = plan_events(w)

    assert (steps["a"]["action"], steps["b"]["action"], steps["b"]["reason"]) == ("rebuild", "test", TESTS_READ), steps


def test_a_view_is_re_tested_and_not_re_pointed(tmp_path):
    w = holds.Warehouse(tmp_path, None, b='{{ config(materialized="view") }}\n' + SOURCE_B)
    assert w.toolkit("run").code == 0
    before, published = physical(w, "b"), w.published()
    w.sql("insert into app.a_src values (1, -1)")

    steps = plan_events(w)
    assert (steps["b"]["action"], steps["b"]["reason"]) == ("test", TESTS_READ), steps["b"]
    done = w.toolkit("run")
    assert done.code == 1 and holds.HELD in done.out, done.out
    assert w.published() == published and physical(w, "b") == before

    # --select a: b reads no table of a, so it is not pulled in to be re-pointed (its test does not run: the warning says so)
    planned = w.toolkit("plan", "--select", "a").out
    assert "warning: features/tests/a_and_b.sql runs with b" in planned and not [line for line in planned.splitlines() if line.startswith("b ")], planned


def test_a_relationships_test_toward_a_re_tests_its_step(tmp_path):
    r = ('{{ config(tests={"id": [{"relationships": {"to": "a", "field": "id"}}]}) }}\n'
         'select id from {{ source("app", "u_src") }}\n')
    w = holds.Warehouse(tmp_path, None, b=SOURCE_B, r=r)
    assert w.toolkit("run").code == 0
    first = physical(w, "r")
    w.sql("update app.a_src set v = 7")

    steps = plan_events(w)
    assert (steps["r"]["action"], steps["r"]["reason"]) == ("test", TESTS_READ), steps["r"]
    assert w.toolkit("run").code == 0
    assert physical(w, "r")[0][0] == first[0][0]
    assert w.rows("select test, status from toolkit.test_results where run_id = 2 and step = 'r'") == [("relationships(id)", "pass")]

    w.sql("delete from app.a_src")  # u_src's id 1 has no a row now: the re-test fails, r stays as published
    done = w.toolkit("run")
    assert done.code == 1 and "relationships" in done.out, done.out
    assert w.rows("select action, status from toolkit.step_runs where run_id = 3 and step = 'r'") == [("test", "failed")]
    assert w.rows("select * from features.r") == [(1,)]


def test_its_own_code_changed_is_a_build(built):
    w = built
    (w.root / "features" / "b.sql").write_text('select id, 2 as w from {{ source("app", "u_src") }}\n')
    w.sql("insert into app.a_src values (1, 5)")

    steps = plan_events(w)

    assert steps["b"]["action"] == "rebuild" and steps["b"]["reasons"][0]["kind"] == "sql_changed", steps["b"]
    done = w.toolkit("run")
    assert done.code == 0, done.out + done.err
    assert w.published()["b"] == [(1, 2)]


def test_a_step_reading_the_clock_is_built_again(tmp_path):
    w = holds.Warehouse(tmp_path, None, b='select id, current_date as w from {{ source("app", "u_src") }}\n')
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (1, 5)")

    assert plan_events(w)["b"]["action"] == "rebuild"


def test_a_not_due_step_re_runs_its_warn_test_reading_a_written_step(tmp_path, monkeypatch, warehouse_url):
    monkeypatch.setenv("TOOLKIT_NOW", "2026-12-07T12:00:00")
    monthly = '{{ config(cron="@monthly") }}\nselect id, v * 2 as w from {{ ref("c") }}\n'
    w = holds.Warehouse(tmp_path, warehouse_url, b=monthly, **{"tests/a_and_b": "{{ config(severity='warn') }}\n" + holds.TEST})
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (2, -1)")  # no b row for it (b is not due), and v < 0: the test warns

    steps = plan_events(w)
    assert steps["b"]["action"] == "test" and steps["b"]["reasons"][0]["kind"] == "test_reads_written", steps["b"]
    assert all(steps[name].get("held_by") is None for name in "abcdu"), steps

    done = w.toolkit("run")

    assert done.code == 0, done.out + done.err
    assert "custom(a_and_b)" in done.out and "1 failing row" in done.out, done.out
    assert w.published()["a"] == [(1, 1), (2, -1)]  # warns, holds nothing
    tests = w.rows("select step, test, status from toolkit.test_results where run_id = 2 and test = 'custom(a_and_b)'")
    assert tests == [("b", "custom(a_and_b)", "warn")]
    assert w.rows("select status from toolkit.step_runs where run_id = 2 and step = 'b'") == [("success",)]
