"""A custom test whose step is not due (cron) still runs when the run writes what it reads.

features/tests/a_and_b.sql reads a and b, so it runs with b (the last step it reads). Here b
is @monthly and was built this month: a run after a's source changed rebuilds a (and c, d)
but keeps b. The test used to run with b only, so it did not run at all: a went out
untested (exit 0, no test result), and the warning advised selecting b, which changed
nothing. Now b re-runs the test on its published table, beside a's new one, and it holds a,
c and d as when b is built: a failure publishes none of them, a pass publishes them all.
"""

from __future__ import annotations

import json

import pytest
import test_custom_test_holds as holds  # the module, not its names: pytest would collect its tests here too
from postgres_support import pg_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

MONTHLY_B = '{{ config(cron="@monthly") }}\nselect id, v * 2 as w from {{ ref("c") }}\n'
NOW = "2026-12-07T12:00:00"  # b, built now, is next due on 2027-01-01
RETEST = ("custom test features/tests/a_and_b.sql reads a, which this run writes: re-run on its published table; "
          "upstream changed (c); a step its tests read changed (a), not due until 2027-01-01 00:00")


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


@pytest.fixture
def monthly(tmp_path, monkeypatch, warehouse_url):
    """The project with b @monthly, run once this month; b (1, 2) is published."""
    monkeypatch.setenv("TOOLKIT_NOW", NOW)
    w = holds.Warehouse(tmp_path, warehouse_url, b=MONTHLY_B)
    first = w.toolkit("run")
    assert first.code == 0, first.out + first.err
    return w


def test_plan_re_tests_the_step_not_due_and_holds_what_the_test_reads(monthly):
    monthly.sql("insert into app.a_src values (2, -1)")

    planned = monthly.toolkit("plan", "--log-format", "json")

    events = [json.loads(line) for line in planned.out.splitlines()]
    steps = {e["step"]: e for e in events if e.get("event") == "plan"}
    assert (steps["b"]["action"], steps["b"]["reason"]) == ("test", RETEST), planned.out
    assert [r["kind"] for r in steps["b"]["reasons"]] == ["test_reads_written", "upstream_changed", "tests_input_changed", "not_due"]
    held_by = [{"test": "a_and_b", "where": "features/tests/a_and_b.sql:2", "step": "b"}]
    assert {name: steps[name].get("held_by") for name in "acd"} == {name: held_by for name in "acd"}
    assert not [e for e in events if e.get("event") == "warning"], planned.out
    text = monthly.toolkit("plan").out
    assert "warning" not in text and "published only if custom test features/tests/a_and_b.sql (run with b) passes" in text, text


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_failing_test_publishes_none_of_the_steps_it_reads(monthly, threads):
    w = monthly
    before = w.published()
    w.sql("insert into app.a_src values (2, -1)")  # no b row for it (b is not due), and v < 0
    w.sql("insert into app.u_src values (2)")

    done = w.toolkit("run", "--threads", threads)

    assert done.code == 1, done.out + done.err
    after = w.published()
    assert {name: after[name] for name in "abcd"} == {name: before[name] for name in "abcd"}  # previous tables, all of them
    assert after["u"] == [(1,), (2,)]  # not read by the test: published
    assert "custom(a_and_b): 1 failing row (e.g. id=2)" in done.out and holds.HELD in done.out, done.out
    assert ("features/tests/a_and_b.sql: not published (its previous version stays): "
            "held back by custom test a_and_b, run with b, and it failed") in done.out, done.out
    assert w.statuses(2) == {"a": "failed", "b": "failed", "c": "failed", "d": "failed", "u": "success"}
    tests = w.rows("select step, test, status from toolkit.test_results where run_id = 2 order by step")
    assert tests == [(name, "custom(a_and_b)", "fail") for name in "abcd"]

    w.sql("delete from app.a_src where v < 0")  # fixed: as published, and b is still not due
    again = w.toolkit("run")
    assert again.code == 0, again.out + again.err
    assert w.published()["a"] == [(1, 1)]
    assert w.statuses(3)["b"] == "reused"


def test_a_passing_test_publishes_them_all(monthly):
    w = monthly
    w.sql("update app.a_src set v = 3 where id = 1")  # b (not rebuilt) still has every a row

    done = w.toolkit("run", "--threads", "2")

    assert done.code == 0, done.out + done.err
    assert w.published() == {"a": [(1, 3)], "b": [(1, 2)], "c": [(1, 3)], "d": [(1, 3)], "u": [(1,)]}
    assert w.statuses(2) == {"a": "success", "b": "success", "c": "success", "d": "success", "u": "reused"}
    tests = w.rows("select step, test, status from toolkit.test_results where run_id = 2 and test = 'custom(a_and_b)'")
    assert tests == [("b", "custom(a_and_b)", "pass")]
    # b kept its data and its schedule: still not due, and what it reads is unchanged now
    assert w.rows("select count(*) from toolkit.published where step = 'b' and built_at < timestamp '2026-12-08'") == [(1,)]
    planned = w.toolkit("plan").out
    assert "b     reuse        upstream changed (c); a step its tests read changed (a), not due until 2027-01-01 00:00" in planned.splitlines(), planned


def test_selecting_the_tests_step_as_the_warning_advises_runs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_NOW", NOW)
    w = holds.Warehouse(tmp_path, None, b=MONTHLY_B)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (2, -1)")
    warning = ("warning: features/tests/a_and_b.sql runs with b, which this run leaves out, so it does not run: "
               "a is published without it (select b too: the run then runs it and holds a until it passes)")
    assert warning in w.toolkit("plan", "--select", "a").out

    done = w.toolkit("run", "--select", "a", "--select", "b")

    assert done.code == 1 and "held back with it, not published (their previous versions stay): a" in done.out, done.out
    assert w.published()["a"] == [(1, 1)]
