"""More DuckDB meanings kept on PostgreSQL and Spark, or refused at the user's line
(toolkit/meanings.py): regular expressions over text with newlines, quantiles over a
window, epoch_ms, SIMILAR TO ... ESCAPE, regexp_replace's replacement, decimal division.

Each expression runs on DuckDB (the reference) and, through the engine's own generate(),
on the process's shared embedded Spark and on PostgreSQL when TOOLKIT_TEST_POSTGRES_URL is
set (tests/meanings_support.py's fixtures, over this module's SCHEMA, ROWS and TYPES).
"""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from meanings_support import assert_refused_at_line, duck, postgres, query, reference, same, spark  # noqa: F401 (duck, postgres, spark are fixtures)
from postgres_support import pg_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow  # starts (or shares) the embedded Spark

SCHEMA = f"meanings_more_{os.getpid()}"  # one per test process: xdist workers share the PostgreSQL server

ROWS = {  # k = 6 is NULL but for s
    "k": [1, 2, 3, 4, 5, 6],
    "s": ["a\nc", "abc", "a.x", "abc\n", "x\ny\n", "a\rc"],
    "t": [datetime(2024, 1, 1, 0, 0, 1, 500500), datetime(2024, 1, 1, 0, 0, 1, 500400),
          datetime(1969, 12, 31, 23, 59, 58, 499500), datetime(1969, 12, 31, 23, 59, 58, 500600),
          datetime(2024, 2, 29, 12), None],
    "dec": [Decimal("1.0"), Decimal("2.5"), Decimal("-7.3"), Decimal("0.7"), Decimal("123.4"), None],
    "den": [Decimal("3.0"), Decimal("0.7"), Decimal("1.1"), Decimal("-3.0"), Decimal("9.9"), None],
}
TYPES = {"k": pa.int64(), "s": pa.string(), "t": pa.timestamp("us"), "dec": pa.decimal128(4, 1),
         "den": pa.decimal128(4, 1)}

# '.' matches a newline on PostgreSQL, not on DuckDB (RE2): spelled [^\n] there; on Spark (Java) $
# also matches before a final newline (\z there), '.' stops at \r too, and the 'i' option was dropped
NEWLINES = [
    "regexp_matches(s, 'c$')", "regexp_matches(s, 'A.C', 'i')", "regexp_matches(s, 'A.C', 'ic')",
    "regexp_matches(s, 'A.C')", "regexp_matches(s, 'a.c', 'c')", "regexp_replace(s, '.$', '#', 'g')",
    "regexp_matches(s, 'a.c')", "s ~ 'a.c'", "regexp_matches(s, 'a.c', 'i')", "s similar to 'a.*'",
    "s similar to 'x.y.'", "s similar to ('a' || '.c')", "s similar to case when k > 2 then 'a.*' else 'x.*' end",
    "regexp_replace(s, 'b.', '-', 'g')", "regexp_replace(s, '.$', '<\\0>', 'g')", "regexp_matches(s, 'a[.]x')",
    "regexp_matches(s, 'a\\.x')", "regexp_matches(s, 'a[^b]c')", "regexp_matches(s, '[[:alpha:]].[a-c]')",
]
# RE2's inline flags at the start of a pattern: (?s) keeps '.' on newlines (it was still spelled [^\n]);
# (?m) makes ^ and $ match at each \n only (Java's (?m) also at \r and not after a final \n, and $ was
# written \z; PostgreSQL's (?m) also keeps [^a] off newlines); (?i) is Unicode case on Spark
FLAGS = [
    "regexp_matches(s, '(?s)a.c')", "regexp_matches(s, '(?s)c.$')", "regexp_replace(s, '(?s).', '-', 'g')",
    "regexp_matches(s, '(?is)A.C')", "regexp_matches(s, '(?s)a.c', 'i')", "regexp_matches(s, '(?s-s)a.c')",
    "regexp_matches(s, '(?i)(?s)A.C')", "s similar to '(?s)a.c'", "s similar to '(?i)A.*'", "s similar to '(?m)x$\\ny$\\n'",
    "regexp_matches(s, '(?m)^y')", "regexp_matches(s, '(?m)c$')", "regexp_matches(s, '(?m)c[^a]')",
    "regexp_replace(s, '(?m)^', '>', 'g')", "regexp_replace(s, '(?m)$', '<', 'g')", "regexp_replace(s, '(?ms)^.', '#', 'g')",
    "regexp_matches(s, '(?i)A.C')", "regexp_matches(s, '[(?s)]')", "regexp_matches(s, '(?-i)A.C', 'i')",
    "regexp_matches(s, '(?i-i)A.C')",
]
# DuckDB's epoch_ms(timestamp): milliseconds rounded half away from zero (Spark wrote TIMESTAMP_MILLIS(ts),
# PostgreSQL TO_TIMESTAMP(CAST(ts AS DOUBLE PRECISION) ...)); epoch_ms(bigint): a TIMESTAMP, not PostgreSQL's TIMESTAMPTZ
EPOCHS = ["epoch_ms(cast(t as timestamp))", "epoch_ms(t::timestamp) - epoch_ms(timestamp '2024-01-01')",
          "epoch_ms(1704067201500)", "epoch_ms(cast(k as bigint) * 1000)"]
# DuckDB divides decimals as doubles; Spark as decimals with its own scale
DIVISIONS = ["dec / den", "dec / 3", "dec / 7.0", "1.0 / den", "(dec * 2) / (den + 0.3)", "cast(dec as double) / den"]


def _query(expression: str) -> exp.Expression:
    return query(SCHEMA, expression)


def _reference(duck, expression: str) -> list[tuple]:
    return reference(duck, SCHEMA, expression)


@pytest.mark.parametrize("expression", NEWLINES + FLAGS + EPOCHS + DIVISIONS)
def test_postgres_means_what_duckdb_means(expression, duck, postgres):
    want = _reference(duck, expression)
    got = postgres.fetch_rows(_query(expression))
    assert same(got, want), f"{expression}: postgres {got} != duckdb {want}\n{postgres.generate(_query(expression))}"


@pytest.mark.parametrize("expression", NEWLINES + FLAGS + EPOCHS + DIVISIONS)
def test_spark_means_what_duckdb_means(expression, duck, spark):
    want = _reference(duck, expression)
    got = spark.fetch_rows(_query(expression))
    assert same(got, want), f"{expression}: spark {got} != duckdb {want}\n{spark.generate(_query(expression))}"


def test_the_newline_values_do_tell_the_meanings_apart(duck):
    """The table holds values on which PostgreSQL's own '.' answers otherwise."""
    assert [row[1] for row in _reference(duck, "regexp_matches(s, 'a.c')")] == [False, True, False, True, False, True]


REFUSED = [  # (expression, targets, words of the message)
    ("quantile_cont(dec, 0.5) over (partition by k > 2)", ["postgres"], "quantile_cont(...) OVER cannot run on postgres"),
    ("quantile_disc(dec, 0.5) over ()", ["postgres"], "quantile_disc(...) OVER"),
    ("median(dec) over ()", ["postgres"], "median(...) OVER"),
    ("epoch_ms(t)", ["postgres", "spark"], "epoch_ms(cast(t as timestamp)) for the milliseconds"),
    ("s similar to 'a#.c' escape '#'", ["postgres", "spark"], "SIMILAR TO ... ESCAPE cannot run"),
    ("regexp_replace(s, 'b', s, 'g')", ["postgres", "spark"], "not a string literal (s)"),
    ("regexp_replace(s, 'b', upper(s) || '\\1', 'g')", ["postgres", "spark"], "write the replacement as a literal"),
    ("regexp_matches(s, s)", ["postgres", "spark"], "regexp_matches with the pattern s, which is not a string literal"),
    ("regexp_matches(s, 'a', 's')", ["spark"], "option 's' cannot run on spark"),
    ("s similar to lower(s)", ["postgres"], "similar to with the pattern LOWER(s)"),
    # ungreedy has no flag there (Java's (?U) means Unicode classes); flags inside the pattern
    ("regexp_matches(s, '(?U)a+')", ["postgres", "spark"], "(?U) (ungreedy) has no equivalent"),
    ("regexp_replace(s, '(?iU)a+', '-', 'g')", ["postgres", "spark"], "(?U) (ungreedy) has no equivalent"),
    ("regexp_matches(s, 'a(?s).c')", ["postgres", "spark"], "only as (?flags) at the start of the pattern, not as (?s)"),
    ("regexp_matches(s, '(?s:a.)c')", ["postgres", "spark"], "not as (?s:...)"),
    ("s similar to 'x(?i)Y'", ["postgres", "spark"], "similar to with the pattern 'x(?i)Y' cannot run"),
    ("regexp_matches(s, '(?x)a c')", ["postgres", "spark"], "(?x) is not a DuckDB (RE2) flag"),
]


@pytest.mark.parametrize(("expression", "targets", "message"), REFUSED)
def test_refused_at_compile_at_the_line(expression, targets, message):
    assert_refused_at_line(SCHEMA, expression, targets, message)


def test_duckdb_itself_refuses_similar_to_escape(duck):
    """Refused for every target: the step could not run on DuckDB either."""
    with pytest.raises(duckdb.Error, match="ESCAPE"):
        _reference(duck, "s similar to 'a#.c' escape '#'")



def test_a_quantile_over_a_window_is_exit_2_naming_file_and_line_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    """`toolkit run` on PostgreSQL stops before building anything, at the step's line (it
    failed with the server's error when built, after the steps before it had run)."""
    from postgres_support import pg_query

    pg_query(pg_url, "create schema raw")
    pg_query(pg_url, "create table raw.points as select g::bigint as id, (g % 7)::float as x from generate_series(1, 20) g")
    root = tmp_path / "project"
    files = {
        "toolkit.toml": f'name = "pg"\ndialect = "duckdb"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n',
        "warehouse/sources.toml": '[raw]\n[raw.tables.points]\ncolumns = { id = "bigint", x = "double" }\n',
        "features/points.sql": "select id, x from {{ source('raw', 'points') }}\n",
        "features/spread.sql": "select id,\n       x,\n       quantile_cont(x, 0.5) over () as middle\n"
                               "from {{ ref('points') }}\n",
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    code, out, err = run_cli("run", cwd=root)
    assert code == 2, out + err
    assert "spread.sql:3" in out + err and "quantile_cont(...) OVER cannot run on postgres" in out + err, out + err
    assert "Traceback" not in out + err
    assert not pg_query(pg_url, "select 1 from information_schema.tables where table_schema = 'features'")
