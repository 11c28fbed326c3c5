"""DuckDB's `INTERVAL (expr) unit` on Spark (toolkit/intervals.py): Spark's parser reads
`INTERVAL (k) MONTH` as a call of a function named INTERVAL and refuses a written fraction
('1.5' MONTH), so both failed at build. They are make_interval(...) there, with DuckDB's
meaning: the amount cut toward zero for whole units, a fraction kept for seconds.

The step runs on DuckDB and on the process's shared embedded Spark (tests/spark_support.py);
published values and types are compared. date_add(d, interval ...) of a DATE (a TIMESTAMP in
DuckDB, as `d + interval ...`): tests/test_sparkdates.py.
"""

from __future__ import annotations

import pytest

from _projects import write_files
from spark_support import SKIP_REASON, shared_warehouse
from test_spark_values_more import differences_on_spark
from test_spark_values_truth import CONFIG

SEEDS = """\
[spiv_t]
columns = { id = "integer", d = "date", ts = "timestamp", k = "integer", f = "double" }
"""
ROWS = """\
id,d,ts,k,f
1,2024-01-31,2024-01-31 10:00:00,1,1.5
2,2024-02-29,2024-03-31 23:30:00,-2,-2.7
3,2023-12-31,2024-06-15 00:00:00.5,13,0.25
4,2024-05-31,2024-05-31 12:00:00,,
"""
CASES = {
    "months_later": "d + interval (k) month",
    "days_before": "d - interval (k * 2) day",
    "quarters_later": "date_add(ts, interval (k + 1) quarter)",
    "hours_later": "ts + interval (k) hour",
    "fraction_months": "ts + interval (f) month",
    "fraction_seconds": "ts + interval (f) second",
    "written_fraction": "ts + interval (1.5) month",
    "written_quoted": "d + interval '2.5' day",
    "years_later": "ts + interval (k) year",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_intervals")
    columns = ",\n".join(f"  {expression} as {name}" for name, expression in CASES.items())
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/spiv_t.csv": ROWS,
        "features/spiv_intervals.sql": f"select id,\n{columns}\nfrom {{{{ ref('spiv_t') }}}}\n",
    })
    return root


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_intervals_of_a_computed_amount_publish_duckdbs_values_on_spark(project):
    wrong_types, wrong = differences_on_spark(project, "spiv_intervals", CASES)
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"
