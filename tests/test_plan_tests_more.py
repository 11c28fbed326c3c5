"""Tests that read another step, when the run writes that step but does not build theirs.

The project of test_custom_test_holds.py (a from a_src; c a view over a, b from c; d from a;
u from u_src) with z: @monthly, its rows from u, and a relationships test toward a (every
z.id is an a.id), so z runs after a though it is not built from it.

- z not due, u and a changed: z was reused and its relationships test did not run, so a
  was published without the rows z refers to (exit 0). Now z re-runs the test on its
  published table (`test`, test_reads_written) and holds a (and what is built from a) until
  it passes, as a custom test does (a build of z holds nothing: its own rows may be at fault).
- an incremental step whose only changed input is a step its tests read was rebuilt (its
  history lost) or updated: it is re-tested, as a table step is.
"""

from __future__ import annotations

import json

import pytest
import test_custom_test_holds as holds  # the module, not its names: pytest would collect its tests here too
from postgres_support import pg_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # end-to-end runs

NOW = "2026-12-07T12:00:00"  # z, built now, is next due on 2027-01-01
RELATIONSHIPS = '{"id": [{"relationships": {"to": "a", "field": "id"}}]}'
MONTHLY_Z = '{{ config(cron="@monthly", tests=' + RELATIONSHIPS + ') }}\nselect id from {{ ref("u") }}\n'
DAILY_Z = '{{ config(tests=' + RELATIONSHIPS + ') }}\nselect id from {{ ref("u") }}\n'
BY_TEST = "held back by test relationships(id) of z, and it failed: relationships(id)"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def plan_events(w) -> tuple[dict[str, dict], list[dict]]:
    planned = w.toolkit("plan", "--log-format", "json")
    assert planned.code == 0, planned.out + planned.err
    events = [json.loads(line) for line in planned.out.splitlines()]
    return {e["step"]: e for e in events if e.get("event") == "plan"}, [e for e in events if e.get("event") == "warning"]


def physical(w, step: str) -> str:
    return w.rows(f"select physical_name from toolkit.published where step = '{step}'")[0][0]


@pytest.fixture
def monthly(tmp_path, monkeypatch, warehouse_url):
    """z @monthly, run once this month: z (1) refers to a's (1, 1)."""
    monkeypatch.setenv("TOOLKIT_NOW", NOW)
    w = holds.Warehouse(tmp_path, warehouse_url, z=MONTHLY_Z)
    first = w.toolkit("run")
    assert first.code == 0, first.out + first.err
    return w


def test_plan_re_tests_the_not_due_step_and_holds_its_parent(monthly):
    w = monthly
    w.sql("insert into app.u_src values (2)")  # u changes: z is not due, so it keeps (1)
    w.sql("update app.a_src set v = 3")

    steps, warnings = plan_events(w)

    z = steps["z"]
    assert z["action"] == "test", z
    assert [r["kind"] for r in z["reasons"]][:1] == ["test_reads_written"], z
    assert z["reason"].startswith("test relationships(id) reads a, which this run writes: re-run on its published table"), z
    held_by = [{"test": "relationships(id)", "where": "features/z.sql", "step": "z"}]
    assert all(held_by[0] in (steps[name].get("held_by") or []) for name in "abcd"), steps
    assert steps["u"].get("held_by") is None and not warnings, (steps, warnings)
    assert "published only if test relationships(id) of z passes" in w.toolkit("plan").out


def test_a_failing_re_test_keeps_the_parent_as_published(monthly):
    w = monthly
    before, kept = w.published(), physical(w, "z")
    w.sql("insert into app.u_src values (2)")
    w.sql("delete from app.a_src")  # a loses id 1, which the published z still refers to
    w.sql("insert into app.a_src values (3, 3)")

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    after = w.published()
    assert after["a"] == before["a"] == [(1, 1)], after  # a's previous version stays
    assert after["u"] == [(1,), (2,)]  # not read by the test: published
    assert w.rows("select * from features.z") == [(1,)] and physical(w, "z") == kept
    runs = dict(w.rows("select step, action from toolkit.step_runs where run_id = 2"))
    assert runs["z"] == "test", runs
    assert w.statuses(2)["z"] == "failed" and w.statuses(2)["a"] == "failed", w.statuses(2)
    error = w.rows("select error from toolkit.step_runs where run_id = 2 and step = 'a'")[0][0]
    assert error.startswith("features/z.sql: not published (its previous version stays): " + BY_TEST), error
    tests = w.rows("select step, test, status from toolkit.test_results where run_id = 2 and step in ('a', 'z') order by step")
    assert tests == [("a", "relationships(id)", "fail"), ("z", "relationships(id)", "fail")], tests


def test_a_passing_re_test_publishes_the_parent_and_keeps_z(monthly):
    w = monthly
    kept = physical(w, "z")
    w.sql("insert into app.u_src values (2)")
    w.sql("insert into app.a_src values (2, 2)")  # z (not rebuilt) keeps (1), which a still has

    done = w.toolkit("run")

    assert done.code == 0, done.out + done.err
    assert w.published()["a"] == [(1, 1), (2, 2)]
    assert w.rows("select * from features.z") == [(1,)] and physical(w, "z") == kept
    assert w.rows("select test, status from toolkit.test_results where run_id = 2 and step = 'z'") == [("relationships(id)", "pass")]


INCREMENTAL_Z = ('{{ config(materialized="incremental", unique_key="id", tests=' + RELATIONSHIPS + ') }}\n'
                 'select id from {{ source("app", "u_src") }}\n')


@pytest.fixture
def incremental(tmp_path, warehouse_url):
    """z incremental (merge on id) from u_src, run twice: it holds id 1, which u_src no longer does."""
    w = holds.Warehouse(tmp_path, warehouse_url, z=INCREMENTAL_Z)
    w.sql("insert into app.a_src values (2, 2)")
    w.sql("insert into app.u_src values (2)")
    assert w.toolkit("run").code == 0
    w.sql("delete from app.u_src where id = 1")
    again = w.toolkit("run")
    assert again.code == 0, again.out + again.err
    assert w.rows("select * from features.z order by 1") == [(1,), (2,)]  # its history: id 1 stays
    return w


def test_an_incremental_step_is_re_tested_when_its_tests_parent_is_edited(incremental):
    w = incremental
    kept = physical(w, "z")
    (w.root / "features" / "a.sql").write_text('select id, v + 1 as v from {{ source("app", "a_src") }}\n')

    steps, _ = plan_events(w)
    assert (steps["a"]["action"], steps["z"]["action"]) == ("rebuild", "test"), steps["z"]
    assert [r["kind"] for r in steps["z"]["reasons"]] == ["tests_input_changed"], steps["z"]
    assert {"test": "relationships(id)", "where": "features/z.sql", "step": "z"} in steps["a"]["held_by"], steps["a"]

    done = w.toolkit("run")

    assert done.code == 0, done.out + done.err
    assert w.rows("select * from features.z order by 1") == [(1,), (2,)]  # rebuilt, it lost id 1
    assert physical(w, "z") == kept
    assert w.rows("select action from toolkit.step_runs where run_id = 3 and step = 'z'") == [("test",)]
    after, _ = plan_events(w)
    assert {name: e["action"] for name, e in after.items()} == {name: "reuse" for name in "abcduz"}, after


def test_an_incremental_step_is_re_tested_when_its_tests_parent_s_data_changes(incremental):
    w = incremental
    w.sql("delete from app.a_src where id = 1")  # z still holds id 1: the re-test fails

    steps, _ = plan_events(w)
    assert steps["z"]["action"] == "test", steps["z"]
    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.published()["a"] == [(1, 1), (2, 2)]  # held: its previous version stays
    assert w.rows("select action, status from toolkit.step_runs where run_id = 3 and step = 'z'") == [("test", "failed")]
    assert w.rows("select * from features.z order by 1") == [(1,), (2,)]


def test_a_left_out_warn_test_is_warned_of_without_a_hold(tmp_path):
    # A warn test re-runs when its step is kept (test_reads_written, either severity); left out,
    # its warning never shows: the plan says so, as for one of severity error, promising no hold.
    w = holds.Warehouse(tmp_path, None, **{"tests/a_and_b": "{{ config(severity='warn') }}\n" + holds.TEST})
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (2, -1)")

    planned = w.toolkit("plan", "--select", "a").out

    assert ("warning: features/tests/a_and_b.sql runs with b, which this run leaves out, so it does not run: "
            "a is published without it (select b too: the run then runs it)") in planned, planned


def test_a_left_out_relationships_test_is_warned_of(tmp_path):
    w = holds.Warehouse(tmp_path, None, z=DAILY_Z)
    assert w.toolkit("run").code == 0
    w.sql("delete from app.a_src")

    planned = w.toolkit("plan", "--select", "a").out

    assert ("warning: relationships(id) in features/z.sql runs with z, which this run leaves out, so it does not run: "
            "a is published without it (select z too: the run then runs it and holds a until it passes)") in planned, planned
