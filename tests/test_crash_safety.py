"""kill -9 a running `toolkit run` at random points: what was published stays
readable and intact, the next run succeeds, and it leaves no orphans.

The project (tests/_projects.make_big_project) reads a 2M-row source; a full build
takes about a second. Killed runs are either `--full-refresh` runs (every step
builds and publishes again) or plain runs (tables and the view are reused, the
incremental step re-reads its lookback window in a transaction). Both produce
exactly the data already published, so after any kill every published relation
must hold the same rows as before, whichever run published it.
"""

from __future__ import annotations

import json
import random
import signal
import time

import pytest

from _projects import (
    BIG_PUBLISHED,
    checksum,
    connect,
    execute,
    make_big_project,
    make_project,
    orphans,
    physical_relations,
    popen_run,
    published,
    query,
    run,
    runs,
)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

KILLS_FULL_REFRESH = 12
KILLS_INCREMENTAL = 6
SEED = 20251123


def snapshot(root) -> dict[str, tuple]:
    """relation -> (row count, content checksum), read in one connection."""
    with connect(root) as con:
        return {
            relation: con.execute(f"select count(*), sum(hash(t)) from {relation} as t").fetchone()
            for relation in BIG_PUBLISHED
        }


def timed_run(root, *args) -> float:
    """Seconds from the run_started event to the process's exit."""
    process = popen_run(root, *args)
    started = None
    for line in process.stdout:
        if json.loads(line)["event"] == "run_started":
            started = time.monotonic()
    process.wait(timeout=120)
    assert process.returncode == 0, process.stderr.read()
    return time.monotonic() - started


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """The big project built once, and how long a full-refresh run works after run_started."""
    root = make_big_project(tmp_path_factory.mktemp("crash") / "proj")
    result = run(root)
    assert result.code == 0, result
    return root, timed_run(root, "--full-refresh")


def kill_during_run(root, args: tuple[str, ...], delay: float, after: dict | None = None) -> bool:
    """Start a run and SIGKILL it `delay` s after the first JSON event that includes `after`
    (default: run_started); True if it was still running when killed."""
    after = after or {"event": "run_started"}
    process = popen_run(root, *args)
    try:
        for line in process.stdout:
            event = json.loads(line)
            if all(event.get(k) == v for k, v in after.items()):
                break
        time.sleep(delay)
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        return killed
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()


def check_published_intact(root, baseline: dict, max_run_id: int) -> None:
    """Every published name reads exactly the baseline data, through a physical relation that exists."""
    assert snapshot(root) == baseline
    state = published(root)
    physical = physical_relations(root)
    assert len(state) == len(BIG_PUBLISHED)
    for step, row in state.items():
        assert row["physical_name"] in physical, step
        assert row["run_id"] <= max_run_id


def kill_and_recover(root, kills: list[tuple[tuple[str, ...], float, dict | None]]) -> int:
    """For each (run args, delay, anchor event): kill a run there, check what is published,
    run again (must succeed), check for orphans and run ids. Returns how many were killed."""
    baseline = snapshot(root)
    assert baseline["features.wide"][0] == 2_000_000
    last_id = max(r[0] for r in runs(root))
    killed = 0
    for attempt, (args, delay, after) in enumerate(kills):
        where = f"attempt {attempt}: {args or 'plain run'}, killed {delay:.3f}s after {after or 'run_started'}"
        killed += kill_during_run(root, args, delay, after)

        # what was published before the kill is intact and readable
        check_published_intact(root, baseline, last_id + 1)

        # the next run succeeds and cleans up what the killed run left behind
        result = run(root)
        assert result.code == 0, f"{where}\n{result}"
        assert orphans(root) == set(), where
        assert snapshot(root) == baseline, where

        history = runs(root)
        ids = [r[0] for r in history]
        assert ids == sorted(set(ids)), history  # run ids never go backwards
        assert ids[-1] > last_id
        assert "running" not in {status for _, status in history}  # a killed run is marked abandoned
        last_id = ids[-1]
    return killed


def test_kill_9_at_random_points_of_full_refresh_runs(big):
    """Every step builds and publishes again; kills land anywhere from run_started to exit."""
    root, work = big
    rng = random.Random(SEED)
    kills = [(("--full-refresh",), rng.uniform(0.0, work * 1.05), None) for _ in range(KILLS_FULL_REFRESH)]
    killed = kill_and_recover(root, kills)
    # a guard on the test itself: most kills must have hit a live run
    assert killed >= len(kills) // 3, f"only {killed} of {len(kills)} runs were still running when killed"


def test_kill_9_during_incremental_updates(big):
    """Plain runs: tables are reused and `recent` updates its lookback window in place;
    kills land in the first 150 ms of that update."""
    root, _ = big
    rng = random.Random(SEED + 1)
    anchor = {"event": "step_started", "step": "recent"}
    kills = [((), rng.uniform(0.0, 0.15), anchor) for _ in range(KILLS_INCREMENTAL)]
    kill_and_recover(root, kills)


# -- deterministic leftovers of a crash ---------------------------------------------------


SMALL = {
    "warehouse/seeds/nums.csv": "n\n1\n2\n3\n",
    "features/doubled.sql": 'select n * 2 as n from {{ ref("nums") }}',
    "features/doubled_view.sql": '{{ config(materialized="view") }}\nselect n from {{ ref("doubled") }}',
}


def test_leftovers_of_a_crashed_run_are_cleaned_up(tmp_path):
    root = make_project(tmp_path / "proj", SMALL)
    assert run(root).code == 0
    before = {relation: checksum(root, relation) for relation in ("raw.nums", "features.doubled", "features.doubled_view")}
    # what a run killed between build and publish leaves: an unpublished table and view,
    # an incremental staging table, and a run still marked 'running'
    execute(root, """
        create table toolkit_physical.doubled__0123456789ab__r2 as select 1 as n;
        create view toolkit_physical.doubled_view__0123456789ab__r2 as select * from toolkit_physical.doubled__0123456789ab__r2;
        create table toolkit_physical.doubled__0123456789ab__r1__staging as select 1 as n;
        insert into toolkit.runs (run_id, status) values (2, 'running');
    """)
    result = run(root)
    assert result.code == 0, result
    assert result.events()[0]["run_id"] == 3
    assert orphans(root) == set()
    assert len(physical_relations(root)) == 3
    assert {relation: checksum(root, relation) for relation in before} == before
    assert runs(root) == [(1, "success"), (2, "abandoned"), (3, "success")]


def test_staging_tables_of_a_killed_incremental_update_do_not_break_the_next_run(tmp_path):
    root = make_project(tmp_path / "proj", {
        **SMALL,
        "features/acc.sql": '{{ config(materialized="incremental", unique_key="n") }}\nselect n from {{ ref("nums") }}',
    })
    assert run(root).code == 0
    physical = published(root)["acc"]["physical_name"]
    # exactly what a run killed inside materialize.update_incremental leaves behind
    execute(root, f"""
        create table toolkit_physical."{physical}__staging_window" as select 1 as since;
        create table toolkit_physical."{physical}__staging" as select 1 as n;
    """)
    result = run(root)
    assert result.code == 0, result
    assert orphans(root) == set()
    assert query(root, "select n from features.acc order by n") == [(1,), (2,), (3,)]


def test_first_run_killed_while_creating_the_state_tables(tmp_path):
    """State.ensure() creates the state tables one commit at a time: a first run killed
    after toolkit.runs exists but before toolkit.published does must not wedge the project."""
    from toolkit.state import TABLES

    root = make_project(tmp_path / "proj", SMALL)
    # State.ensure() creates the tables one statement (one commit) at a time
    execute(root, f"create schema toolkit; create table toolkit.runs ({TABLES['runs']})")
    result = run(root)
    assert result.code == 0, result
    assert len(published(root)) == 3


def test_killed_first_run_leaves_a_project_that_builds(tmp_path):
    """A first run killed at once: nothing was published, the next run builds everything."""
    root = make_project(tmp_path / "proj", SMALL)
    process = popen_run(root)
    process.stdout.readline()  # run_started
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    result = run(root)
    assert result.code == 0, result
    assert query(root, "select n from features.doubled_view order by n") == [(2,), (4,), (6,)]
    assert orphans(root) == set()
