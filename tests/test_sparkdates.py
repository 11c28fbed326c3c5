"""DuckDB meanings Spark had otherwise (toolkit/sparkmeanings.py, toolkit/sparkvalues.py):

- date_add(d, INTERVAL ...) of a DATE is a TIMESTAMP in DuckDB, for months, days and hours
  alike (as d + INTERVAL ... is); Spark's DATE_ADD kept a DATE.
- quantile_disc(DISTINCT x, q) ranks among the distinct values; quantile_disc(x, CAST([...]
  AS DOUBLE[])) is a list of quantiles, as with a written list.
- regr_count is a UINTEGER in DuckDB, published as a BIGINT on Spark (no unsigned types
  there): toolkit's rule for DuckDB's unsigned results on Spark is the next wider signed type.
  A cast to an unsigned integer is one too (Spark refused USMALLINT, UINT, UBIGINT), failing
  where DuckDB's cast fails (below 0).
- timestamptz + interval 24 hour is an exact duration in DuckDB (across a spring-forward
  night, 13:00 +02 from 12:00 +01); Spark moved the session zone's wall time (12:00 +02).

Each step is built on DuckDB and on the process's shared embedded Spark
(tests/spark_support.py); published values and Arrow types are compared.
"""

from __future__ import annotations

import pytest

from _projects import write_files
from spark_support import SKIP_REASON, run_here, shared_warehouse
from test_spark_values_more import differences_on_spark
from test_spark_values_truth import CONFIG, _list_types_aside

SEEDS = """\
[spd_t]
columns = { id = "integer", g = "varchar", d = "date", ts = "timestamp", k = "integer", x = "double" }
"""
ROWS = """\
id,g,d,ts,k,x
1,a,2024-01-31,2024-01-31 10:00:00,1,1.5
2,a,2024-02-29,2024-03-31 23:30:00,-2,1.5
3,a,2023-12-31,2024-06-15 00:00:00.5,13,2.5
4,b,2024-05-31,2024-05-31 12:00:00,,
5,b,2024-03-30,2024-03-30 02:30:00,4,7.25
6,b,,,4,7.25
7,c,2024-10-27,2024-10-27 02:30:00,4,-1.0
8,c,2024-03-30,2024-03-30 12:00:00,4,3.0
"""
ROW_CASES = {
    "add_month": "date_add(d, interval 1 month)",
    "add_days": "date_add(d, interval 3 day)",
    "add_hours": "date_add(d, interval 5 hour)",
    "add_quoted": "date_add(d, interval '1 month')",
    "add_computed": "date_add(d, interval (k) month)",
    "add_cast_date": "date_add(cast(ts as date), interval 1 month)",
    "add_date_literal": "date_add(date '2024-01-31', interval 1 month)",
    "add_timestamp": "date_add(ts, interval 1 month)",
    "plus_month": "d + interval '1 month'",
    "plus_hours": "d + interval 5 hour",
    "minus_days": "d - interval 2 day",
    "interval_first": "interval 1 day + d",
    "tz_hours": "cast(ts as timestamptz) + interval 24 hour",
    "tz_add_hours": "date_add(cast(ts as timestamptz), interval 24 hour)",
    "tz_add_days": "date_add(cast(ts as timestamptz), interval 1 day)",
    "tz_minus_minutes": "cast(ts as timestamptz) - interval '1500 minutes'",
    "u_int": "cast(k * k as uinteger)",
    "u_small": "cast(abs(x) as usmallint)",
    "u_big": "cast(abs(x) * 1e10 as ubigint)",
    "u_tiny": "cast(abs(k) as utinyint)",
}
GROUP_CASES = {
    "disc_distinct": "quantile_disc(distinct x, 0.5)",
    "disc_distinct_low": "quantile_disc(distinct k, 0.25)",
    "disc_distinct_list": "quantile_disc(distinct k, [0.1, 0.5, 0.9])",
    "quantile_distinct": "quantile(distinct x, 0.75)",
    "disc_cast_list": "quantile_disc(x, cast([0.1, 0.5] as double[]))",
    "disc_colon_list": "quantile_disc(k, [0.25, 0.75]::double[])",
    "pairs": "regr_count(x, k)",
}
WINDOW_CASES = {
    "w_disc_distinct": "quantile_disc(distinct x, 0.5) over (partition by g)",
    "w_disc_cast_list": "quantile_disc(k, cast([0.1, 0.9] as double[])) over (partition by g)",
    "w_pairs": "regr_count(x, k) over (partition by g)",
}


def _select(cases: dict, first: str, tail: str = "") -> str:
    columns = ",\n".join(f"  {expression} as {name}" for name, expression in cases.items())
    return f"select {first} as id,\n{columns}\nfrom {{{{ ref('spd_t') }}}}\n{tail}"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("sparkdates")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/spd_t.csv": ROWS,
        "features/spd_rows.sql": _select(ROW_CASES, "id"),
        "features/spd_groups.sql": _select(GROUP_CASES, "min(id)", "group by g\n"),
        "features/spd_window.sql": _select(WINDOW_CASES, "id"),
        "features/spd_unsigned_fails.sql": "select id, cast(k as uinteger) as u\nfrom {{ ref('spd_t') }}\n",
    })
    return root


# DuckDB's unsigned results, published on Spark as the next wider signed type: {column: (spark, duckdb)}
WIDENED = {"pairs": ("int64", "uint32"), "w_pairs": ("int64", "uint32"), "u_int": ("int64", "uint32"),
           "u_small": ("int32", "uint16"), "u_big": ("decimal128(20, 0)", "uint64"), "u_tiny": ("int16", "uint8")}


def _check(project, step: str, cases: dict) -> None:
    wrong_types, wrong = differences_on_spark(project, step, cases)
    wrong_types = _list_types_aside(wrong_types)
    for name in WIDENED.keys() & cases.keys():
        assert wrong_types.pop(name, None) == WIDENED[name], name
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_a_date_plus_an_interval_is_duckdbs_timestamp_on_spark(project):
    _check(project, "spd_rows", ROW_CASES)


@pytest.mark.slow
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_distinct_and_cast_list_quantiles_and_regr_count_match_duckdb_on_spark(project):
    _check(project, "spd_groups", GROUP_CASES)


@pytest.mark.slow
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_the_same_over_a_window_match_duckdb_on_spark(project):
    _check(project, "spd_window", WINDOW_CASES)


def test_fractions_cast_from_text_are_refused_for_spark_at_their_line(tmp_path):
    """quantile_disc(x, cast('[0.1, 0.5]' as double[])): a list DuckDB reads from text, which
    the Spark translation cannot take apart: exit 2 at its line, saying to write a list."""
    write_files(tmp_path, {
        "toolkit.toml": CONFIG.format(warehouse=tmp_path / "spark", state=tmp_path / "state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/spd_t.csv": ROWS,
        "features/spd_text_q.sql": "select g,\n  min(x) as low,\n  quantile_disc(x, cast('[0.1, 0.5]' as double[])) as q\n"
                                   "from {{ ref('spd_t') }}\ngroup by g\n",
    })
    code, out = run_here(tmp_path, "compile", "--dialect", "spark", "spd_text_q")
    assert code == 2, out
    assert "spd_text_q.sql:3" in out and "quantile_disc(x, [0.1, 0.5])" in out, out


@pytest.mark.slow
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_a_negative_cast_to_an_unsigned_integer_fails_on_spark_as_in_duckdb(project):
    """cast(-2 as uinteger) fails in DuckDB; a BIGINT on Spark would publish -2."""
    for target in ("duck", "spark"):
        code, out = run_here(project, "run", "--target", target, "--select", "+spd_unsigned_fails")
        assert code == 1 and "failed   spd_unsigned_fails" in out, out
    assert "out of range for uinteger" in out, out
