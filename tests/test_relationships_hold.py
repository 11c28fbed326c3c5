"""A failing relationships test holds its parent's publish when its step is built in the same run.

DESIGN decision 3 (build, check, then publish): a relationships test of severity error on
step z (parent a) that fails must leave no published pair that no test passed. It held a
only when z was kept and re-tested because a changed; built in the same run as a, z failed
and a's new rows were published all the same, beside z's previous ones. Now a is held in
both cases: it keeps its previous version (or, on its first run, stays unpublished), and
what was built from its new rows (b, c, d of test_custom_test_holds.py's project) is held
with it. The next run, once the data is fixed, publishes them all.

The project is test_custom_test_holds.py's (a from a_src, u from u_src, c, b, d from a) with
z, whose rows come from u and whose relationships test says every z.id is an a.id.
"""

from __future__ import annotations

import json

import pytest
import test_custom_test_holds as holds  # the module, not its names: pytest would collect its tests here too
from postgres_support import pg_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # end-to-end runs

Z = ('{{ config(tests={"id": [{"relationships": {"to": "a", "field": "id"}}]}) }}\n'
     'select id from {{ ref("u") }}\n')
WARN_Z = ('{{ config(tests={"id": [{"relationships": {"to": "a", "field": "id", "severity": "warn"}}]}) }}\n'
          'select id from {{ ref("u") }}\n')
INCREMENTAL_Z = ('{{ config(materialized="incremental", unique_key="id", tests={"id": [{"relationships": {"to": "a", "field": "id"}}]}) }}\n'
                 'select id from {{ ref("u") }}\n')
SEED_Z = ('{{ config(tests={"id": [{"relationships": {"to": "kinds", "field": "id"}}]}) }}\n'
          'select id from {{ ref("u") }}\n')
HELD_BY_Z = "not published (its previous version stays): held back by test relationships(id) of z, and it failed"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def published(w, *names: str) -> dict[str, list[tuple]]:
    return {name: w.rows(f"select * from features.{name} order by 1") for name in names}


def published_steps(w) -> set[str]:
    return {name for (name,) in w.rows("select step from toolkit.published")}


def test_a_failing_test_of_a_built_step_holds_its_parent_and_the_next_run_publishes_it(tmp_path, warehouse_url):
    w = holds.Warehouse(tmp_path, warehouse_url, z=Z)
    assert w.toolkit("run").code == 0
    before = published(w, "a", "b", "c", "d", "z")
    w.sql("insert into app.u_src values (2)")  # u and z are built again: z now holds 1 and 2
    w.sql("update app.a_src set v = 3")  # a is built again, and has no id 2

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert published(w, "a", "b", "c", "d", "z") == before  # held: the published pair stays the one that passed
    assert w.rows("select * from features.u order by 1") == [(1,), (2,)]  # z's own upstream is not what its test reads
    assert w.statuses(2) == {"a": "failed", "b": "failed", "c": "failed", "d": "failed", "z": "failed", "u": "success"}
    error = w.rows("select error from toolkit.step_runs where run_id = 2 and step = 'a'")[0][0]
    assert error == f"features/z.sql: {HELD_BY_Z}: relationships(id): 1 failing row (e.g. id=2)", error
    assert "held back with it, not published (their previous versions stay): a, b, c, d" in done.out, done.out
    tests = w.rows("select step, status from toolkit.test_results where run_id = 2 and test = 'relationships(id)' order by step")
    assert tests == [("a", "fail"), ("b", "fail"), ("c", "fail"), ("d", "fail"), ("z", "fail")], tests

    w.sql("delete from app.u_src where id = 2")  # fixed on z's side: a's source is as the held run saw it
    fixed = w.toolkit("run")

    assert fixed.code == 0, fixed.out + fixed.err
    assert published(w, "a", "z") == {"a": [(1, 3)], "z": [(1,)]}  # a's held rows, published now
    assert w.statuses(3)["a"] == "success", w.statuses(3)


def test_a_parent_held_on_its_first_run_stays_unpublished(tmp_path, warehouse_url):
    w = holds.Warehouse(tmp_path, warehouse_url, z=Z)
    w.sql("insert into app.u_src values (2)")  # z refers to an id 2 that a lacks

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert published_steps(w) == {"u"}  # no a beside a z it failed; nor what was built from a
    assert not w.rows("select table_name from information_schema.tables where table_schema = 'features' and table_name = 'a'")
    error = w.rows("select error from toolkit.step_runs where run_id = 1 and step = 'a'")[0][0]
    assert error.startswith("features/z.sql: not published (it was never published: it stays unpublished): "
                            "held back by test relationships(id) of z, and it failed"), error

    w.sql("insert into app.a_src values (2, 2)")
    fixed = w.toolkit("run")

    assert fixed.code == 0, fixed.out + fixed.err
    assert published(w, "a", "z") == {"a": [(1, 1), (2, 2)], "z": [(1,), (2,)]}
    assert published_steps(w) == set("abcduz")


def test_a_passing_test_of_a_built_step_publishes_its_parent(tmp_path):
    w = holds.Warehouse(tmp_path, None, z=Z)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.u_src values (2)")
    w.sql("insert into app.a_src values (2, 2)")

    done = w.toolkit("run")

    assert done.code == 0, done.out + done.err
    assert published(w, "a", "z") == {"a": [(1, 1), (2, 2)], "z": [(1,), (2,)]}


def test_plan_says_a_built_step_s_test_holds_its_parent(tmp_path):
    w = holds.Warehouse(tmp_path, None, z=Z)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.u_src values (2)")
    w.sql("update app.a_src set v = 3")

    planned = w.toolkit("plan", "--log-format", "json")

    assert planned.code == 0, planned.out + planned.err
    steps = {e["step"]: e for e in map(json.loads, planned.out.splitlines()) if e.get("event") == "plan"}
    assert steps["z"]["action"] == "rebuild", steps["z"]
    assert {"test": "relationships(id)", "where": "features/z.sql", "step": "z"} in (steps["a"].get("held_by") or []), steps["a"]
    assert steps["u"].get("held_by") is None, steps["u"]
    text = w.toolkit("plan")
    assert "published only if test relationships(id) of z passes" in text.out, text.out


def test_a_warn_test_of_a_built_step_holds_nothing(tmp_path):
    w = holds.Warehouse(tmp_path, None, z=WARN_Z)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.u_src values (2)")
    w.sql("update app.a_src set v = 3")

    done = w.toolkit("run")

    assert done.code == 0, done.out + done.err
    assert published(w, "a", "z") == {"a": [(1, 3)], "z": [(1,), (2,)]}


def test_selecting_both_holds_the_parent_selecting_the_child_alone_holds_nothing(tmp_path):
    w = holds.Warehouse(tmp_path, None, z=Z)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.u_src values (2)")
    w.sql("update app.a_src set v = 3")

    both = w.toolkit("run", "--select", "a u z")

    assert both.code == 1, both.out + both.err
    assert published(w, "a", "z") == {"a": [(1, 1)], "z": [(1,)]}
    alone = w.toolkit("run", "--select", "z")  # a is not written: nothing to hold, z fails on its own
    assert alone.code == 1, alone.out + alone.err
    assert w.statuses(3) == {"z": "failed"}, w.statuses(3)
    assert published(w, "a", "z") == {"a": [(1, 1)], "z": [(1,)]}


def test_an_incremental_child_s_failing_update_holds_its_parent(tmp_path, warehouse_url):
    w = holds.Warehouse(tmp_path, warehouse_url, z=INCREMENTAL_Z)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.u_src values (2)")
    w.sql("update app.a_src set v = 3")

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert published(w, "a", "z") == {"a": [(1, 1)], "z": [(1,)]}
    assert w.statuses(2)["a"] == "failed" and w.statuses(2)["z"] == "failed", w.statuses(2)


def test_an_incremental_parent_is_not_updated_in_place_while_held(tmp_path, warehouse_url):
    w = holds.Warehouse(tmp_path, warehouse_url, a=holds.INCREMENTAL_A, z=Z)
    assert w.toolkit("run").code == 0
    physical = w.rows("select physical_name from toolkit.published where step = 'a'")
    w.sql("insert into app.u_src values (3)")
    w.sql("insert into app.a_src values (2, 2)")  # a's update appends 2; z's new 3 is in no a

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert published(w, "a", "z") == {"a": [(1, 1)], "z": [(1,)]}
    assert w.rows("select physical_name from toolkit.published where step = 'a'") == physical
    assert w.rows(f"select id, v from toolkit_physical.{physical[0][0]} order by 1") == [(1, 1)]  # not half-appended

    w.sql("insert into app.a_src values (3, 3)")
    assert w.toolkit("run").code == 0
    assert published(w, "a", "z") == {"a": [(1, 1), (2, 2), (3, 3)], "z": [(1,), (3,)]}


def test_a_changed_seed_parent_is_held(tmp_path):
    w = holds.Warehouse(tmp_path, None, z=SEED_Z)
    (w.root / "warehouse" / "seeds").mkdir(parents=True, exist_ok=True)
    (w.root / "warehouse" / "seeds" / "kinds.csv").write_text("id,name\n1,one\n")
    assert w.toolkit("run").code == 0
    w.sql("insert into app.u_src values (2)")
    (w.root / "warehouse" / "seeds" / "kinds.csv").write_text("id,name\n1,uno\n")

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.rows("select * from raw.kinds") == [(1, "one")]  # held: the seed's previous rows stay
    assert w.statuses(2)["kinds"] == "failed", w.statuses(2)

    (w.root / "warehouse" / "seeds" / "kinds.csv").write_text("id,name\n1,uno\n2,dos\n")
    assert w.toolkit("run").code == 0
    assert w.rows("select * from raw.kinds order by 1") == [(1, "uno"), (2, "dos")]
