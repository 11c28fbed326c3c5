"""The runner rewrites each built step's query ahead of its turn on its own thread
(execute._Runner._prepare), guessing the physical names its upstream steps will get.
A build uses that rewrite only when every guess held; else it rewrites the query
itself. These tests force the order (the builds wait until the preparer is done) so
that the outcome does not depend on thread timing.
"""

from __future__ import annotations

import threading

import pytest

from _projects import make_project, query, run_in_process
from toolkit import execute
from toolkit.materialize import physical_table

FILES = {
    "warehouse/sources.toml": '[app]\nschema = "app"\n\n[app.tables.orders]\ncolumns = { id = "bigint", amount = "bigint" }\n',
    "features/a.sql": "select id, amount from {{ source('app', 'orders') }}",
    "features/e.sql": "{{ config(materialized='ephemeral') }}\nselect id, amount * 10 as big from {{ ref('a') }}",
    "features/b.sql": "select a.id, a.amount + 1 as plus from {{ ref('a') }} as a",
    "features/c.sql": "select b.id, b.plus, e.big from {{ ref('b') }} as b join {{ ref('e') }} as e on b.id = e.id",
}
SETUP = "create schema app; create table app.orders as select range::bigint as id, (range * 2)::bigint as amount from range(5)"
EXPECTED = [(i, 2 * i + 1, 20 * i) for i in range(5)]


@pytest.fixture
def ordered(monkeypatch):
    """Builds start only after the preparer finished; records who rewrote which query."""
    done = threading.Event()
    rewrites: list[tuple[str, str]] = []  # (thread name, first table the query reads)
    prepare, execute_step, rewrite = execute._Runner._prepare, execute._Runner._execute, execute._Runner._rewrite

    def prepared_then_done(self, stop):
        try:
            prepare(self, stop)
        finally:
            done.set()

    def waiting(self, planned, result):
        done.wait(30)
        return execute_step(self, planned, result)

    def recorded(self, tree, physical_of, names):
        rewrites.append((threading.current_thread().name, planned_name(self, tree)))
        return rewrite(self, tree, physical_of, names)

    monkeypatch.setattr(execute._Runner, "_prepare", prepared_then_done)
    monkeypatch.setattr(execute._Runner, "_execute", waiting)
    monkeypatch.setattr(execute._Runner, "_rewrite", recorded)
    return rewrites


def planned_name(runner, tree) -> str:
    return next((name for name, step in runner.compiled.steps.items() if step.tree is tree), "?")


def built_rows(root):
    return query(root, "select id, plus, big from features.c order by id")


def test_builds_use_the_queries_prepared_ahead(tmp_path, ordered):
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root, threads=1).ok
    assert built_rows(root) == EXPECTED
    by_workers = [step for thread, step in ordered if thread != "toolkit-prepare"]
    assert by_workers == []  # every build took its prepared query
    assert {step for thread, step in ordered if thread == "toolkit-prepare"} >= {"a", "b", "c"}


def test_a_wrong_guess_is_not_used(tmp_path, ordered, monkeypatch):
    """The preparer guesses names no build produces: each reader of a built step
    rewrites its query itself, and reads what was really built."""
    real = execute._Runner.new_physical

    def guessed(self, step, fingerprint):
        if threading.current_thread().name == "toolkit-prepare":
            return physical_table(step.name, "0" * 12, 999)
        return real(self, step, fingerprint)

    monkeypatch.setattr(execute._Runner, "new_physical", guessed)
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root, threads=1).ok
    assert built_rows(root) == EXPECTED
    by_workers = {step for thread, step in ordered if thread != "toolkit-prepare"}
    assert {"b", "c"} <= by_workers  # they read a (and b): the guesses were wrong
    assert "a" not in by_workers  # reads only a source: nothing was guessed


def test_a_failing_preparer_changes_nothing(tmp_path, ordered, monkeypatch, capfd):
    rewrite = execute._Runner._rewrite

    def failing(self, tree, physical_of, names):
        if threading.current_thread().name == "toolkit-prepare":
            raise RuntimeError("boom")
        return rewrite(self, tree, physical_of, names)

    monkeypatch.setattr(execute._Runner, "_rewrite", failing)
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root, threads=1).ok
    assert built_rows(root) == EXPECTED
    assert "boom" not in capfd.readouterr().err  # the build did the work; no thread traceback


def test_a_second_run_prepares_only_what_it_builds(tmp_path, ordered):
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root, threads=1).ok
    ordered.clear()
    (root / "features" / "b.sql").write_text("select a.id, a.amount + 2 - 1 as plus from {{ ref('a') }} as a")
    assert run_in_process(root, threads=1).ok
    assert built_rows(root) == EXPECTED
    assert {step for _, step in ordered} == {"b", "c"}  # e is inlined within c's rewrite (compiler.inline_ephemeral)
