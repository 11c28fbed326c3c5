"""DuckDB meanings Spark had otherwise (toolkit/sparkmeanings.py, toolkit/sparkvalues.py):

- timestamptz +/- an interval with hours (minutes, seconds) that is computed (interval (n)
  hour, to_hours(n), n * interval 1 hour) or has several units (interval '1 day 2 hours',
  interval 26 hour with days): DuckDB adds the months and days to the wall time and the
  hours as an exact duration (the duration first when a part is negative); Spark moved the
  session zone's wall time for all of them (12:00 +01 plus 24 hours across the
  spring-forward night was 12:00 +02 there, 13:00 +02 in DuckDB).
- median(DISTINCT x) and quantile_cont(DISTINCT x, q) of times and decimals interpolate
  among the distinct values (Spark's SQL was CAST(DISTINCT x ...), which does not parse).
  Of doubles, with NaN and -0.0 among them, and quantile_disc(DISTINCT x), Spark already
  published DuckDB's values: kept in the same step.
- an hour amount that is a fraction (x * interval 1 hour of a double: DuckDB carries it
  into minutes) is refused for spark at its line.

Each step is built on DuckDB and on the process's shared embedded Spark
(tests/spark_support.py); published values and Arrow types are compared.
"""

from __future__ import annotations

import math

import pytest

from _projects import write_files
from spark_support import SKIP_REASON, run_here, shared_warehouse
from test_spark_values_more import differences_on_spark
from test_spark_values_truth import CONFIG, _list_types_aside

SEEDS = """\
[sparktz_t]
columns = { id = "integer", g = "varchar", ts = "timestamp", n = "integer", x = "double", k = "integer" }
"""
ROWS = """\
id,g,ts,n,x,k
1,a,2024-03-30 12:00:00,24,0.0,1
2,a,2024-03-30 12:00:00,-24,-0.0,1
3,a,2024-10-26 12:00:00,26,1.5,2
4,b,2024-03-31 01:30:00,1,-0.0,3
5,b,2024-10-27 01:30:00,-2,0.0,3
6,b,2024-03-29 23:00:00,49,2.5,
7,c,2024-10-26 23:30:00,0,,5
8,c,,3,7.25,5
9,d,,,,1
10,d,,,,2
11,d,,,1.0,2
12,d,,,-0.0,7
13,d,,,0.0,
14,e,,,-0.0,
15,e,,,,
"""
ROW_CASES = {
    "computed_hours": "cast(ts as timestamptz) + interval (n) hour",
    "to_hours": "cast(ts as timestamptz) + to_hours(n)",
    "minus_to_minutes": "cast(ts as timestamptz) - to_minutes(n * 60)",
    "times_hour": "cast(ts as timestamptz) + n * interval 1 hour",
    "hour_times": "cast(ts as timestamptz) - interval 1 hour * n",
    "day_and_hours": "cast(ts as timestamptz) + interval '1 day 2 hours'",
    "minus_day_and_hours": "cast(ts as timestamptz) - interval '1 day 2 hours'",
    "negative_day": "cast(ts as timestamptz) + interval '-1 day 25 hours'",
    "month_day_hours": "cast(ts as timestamptz) + interval '1 month 1 day 25 hours'",
    "sum_of_units": "cast(ts as timestamptz) + (interval 1 day + interval 26 hour)",
    "computed_days_hours": "cast(ts as timestamptz) + (interval (n) day + interval 26 hour)",
    "date_add_computed": "date_add(cast(ts as timestamptz), interval (n) hour)",
    "interval_first": "to_hours(n) + cast(ts as timestamptz)",
}
GROUP_CASES = {
    "median_distinct_decimal": "median(distinct cast(k / 4 as decimal(10, 2)))",
    "cont_distinct_decimal": "quantile_cont(distinct cast(k / 4 as decimal(10, 2)), 0.75)",
    "median_distinct_ts": "median(distinct ts)",
    "cont_distinct_dates": "quantile_cont(distinct cast(ts as date), [0.25, 0.5])",
    "median_distinct_tz": "median(distinct cast(ts as timestamptz))",
    # already DuckDB's on Spark (kept here, in the same step): NaN and -0.0 among distinct values
    "disc_distinct_nan": "quantile_disc(distinct x, [0.2, 0.5, 0.99])",
    "median_distinct_nan": "median(distinct x)",
    "cont_distinct_nan": "quantile_cont(distinct x, [0.25, 0.75])",
    "cont_cast_list": "quantile_cont(k, cast([0.1, 0.9] as double[]))",
}


def _select(cases: dict, first: str, tail: str = "", source: str = "sparktz_t") -> str:
    columns = ",\n".join(f"  {expression} as {name}" for name, expression in cases.items())
    return f"select {first} as id,\n{columns}\nfrom {{{{ ref('{source}') }}}}\n{tail}"


# x with NaN where the seed has none (a seed's NaN is read as NULL)
NAN_STEP = "select id, g, k, ts, coalesce(x, cast('NaN' as double)) as x\nfrom {{ ref('sparktz_t') }}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("sparktz")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/sparktz_t.csv": ROWS,
        "features/sparktz_rows.sql": _select(ROW_CASES, "id"),
        "features/sparktz_nan.sql": NAN_STEP,
        "features/sparktz_groups.sql": _select(GROUP_CASES, "min(id)", "group by g\n", "sparktz_nan"),
    })
    return root


def _nan_as_text(value):
    """NaN as 'nan' (NaN != NaN), in lists too: a NaN published on both engines is the same value."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return [_nan_as_text(item) for item in value] if isinstance(value, list) else value


def _check(project, step: str, cases: dict) -> None:
    wrong_types, wrong = differences_on_spark(project, step, cases)
    wrong_types = _list_types_aside(wrong_types)
    wrong = [(row, name, a, b) for row, name, a, b in wrong if _nan_as_text(a) != _nan_as_text(b)]
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_computed_and_mixed_intervals_on_a_timestamptz_match_duckdb_on_spark(project):
    _check(project, "sparktz_rows", ROW_CASES)


@pytest.mark.slow
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_interpolated_quantiles_of_distinct_times_and_decimals_match_duckdb_on_spark(project):
    """median(DISTINCT ts), quantile_cont(DISTINCT dec, q): DuckDB's time or decimal among the
    distinct values (the Spark SQL was CAST(DISTINCT ...), failing to parse)."""
    _check(project, "sparktz_groups", GROUP_CASES)


def test_a_fractional_amount_of_hours_on_a_timestamptz_is_refused_for_spark_at_its_line(tmp_path):
    """x * interval 1 hour of a double x: DuckDB carries 1.5 hours into minutes, a whole amount
    is taken here: exit 2 at its line, saying what to write."""
    write_files(tmp_path, {
        "toolkit.toml": CONFIG.format(warehouse=tmp_path / "spark", state=tmp_path / "state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/sparktz_t.csv": ROWS,
        "features/sparktz_fraction.sql": "select id,\n  n,\n  cast(ts as timestamptz) + x * interval 1 hour as later\n"
                                         "from {{ ref('sparktz_t') }}\n",
    })
    code, out = run_here(tmp_path, "compile", "--dialect", "spark", "sparktz_fraction")
    assert code == 2, out
    assert "sparktz_fraction.sql:3" in out and "to_hours(n)" in out, out
