"""A DuckDB-dialect expression means on Spark and PostgreSQL what it means on DuckDB, or
is refused at compile (exit 2, file:line): see toolkit/meanings.py.

Each expression is evaluated over one small table with edge values (halves, negatives,
NULLs, month ends, Sundays, timestamps across midnight) on DuckDB (the reference), on
the process's shared embedded Spark and, when TOOLKIT_TEST_POSTGRES_URL is set, on
PostgreSQL, through each engine's own generate() (the path a step's SQL takes when it
runs, catalog types included): tests/meanings_support.py's fixtures.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from meanings_support import duck, postgres, query, reference, same, spark  # noqa: F401 (duck, postgres, spark are fixtures)
from spark_support import run_here, shared_warehouse
from toolkit import meanings, portability, sql

pytestmark = pytest.mark.slow  # starts (or shares) the embedded Spark

SCHEMA = f"meanings_{os.getpid()}"  # one per test process: xdist workers share the PostgreSQL server

ROWS = {  # k = 6 is all NULL
    "k": [1, 2, 3, 4, 5, 6],
    "x": [2.5, -2.5, 3.7, -3.5, 0.5, None],
    "dec": [Decimal("2.5"), Decimal("-2.5"), Decimal("3.5"), Decimal("-0.5"), Decimal("0.4"), None],
    "i": [7, -7, 0, 1, 2, None],
    "d": [date(2024, 1, 7), date(2024, 1, 31), date(2024, 2, 29), date(2024, 1, 6), date(2024, 1, 8), None],
    "a": [datetime(2024, 1, 1, 23), datetime(2024, 1, 31, 10), datetime(2023, 12, 31, 23, 59, 59),
          datetime(2024, 1, 2, 1), datetime(2024, 1, 3), None],
    "b": [datetime(2024, 1, 2, 1), datetime(2024, 2, 1, 9), datetime(2024, 1, 1, 0, 0, 1),
          datetime(2024, 1, 1, 23), datetime(2024, 3, 10, 12, 30), None],
    "s": ["aaa", "abcab", "x$y", "ba", "", None],
}
TYPES = {"k": pa.int64(), "x": pa.float64(), "dec": pa.decimal128(4, 1), "i": pa.int64(), "d": pa.date32(),
         "a": pa.timestamp("us"), "b": pa.timestamp("us"), "s": pa.string()}

SAME = [
    # casts: DuckDB rounds doubles half to even, decimals half away from zero; Spark truncated
    "cast(x as int)", "cast(x as bigint)", "x::smallint", "cast(x * 3 as int)", "cast(dec as int)",
    "cast(2.5 as int)", "cast(i as int)", "cast(i > 0 as int)", "try_cast(x as integer)",
    # log(x) is log10 on DuckDB, ln on Spark; log(b, x) takes the base first everywhere
    "log(abs(x) + 1)", "log(2, abs(x) + 1)", "cast(log(i * i + 1) * 100 as int)",
    # day of week: DuckDB Sunday=0 (dow) and Monday=1..Sunday=7 (isodow); Spark Sunday=1
    "dayofweek(d)", "extract(dow from d)", "isodow(d)", "extract(isodow from d)", "dayofweek(a)",
    # date_diff counts boundaries crossed on DuckDB; Spark counted whole units elapsed
    "date_diff('day', a, b)", "datediff('day', a, b)", "date_diff('hour', a, b)", "date_diff('minute', a, b)",
    "date_diff('second', a, b)", "date_diff('month', a, b)", "date_diff('month', d, date '2024-03-01')",
    "date_diff('year', a, b)", "date_diff('quarter', a, b)", "date_diff('day', d, date '2024-03-01')",
    "date_diff('week', d, date '2024-03-01')", "date_diff('week', a, b)", "date_diff('week', b, a)",
    "date_diff('week', a, b + interval 6 day)",
    # regexp_replace with 'g' replaces every match; \1 is a group on DuckDB, $1 on Spark
    "regexp_replace(s, 'a', 'X', 'g')", r"regexp_replace(s, '(a)(b)', '\2\1', 'g')",
    "regexp_replace(s, 'y', '$1', 'g')", r"regexp_replace(s, '[$]', '\\', 'g')",
    # a double cast to text is refused for Spark (below); through a decimal it reads the same
    "cast(cast(x as decimal(18, 6)) as varchar)", "cast(i as varchar)",
    # failed at run time on Spark, or lost the fraction; SIMILAR TO is a full regex match on DuckDB
    "extract(epoch from a)", "epoch(a + interval 1500 millisecond)", "s similar to 'a.*'", "s not similar to '.b.*'",
    "s similar to ('.' || 'a.*')", "s similar to case when k > 2 then 'x.*' end", "quantile_cont(x, 0.5) over ()", "quantile_cont(i, 0.25) over (partition by i > 0)",
]
# refused at compile for PostgreSQL (portability._check_window_aggregates: it runs only plain aggregates over a window;
# try_cast: its CAST fails where DuckDB's gives NULL, tests/test_postgres_refusals.py)
NOT_ON_POSTGRES = {"quantile_cont(x, 0.5) over ()", "quantile_cont(i, 0.25) over (partition by i > 0)", "try_cast(x as integer)"}


def _query(expression: str) -> exp.Expression:
    return query(SCHEMA, expression)


def _reference(duck, expression: str) -> list[tuple]:
    return reference(duck, SCHEMA, expression)


def _same(got: list[tuple], want: list[tuple]) -> bool:
    return same(got, want, rel_tol=1e-12, abs_tol=1e-9)  # epochs: a half second is 3e-10 of one


@pytest.mark.parametrize("expression", SAME)
def test_spark_means_what_duckdb_means(expression, duck, spark):
    want = _reference(duck, expression)
    got = spark.fetch_rows(_query(expression))
    assert _same(got, want), f"{expression}: spark {got} != duckdb {want}\n{spark.generate(_query(expression))}"


@pytest.mark.parametrize("expression", [e for e in SAME if e not in NOT_ON_POSTGRES])
def test_postgres_means_what_duckdb_means(expression, duck, postgres):
    want = _reference(duck, expression)
    got = postgres.fetch_rows(_query(expression))
    assert _same(got, want), f"{expression}: postgres {got} != duckdb {want}\n{postgres.generate(_query(expression))}"


def test_integer_casts_are_not_rounded_needlessly(spark):
    """Only a fractional (or untyped) operand gets a round: integer and boolean casts stay plain."""
    text = spark.generate(_query("cast(i as int) + cast(i > 0 as int) + cast(x as int) + cast(dec as int)"))
    assert "CAST(`i` AS INT)" in text and "CAST(`i` > 0 AS INT)" in text, text
    assert "CAST(BROUND(`x`) AS INT)" in text and "CAST(ROUND(`dec`) AS INT)" in text, text


REFUSED = [
    ("regexp_replace(s, 'a', 'X')", "without the 'g' option replaces only the first match"),
    ("regexp_replace(s, 'a', 'X', 'i')", "without the 'g' option"),
    ("regexp_replace(s, 'A', 'X', 'gi')", "option 'gi' cannot run on spark"),
]


@pytest.mark.parametrize(("expression", "message"), REFUSED)
def test_refused_at_compile_for_spark_at_the_line(expression, message):
    text = f"select k,\n  {expression} as v\nfrom {SCHEMA}.m\n"
    tree = sqlglot.parse_one(text, read="duckdb")
    with pytest.raises(portability.Untranslatable) as caught:
        portability.check(tree, "duckdb", "spark", None, text)
    assert message in caught.value.message
    assert caught.value.line == 2


def test_a_double_cast_to_text_is_refused_for_spark_and_postgres_at_its_line():
    """Spark writes a double as Java does ('1.0E10'): refused where the compiler knows the
    operand is a double (here from the declared columns), with the decimal cast to write."""
    text = f"select k,\n  cast(i as varchar) as j,\n  x::varchar as v\nfrom {SCHEMA}.m\n"
    tree = sqlglot.parse_one(text, read="duckdb")
    types = meanings.cast_types(tree, {SCHEMA: {"m": {"k": "bigint", "i": "bigint", "x": "double"}}}, "duckdb")
    with pytest.raises(portability.Untranslatable) as caught:
        portability.check(tree, "duckdb", "spark", None, text, types)
    assert "cast it to a decimal first" in caught.value.message and caught.value.line == 3
    with pytest.raises(portability.Untranslatable) as caught:  # PostgreSQL writes 3.0 as '3'
        portability.check(tree, "duckdb", "postgres", None, text, types)
    assert "on postgres" in caught.value.message and caught.value.line == 3


def test_first_match_replace_still_runs_on_postgres():
    """PostgreSQL replaces the first match without 'g' as DuckDB does: it is not refused there."""
    tree = _query("regexp_replace(s, 'a', 'X')")
    assert "REGEXP_REPLACE(\"s\", 'a', 'X')" in sql.to_target(tree, "duckdb", "postgres")


def test_a_first_match_replace_is_exit_2_naming_file_and_line_on_spark(tmp_path, spark):
    from _projects import write_files

    root = tmp_path / "project"
    write_files(root, {
        "toolkit.toml": f'name = "meanings"\ndialect = "duckdb"\ntarget = "spark"\n\n[targets.spark]\n'
                        f'engine = "spark"\nmaster = "local[2]"\nwarehouse = "{shared_warehouse()}"\n'
                        f'state = "{tmp_path / "state.duckdb"}"\n',  # the shared default store holds another project's state
        "features/cleaned.sql": "{{ config(materialized=\"table\") }}\nselect k,\n"
                                f"       regexp_replace(s, 'a', 'X') as s\nfrom {SCHEMA}.m\n",
        "warehouse/sources.toml": f"[{SCHEMA}]\n[{SCHEMA}.tables.m]\ncolumns = {{ k = \"bigint\", s = \"varchar\" }}\n",
    })
    code, out = run_here(root, "run")
    assert code == 2, out
    assert "cleaned.sql:3" in out and "'g'" in out, out


def test_compile_rounds_only_fractional_casts_typed_from_declared_sources(tmp_path):
    """`toolkit compile --dialect spark` types casts from sources.toml like a run types them from
    Spark's catalog: a double is rounded before the cast, a bigint is not."""
    from _projects import write_files

    root = tmp_path / "project"
    write_files(root, {
        "toolkit.toml": 'name = "meanings"\ndialect = "duckdb"\ntarget = "dev"\n\n[targets.dev]\nengine = "duckdb"\n'
                        'path = "warehouse/dev.duckdb"\n',
        "warehouse/sources.toml": "[app]\n[app.tables.m]\ncolumns = { x = \"double\", i = \"bigint\" }\n",
        "features/casts.sql": "select cast(x as int) as a, cast(i as int) as b, cast(sum(i) as bigint) as c\n"
                              "from {{ source('app', 'm') }}\n",
    })
    code, out = run_here(root, "compile", "--dialect", "spark")
    assert code == 0, out
    assert "CAST(BROUND(`m`.`x`) AS INT)" in out and "CAST(`m`.`i` AS INT)" in out, out
    # no rounding of an integer sum; summed over DECIMAL(38, 0), DuckDB's HUGEINT (sparkmeanings.py)
    assert "CAST(SUM(CAST(`m`.`i` AS DECIMAL(38, 0))) AS BIGINT)" in out, out


def test_a_timestamptz_cast_stays_an_instant_on_spark(spark):
    """sqlglot writes DuckDB's timestamptz as TIMESTAMP, which toolkit's Spark sessions read as
    TIMESTAMP_NTZ (a wall time): the cast now names TIMESTAMP_LTZ, an instant like DuckDB's."""
    tree = sqlglot.parse_one(f"select cast(a as timestamptz) as t from {SCHEMA}.m", read="duckdb")
    # a wall time's instant is now made explicitly (DuckDB's in a fall-back hour: test_spark_values_more.py)
    assert "TIMESTAMP_MICROS(" in spark.generate(tree)
    column = spark.fetch_arrow(tree).schema.field("t").type
    assert pa.types.is_timestamp(column) and column.tz is not None, column
