"""The no-op run's cuts of 2026-12-06 (issue 17): a run's plan and its closing drop of
unreferenced tables share one read of toolkit_physical, but only while nothing was built,
published or dropped in between; the plan's relations are the steps' own (no copy per
step), never made a node of a statement; the config checks a dialect sqlglot ships
without importing sqlglot, so `toolkit run` starts opening the target first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from toolkit import materialize
from toolkit.engines.duckdb import DuckDBEngine
from toolkit.state import PHYSICAL_SCHEMA

from _projects import env, make_project, make_test_project, orphans, physical_relations, run_in_process, write_files

FILES = {
    "features/a.sql": "select 1 as id, 'x' as label\n",
    "features/b.sql": "select id, label from {{ ref('a') }}\n",
}


def physical_reads(monkeypatch) -> list[str]:
    """Every read of toolkit_physical's relations from here on (real DuckDB underneath)."""
    reads: list[str] = []
    real = DuckDBEngine.relations

    def counting(self, schema):
        if schema == PHYSICAL_SCHEMA:
            reads.append(schema)
        return real(self, schema)

    monkeypatch.setattr(DuckDBEngine, "relations", counting)
    return reads


def test_a_noop_run_reads_the_physical_catalog_once(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p", FILES)
    run_in_process(root)
    reads = physical_reads(monkeypatch)
    summary = run_in_process(root)
    assert {r.status for r in summary.results} == {"reused"}
    assert len(reads) == 1  # the plan's read, shared by drop_unreferenced


def test_a_run_that_builds_reads_the_catalog_again_before_dropping(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p", FILES)
    run_in_process(root)
    write_files(root, {"features/b.sql": "select id, label || 'y' as label from {{ ref('a') }}\n"})
    reads = physical_reads(monkeypatch)
    summary = run_in_process(root)
    assert {r.step: r.status for r in summary.results} == {"a": "reused", "b": "success"}
    assert len(reads) == 2  # the plan's read is stale once b was built
    assert orphans(root) == set()  # b's replaced table was dropped


def test_a_table_built_during_the_run_and_left_unreferenced_is_dropped_by_it(tmp_path, monkeypatch):
    """The plan read the catalog before b's new table existed: drop_unreferenced must see
    it (a stale read would leave it behind until the next run)."""
    root = make_project(tmp_path / "p", FILES)
    run_in_process(root)
    before = set(physical_relations(root))
    write_files(root, {"features/b.sql": "select id, label || 'y' as label from {{ ref('a') }}\n"})
    real = materialize.publish

    def refusing_b(engine, state, batch, run_id, env="prod"):
        if any(item.row.step == "b" for item in batch):
            raise RuntimeError("the warehouse refused the view")
        return real(engine, state, batch, run_id, env)

    monkeypatch.setattr(materialize, "publish", refusing_b)
    summary = run_in_process(root, threads=1)
    assert {r.step: r.status for r in summary.results} == {"a": "reused", "b": "failed"}
    assert set(physical_relations(root)) == before  # b's new table, never published, is gone
    assert orphans(root) == set()


def test_a_session_reads_a_schema_once_until_told_it_changed(tmp_path):
    from sqlglot import exp

    from toolkit.config import load_config
    from toolkit.session import open_session

    root = make_project(tmp_path / "p", FILES)
    run_in_process(root)
    with open_session(load_config(root)) as session:
        first = session.relations(PHYSICAL_SCHEMA)
        assert len(first) == 2 and session.relations(PHYSICAL_SCHEMA) is first
        name = sorted(first)[0]
        session.engine.drop(exp.table_(name, db=PHYSICAL_SCHEMA))
        session.catalog_changed()
        assert name not in session.relations(PHYSICAL_SCHEMA)


def test_the_plans_relations_are_never_made_part_of_a_statement(tmp_path):
    """planning.env_relation hands out the step's own relation in prod: publishing copies it
    before it becomes a node of CREATE VIEW (a node's parent is its tree's)."""
    from toolkit.compiler import compile_project
    from toolkit.execute import run

    root = make_project(tmp_path / "p", FILES)
    compiled = compile_project(root)
    summary = run(compiled)
    assert {r.status for r in summary.results} == {"success"}
    assert all(step.relation.parent is None for step in compiled.steps.values())


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake"])
def test_loading_the_config_and_the_session_module_imports_no_sqlglot(tmp_path, dialect):
    root = make_test_project(tmp_path / "p", {"toolkit.toml": f'name = "t"\ndialect = "{dialect}"\n[targets.dev]\nengine = "duckdb"\n'})
    code = ("import sys; from toolkit.config import load_config; import toolkit.session; load_config(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.startswith('sqlglot')))")
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, env=env(), timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_every_dialect_the_config_knows_without_sqlglot_is_one_sqlglot_knows():
    from sqlglot.dialects.dialect import Dialect

    from toolkit.config import SQLGLOT_DIALECTS

    for name in sorted(SQLGLOT_DIALECTS):
        Dialect.get_or_raise(name)  # raises ValueError for a name sqlglot does not know


WRITE_LATER = """\
import sys
from pathlib import Path
from toolkit import compilecache, execute
from toolkit.cli import main

root = Path.cwd()
seen = []
plan = execute.make_plan

def planning(*args, **kwargs):
    seen.append(compilecache.cache_path(root).exists())
    return plan(*args, **kwargs)

execute.make_plan = planning
sys.argv = ["toolkit", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as done:
    code = done.code
written = compilecache._read(compilecache.cache_path(root), None)
compilecache._cache.clear()
from toolkit.compiler import compile_project
same = written == compilecache._payload(compile_project(root), written["key"], written["frame"])
print("AT PLAN", seen, "EXIT", code, "SAME", same)
"""


def test_a_run_writes_the_compile_cache_after_its_plan_and_the_file_is_as_before(tmp_path):
    """Not before the plan (generating each step's SQL for the file, ~0.1 s at 500 steps,
    then overlaps the run's closing work); by the time the command ends, as a write before the run made it."""
    root = make_project(tmp_path / "p", {**FILES, "features/c.sql": "-- a comment: the file keeps this step's text with it\n"
                                                                   "select id, label from {{ ref('b') }}\n"})
    done = subprocess.run([sys.executable, "-c", WRITE_LATER, "run"], cwd=root, capture_output=True, text=True, env=env(), timeout=120)
    assert "AT PLAN [False] EXIT 0 SAME True" in done.stdout, done.stdout + done.stderr


def test_a_run_that_fails_before_building_still_writes_the_compile_cache(tmp_path):
    root = make_project(tmp_path / "p", {"features/a.sql": "select id from {{ source('app', 'missing') }}\n",
                                         "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.missing]\ncolumns = { id = "bigint" }\n'})
    done = subprocess.run([sys.executable, "-m", "toolkit", "run"], cwd=root, capture_output=True, text=True, env=env(), timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    from toolkit import compilecache

    assert compilecache._read(compilecache.cache_path(root), None) is not None


SOURCED = {
    "warehouse/sources.toml": '[raw]\n[raw.tables.orders]\ncolumns = { id = "bigint", amount = "double" }\n'
                              'tests = { id = ["not_null", "unique"] }\n',
    "features/a.sql": "select id, amount from {{ source('raw', 'orders') }}\n",
}
PROBE = ("import sys; from toolkit.cli import main; sys.argv = ['toolkit', 'run']\n"
         "try:\n    main()\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
         "print(sorted(m for m in ('pyarrow', 'numpy') if m in sys.modules))")


@pytest.mark.parametrize("between", [False, True])
def test_a_run_imports_pyarrow_for_source_tests_only_with_a_between_test(tmp_path, between):
    """Source tests run at every run; checking a between bound's kind reads the column's
    Arrow type, and only that needs pyarrow (~0.1 s of a no-op's start)."""
    files = dict(SOURCED)
    if between:
        files["warehouse/sources.toml"] = files["warehouse/sources.toml"].replace('"unique"]', '"unique"], amount = [{ between = { min = 0 } }]')
    root = make_project(tmp_path / "p", files, "create schema raw; create table raw.orders as select 1::bigint as id, 2.0::double as amount")
    outputs = [subprocess.run([sys.executable, "-c", PROBE], cwd=root, capture_output=True, text=True, env=env(), timeout=120)
               for _ in range(2)]
    assert all(done.returncode == 0 for done in outputs), [done.stderr for done in outputs]
    assert outputs[1].stdout.strip().splitlines()[-1] == ("['numpy', 'pyarrow']" if between else "[]"), outputs[1].stdout


@pytest.mark.parametrize("column, values, imported", [("status", '["paid", "open"]', False),  # text on text: nothing to check
                                                      ("status", "[1, 2]", None),  # a number on text: exit 2, checked
                                                      ("id", '["1", "2"]', True)])  # text on a number column: checked
def test_accepted_values_of_text_on_a_text_column_import_no_pyarrow(tmp_path, column, values, imported):
    """Since accepted_values is checked against its column's kind, a source's text values
    on a text column (the demo's) made every no-op import pyarrow and numpy (0.1-0.2 s):
    the catalog says the column is text, and text values cannot mismatch it."""
    files = dict(SOURCED)
    files["warehouse/sources.toml"] = ('[raw]\n[raw.tables.orders]\n'
                                       f'tests = {{ {column} = [{{ accepted_values = {values} }}] }}\n')
    files["features/a.sql"] = "select id, status from {{ source('raw', 'orders') }}\n"
    root = make_project(tmp_path / "p", files, "create schema raw; create table raw.orders as select 1::bigint as id, 'paid' as status")
    outputs = [subprocess.run([sys.executable, "-c", PROBE], cwd=root, capture_output=True, text=True, env=env(), timeout=120)
               for _ in range(2)]
    if imported is None:
        assert outputs[1].returncode != 0 and "1 is not text" in outputs[1].stdout + outputs[1].stderr, outputs[1].stdout
        return
    assert all(done.returncode == 0 for done in outputs), [done.stdout + done.stderr for done in outputs]
    assert outputs[1].stdout.strip().splitlines()[-1] == ("['numpy', 'pyarrow']" if imported else "[]"), outputs[1].stdout
