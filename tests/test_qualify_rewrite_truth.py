"""QUALIFY for targets without it (toolkit/qualifyfilter.py), LIKE ALL / one-pattern LIKE ANY
on PostgreSQL (pgmeanings.py) and Snowflake's ORDER BY ALL (sql.parse_select): the rows
DuckDB publishes, on PostgreSQL too.

- A window in QUALIFY reading table-qualified columns: sqlglot matched them to output
  columns by name (`order by b.id` became the output `id`, i.e. a.id; `partition by a.id`
  became `a.id*100` under `select a.id*100 as id`): wrong rows, exit 0.
- QUALIFY mixing a window and an aggregate of a qualified column in a GROUP BY query:
  `MAX("_q")` in the filter outside, exit 1.
- `s LIKE ALL ('a%', '%b')` written as a tuple (syntax error); `LIKE ANY ('a%')` refused
  as "not string literals".
- Snowflake's `ORDER BY ALL`: "unknown column 'all'".
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from postgres_support import pg_query, pg_url, published_differences, two_target_project  # noqa: F401 (a fixture)

SEEDS = {
    "warehouse/seeds/a.csv": "id,grp\n1,g\n2,g\n",
    "warehouse/seeds/b.csv": "id,grp\n10,g\n20,g\n30,g\n",
    "warehouse/seeds/t.csv": "k,x,s\n1,1.5,ab\n1,2,ac\n2,3,a%b\n",
    "warehouse/seeds.toml": ('[a]\ncolumns = { id = "integer", grp = "varchar" }\n'
                             '[b]\ncolumns = { id = "integer", grp = "varchar" }\n'
                             '[t]\ncolumns = { k = "integer", x = "double", s = "varchar" }\n'),
}
JOINED = "from a join b on b.grp = a.grp\n"
NEWEST_B = "row_number() over (partition by a.id order by b.id desc)"
QUALIFY_STEPS = {
    # each a.id with the largest b.id (the window's b.id is not the output named id)
    "other_table": f"select a.id, b.id as bid\n{JOINED}qualify {NEWEST_B} = 1",
    # an output alias named like a source column does not capture the window's a.id
    "alias_named_id": f"select a.id * 100 as id, b.id as bid\n{JOINED}qualify {NEWEST_B} = 1",
    # the same with the late clauses moved outside
    "ordered_limited": f"select a.id * 100 as id, b.id as bid\n{JOINED}qualify {NEWEST_B} <= 2\norder by id desc, bid limit 3",
    # a select alias read in the predicate, beside a window
    "alias_in_predicate": f"select a.id, -a.id as neg, b.id as bid\n{JOINED}qualify neg < -1 and {NEWEST_B} = 1",
    # an alias of a window read in the predicate, a qualified column outside the window
    "window_alias": f"select a.id, b.id as bid, {NEWEST_B} as rn\n{JOINED}qualify rn = 2 and b.id > 10",
    # DuckDB reads a name in QUALIFY as the source column first: `id` in the window is a.id
    "unqualified_source_first": "select -id as id\nfrom a\nqualify row_number() over (order by id desc) = 1",
    # a window and an aggregate of a qualified column, grouped
    "grouped_aggregate": "select t.k, count(*) as n\nfrom t group by t.k\n"
                         "qualify rank() over (order by count(*) desc, t.k) <= 3 and max(t.x) > 1.8",
}
QUALIFY_EXPECTED = {
    "other_table": [(1, 30), (2, 30)],
    "alias_named_id": [(100, 30), (200, 30)],
    "ordered_limited": [(200, 20), (200, 30), (100, 20)],
    "alias_in_predicate": [(2, -2, 30)],
    "window_alias": [(1, 20, 2), (2, 20, 2)],
    "unqualified_source_first": [(-2,)],
    "grouped_aggregate": [(1, 2), (2, 1)],
}
LIKE_STEP = ("select k, s,\n  s like all ('a%', '%b') as all_of, s ilike all ('A%', '%B') as iall_of,\n"
             "  s not like all ('a%', '%b') as none_of, s like any ('a%') as one_pattern,\n"
             "  s ilike any ('%C') as ione, s like all ('a\\%') as backslash\nfrom t")
LIKE_EXPECTED = [(1, "ab", True, True, False, True, False, False), (1, "ac", False, False, False, True, True, False),
                 (2, "a%b", True, True, False, True, False, False)]
ORDER_ALL_STEPS = {
    "all_desc": "select s, k from t order by all desc",
    "all_limited": "select k, s from t order by all limit 2",
    "all_qualified": "select k, s from t qualify row_number() over (order by s) <= 2 order by all desc limit 1",
}
ORDER_ALL_EXPECTED = {
    "all_desc": [("ac", 1), ("ab", 1), ("a%b", 2)],
    "all_limited": [(1, "ab"), (1, "ac")],
    "all_qualified": [(2, "a%b")],
}


def _run_both(run_cli, root) -> None:
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err


def _duckdb_rows(root, name: str, ordered: bool = False) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as con:
        rows = con.sql(f"select * from features.{name}").fetchall()
    return rows if ordered else sorted(rows, key=repr)


def _steps(steps: dict[str, str]) -> dict[str, str]:
    return {f"features/{name}.sql": text + "\n" for name, text in steps.items()}


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_qualify_publishes_duckdbs_rows_on_postgres(dialect, tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    two_target_project(root, pg_url, {**SEEDS, **_steps(QUALIFY_STEPS)}, dialect, "qrt")
    _run_both(run_cli, root)
    for name, rows in QUALIFY_EXPECTED.items():
        assert _duckdb_rows(root, name) == sorted(rows, key=repr), name
    assert not published_differences(root, pg_url, QUALIFY_STEPS)


@pytest.mark.parametrize("read", ["duckdb", "snowflake"])
def test_spark_window_keeps_the_columns_it_was_written_with(read):
    """Spark's text (compiled, not run): the window orders by b.id and partitions by a.id,
    whatever the outputs are named."""
    from toolkit import sql

    for name in ("other_table", "alias_named_id"):
        query = sqlglot.parse_one(QUALIFY_STEPS[name], read=read)
        text = sql.to_target(query, read, "spark")
        window = sqlglot.parse_one(text, read="spark").find(exp.Window)
        assert [(key.table, key.name) for key in window.args["partition_by"]] == [("a", "id")], text
        assert [(key.this.table, key.this.name) for key in window.args["order"].expressions] == [("b", "id")], text


def test_like_all_and_one_pattern_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    two_target_project(root, pg_url, {**SEEDS, **_steps({"likes": LIKE_STEP})}, "duckdb", "qrt")
    _run_both(run_cli, root)
    assert _duckdb_rows(root, "likes") == sorted(LIKE_EXPECTED, key=repr)
    assert not published_differences(root, pg_url, ["likes"])


def test_snowflake_order_by_all_on_both(tmp_path, pg_url, run_cli):  # noqa: F811
    """ORDER BY ALL in Snowflake's dialect: every output column left to right, as DuckDB's
    (seen in the rows a LIMIT keeps, and in the keys written for PostgreSQL)."""
    root = tmp_path / "p"
    two_target_project(root, pg_url, {**SEEDS, **_steps(ORDER_ALL_STEPS)}, "snowflake", "qrt")
    _run_both(run_cli, root)
    for name, rows in ORDER_ALL_EXPECTED.items():
        assert _duckdb_rows(root, name) == sorted(rows, key=repr), name
    assert not published_differences(root, pg_url, ORDER_ALL_STEPS)
    from toolkit import sql

    text = sql.to_target(sql.parse_select(ORDER_ALL_STEPS["all_desc"], "snowflake"), "snowflake", "postgres")
    order = sqlglot.parse_one(text, read="postgres").args["order"].expressions
    assert len(order) == 2 and all(key.args.get("desc") for key in order), text


def _spark_names(text: str) -> str:
    """A step reading the seeds under names of their own (the Spark warehouse is shared)."""
    return (text.replace("from a join b", "from qrt_a as a join qrt_b as b").replace("from a\n", "from qrt_a as a\n")
            .replace("from t group", "from qrt_t as t group"))


@pytest.mark.slow  # starts (or shares) the embedded Spark
def test_qualify_publishes_duckdbs_rows_on_spark(tmp_path):
    from spark_support import SKIP_REASON, duck_and_spark_config, run_here

    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    from _projects import write_files
    from toolkit.config import load_config
    from toolkit.engines import connect

    steps = {f"qrt_{name}": _spark_names(text) for name, text in QUALIFY_STEPS.items()}
    seeds = {path.replace("seeds/", "seeds/qrt_"): text for path, text in SEEDS.items() if path.endswith(".csv")}
    write_files(tmp_path, {
        "toolkit.toml": duck_and_spark_config("qualify_truth", tmp_path / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS["warehouse/seeds.toml"].replace("[", "[qrt_"),
        **seeds, **_steps(steps),
    })
    for target in ("duck", "spark"):
        code, out = run_here(tmp_path, "run", "--target", target)
        assert code == 0, out
    engine = connect(load_config(tmp_path).target("spark"), tmp_path, exclusive=False)
    problems = []
    try:
        for name in QUALIFY_STEPS:
            want = _duckdb_rows(tmp_path, f"qrt_{name}")
            assert want == sorted(QUALIFY_EXPECTED[name], key=repr), name
            query = sqlglot.parse_one(f"select * from features.qrt_{name}", read="spark")
            got = sorted((tuple(row) for row in engine.fetch_rows(query)), key=repr)
            if got != want:
                problems.append(f"{name}: spark {got}, duckdb {want}")
    finally:
        engine.close()
    assert not problems, "\n".join(problems)
