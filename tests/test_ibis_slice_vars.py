"""String slices of an ibis step on every target, with DuckDB's values; and a var() string
where ibis takes only a column name (exit 2 at its line, the README's literal contract)."""

from __future__ import annotations

import itertools

import pytest

from _projects import cli_tuple, make_project, query
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)

STRINGS = ["hello", "héllo wörld", "", "a", None, "he\u0301llo", "👍🏽ab"]  # NULL, multi-byte, combining, emoji
BOUNDS = [None, -10**12, -7, -2, -1, 0, 1, 3, 6, 10**12]  # NULL (an open end), negative, past either end
ROWS = [(k, s, i, j) for k, (s, i, j) in enumerate(itertools.product(STRINGS, BOUNDS, BOUNDS))]
SOURCES = '[shop.tables.words]\ncolumns = { k = "bigint", s = "varchar", i = "bigint", j = "bigint" }\n'
SLICED = """
import ibis

from toolkit import feature


@feature()
def sliced(source):
    t = source("shop", "words")
    return t.select("k", a=t.s[1:3], b=t.s[:2], c=t.s[2:], d=t.s[t.i:t.j], e=t.s[:t.j], f=t.s[t.i:], g=t.s[3:1],
                    h=t.s[t.i:2], m=t.s[1:t.j], n=t.s[ibis.literal(-2):], o=t.s[0:0], p=t.s.substr(1, 2), q=t.s.substr(-3, 2),
                    r=t.s[t.i + 1:t.j - 1])
"""
# what ibis' own DuckDB SQL (ARRAY_SLICE) gives for each column: the values to publish everywhere
DUCKDB_SLICES = """
select k, array_slice(s, 2, 3) as a, array_slice(s, 1, 2) as b, array_slice(s, 3, -1) as c,
  array_slice(s, coalesce(i + 1, 1), coalesce(j, -1)) as d, array_slice(s, 1, coalesce(j, -1)) as e,
  array_slice(s, coalesce(i + 1, 1), -1) as f, array_slice(s, 4, 1) as g, array_slice(s, coalesce(i + 1, 1), 2) as h,
  array_slice(s, 2, coalesce(j, -1)) as m, array_slice(s, -1, -1) as n, array_slice(s, 1, 0) as o,
  substring(s, 2, 2) as p, substring(s, length(s) - 2, 2) as q,
  array_slice(s, coalesce(i + 2, 1), coalesce(j - 1, -1)) as r
from shop.words order by k
"""


def _setup_sql() -> str:
    def text(value):
        return "NULL" if value is None else "'" + value.replace("'", "''") + "'"

    def number(value):
        return "NULL" if value is None else str(value)

    values = ", ".join(f"({k}, {text(s)}, {number(i)}, {number(j)})" for k, s, i, j in ROWS)
    return f"create schema shop; create table shop.words (k bigint, s varchar, i bigint, j bigint); insert into shop.words values {values};"


def _project(tmp_path, files, pg=None):
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, **files}, _setup_sql())
    if pg:
        with open(root / "toolkit.toml", "a") as config:
            config.write(f'\n[targets.pg]\nengine = "postgres"\nurl = "{pg}"\n')
    return root


def test_a_string_slice_publishes_duckdbs_values_on_duckdb_and_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = _project(tmp_path, {"features/sliced.py": SLICED}, pg_url)
    setup = _setup_sql().replace(" varchar", " text")
    for statement in setup.split(";")[:-1]:
        pg_query(pg_url, statement)
    code, out, err = cli_tuple("compile", "sliced", "--target", "pg", cwd=root)
    assert code == 0, out + err  # was exit 2: array_slice(...) is not portable to postgres
    assert "ARRAY_SLICE" not in out.upper() and "SUBSTRING" in out.upper(), out
    for target in ("dev", "pg"):
        code, out, err = cli_tuple("run", "--target", target, cwd=root)
        assert code == 0, out + err
    expected = query(root, DUCKDB_SLICES)
    duck = query(root, "select * from features.sliced order by k")
    pg = [tuple(row) for row in pg_query(pg_url, "select * from features.sliced order by k")]
    assert len(expected) == len(ROWS) == 700
    assert duck == expected
    assert pg == expected
    # spot checks: Python's 0-based exclusive end, DuckDB's negative bounds, code points
    key = next(k for k, s, i, j in ROWS if s == "héllo wörld" and i == -2 and j == -1)
    assert duck[key][1:5] == ("él", "hé", "llo wörld", "d")


def test_the_literal_slice_is_a_plain_substring_and_a_sql_steps_array_slice_is_still_refused_for_postgres(tmp_path):
    sql_step = "select k, array_slice(s, 2, 3) as a from {{ source('shop', 'words') }}\n"
    root = _project(tmp_path, {"features/sliced.py": SLICED.replace(", d=t.s[t.i:t.j]", "", 1)})
    with open(root / "toolkit.toml", "a") as config:
        config.write('\n[targets.pg]\nengine = "postgres"\nurl = "postgresql://nobody@127.0.0.1:1/none"\n')
    code, out, err = cli_tuple("compile", "sliced", cwd=root)
    assert code == 0, out + err
    assert 'SUBSTRING("t0"."s", 2, 2) AS "a"' in out and 'SUBSTRING("t0"."s", 1, 2) AS "b"' in out, out
    assert 'SUBSTRING("t0"."s", 3) AS "c"' in out and 'SUBSTRING("t0"."s", 4, 0) AS "g"' in out, out
    (root / "features/sql_slice.sql").write_text(sql_step)
    code, out, err = cli_tuple("compile", "sql_slice", "--target", "pg", cwd=root)
    assert code == 2, out + err  # SQL steps: unchanged (toolkit does not know s is text there)
    assert "features/sql_slice.sql:1" in err and "array_slice(...) is not portable to postgres" in err, err


STEP = """import ibis
import ibis.selectors as s
from toolkit import feature


@feature()
def {name}(source, var):
    t = source("shop", "words")
    return {expression}
"""
AS_NAMES = [
    ("distinct_on", 't.distinct(on=var("c"))', "distinct on= var() 's' is a literal in SQL"),
    ("distinct_on_list", 't.distinct(on=["k", var("c")])', "distinct on= var() 's' is a literal in SQL"),
    ("getitem", 't.select(t[var("c")])', "t[...] var() 's' is a literal in SQL"),
    ("getattr_var", 't.select(getattr(t, var("c")))', "getattr(t, ...) var() 's' is a literal in SQL"),
    ("selector", 't.select(s.cols(var("c")))', "column selector var() 's' is a literal in SQL"),
    ("pivot_longer", 't.pivot_longer(var("c"))', "column selector var() 's' is a literal in SQL"),
    ("fill_null_key", 't.fill_null({var("c"): "z"})', "fill_null() mapping key var() 's' is a literal in SQL"),
    ("cast_key", 't.cast({var("c"): "string"})', "cast() mapping key var() 's' is a literal in SQL"),
]


@pytest.mark.parametrize(("name", "expression", "message"), AS_NAMES, ids=[case[0] for case in AS_NAMES])
def test_a_var_string_where_ibis_takes_a_column_name_is_exit_2_at_its_line(tmp_path, name, expression, message):
    root = _project(tmp_path, {f"features/{name}.py": STEP.format(name=name, expression=expression)})
    with open(root / "toolkit.toml", "a") as config:
        config.write('\n[vars]\nc = "s"\n')
    code, out, err = cli_tuple("compile", name, cwd=root)
    assert code == 2, out + err  # distinct(on=), getattr, selectors and mapping keys named column s silently
    assert f"features/{name}.py:9" in err and message in err and "Traceback" not in err, err


def test_a_var_string_stays_a_literal_or_names_a_column_only_through_str_and_rename(tmp_path):
    expression = ('t.select("k", "s", t.s.length().name(var("c") + "_len"), lit=var("c"), named=t[str(var("c"))])'
                  '.rename(renamed=var("c")).filter(ibis._.k == 0)')
    root = _project(tmp_path, {"features/kept.py": STEP.format(name="kept", expression=expression)})
    with open(root / "toolkit.toml", "a") as config:
        config.write('\n[vars]\nc = "s"\n')
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    # rename's old name and str(var) name column s; an output name is a quoted identifier; elsewhere the literal 's'
    assert [r[0] for r in query(root, "describe features.kept")] == ["k", "renamed", "s_len", "lit", "named"]
    assert query(root, "select * from features.kept") == [(0, "hello", 5, "s", "hello")]


@pytest.mark.slow
def test_a_string_slice_publishes_duckdbs_values_on_spark(tmp_path):
    """Spark read ibis' ARRAY_SLICE as SLICE, of arrays only: the step failed when built."""
    spark_support = pytest.importorskip("spark_support")
    if spark_support.SKIP_REASON:
        pytest.skip(spark_support.SKIP_REASON)
    import pyarrow as pa
    from sqlglot import exp

    from toolkit.config import load_config
    from toolkit.engines import connect

    root = _project(tmp_path, {"features/sliced.py": SLICED})
    with open(root / "toolkit.toml", "a") as config:
        # the process's shared warehouse, with this project's own state (the warehouse's state is another project's)
        config.write(f'\n[targets.spark]\nengine = "spark"\nmaster = "local[1]"\nwarehouse = "{spark_support.shared_warehouse()}"\n'
                     f'state = "{root / "spark_state.duckdb"}"\n')
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    expected = query(root, DUCKDB_SLICES)
    engine = connect(load_config(root).target("spark"), root)
    try:
        engine.create_schema("shop")
        words = exp.table_("words", db="shop")
        engine.drop(words)
        columns = list(zip(*ROWS))
        engine.create_table_from_arrow(words, pa.table({"k": pa.array(columns[0], pa.int64()), "s": pa.array(columns[1], pa.string()),
                                                        "i": pa.array(columns[2], pa.int64()), "j": pa.array(columns[3], pa.int64())}))
    finally:
        engine.close()
    code, out = spark_support.run_here(root, "run", "--target", "spark")
    assert code == 0, out
    engine = connect(load_config(root).target("spark"), root, exclusive=False)
    try:
        data = engine.fetch_arrow(exp.select("*").from_(exp.to_table("features.sliced")).order_by("k"))
    finally:
        engine.close()
    assert [tuple(row.values()) for row in data.to_pylist()] == expected
