"""Only a seed that a relationships test reads changed: what the plan re-tests and rebuilds.

Tester's report: "Only a seed parent changed: the plan still re-tests the siblings and
rebuilds a reader of steps it does not write". `child`'s relationships test reads the seed
`regions` (its parent), its rows do not. Changing the seed re-tests `child` on its published
table (Action.TEST, required: its test reads what changed). Its rows stay, yet its data
fingerprint, which holds what its tests read (so that the next plan does not test it again),
was also what its readers read: `sibling`, whose relationships test reads `child`, was
re-tested ("a step its tests read changed (child)"), and `counter` (count(*) of child) and
`reader` (columns of child) were rebuilt ("upstream changed (child)"), though the run writes
no row of child. Now the columns a re-tested step publishes keep the prints recorded with
its rows, and no column print (nor the rows print a count(*) reads) holds what only the
step's tests read.

What stays, and is pinned here: the seed is rebuilt and held by child's test (DESIGN decision
3); `with_region`, which joins the seed and reads its `region`, is rebuilt; `wr_reader`, which
reads only `with_region.id` (made of base's id and the join on the seed's unchanged `country`),
is not rebuilt (a CSV seed's columns are known apart: tests/test_seedcols.py), only re-tested
as its relationships test reads with_region; `wr_sib`, whose
relationships test reads `with_region`, is re-tested because the run writes its parent
(README: it re-runs on the step's published table and holds the parent).
"""

from __future__ import annotations

import json

import pytest
from _projects import make_project, query, run, step_runs

pytestmark = pytest.mark.slow  # end-to-end runs

REGIONS = "country,region\nFR,EU\nDE,EU\nUS,NA\n"
REGIONS_RENAMED = "country,region\nFR,EU\nDE,EU\nUS,AM\n"  # only `region` changes: every country stays
REGIONS_WITHOUT_US = "country,region\nFR,EU\nDE,EU\n"

FILES = {
    "warehouse/seeds/customers.csv": "id,country\n1,FR\n2,DE\n3,US\n",
    "warehouse/seeds/regions.csv": REGIONS,
    "features/base.sql": 'select id, country from {{ ref("customers") }}\n',
    "features/child.sql": (
        '{{ config(tests={"id": ["not_null"], "country": [{"relationships": {"to": "regions", "field": "country"}}]}) }}\n'
        'select id, country from {{ ref("base") }}\n'),
    "features/sibling.sql": (
        '{{ config(tests={"id": ["not_null", {"relationships": {"to": "child", "field": "id"}}]}) }}\n'
        'select id, country from {{ ref("base") }}\n'),
    "features/counter.sql": 'select count(*) as n from {{ ref("child") }}\n',
    "features/reader.sql": 'select c.id, s.country from {{ ref("child") }} c join {{ ref("sibling") }} s on c.id = s.id\n',
    "features/with_region.sql": 'select b.id, r.region from {{ ref("base") }} b join {{ ref("regions") }} r on b.country = r.country\n',
    "features/wr_reader.sql": (
        '{{ config(tests={"id": [{"relationships": {"to": "with_region", "field": "id"}}]}) }}\n'
        'select w.id from {{ ref("with_region") }} w\n'),
    "features/wr_sib.sql": (
        '{{ config(tests={"id": [{"relationships": {"to": "with_region", "field": "id"}}]}) }}\n'
        'select id from {{ ref("base") }}\n'),
}

# What a change of the seed's `region` column does, step by step (action, reason kind).
AFTER_SEED_CHANGE = {
    "customers": ("reuse", "unchanged"),
    "regions": ("rebuild", "file_changed"),  # held by child's relationships test (below)
    "base": ("reuse", "unchanged"),
    "child": ("test", "tests_input_changed"),  # its test reads the seed
    "sibling": ("reuse", "unchanged"),  # was: test, "a step its tests read changed (child)"
    "counter": ("reuse", "unchanged"),  # was: rebuild, "upstream changed (child)"
    "reader": ("reuse", "unchanged"),  # was: rebuild, "upstream changed (child)"
    "with_region": ("rebuild", "upstream_changed"),  # joins the seed
    "wr_reader": ("test", "test_reads_written"),  # not rebuilt: it reads with_region's id, which the seed's region is not in
    "wr_sib": ("test", "tests_input_changed"),  # its parent with_region is written: required
}


def plan(root) -> dict[str, dict]:
    done = run_cli(root, "plan")
    return {e["step"]: e for e in map(json.loads, done.splitlines()) if e.get("event") == "plan"}


def run_cli(root, command: str) -> str:
    from _projects import cli

    done = cli(command, "-p", str(root), "--log-format", "json")
    assert done.code == 0, str(done)
    return done.out


def actions(planned: dict[str, dict]) -> dict[str, tuple[str, str]]:
    return {step: (e["action"], e["reason_kind"]) for step, e in planned.items()}


def physical_names(root) -> dict[str, str]:
    return dict(query(root, "select step, physical_name from toolkit.published"))


def ran_tests(root, run_id: int) -> set[tuple[str, str]]:
    return set(query(root, "select step, test from toolkit.test_results where run_id = ?", [run_id]))


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "p", FILES)
    assert run(root).code == 0
    return root


def test_a_seed_parent_change_re_tests_its_child_alone_and_rebuilds_no_reader_of_it(project):
    before = physical_names(project)
    (project / "warehouse/seeds/regions.csv").write_text(REGIONS_RENAMED)

    planned = plan(project)

    assert actions(planned) == AFTER_SEED_CHANGE
    assert planned["child"]["reason"] == "a step its tests read changed (regions)"
    assert planned["regions"]["held_by"] == [{"test": "relationships(country)", "where": "features/child.sql", "step": "child"}]
    assert "held_by" not in planned["child"] and "held_by" not in planned["sibling"]

    done = run(project)

    assert done.code == 0, str(done)
    assert {step: row["action"] for step, row in step_runs(project).items()} == {s: a for s, (a, _) in AFTER_SEED_CHANGE.items()}
    after = physical_names(project)
    for kept in ("customers", "base", "child", "sibling", "counter", "reader", "wr_reader"):
        assert after[kept] == before[kept], kept  # the same physical table: nothing written
    for written in ("regions", "with_region"):
        assert after[written] != before[written], written
    ran = ran_tests(project, 2)
    assert ("child", "relationships(country)") in ran and ("wr_sib", "relationships(id)") in ran
    assert not {test for test in ran if test[0] == "sibling"}  # its test reads child, whose rows stayed
    assert {e["action"] for e in plan(project).values()} == {"reuse"}  # and nothing is left to do


def test_a_re_tested_step_s_readers_stay_reused_on_the_runs_after(project):
    (project / "warehouse/seeds/regions.csv").write_text(REGIONS_RENAMED)
    assert run(project).code == 0
    (project / "warehouse/seeds/regions.csv").write_text(REGIONS)  # and back

    assert actions(plan(project)) == AFTER_SEED_CHANGE


def test_the_relationships_test_on_the_seed_still_holds_it(project):
    """Required: the seed now lacks a country child holds, so child's re-test fails and the
    seed's new rows (and with_region's, built from them) are not published."""
    before, names = query(project, "select * from raw.regions order by 1"), physical_names(project)
    (project / "warehouse/seeds/regions.csv").write_text(REGIONS_WITHOUT_US)

    done = run(project)

    assert done.code == 1, str(done)
    assert query(project, "select * from raw.regions order by 1") == before
    assert query(project, "select count(*) from features.with_region") == [(3,)]
    statuses = {step: row["status"] for step, row in step_runs(project).items()}
    assert statuses["child"] == "failed" and statuses["regions"] == "failed", statuses
    assert {step_runs(project)[s]["action"] for s in ("sibling", "counter", "reader")} == {"reuse"}  # not written
    assert physical_names(project) == names


def test_a_rebuilt_child_still_re_tests_the_sibling_whose_test_reads_it(project):
    """Required: when the run writes child (its own SQL changed), sibling's relationships
    test toward it re-runs on sibling's published table, and counter reads child's new rows."""
    (project / "features/child.sql").write_text(FILES["features/child.sql"].replace(
        'ref("base") }}', 'ref("base") }} where id <> 3'))

    steps = actions(plan(project))

    assert steps["child"][0] == "rebuild"
    assert steps["sibling"] == ("test", "tests_input_changed")
    assert steps["counter"] == ("rebuild", "upstream_changed") and steps["reader"] == ("rebuild", "upstream_changed")
    assert run(project).code == 1  # sibling's id 3 is no longer in child: the re-test fails and holds child
    assert query(project, "select n from features.counter") == [(3,)]  # held with child: built from its new rows


INCREMENTAL_FILES = {
    **FILES,
    "features/child.sql": (
        '{{ config(materialized="incremental", unique_key="id", '
        'tests={"country": [{"relationships": {"to": "regions", "field": "country"}}]}) }}\n'
        'select id, country from {{ ref("base") }}\n'),
}


def test_an_incremental_child_re_tested_leaves_its_readers_be(tmp_path):
    root = make_project(tmp_path / "p", INCREMENTAL_FILES)
    assert run(root).code == 0
    (root / "warehouse/seeds/regions.csv").write_text(REGIONS_RENAMED)

    steps = actions(plan(root))

    assert steps["child"] == ("test", "tests_input_changed")
    assert steps["counter"] == ("reuse", "unchanged") and steps["reader"] == ("reuse", "unchanged")
    assert steps["sibling"] == ("reuse", "unchanged")
    assert run(root).code == 0
    assert {e["action"] for e in plan(root).values()} == {"reuse"}
