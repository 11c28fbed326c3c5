"""How steps a failing custom test holds are reported, and what `plan` says of them.

The project of test_custom_test_holds.py (features/tests/a_and_b.sql reads a and b, runs
with b; a, c and d are held), with e (reads the view c) and f (reads e): held too. A held
step finishing after the test failed used to be reported "skipped: upstream a was not
published", or "failed" when it finished first: which one depended on threads and timing,
and it was built in full though its fate was decided. Now every held step is reported
failed naming the test, and one not started when the test failed is not built.
"""

from __future__ import annotations

import json

import pytest
from postgres_support import pg_url  # noqa: F401 (fixture)

from test_custom_test_holds import Warehouse

pytestmark = pytest.mark.slow  # end-to-end runs

MORE = {"e": 'select id from {{ ref("c") }}\n', "f": 'select id from {{ ref("e") }}\n'}
BY_TEST = "held back by custom test a_and_b, run with b, and it failed: custom(a_and_b): 1 failing row (e.g. id=2)"
HELD = "acdef"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def failing_run(w: Warehouse, run_id: int, threads: str) -> dict[str, tuple]:
    """A run whose test fails: step -> (status, error, rows_written), as recorded."""
    done = w.toolkit("run", "--threads", threads)
    assert done.code == 1, done.out + done.err
    assert "upstream a was not published" not in done.out, done.out
    rows = w.rows(f"select step, status, error, rows_written from toolkit.step_runs where run_id = {run_id}")
    return {step: (status, error, written) for step, status, error, written in rows}


@pytest.mark.parametrize("threads", ["1", "2"])
def test_every_held_step_is_reported_failed_by_the_test_run_after_run(tmp_path, warehouse_url, threads):
    w = Warehouse(tmp_path, warehouse_url, **MORE)
    assert w.toolkit("run").code == 0
    before = {name: w.rows(f"select * from features.{name} order by 1") for name in HELD}
    w.sql("insert into app.a_src values (2, -1)")

    for run_id in range(2, 5 if warehouse_url is None else 3):  # timing varies from run to run: the report does not
        steps = failing_run(w, run_id, threads)

        assert {name: status for name, (status, _, _) in steps.items()} == {**{n: "failed" for n in HELD + "b"}, "u": "reused"}
        for name in HELD:
            assert BY_TEST in steps[name][1], (name, steps[name])
        tests = w.rows(f"select step, status from toolkit.test_results where run_id = {run_id} and test = 'custom(a_and_b)'")
        assert sorted(tests) == [(name, "fail") for name in sorted(HELD + "b")]
        assert {name: w.rows(f"select * from features.{name} order by 1") for name in HELD} == before


def test_a_held_step_not_started_when_the_test_failed_is_not_built(tmp_path):
    """One thread: e becomes ready with b and is queued after it; f waits for e."""
    w = Warehouse(tmp_path, None, **MORE)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (2, -1)")

    for run_id in (2, 3):
        steps = failing_run(w, run_id, "1")

        for name in "acd":  # built before the test ran
            assert steps[name][1].startswith("features/tests/a_and_b.sql: not published (its previous version stays): " + BY_TEST)
            assert steps[name][2] == 2
        for name in "ef":
            assert steps[name][1].startswith("features/tests/a_and_b.sql: not built (its previous version stays): " + BY_TEST)
            assert steps[name][2] is None, steps[name]


A_AND_Y = "select y.id from {{ ref('y') }} as y join {{ ref('a') }} as a on a.id = y.id where a.v < -100\n"


def test_plan_names_what_a_step_reads_apart_from_what_its_tests_read(tmp_path):
    """y reads only u; its custom test a_and_y also reads a, so y runs after a and re-runs that
    test on its published table when a changes (not built again: a_and_b, which holds what is
    built from a, holds nothing of it). Its reason used to be 'upstream changed (a)'."""
    w = Warehouse(tmp_path, None, y='select id from {{ ref("u") }}\n', **{"tests/a_and_y": A_AND_Y})
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (2, 5)")

    planned = w.toolkit("plan")

    lines = {line.split()[0]: line for line in planned.out.splitlines() if line.strip()}
    assert lines["y"].split(None, 2)[1:] == ["test", "a step its tests read changed (a)"], planned.out
    assert "upstream changed (c); a step its tests read changed (a)" in lines["b"], planned.out
    assert "upstream changed (a);" in lines["c"], planned.out
    events = [json.loads(line) for line in w.toolkit("plan", "--log-format", "json").out.splitlines()]
    y = next(event for event in events if event.get("step") == "y")
    assert (y["action"], y["reason_kind"], y.get("held_by")) == ("test", "tests_input_changed", None), y
    assert w.toolkit("run").code == 0

