"""DuckDB commits table builds together (Engine.BATCHES_BUILDS, execute._Runner._execute_batch):
nothing a user sees changes. A failing statement or data test in a batch undoes it and
its steps are built one by one, reporting exactly what a run without batches reports; a
kill -9 mid-batch leaves the state naming only tables that exist. threads 1 and 2.
"""

from __future__ import annotations

import random
import time

import pytest

from _projects import checksum, make_project, orphans, physical_relations, popen_run, published, query, run, run_in_process, runs
from test_crash_safety import kill_during_run  # the existing kill -9 harness
from toolkit import execute
from toolkit.engines.duckdb import DuckDBEngine

SOURCES = """
[app]
schema = "app"

[app.tables.src]
columns = { id = "bigint", v = "bigint" }
"""
WIDTH, LAYERS = 6, 4


def step(layer: int, k: int) -> str:
    return f"s{layer}_{k}"


def layered_files(broken: dict[str, str] | None = None) -> dict[str, str]:
    """LAYERS layers of WIDTH table steps, each reading the step above it (a not_null test on
    each); `broken` replaces some steps' SQL."""
    files = {"warehouse/sources.toml": SOURCES}
    for layer in range(LAYERS):
        for k in range(WIDTH):
            read = '{{ source("app", "src") }}' if layer == 0 else f'{{{{ ref("{step(layer - 1, k)}") }}}}'
            files[f"features/{step(layer, k)}.sql"] = (
                '{{ config(materialized="table", tests={"id": ["not_null"]}) }}\n'
                f"select id, v + {layer} as v from {read}\n"
            )
    for name, sql in (broken or {}).items():
        files[f"features/{name}.sql"] = sql
    return files


def project(tmp_path, name: str, broken=None, rows: int = 1000):
    return make_project(tmp_path / name, layered_files(broken),
                        f"create schema app; create table app.src as select range as id, range % 97 as v from range({rows})")


@pytest.fixture
def batches(monkeypatch):
    """The sizes of the batches the runner built (a pass-through spy on _execute_batch)."""
    sizes: list[int] = []
    original = execute._Runner._execute_batch

    def spied(self, names):
        sizes.append(len(names))
        return original(self, names)

    monkeypatch.setattr(execute._Runner, "_execute_batch", spied)
    return sizes


def outcome(summary) -> dict[str, tuple]:
    return {r.step: (r.status, r.error, r.rows_written, r.user_error) for r in summary.results}


def run_without_batches(root, threads: int, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(DuckDBEngine, "BATCHES_BUILDS", False)
        return run_in_process(root, threads=threads)


def state_names_existing_tables(root) -> None:
    physical = physical_relations(root)
    for name, row in published(root).items():
        assert row["physical_name"] in physical, name


BROKEN = {
    # a failing statement, found only when it runs: its downstream is skipped
    step(1, 2): '{{ config(materialized="table") }}\nselect id, cast(\'x\' || v as integer) as v from {{ ref("s0_2") }}\n',
    # a failing data test: not published, its downstream skipped
    step(1, 4): '{{ config(materialized="table", tests={"v": ["not_null"]}) }}\nselect id, cast(null as bigint) as v from {{ ref("s0_4") }}\n',
}


@pytest.mark.parametrize("threads", [1, 2])
def test_a_clean_run_commits_builds_together_and_publishes_them_all(tmp_path, threads, batches):
    root = project(tmp_path, f"clean{threads}")
    summary = run_in_process(root, threads=threads)
    assert summary.exit_code == 0, outcome(summary)
    assert {r.status for r in summary.results} == {"success"}
    assert batches and max(batches) > 1, batches  # steps did share commits
    if threads == 1:  # one worker: a batch reaches past the first layer (its readers see its uncommitted tables)
        assert max(batches) > WIDTH, batches
    for layer in range(LAYERS):
        for k in range(WIDTH):
            assert checksum(root, f"features.{step(layer, k)}")[0] == 1000
    state_names_existing_tables(root)
    assert orphans(root) == set()


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failure_in_a_batch_reports_exactly_what_a_run_without_batches_does(tmp_path, threads, batches, monkeypatch):
    batched_root, plain_root = project(tmp_path, f"batched{threads}", BROKEN), project(tmp_path, f"plain{threads}", BROKEN)
    batched = run_in_process(batched_root, threads=threads)
    assert batches and max(batches) > 1, batches
    plain = run_without_batches(plain_root, threads, monkeypatch)

    assert outcome(batched) == outcome(plain)
    assert batched.exit_code == plain.exit_code == 1
    found = outcome(batched)
    assert found[step(1, 2)][0] == "failed" and "Conversion Error" in found[step(1, 2)][1], found[step(1, 2)]
    assert found[step(1, 4)][0] == "failed" and "data tests failed" in found[step(1, 4)][1], found[step(1, 4)]
    for k in (2, 4):
        assert [found[step(layer, k)][0] for layer in (2, 3)] == ["skipped", "skipped"]
    # the batch's other steps were built again and published
    ok = [name for name, (status, *_rest) in found.items() if status == "success"]
    assert len(ok) == WIDTH * LAYERS - 6
    for name in ok:
        assert checksum(batched_root, f"features.{name}") == checksum(plain_root, f"features.{name}")
    state_names_existing_tables(batched_root)


def test_a_failing_step_keeps_what_it_published_before(tmp_path, batches):
    """A rebuild whose batch fails: the failing step's previous version stays published, the
    others of its batch publish their new version."""
    root = project(tmp_path, "kept")
    assert run_in_process(root, threads=1).exit_code == 0
    before = checksum(root, f"features.{step(1, 2)}")
    (root / "features" / f"{step(1, 2)}.sql").write_text(BROKEN[step(1, 2)])
    (root / "features" / f"{step(1, 3)}.sql").write_text(
        '{{ config(materialized="table") }}\nselect id, v * 0 as v from {{ ref("s0_3") }}\n')
    summary = run_in_process(root, threads=1, full_refresh=True)
    assert summary.exit_code == 1
    assert checksum(root, f"features.{step(1, 2)}") == before
    assert query(root, f"select count(*), min(v), max(v) from features.{step(1, 3)}") == [(1000, 0, 0)]  # its new version
    state_names_existing_tables(root)


KILLS = 6


def test_kill_9_during_batched_builds_leaves_the_state_naming_only_tables_that_exist(tmp_path):
    """Full-refresh runs (every step builds in batches) killed at random points: the published
    data is intact, every state row names a table that exists, and the next run succeeds."""
    root = project(tmp_path, "killed", rows=300_000)
    first = run(root)
    assert first.code == 0, first
    baseline = {f"features.{step(layer, k)}": checksum(root, f"features.{step(layer, k)}")
                for layer in range(LAYERS) for k in range(WIDTH)}
    process = popen_run(root, "--full-refresh")  # how long a full refresh works, to aim the kills
    started = time.monotonic()
    process.communicate(timeout=120)
    assert process.returncode == 0
    work = time.monotonic() - started
    rng = random.Random(20261207)
    killed = 0
    for attempt in range(KILLS):
        killed += kill_during_run(root, ("--full-refresh",), rng.uniform(0.0, work))
        state_names_existing_tables(root)
        assert {name: checksum(root, name) for name in baseline} == baseline, attempt
        again = run(root)
        assert again.code == 0, again
        assert orphans(root) == set()
        assert "running" not in {status for _, status in runs(root)}
    assert killed >= 1, "no run was still running when killed"
