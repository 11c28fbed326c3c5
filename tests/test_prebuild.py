"""Building ahead (toolkit/prebuild.py): tables of steps no run has built yet are built while
the project compiles, and the run takes them only when it would have run the same statement.
What a run publishes, and how it fails, must not depend on it.

Each run is a process of its own through tests/prebuild_runner.py, which waits for the
building thread to build all it was offered before the run starts (prebuild.Ahead.finish
otherwise stops it wherever it is) and says which steps' tables the run took."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from _projects import create_tables, database_path, make_test_project
from toolkit import prebuild

RUNNER = Path(__file__).parent / "prebuild_runner.py"
ROOT = Path(__file__).parent.parent

SOURCES = """
[src.tables.events]
columns = { id = "bigint", amount = "double", kind = "varchar" }
"""

STEPS = {
    "features/base.sql": "select id, amount, kind from {{ source('src', 'events') }}",
    "features/doubled.sql": "select id, amount * 2 as amount2, kind from {{ ref('base') }}",
    "features/by_kind.sql": "select kind, sum(amount2) as total, count(*) as n from {{ ref('doubled') }} group by kind",
    "features/joined.sql": ("select b.id, b.amount, d.amount2, k.total from {{ ref('base') }} b join {{ ref('doubled') }} d using (id) "
                            "join {{ ref('by_kind') }} k on k.kind = b.kind"),
    "features/tiny.sql": "{{ config(materialized='ephemeral') }} select id, amount from {{ ref('base') }} where amount < 50",
    "features/reads_tiny.sql": "select id, amount + 1 as a1 from {{ ref('tiny') }}",
    "features/as_view.sql": "{{ config(materialized='view') }} select id from {{ ref('joined') }}",
    "features/reads_view.sql": "select count(*) as n from {{ ref('as_view') }}",
    "features/reads_seed.sql": "select s.code, b.id from {{ ref('codes') }} s join {{ ref('base') }} b on b.id = s.code",
    "warehouse/seeds/codes.csv": "code\n1\n2\n3\n",
}
# Built ahead: table steps reading only base-table sources and steps built ahead (the
# ephemeral step is inlined); not the view, nor what reads the view or the seed.
AHEAD = {"base", "doubled", "by_kind", "joined", "reads_tiny"}


def _project(root, steps=STEPS):
    files = {"warehouse/sources.toml": SOURCES, **steps}
    rows = "select range as id, (range * 7 % 100)::double as amount, ['a', 'b', 'c'][range % 3 + 1] as kind from range(500)"
    make_test_project(root, files)
    create_tables(database_path(root), {"src.events": rows})
    return root


@dataclass
class Ran:
    code: int
    output: str
    built: set[str]  # steps built ahead
    taken: set[str]  # steps whose table the run took from building ahead


def _run(root, *args, ahead: bool = True) -> Ran:
    """`toolkit run ARGS` in a process of its own."""
    command = [sys.executable, "-P", str(RUNNER), *([] if ahead else ["--no-ahead"]), "run", "-p", str(root), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    said = dict(re.findall(r"^(built|taken): (.*)$", done.stderr, re.M))
    assert set(said) == {"built", "taken"}, done.stderr
    built, taken = ({name for name in said[key].split(",") if name} for key in ("built", "taken"))
    return Ran(done.returncode, done.stdout + done.stderr, built, taken)


def _failures(output: str) -> list[str]:
    """The lines saying what failed, without the seconds they took, in order (they come as steps end)."""
    lines = [re.sub(r"\(duckdb \S+\)", "(DB)", line) for line in output.splitlines()]
    return sorted(re.sub(r"\d+\.\d+s?", "S", line) for line in lines if "fail" in line.lower())


def _published(root) -> dict[str, list[tuple]]:
    with duckdb.connect(str(database_path(root)), read_only=True) as connection:
        names = [r[0] for r in connection.execute(
            "select table_name from information_schema.tables where table_schema = 'features' order by 1").fetchall()]
        return {name: sorted(connection.execute(f'select * from features."{name}"').fetchall()) for name in names}


def _physical(root) -> list[str]:
    with duckdb.connect(str(database_path(root)), read_only=True) as connection:
        return sorted(r[0] for r in connection.execute(
            "select table_name from duckdb_tables() where schema_name = 'toolkit_physical'").fetchall())


@pytest.mark.parametrize("threads", ["1", "3"])
def test_a_first_build_takes_the_tables_built_ahead_and_publishes_the_same(tmp_path, threads):
    plain = _run(_project(tmp_path / "plain"), "--threads", threads, ahead=False)
    assert plain.code == 0, plain.output
    assert plain.built == plain.taken == set()

    root = _project(tmp_path / "ahead")
    ran = _run(root, "--threads", threads)
    assert ran.code == 0, ran.output
    assert ran.built == ran.taken == AHEAD
    assert _published(root) == _published(tmp_path / "plain")
    assert len(_published(root)) == len(STEPS) - 2  # every step but the ephemeral one and the seed
    # taken, a table built ahead is the step's physical table; none is left under its own name
    assert _physical(root) == _physical(tmp_path / "plain")


def test_nothing_is_built_ahead_once_published_and_all_with_full_refresh(tmp_path):
    root = _project(tmp_path / "p")
    assert _run(root).code == 0
    first = _published(root)
    again = _run(root)
    assert again.code == 0, again.output
    assert again.built == again.taken == set()  # every step published: the run may reuse them
    shutil.rmtree(root / ".toolkit" / "cache")  # compiled again: what is compiled is built ahead
    refreshed = _run(root, "--full-refresh")
    assert refreshed.code == 0, refreshed.output
    assert refreshed.built == refreshed.taken == AHEAD
    assert _published(root) == first
    assert not _left_ahead(root)


def test_a_new_step_is_built_ahead_and_one_reading_a_published_step_is_not(tmp_path):
    root = _project(tmp_path / "p")
    assert _run(root).code == 0
    (root / "features" / "newer.sql").write_text("select kind, max(total) as top from {{ ref('by_kind') }} group by kind")
    (root / "features" / "fresh.sql").write_text("select id * 3 as id3 from {{ source('src', 'events') }}")
    ran = _run(root)
    assert ran.code == 0, ran.output
    assert ran.built == ran.taken == {"fresh"}  # newer reads by_kind, which the run may reuse
    published = _published(root)
    assert published["fresh"] == sorted((i * 3,) for i in range(500))
    assert len(published["newer"]) == 3


def test_a_selection_builds_nothing_ahead(tmp_path):
    ran = _run(_project(tmp_path / "p"), "--select", "base+", "--exclude", "reads_seed")
    assert ran.code == 0, ran.output
    assert ran.built == set()


def test_a_refused_run_drops_what_was_built_ahead(tmp_path):
    steps = {**STEPS, "features/zz_broken.sql": "select no_such_column from {{ ref('joined') }}"}
    root = _project(tmp_path / "p", steps)
    ran = _run(root)
    assert ran.code == 2, ran.output
    assert "zz_broken.sql:1" in ran.output and "no_such_column" in ran.output
    assert ran.built == AHEAD and ran.taken == set()  # compiled before the error, built ahead, dropped
    assert _physical(root) == []


def test_a_step_failing_when_built_ahead_fails_the_run_as_it_would_without(tmp_path):
    # a runtime error: the cast fails on one row only
    bad = "select id, amount * 2 as amount2, kind, (case when id = 7 then 'x' else '1' end)::int as bad from {{ ref('base') }}"
    steps = {**STEPS, "features/doubled.sql": bad}
    plain = _run(_project(tmp_path / "plain", steps), ahead=False)
    root = _project(tmp_path / "ahead", steps)
    ran = _run(root)
    assert ran.code == plain.code == 1
    assert _failures(ran.output) == _failures(plain.output)
    assert any("Could not convert string 'x'" in line for line in _failures(ran.output))
    assert _published(root) == _published(tmp_path / "plain")
    assert _published(root)  # base and the steps not reading doubled are published
    assert "doubled" not in ran.taken and not _left_ahead(root)


def test_a_table_left_by_a_killed_run_is_dropped_by_the_next(tmp_path):
    root = _project(tmp_path / "p")
    with duckdb.connect(str(database_path(root))) as connection:
        connection.execute("create schema toolkit_physical")
        connection.execute(f'create table toolkit_physical."{prebuild.PREFIX}999_1_0" as select 1 as x')
    ran = _run(root)
    assert ran.code == 0, ran.output
    assert not _left_ahead(root)


def _left_ahead(root) -> list[str]:
    return [name for name in _physical(root) if name.startswith(prebuild.PREFIX)]


def test_a_step_built_ahead_whose_test_fails_undoes_its_batch_and_the_rest_is_taken_again(tmp_path):
    # Built ahead fine, taken by the run inside a batch with base, then its not_null test fails:
    # the batch is rolled back (the renames too) and its steps built again one by one, taking
    # the tables built ahead again.
    tested = ("{{ config(tests={'maybe': ['not_null']}) }} "
              "select id, amount * 2 as amount2, kind, case when id = 7 then null else 1 end as maybe from {{ ref('base') }}")
    steps = {**STEPS, "features/doubled.sql": tested}
    plain = _run(_project(tmp_path / "plain", steps), "--threads", "1", ahead=False)
    root = _project(tmp_path / "ahead", steps)
    ran = _run(root, "--threads", "1")
    assert ran.code == plain.code == 1
    assert _failures(ran.output) == _failures(plain.output)
    assert any("not_null" in line for line in _failures(ran.output))
    assert ran.built == AHEAD
    assert {"base", "reads_tiny"} <= ran.taken and "doubled" in ran.taken  # taken, then failed its test
    assert _published(root) == _published(tmp_path / "plain")
    assert "base" in _published(root)
    assert not _left_ahead(root)
