"""Dialect portability: SQL written in one dialect runs on every engine, or fails at
compile time naming the file and line.

- examples/snowflake_shop (Snowflake dialect: IFF, DATEADD, DATEDIFF, QUALIFY, ::
  casts, NVL, ZEROIFNULL, DIV0, COUNT_IF) runs on DuckDB and PostgreSQL with
  identical results: transpiled SQL is executed on the real engines, not only
  generated.
- A call sqlglot translates into something the target lacks (DuckDB's
  list_transform -> TRANSFORM on PostgreSQL) is caught against the engine's own
  function list.
- Golden files: the demo project's steps compiled for Snowflake, BigQuery, Spark,
  Trino and PostgreSQL (tests/golden/dialects/<dialect>/<step>.sql); regenerate with
  TOOLKIT_UPDATE_GOLDEN=1 after a deliberate change.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pytest
import sqlglot

from postgres_support import pg_arrow, pg_url  # noqa: F401,F811 (pg_url is a fixture)
from test_postgres import assert_same_rows, duckdb_arrow, ordered_select
from toolkit import portability, sql
from toolkit.compiler import cast_types

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "dialects"
DIALECTS = ["snowflake", "bigquery", "spark", "trino", "postgres"]
SNOWFLAKE_STEPS = ["order_facts", "latest_order", "customer_summary"]


def test_snowflake_dialect_project_runs_identically_on_duckdb_and_postgres(tmp_path, pg_url, run_cli):
    root = tmp_path / "snowflake_shop"
    shutil.copytree(REPO / "examples" / "snowflake_shop", root, ignore=shutil.ignore_patterns("*.duckdb*"))
    env = {"TOOLKIT_PG_URL": pg_url}
    for target in ("dev", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=root, env=env)
        assert code == 0, out + err
        assert "5 success" in out, out
    duck = root / "warehouse" / "snowflake_shop.duckdb"
    for step in SNOWFLAKE_STEPS:
        names = duckdb_arrow(duck, f'select * from features."{step}" limit 0').schema.names
        query = ordered_select(names, f'features."{step}"')
        left, right = duckdb_arrow(duck, query), pg_arrow(pg_url, query)
        assert left.num_rows > 0, step
        assert_same_rows(left, right, f"features.{step}")


def test_snowflake_names_fold_to_toolkit_catalog():
    """Unquoted Snowflake names (upper case there) read toolkit's lower-case tables."""
    from toolkit.compiler import compile_project

    compiled = compile_project(REPO / "examples" / "snowflake_shop")
    text = sql.to_target(compiled.steps["latest_order"].tree, compiled.dialect, "postgres")
    assert '"features"."order_facts"' in text and "ORDER_FACTS" not in text
    # PostgreSQL has no QUALIFY: a subquery computes the predicate (its window = 1), the query around filters on it
    assert 'WHERE "_q"' in text and ') = 1 AS "_q"' in text, text


def test_call_the_target_lacks_is_an_error_naming_the_line(pg_url):
    from toolkit.config import Target
    from toolkit.engines import connect

    text = "select id,\n  list_transform(tags, t -> upper(t)) as loud\nfrom things"
    tree = sqlglot.parse_one(text, read="duckdb")
    engine = connect(Target("pg", "postgres", {"url": pg_url}), REPO, 5)
    try:
        with pytest.raises(portability.Untranslatable) as raised:
            portability.check(tree, "duckdb", "postgres", engine.functions(), text)
    finally:
        engine.close()
    assert raised.value.line == 2
    assert "list_transform" in raised.value.message and "TRANSFORM" in raised.value.message


def test_translatable_calls_pass_the_check():
    text = "select round(x, 2) as r, epoch(d) as e, date_trunc('month', d) as m, count(*) as n from t group by all"
    known = {"round", "date_trunc", "count", "date_part", "extract"}
    portability.check(sqlglot.parse_one(text, read="duckdb"), "duckdb", "postgres", known, text)


def test_a_step_the_target_cannot_run_fails_before_anything_runs(make_project, run_cli, pg_url):
    root = make_project({
        "toolkit.toml": 'name = "p"\ndialect = "duckdb"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\nurl = "${PG_URL}"\n',
        "features/ok.sql": "select 1 as id",
        "features/lists.sql": "-- a DuckDB-only call\nselect id,\n    list_transform([id], x -> x + 1) as plus\nfrom ok",
    })
    code, out, err = run_cli("run", cwd=root, env={"PG_URL": pg_url})
    assert code == 2, out + err
    assert "features/lists.sql:3" in err and "list_transform" in err and "Traceback" not in err, err
    from postgres_support import pg_query

    assert pg_query(pg_url, "select count(*) from information_schema.tables where table_schema = 'features'") == [(0,)]


@functools.lru_cache(maxsize=1)
def _demo_steps():
    from toolkit.compiler import compile_project

    compiled = compile_project(REPO)
    return compiled, [name for name in compiled.dag.order() if compiled.steps[name].kind == "feature"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_golden_compiled_sql(dialect):
    compiled, steps = _demo_steps()
    update = os.environ.get("TOOLKIT_UPDATE_GOLDEN") == "1"
    folder = GOLDEN / dialect
    mismatched = []
    types = cast_types(compiled)  # as `toolkit compile` types casts (meanings.py)
    for name in steps:
        text = sql.pretty(sql.to_target(compiled.steps[name].tree, compiled.dialect, dialect, types(compiled.steps[name], dialect)), dialect) + "\n"
        path = folder / f"{name}.sql"
        if update:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            continue
        assert path.exists(), f"no golden file {path.relative_to(REPO)}: run with TOOLKIT_UPDATE_GOLDEN=1"
        stored = path.read_text(encoding="utf-8")
        # parses back in its own dialect, to the same tree as the stored SQL
        assert sqlglot.parse_one(text, read=dialect) == sqlglot.parse_one(stored, read=dialect), name
        if text != stored:
            mismatched.append(name)
    assert not mismatched, f"{dialect}: compiled SQL changed for {mismatched} (TOOLKIT_UPDATE_GOLDEN=1 to accept)"


WINDOW_AGGREGATES = {
    "ordered": "select id,\n  string_agg(name, ',' order by name) over (partition by g) as names\nfrom t",
    "distinct": "select id,\n  count(distinct name) over (partition by g) as names\nfrom t",
    "within-group": "select id,\n  percentile_cont(0.5) within group (order by id) over (partition by g) as names\nfrom t",
}


@pytest.mark.parametrize("shape", WINDOW_AGGREGATES)
def test_an_aggregate_postgres_cannot_run_over_a_window_is_refused_at_its_line(shape, pg_url):
    """PostgreSQL refuses these when the statement runs (it was a build failure after other
    steps had run); the check refuses them before anything runs, only where it must."""
    text = WINDOW_AGGREGATES[shape]
    tree = sqlglot.parse_one(text, read="duckdb")
    with pytest.raises(portability.Untranslatable) as raised:
        portability.check(tree, "duckdb", "postgres", None, text)
    assert raised.value.line == 2, raised.value.message
    assert "OVER" in raised.value.message
    assert raised.value.message.split("(")[0] in ("string_agg", "count", "percentile_cont"), raised.value.message  # as written
    portability.check(tree, "duckdb", "duckdb", None, text)  # DuckDB runs them
    from postgres_support import pg_query

    pg_query(pg_url, "create table t (id integer, g integer, name text)")
    with pytest.raises(Exception, match="not implemented|cannot be used as a window|OVER is not supported"):
        pg_query(pg_url, sql.to_target(tree, "duckdb", "postgres"))
    plain = sqlglot.parse_one("select sum(id) over (partition by g order by id) as s, count(*) over () as n from t")
    portability.check(plain, "duckdb", "postgres", None, "")
    pg_query(pg_url, sql.to_target(plain, "duckdb", "postgres"))
