"""Ordered-set and ordered aggregates rebuild from the compile cache as they built fresh.

Tester S: a step with `percentile_disc(0.75) WITHIN GROUP (ORDER BY x)` built once, then
every rebuild with .toolkit/cache/compile.pkl present failed: PostgreSQL "cannot use
multiple ORDER BY clauses with WITHIN GROUP", Spark a ParseError. The cache keeps the
DuckDB text QUANTILE_DISC(x, 0.75 ORDER BY x), which sqlglot reads back as another tree
with the same text (an ordered call, no WITHIN GROUP); the cache's check compared only the
text and the kinds of call. It now compares the trees' shape too (sql.tree_shape).
"""

from __future__ import annotations

import pytest

from toolkit import compilecache, sql
from toolkit.compiler import compile_project

from postgres_support import pg_url, published_differences, two_target_project  # noqa: F401 (a fixture)

STEPS = {
    "pd": "select g, percentile_disc(0.75) within group (order by x) as v from {{ ref('s') }} group by g",
    "pc": "select g, percentile_cont(0.5) within group (order by x) as v from {{ ref('s') }} group by g",
    "qd": "select g, quantile_disc(x, 0.25) as v from {{ ref('s') }} group by g",
    "sa": "select g, string_agg(cast(x as varchar), ',' order by x desc) as v from {{ ref('s') }} group by g",
    "la": "select g, listagg(cast(x as varchar), '-') within group (order by x) as v from {{ ref('s') }} group by g",
    "aa": "select g, array_to_string(array_agg(x order by x), ';') as v from {{ ref('s') }} group by g",
}
# refused on PostgreSQL (ties: meanings.py), so compared as text only, the refusal included
MODE = {"md": "select g, mode() within group (order by x) as v from {{ ref('s') }} group by g"}
SEEDS = {"warehouse/seeds.toml": '[s]\ncolumns = { g = "integer", x = "integer" }\n'}


def _files(rows: str) -> dict[str, str]:
    return {"warehouse/seeds/s.csv": "g,x\n" + rows, **SEEDS, **{f"features/{name}.sql": text + "\n" for name, text in STEPS.items()}}


@pytest.fixture(autouse=True)
def _no_process_cache(fresh_compile_cache):
    """Every compile reads the disk cache as a new process would (conftest)."""


def _text(tree, dialect: str, target: str) -> str:
    try:
        return sql.to_target(tree, dialect, target)
    except sql.SqlError as error:
        return f"refused: {error}"


def _from_disk(root):
    compilecache._cache.clear()
    return compilecache.compile_cached(root, None, disk=True)


def test_cached_ordered_aggregates_give_the_fresh_targets_text(tmp_path):
    root = tmp_path / "p"
    two_target_project(root, "postgresql://unused/none", {**_files("1,5\n1,1\n"), "features/md.sql": MODE["md"] + "\n"})
    fresh = compile_project(root)
    _from_disk(root)  # writes the cache
    loaded = _from_disk(root)
    for name in [*STEPS, *MODE]:
        for target in ("duckdb", "postgres", "spark"):
            assert _text(loaded.steps[name].tree, loaded.dialect, target) == _text(fresh.steps[name].tree, fresh.dialect, target), (name, target)
    spark = sql.to_target(loaded.steps["pd"].tree, loaded.dialect, "spark")
    assert "ORDER BY" not in spark.split("WITHIN GROUP")[0], spark  # was PERCENTILE_DISC(0.75 ORDER BY ...) WITHIN GROUP


def test_a_plain_step_still_loads_from_the_cache_without_compiling(tmp_path):
    root = tmp_path / "p"
    two_target_project(root, "postgresql://unused/none", {
        **SEEDS, "warehouse/seeds/s.csv": "g,x\n1,5\n",
        "features/plain.sql": ("with t as (select g, x, row_number() over (partition by g order by x) as r from {{ ref('s') }})\n"
                               "select g, case when x > 2 then 'big' else lower('S') end as size, cast(x as double) * 2 as d,\n"
                               "       coalesce(x, 0) + r as n from t where x between 1 and 9 union all select 1, 'a', 1.0, 2\n"),
        "features/grouped.sql": "select g, count(*) as n, sum(x) as s, max(x) as m from {{ ref('s') }} group by g having count(*) > 0\n",
    })
    _from_disk(root)
    loaded = _from_disk(root)
    for name in ("plain", "grouped"):
        assert loaded.steps[name].tree is not None
    assert loaded.steps["plain"].fallback.compiled is None  # every text read back as its tree


def test_rebuilds_on_postgres_with_the_cache_publish_duckdbs_values(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    two_target_project(root, pg_url, _files("1,5\n1,1\n1,3\n1,9\n2,7\n"))
    for target in ("local", "pg"):  # the PostgreSQL run reads the cache the DuckDB run wrote
        code, out, err = run_cli("run", "--target", target, cwd=root)
        assert code == 0, out + err
    assert published_differences(root, pg_url, STEPS) == []
    assert (root / ".toolkit/cache/compile.pkl").exists()
    (root / "warehouse/seeds/s.csv").write_text("g,x\n1,5\n1,2\n1,3\n1,8\n2,7\n2,4\n", encoding="utf-8")
    for args in (["--target", "pg"], ["--target", "pg", "--full-refresh"], ["--target", "local"]):
        code, out, err = run_cli("run", *args, cwd=root)
        assert code == 0, out + err
    assert published_differences(root, pg_url, STEPS) == []
