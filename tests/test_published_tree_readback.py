"""A view's published SQL, read back from the state, writes for the target as the step did.

`run --select X` re-creates a view over X's new table from the SQL it was published with
when its file has unpublished edits (planning._published_tree). The state keeps that SQL as
DuckDB text, where percentile_disc(q) WITHIN GROUP (ORDER BY x) is QUANTILE_DISC(x, q
ORDER BY x) and mode() WITHIN GROUP (ORDER BY x) is MODE( ORDER BY x); sqlglot read those
back as ordered calls, which PostgreSQL's text gives a second ORDER BY: the run failed with
"cannot use multiple ORDER BY clauses with WITHIN GROUP". sql.reparse now reads DuckDB's
spelling back as the WITHIN GROUP call (the compile cache reads its text the same way).
"""

from __future__ import annotations

import pytest

from toolkit import compilecache, sql
from toolkit.compiler import compile_project

from postgres_support import pg_query, pg_url, two_target_project  # noqa: F401 (a fixture)

AGGREGATES = ("percentile_disc(0.75) within group (order by x) as pd, "
              "percentile_cont(0.5) within group (order by x desc) as pc")
SEEDS = {"warehouse/seeds.toml": '[s]\ncolumns = { g = "integer", x = "integer" }\n',
         "warehouse/seeds/s.csv": "g,x\n1,5\n1,1\n1,3\n1,9\n2,7\n2,4\n"}
BASE = "select g, x{} as x from {{{{ ref('s') }}}}\n"
VIEW = "{{{{ config(materialized='view') }}}}\nselect g, {}{} from {{{{ ref('base') }}}} group by g\n"
FILES = {**SEEDS, "features/base.sql": BASE.format(""), "features/v.sql": VIEW.format(AGGREGATES, ""),
         "features/t.sql": f"select g, {AGGREGATES} from {{{{ ref('base') }}}} group by g\n"}
MODE = "{{ config(materialized='view') }}\nselect g, mode() within group (order by x) as m from {{ ref('base') }} group by g\n"


def _text(tree, target: str) -> str:
    """The tree's text for `target`, or the refusal (mode() ties: meanings.py refuses it on PostgreSQL)."""
    try:
        return sql.to_target(tree, "duckdb", target)
    except sql.SqlError as error:
        return f"refused: {error}"


def _expected(url: str) -> list:
    return sorted(pg_query(url, f"select g, {AGGREGATES} from features.base group by g"))


def test_published_text_reads_back_as_the_compiled_tree(tmp_path):
    root = tmp_path / "p"
    two_target_project(root, "postgresql://unused/none", {**FILES, "features/m.sql": MODE})
    compiled = compile_project(root)
    for name in ("v", "t", "m"):
        tree = compiled.steps[name].tree
        text = sql.canonical_text(tree, compiled.dialect)  # what the state's `sql` keeps
        assert "QUANTILE_" in text or "MODE( ORDER BY" in text, text  # DuckDB's spelling, read back below
        again = sql.reparse(text, compiled.dialect)
        assert sql.tree_shape(again) == sql.tree_shape(tree), name
        for target in ("postgres", "spark"):
            assert _text(again, target) == _text(tree, target), (name, target)


def test_the_compile_cache_reads_within_group_steps_back_without_compiling(tmp_path, fresh_compile_cache):
    root = tmp_path / "p"
    two_target_project(root, "postgresql://unused/none", {**FILES, "features/m.sql": MODE})
    fresh = compile_project(root)
    compilecache.compile_cached(root, None, disk=True)  # writes the cache
    compilecache._cache.clear()
    loaded = compilecache.compile_cached(root, None, disk=True)
    for name in ("v", "t", "m"):
        for target in ("postgres", "spark"):
            assert _text(loaded.steps[name].tree, target) == _text(fresh.steps[name].tree, target), (name, target)
    assert loaded.steps["v"].fallback.compiled is None  # each text read back as its tree: nothing compiled afresh


@pytest.mark.slow
def test_a_re_pointed_within_group_view_is_re_created_on_postgres_from_its_published_sql(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    two_target_project(root, pg_url, FILES)
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 0, out + err
    (root / "features/base.sql").write_text(BASE.format(" * 2"), encoding="utf-8")
    (root / "features/v.sql").write_text(VIEW.format(AGGREGATES, ", count(*) as n"), encoding="utf-8")
    code, out, err = run_cli("plan", "--target", "pg", "--select", "base", cwd=root)
    assert code == 0 and "published SQL kept" in out, out + err
    code, out, err = run_cli("run", "--target", "pg", "--select", "base", cwd=root)  # was: multiple ORDER BY clauses
    assert code == 0, out + err
    assert sorted(pg_query(pg_url, "select * from features.v")) == _expected(pg_url)  # the published columns, new rows
    assert _expected(pg_url) == [(1, 10, 8.0), (2, 14, 11.0)]
    code, out, err = run_cli("run", "--target", "pg", cwd=root)  # the file's edits published now
    assert code == 0, out + err
    assert sorted(pg_query(pg_url, "select * from features.v")) == [row + (n,) for row, n in zip(_expected(pg_url), (4, 2))]
    assert sorted(pg_query(pg_url, "select * from features.t")) == _expected(pg_url)
    code, out, err = run_cli("plan", "--target", "pg", cwd=root)
    assert code == 0 and out.strip().endswith(": 4 reuse"), out + err  # the published text compares equal to the file's
