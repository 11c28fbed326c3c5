"""DuckDB's values and types kept on PostgreSQL (toolkit/pgmeanings.py) and Spark
(toolkit/sparkmeanings.py) for:

- format('{}', v) whose value is volatile: DuckDB reads each value once; PostgreSQL's NULL guard
  read it twice (a CASE testing v IS NULL, then FORMAT of v again), so a value NULL the second
  time only was written '' (%s of NULL), a value published NULL where DuckDB would write it.
- a // b of a DECIMAL(p, 0) on Spark: DuckDB divides it as doubles (7 // 2 = 3.5); Spark's DIV
  truncated it (3), as it must an integer sum's (a HUGEINT, published DECIMAL(38, 0) there).
- length(s) + 1 (or -, *, %, abs of it) published: a BIGINT in DuckDB, an INTEGER there.
- sum(integer) over a window, or grouped: a HUGEINT in DuckDB, a BIGINT there (NUMERIC(38, 0) is
  how toolkit publishes a HUGEINT on PostgreSQL).

The tests run steps through `toolkit run` on DuckDB and on PostgreSQL (a fresh database,
TOOLKIT_TEST_POSTGRES_URL) or on the process's shared embedded Spark (tests/spark_support.py)
and compare the published rows and column types.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)
from spark_support import SKIP_REASON as SPARK_SKIP

SEED = "id,g,i,sm,s,b\n1,1,,1,,true\n2,1,-3,2,x,false\n3,2,5,-4,abc,\n4,2,2147483647,7,y,true\n"
SEEDS = '[t]\ncolumns = { id = "integer", g = "integer", i = "integer", sm = "smallint", s = "varchar", b = "boolean" }\n'
# (column, expression) of features.v, read from the seed t: each published on both engines
COLUMNS = [
    ("f_one", "format('{}', i)"), ("f_two", "format('{} {}', s, i)"), ("f_bool", "format('<{}>', b)"),
    ("f_braces", "{% raw %}format('{{}}{}%', id){% endraw %}"), ("f_extra", "format('x', i)"), ("f_null", "format('{}', null)"),
    ("f_window", "format('{}', lag(s) over (order by id))"), ("f_none", "format('a%b')"),
    ("w_sum", "sum(i) over (order by id)"), ("w_part", "sum(sm) over (partition by g)"),
    ("w_big", "sum(cast(i as bigint)) over ()"), ("w_filter", "sum(i) filter (where i > 0) over ()"),
    ("w_plus", "sum(i) over () + 1"),
    ("l_plus", "length(s) + 1"), ("l_neg", "-length(s) * 2"), ("l_abs", "abs(length(s) - 5)"),
    ("l_mod", "(length(s) + id) % 2"), ("l_arg", "substring(s, 2, length(s) * 2)"), ("l_cast", "cast(length(s) as int) + 1"),
]
GROUPED = [("total", "sum(i)"), ("small", "sum(sm)"), ("big", "sum(cast(i as bigint))")]
_PG_TYPE = {"VARCHAR": "text", "BOOLEAN": "boolean", "INTEGER": "integer", "BIGINT": "bigint", "HUGEINT": "numeric"}


def _project(root, pg_url: str, step: str | None = None) -> None:  # noqa: F811
    select = ",\n  ".join(f"{expression} as {name}" for name, expression in COLUMNS)
    grouped = ",\n  ".join(f"{expression} as {name}" for name, expression in GROUPED)
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": SEEDS,
        "features/v.sql": step or f"select id,\n  {select}\nfrom {{{{ ref('t') }}}}\n",
        "features/grouped.sql": f"select g as id,\n  {grouped}\nfrom {{{{ ref('t') }}}}\ngroup by g\n",
        # 300 rows, each NULL or not by a coin: DuckDB writes each 'false' or NULL
        "features/coin.sql": "select x as id, format('{}', nullif(random() < 0.5, true)) as f\nfrom range(300) as r(x)\n",
    }, "duckdb", "types7")


def _same(a, b) -> bool:
    if isinstance(a, int) and isinstance(b, str):  # a HUGEINT is a NUMERIC(38, 0) there, read as text
        return Decimal(b) == a and Decimal(b).as_tuple().exponent == 0
    return a == b and type(a) is type(b)


def _differences(want_types, want, got_types, got) -> list[str]:
    problems = [f"{name}: type {got_types.get(name)} on postgres, {kind} on duckdb"
                for name, kind in want_types.items() if got_types.get(name) != _PG_TYPE.get(kind, kind)]
    names = list(want_types)
    assert len(got) == len(want)
    for want_row, got_row in zip(want, got):
        for name, a, b in zip(names, want_row, got_row):
            if not _same(a, b):
                problems.append(f"{name} (id {want_row[0]}): postgres {b!r}, duckdb {a!r}")
    return problems


def _ordered_columns(url: str, step: str) -> dict:
    rows = pg_query(url, "select column_name, data_type from information_schema.columns "
                         f"where table_schema = 'features' and table_name = '{step}' order by ordinal_position")
    return dict(rows)


def test_formats_and_integer_sums_publish_duckdbs_values_and_types(tmp_path, pg_url, run_cli):  # noqa: F811
    import duckdb

    root = tmp_path / "project"
    _project(root, pg_url)
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as duck:  # in select-list order
        want_types = dict(duck.sql("select column_name, data_type from information_schema.columns "
                                   "where table_name = 'v' order by ordinal_position").fetchall())
        grouped_types = dict(duck.sql("select column_name, data_type from information_schema.columns "
                                      "where table_name = 'grouped' order by ordinal_position").fetchall())
        grouped = duck.sql("select * from features.grouped order by id").fetchall()
    problems = _differences(want_types, want, got_types, got)
    problems += _differences(grouped_types, grouped, _ordered_columns(pg_url, "grouped"),
                             pg_query(pg_url, "select * from features.grouped order by id"))
    assert not problems, "\n".join(problems)
    names = list(want_types)
    assert [row[names.index("f_two")] for row in want] == [None, "x -3", "abc 5", "y 2147483647"]
    assert [row[names.index("f_braces")] for row in want] == ["{}1%", "{}2%", "{}3%", "{}4%"]
    assert [row[names.index("w_sum")] for row in want][-1] == 2147483649  # past INTEGER's
    wide = pg_query(pg_url, "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = 'features.v'::regclass "
                            "and attname in ('w_sum', 'w_part', 'w_big', 'w_filter') order by attname")
    assert [row[0] for row in wide] == ["numeric(38,0)"] * 4  # as toolkit publishes a HUGEINT


def test_a_volatile_format_value_is_read_once(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    _project(root, pg_url)
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    values = {row[0] for row in pg_query(pg_url, "select f from features.coin")}
    assert values == {None, "false"}, values  # never '' (tested non-NULL, then written of a NULL)


# -- Spark: // of a DECIMAL(p, 0) -------------------------------------------------------------

SPARK_CONFIG = """\
name = "types7_spark"
dialect = "duckdb"
target = "duck"

[targets.duck]
engine = "duckdb"
path = "warehouse/w.duckdb"

[targets.spark]
engine = "spark"
master = "local[2]"
warehouse = "{warehouse}"
state = "{state}"
"""
# a declared DECIMAL(10, 0), one a step publishes (DECIMAL(38, 0), as a HUGEINT is published
# there) and an integer sum (a HUGEINT: DuckDB divides it as integers)
QUOTIENTS = {"seed_half": "d // 2", "seed_neg": "d // -4", "cast_half": "wide // 2", "sum_half": "total // 2",
             "both": "d // cast(2 as decimal(3, 0))"}


@pytest.fixture(scope="module")
def spark_project(tmp_path_factory):
    from _projects import write_files
    from spark_support import shared_warehouse

    root = tmp_path_factory.mktemp("types7_spark")
    columns = ",\n".join(f"  {expression} as {name}" for name, expression in QUOTIENTS.items())
    write_files(root, {
        "toolkit.toml": SPARK_CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": '[t7_d]\ncolumns = { id = "integer", d = "decimal(10, 0)", n = "bigint" }\n',
        "warehouse/seeds/t7_d.csv": "id,d,n\n1,7,5\n2,-7,-3\n3,10,1\n",
        "features/t7_wide.sql": "select id, d, cast(d * 3 as decimal(38, 0)) as wide,\n"
                                "  sum(n) over (order by id) as total\nfrom {{ ref('t7_d') }}\n",
        "features/t7_quotients.sql": f"select id,\n{columns}\nfrom {{{{ ref('t7_wide') }}}}\n",
    })
    return root


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SPARK_SKIP), reason=SPARK_SKIP or "")
def test_a_quotient_of_a_whole_decimal_is_duckdbs_double_division_on_spark(spark_project):
    """DuckDB divides a DECIMAL(p, 0) by // as doubles (7 // 2 = 3.5); Spark's DIV truncated it
    (3). An integer sum (a HUGEINT, DECIMAL(38, 0) there) stays an integer division."""
    from test_spark_values_more import differences_on_spark

    wrong_types, wrong = differences_on_spark(spark_project, "t7_quotients", QUOTIENTS)
    assert not wrong, f"values (id, column, spark, duckdb): {wrong}"
    # a HUGEINT's // is Spark's DIV there, a BIGINT (tests/test_spark_integers.py)
    assert wrong_types == {"sum_half": ("int64", "decimal128(38, 0)")}, wrong_types
