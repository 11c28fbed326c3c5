"""A DuckDB-dialect step publishes DuckDB's values and types on Spark (toolkit/sparkvalues.py):
corr and regr_slope are NaN over one pair or a constant side (NULL on Spark); median and
quantile_cont of dates, timestamps and timestamptz interpolate (Spark's PERCENTILE takes no
times), of a DECIMAL(p, s) are one (a DOUBLE on Spark; p > 18 refused); a / 0 is inf, -inf or NaN and a % 0 of doubles or REALs NaN (ANSI Spark raises).

The steps run on DuckDB and on the process's shared embedded Spark (tests/spark_support.py);
their published values and Arrow types are compared (NaN equal to NaN).
"""

from __future__ import annotations

import math

import pytest

from _projects import write_files
from spark_support import SKIP_REASON, run_here, shared_warehouse
from test_spark_values_more import differences_on_spark
from test_spark_values_truth import CONFIG, _list_types_aside

SEEDS = """\
[sv3_t]
columns = { id = "integer", g = "varchar", x = "double", y = "double", r = "real", z = "integer", d = "date", ts = "timestamp", tz = "timestamptz", m = "decimal(10, 2)" }
"""
# a: one pair; b: x constant; c: ordinary; d: no pair, no times. ts, tz: a microsecond apart
# (the median is half a microsecond: rounded up), before 1970 too
ROWS = """\
id,g,x,y,r,z,d,ts,tz,m
1,a,1.0,2.0,1.5,0,2024-01-01,2024-01-01 00:00:00,2024-01-01 00:00:00+00,1.25
2,b,1.0,3.0,-2.5,0,2024-01-02,1960-01-01 00:00:00,1960-01-01 00:00:00+00,-3.00
3,b,1.0,5.0,0.0,0,2024-01-05,1960-01-01 00:00:00.000001,1960-01-01 00:00:00.000001+00,-2.99
4,c,-2.0,1.0,2.5,2,2024-03-01,2024-03-31 01:59:59.999999,2024-03-31 01:59:59.999999+00,3.75
5,c,0.0,4.0,0.25,0,2023-12-31,2024-01-01 00:00:00.000001,2024-01-01 00:00:00.000001+00,2.50
6,c,3.0,-1.0,-0.75,4,2020-02-29,2024-10-27 02:30:00,2024-10-27 02:30:00+01,0.01
7,d,,,,,,,,
"""
ROW_CASES = {
    "by_zero": "x / z",
    "int_by_zero": "id / z",
    "real_by_zero": "r / z",
    "real_by_literal_zero": "r / 0",
    "double_by_literal_zero": "x / 0",
    "decimal_by_zero": "m / z",
    "sum_by_zero": "(x + 1) / (z - z)",
    "nonzero_quotient": "x / (z + 1)",
    "double_mod_zero": "x % z",
    "real_mod_zero": "r % z",
    "real_mod_literal_zero": "r % 0",
    "corr_window": "corr(x, y) over (partition by g)",
}
GROUP_CASES = {
    "co": "corr(x, y)",
    "co_turned": "corr(y, x)",
    "slope": "regr_slope(y, x)",
    "slope_turned": "regr_slope(x, y)",
    "intercept": "regr_intercept(y, x)",
    "r2": "regr_r2(y, x)",
    "covariance": "covar_samp(x, y)",
    "co_filtered": "corr(x, y) filter (where id > 1)",
    "mid_day": "median(d)",
    "mid_ts": "median(ts)",
    "mid_tz": "median(tz)",
    "quarter_ts": "quantile_cont(ts, 0.25)",
    "days": "quantile_cont(d, [0.25, 0.5, 0.9])",
    "mid_money": "median(m)",
    "third_money": "quantile_cont(m, 0.3)",
    "money_list": "quantile_cont(m, [0.3, 0.7])",
    "mid_cast": "median(cast(y as decimal(6, 1)))",
}
# the moments' last bit: each engine sums them in its own order (the same formula)
_MOMENTS = {"corr_window", "co", "co_turned", "slope", "slope_turned", "r2", "covariance", "co_filtered"}


def _select(cases: dict, tail: str = "") -> str:
    columns = ",\n".join(f"  {expression} as {name}" for name, expression in cases.items())
    return f"select {'min(id)' if tail else 'id'} as id,\n{columns}\nfrom {{{{ ref('sv3_t') }}}}\n{tail}"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_values_truth_3")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/sv3_t.csv": ROWS,
        "features/sv3_rows.sql": _select(ROW_CASES),
        "features/sv3_groups.sql": _select(GROUP_CASES, "group by g\n"),
        "features/sv3_window_median.sql": "select id,\n  g,\n  median(ts) over (partition by g) as mid\nfrom {{ ref('sv3_t') }}\n",
        "features/sv3_wide_median.sql": "select g,\n  median(cast(m as decimal(30, 2))) as mid\nfrom {{ ref('sv3_t') }}\ngroup by g\n",
    })
    return root


def _same(column, spark, duckdb) -> bool:
    """NaN is NaN; a moment within its last bits."""
    if not (isinstance(spark, float) and isinstance(duckdb, float)):
        return False
    return math.isnan(spark) and math.isnan(duckdb) or column in _MOMENTS and math.isclose(spark, duckdb, rel_tol=1e-12)


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
@pytest.mark.parametrize("step, cases", [("sv3_rows", ROW_CASES), ("sv3_groups", GROUP_CASES)])
def test_a_step_publishes_duckdbs_values_on_spark(project, step, cases):
    wrong_types, wrong = differences_on_spark(project, step, cases)
    wrong_types = _list_types_aside(wrong_types)
    wrong = [row for row in wrong if not _same(*row[1:])]
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"


def test_a_median_of_times_over_a_window_is_refused_for_spark_at_its_line(project):
    code, out = run_here(project, "compile", "--dialect", "spark", "sv3_window_median")
    assert code == 2, out
    assert "sv3_window_median.sql:3" in out and "median" in out and "Traceback" not in out, out


def test_a_median_of_a_decimal_past_18_digits_is_refused_for_spark_at_its_line(project):
    code, out = run_here(project, "compile", "--dialect", "spark", "sv3_wide_median")
    assert code == 2, out
    assert "sv3_wide_median.sql:2" in out and "decimal(30, 2)" in out.lower() and "Traceback" not in out, out
