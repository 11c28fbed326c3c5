"""`toolkit gc`: drops physical tables that no environment and no saved state (for
rollback) references, once they are older than --retention; says what it dropped."""

from __future__ import annotations

import re

import pytest

from _projects import cli, execute, make_project, physical_relations, query, rows, run, write

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

STEPS = {
    "features/base.sql": "select 1 as id, 2.0 as amount",
    "features/doubled.sql": "select id, amount * 2 as amount2 from {{ ref('base') }}",
    "features/report.sql": "{{ config(materialized='view') }}\nselect id, amount2 from {{ ref('doubled') }}",
}


def setup(tmp_path):
    root = make_project(tmp_path / "proj", STEPS)
    assert run(root).code == 0
    write(root, {"features/doubled.sql": "select id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(root, "--env", "dev").code == 0
    assert cli("promote", "dev", "-p", str(root)).code == 0
    return root


def test_gc_keeps_what_environments_and_saved_states_read_until_retention(tmp_path):
    root = setup(tmp_path)
    before = set(physical_relations(root))
    kept = cli("gc", "--retention", "1h", "-p", str(root))
    assert kept.code == 0 and "dropped 0 relation(s)" in kept.out, kept
    assert set(physical_relations(root)) == before
    assert cli("rollback", "-p", str(root)).code == 0  # the saved state's tables are still there
    assert rows(root, "features.report") == [(1, 4.0)]
    assert cli("promote", "dev", "-p", str(root)).code == 0

    dry = cli("gc", "--retention", "0s", "--dry-run", "-p", str(root))
    assert dry.code == 0 and "would forget 1 saved state(s)" in dry.out, dry
    assert set(physical_relations(root)) == before
    done = cli("gc", "--retention", "0s", "-p", str(root))
    assert done.code == 0, done

    def named(out: str, verb: str) -> set[str]:
        return {re.search(r"toolkit_physical\.(\S+)", line).group(1) for line in out.splitlines()
                if line.strip().startswith(verb) and "toolkit_physical." in line}

    dropped = named(done.out, "dropped ")
    assert dropped and all(name.startswith(("doubled__", "report__")) for name in dropped), done.out
    assert named(dry.out, "would drop ") == dropped  # it said 0: what the saved state it forgets held was left out
    live = {r[0] for r in query(root, "select physical_name from toolkit.published")}
    assert set(physical_relations(root)) == live
    assert rows(root, "features.report") == rows(root, "features__dev.report") == [(1, 6.0)]


def test_orphans_not_in_state_are_aged_by_the_run_in_their_name(tmp_path):
    root = make_project(tmp_path / "proj", STEPS)
    assert run(root).code == 0
    execute(root, "create table toolkit_physical.base__0123456789ab__r1 as select 1 as id")  # as a killed run leaves it
    recent = cli("gc", "--retention", "1d", "-p", str(root))
    assert recent.code == 0 and "kept 1 younger than 1d" in recent.out, recent
    old = cli("gc", "--retention", "0s", "-p", str(root))
    assert old.code == 0 and "dropped table toolkit_physical.base__0123456789ab__r1" in old.out, old
    assert "base__0123456789ab__r1" not in physical_relations(root)


def test_history_forgets_old_step_records_but_each_steps_latest(tmp_path):
    # A scheduled project writes a step_runs row per step per run; --history bounds that.
    tested = {**STEPS, "features/base.sql": "{{ config(tests={'id': ['not_null']}) }}\nselect 1 as id, 2.0 as amount"}
    root = make_project(tmp_path / "proj", tested)
    for _ in range(3):
        assert run(root).code == 0
    write(root, {"features/doubled.sql": "select id, amount * 3 as amount2 from {{ ref('base') }}"})
    assert run(root, "--select", "doubled").code == 0  # the latest run of doubled, and of report (a view over it: re-pointed)
    step_runs = "select step, run_id from toolkit.step_runs order by step, run_id"
    before = query(root, step_runs)
    tests_before = query(root, "select step, run_id from toolkit.test_results order by run_id")

    dry = cli("gc", "--history", "0s", "--dry-run", "-p", str(root))
    assert dry.code == 0 and "would forget 8 step record(s) of runs older than 0s" in dry.out, dry
    assert query(root, step_runs) == before
    done = cli("gc", "--history", "0s", "-p", str(root))
    assert done.code == 0 and "forgot 8 step record(s) of runs older than 0s" in done.out, done
    assert query(root, step_runs) == [("base", 3), ("doubled", 4), ("report", 4)]  # each step's latest run
    assert query(root, "select step, run_id from toolkit.test_results order by run_id") == [tests_before[-1]]
    assert [r[0] for r in query(root, "select run_id from toolkit.runs order by 1")] == [1, 2, 3, 4]  # runs stay
    assert "forgot 8 step record(s)" in query(root, "select detail from toolkit.audit_log where action = 'gc'")[-1][0]
    assert run(root).code == 0  # and the project runs on


def test_history_keeps_recent_runs_and_refuses_a_bad_duration(tmp_path):
    root = make_project(tmp_path / "proj", STEPS)
    assert run(root).code == 0 and run(root).code == 0
    kept = cli("gc", "--history", "1d", "-p", str(root))
    assert kept.code == 0 and "forgot 0 step record(s)" in kept.out, kept
    assert len(query(root, "select * from toolkit.step_runs")) == 6
    bad = cli("gc", "--history", "forever", "-p", str(root))
    assert bad.code == 2 and "--history 'forever' is not a duration like 7d, 12h or 30m" in bad.err, bad
    assert "Traceback" not in bad.err
