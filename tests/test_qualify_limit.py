"""QUALIFY filters before DISTINCT, ORDER BY, LIMIT, OFFSET on a target without QUALIFY.

PostgreSQL has no QUALIFY: sqlglot writes the query as a subquery filtered outside, and
left the query's ORDER BY / LIMIT inside, cutting rows before the filter (`qualify
row_number() ... = 1 order by id desc limit 2` published no row where DuckDB published
two). toolkit/qualifyfilter.py moves them to the filtering query. Each project runs through
`toolkit run` on DuckDB and on a fresh ICU en-US database ('a' < 'B' there, code point
order kept by COLLATE "C"); the published rows are compared, and for some the rows expected.
"""

from __future__ import annotations


import duckdb
import pytest

from postgres_support import icu_url, pg_query, two_target_project  # noqa: F401 (a fixture)

SEED = "id,name,grp\n1,a,x\n2,B,x\n3,c,y\n4,A,y\n5,e,x\n6,f,y\n"
FIRST = "row_number() over (partition by grp order by id)"
STEPS = {
    # the tester's steps
    "last_firsts": f"select id, name from {{{{ ref('t') }}}} qualify {FIRST} = 1 order by id desc limit 2",
    "first_three": f"select id from {{{{ ref('t') }}}} qualify {FIRST} <= 2 order by id limit 3",
    # an ORDER BY key not selected; an expression of one
    "unselected_key": f"select name from {{{{ ref('t') }}}} qualify {FIRST} = 1 order by id desc limit 1",
    "key_expression": f"select name from {{{{ ref('t') }}}} qualify {FIRST} <= 2 order by id % 3, id limit 2",
    # a window's alias, a window not selected
    "window_alias": "select id, row_number() over (partition by grp order by id desc) as rn from {{ ref('t') }}\n"
                    "qualify rn <= 2 order by rn, id limit 3",
    "window_key": f"select id from {{{{ ref('t') }}}} qualify {FIRST} <= 2\n"
                  "order by row_number() over (order by id desc) limit 2",
    # text keys: code point order ('A' < 'B' < 'a'), COLLATE "C" on PostgreSQL
    "text_key": f"select id, name from {{{{ ref('t') }}}} qualify {FIRST} <= 2 order by name limit 2",
    "text_unselected": f"select id from {{{{ ref('t') }}}} qualify {FIRST} <= 2 order by name desc limit 2",
    # DISTINCT applies after QUALIFY: one row per group, not one per (group, rank)
    "distinct_groups": "select distinct grp from {{ ref('t') }} qualify rank() over (partition by grp order by id) <= 2",
    "distinct_limited": "select distinct grp from {{ ref('t') }} qualify rank() over (partition by grp order by id) <= 2\n"
                        "order by grp desc limit 1",
    "by_position": f"select name, id from {{{{ ref('t') }}}} qualify {FIRST} = 1 order by 2 desc limit 1",
    "paged": f"select id from {{{{ ref('t') }}}} qualify {FIRST} <= 2 order by id limit 2 offset 1",
    "grouped": "select grp, count(*) as n from {{ ref('t') }} group by grp qualify rank() over (order by grp) <= 2\n"
               "order by sum(id) desc limit 1",
    "nested": f"with f as (select id, grp from {{{{ ref('t') }}}} qualify {FIRST} = 1 order by id desc limit 1)\n"
              "select f.id, count(*) as n from f join {{ ref('t') }} as u on u.grp = f.grp group by f.id",
}
# DuckDB's own: DISTINCT ON after QUALIFY, its keys and the ORDER BY choosing each group's row
OWN = {"duckdb": {"distinct_on": f"select distinct on (grp) grp, id from {{{{ ref('t') }}}} qualify {FIRST} <= 2\n"
                                 "order by grp, id desc"}}
EXPECTED = {
    "last_firsts": [(1, "a"), (3, "c")],
    "first_three": [(1,), (2,), (3,)],
    "unselected_key": [("c",)],
    "text_key": [(2, "B"), (4, "A")],
    "text_unselected": [(1,), (3,)],
    "distinct_groups": [("x",), ("y",)],
    "distinct_limited": [("y",)],
    "by_position": [("c", 3)],
    "paged": [(2,), (3,)],
    "grouped": [("y", 3)],
    "nested": [(3, 3)],
    "distinct_on": [("x", 2), ("y", 4)],
}




def _project(root, url: str, dialect: str, steps: dict[str, str]) -> None:
    two_target_project(root, url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", name = "varchar", grp = "varchar" }\n',
        **{f"features/{name}.sql": text + "\n" for name, text in steps.items()},
    }, dialect, "ql")


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_qualify_filters_before_order_and_limit_on_postgres(dialect, tmp_path, icu_url, run_cli):
    root = tmp_path / "project"
    steps = {**STEPS, **OWN.get(dialect, {})}
    _project(root, icu_url, dialect, steps)
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    duck = duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True)
    problems = []
    for name in steps:
        want = sorted(duck.sql(f"select * from features.{name}").fetchall())
        got = sorted(pg_query(icu_url, f"select * from features.{name}"))
        if name in EXPECTED and want != EXPECTED[name]:
            problems.append(f"{name}: duckdb {want}, expected {EXPECTED[name]}")
        if got != want:
            problems.append(f"{name}: postgres {got}, duckdb {want}")
    assert not problems, "\n".join(problems)


def test_compiled_postgres_sql_limits_the_filtered_rows(tmp_path):
    """`toolkit compile --target pg`'s text: ORDER BY and LIMIT on the query filtering on the
    window, a text key still collated, and no key column added to the output."""
    import sqlglot

    from toolkit import sql
    from toolkit.compiler import cast_types, compile_project

    _project(tmp_path, "postgresql://unused/none", "snowflake", STEPS)
    compiled = compile_project(tmp_path)
    for name, outputs in (("text_unselected", ["id"]), ("last_firsts", ["id", "name"])):
        step = compiled.steps[name]
        text = sql.to_target(step.tree, compiled.dialect, "postgres", cast_types(compiled)(step, "postgres"))
        outer = sqlglot.parse_one(text, read="postgres")
        assert outer.args.get("limit") is not None and outer.args.get("order") is not None, text
        assert outer.args.get("where") is not None, text
        assert outer.named_selects == outputs, text
        inner = outer.args["from_"].this.this if "from_" in outer.args else outer.args["from"].this.this
        assert inner.args.get("limit") is None and inner.args.get("order") is None, text
    assert 'COLLATE "C"' in sql.to_target(compiled.steps["text_key"].tree, compiled.dialect, "postgres",
                                          cast_types(compiled)(compiled.steps["text_key"], "postgres"))


def test_fetch_first_moves_out_too():
    """FETCH FIRST (a LIMIT spelled otherwise) and WITH TIES stay on the filtering query."""
    import sqlglot

    from toolkit import sql

    tree = sqlglot.parse_one("select id from t qualify row_number() over (partition by g order by id) = 1 "
                             "order by id offset 1 rows fetch first 2 rows with ties", read="snowflake")
    text = sql.to_target(tree, "snowflake", "postgres")
    outer = sqlglot.parse_one(text, read="postgres")
    assert isinstance(outer.args.get("limit"), sqlglot.exp.Fetch) and outer.args.get("offset") is not None, text
    assert outer.args.get("where") is not None, text


def test_qualify_filters_before_order_and_limit_on_spark():
    """Spark has no QUALIFY either (sqlglot's spark writer eliminates it): the same rows as DuckDB."""
    import io

    import pyarrow.csv
    import sqlglot
    from sqlglot import exp

    from spark_support import SKIP_REASON as SPARK_SKIP, shared_engine

    if SPARK_SKIP:
        pytest.skip(SPARK_SKIP)
    data = pyarrow.csv.read_csv(io.BytesIO(SEED.encode()))
    duck = duckdb.connect()
    duck.execute("create schema qualify_limit")
    duck.execute("create table qualify_limit.t as select * from data")
    engine = shared_engine()
    try:
        engine.create_schema("qualify_limit")
        table = exp.table_("t", db="qualify_limit")
        engine.drop(table)
        engine.create_table_from_arrow(table, data)
        problems = []
        for name, text in STEPS.items():
            query = text.replace("{{ ref('t') }}", "qualify_limit.t")
            want = sorted(duck.sql(query).fetchall())
            got = sorted(tuple(row) for row in engine.fetch_rows(sqlglot.parse_one(query, read="duckdb")))
            if got != want:
                problems.append(f"{name}: spark {got}, duckdb {want}")
        assert not problems, "\n".join(problems)
    finally:
        engine.drop(exp.table_("t", db="qualify_limit"))
        engine.close()
