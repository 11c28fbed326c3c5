"""heap.py: a compile holds off full collections, a run keeps the compiled project out of
the collector's sight, and both leave the collector as they found it, also on failure."""

from __future__ import annotations

import gc

import pytest

from toolkit import compiler, heap
from toolkit.errors import ToolkitError

from _projects import make_project, run_in_process

FILES = {"features/a.sql": "select 1 as id\n", "features/b.sql": "select id from {{ ref('a') }}\n"}


def test_a_compile_holds_off_full_collections_and_restores_the_threshold(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p", FILES)
    seen = []
    real = compiler.make_renderer

    def spying(*args, **kwargs):
        seen.append(gc.get_threshold())
        return real(*args, **kwargs)

    monkeypatch.setattr(compiler, "make_renderer", spying)
    before = gc.get_threshold()
    compiler.compile_project(root)
    assert seen and seen[0][2] >= 1_000_000 and seen[0][:2] == before[:2]
    assert gc.get_threshold() == before


def test_a_failed_compile_restores_the_threshold(tmp_path):
    root = make_project(tmp_path / "p", {"features/a.sql": "select nope from {{ ref('missing') }}\n"})
    before = gc.get_threshold()
    with pytest.raises(ToolkitError):
        compiler.compile_project(root)
    assert gc.get_threshold() == before


def test_a_run_freezes_what_exists_and_unfreezes_after(tmp_path, monkeypatch):
    from toolkit import execute

    root = make_project(tmp_path / "p", FILES)
    counts = []
    real = execute.make_plan

    def spying(*args, **kwargs):
        counts.append(gc.get_freeze_count())
        return real(*args, **kwargs)

    monkeypatch.setattr(execute, "make_plan", spying)
    assert gc.get_freeze_count() == 0
    summary = run_in_process(root)
    assert {r.status for r in summary.results} == {"success"}
    assert counts and counts[0] > 1000  # the compiled project, the modules, ... out of sight
    assert gc.get_freeze_count() == 0


def test_kept_unfreezes_when_the_run_raises():
    with pytest.raises(RuntimeError):
        with heap.kept():
            assert gc.get_freeze_count() > 0
            raise RuntimeError("a run that failed")
    assert gc.get_freeze_count() == 0


def test_kept_also_holds_off_full_collections_and_restores_the_threshold():
    before = gc.get_threshold()
    with heap.kept():
        assert gc.get_threshold()[2] >= 1_000_000
    assert gc.get_threshold() == before
