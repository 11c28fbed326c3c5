"""A DuckDB-dialect step publishes DuckDB's values on Spark (toolkit/sparkvalues.py's table):
ordered list/array_agg/string_agg (Spark's COLLECT_LIST dropped the ORDER BY and NULL
elements), casts of negative decimal literals to integers (-2.5 is -3), left/right with a
negative count, substring from 0 or with a negative length, extract of seconds (whole
seconds), d1 - d2 of dates (days, not an interval), the text of to_timestamp(n) (with its
offset), extract(doy), quantile_cont / quantile_disc as aggregates.

The steps run on DuckDB and on the process's shared embedded Spark (tests/spark_support.py);
their published values and Arrow types are compared.
"""

from __future__ import annotations

import re

import pytest

from _projects import write_files
from spark_support import SKIP_REASON, run_here, shared_warehouse
from test_spark_values_more import differences_on_spark

CONFIG = """\
name = "spark_values_truth"
dialect = "duckdb"
target = "duck"
time_zone = "Europe/Berlin"

[targets.duck]
engine = "duckdb"
path = "warehouse/w.duckdb"

[targets.spark]
engine = "spark"
master = "local[2]"
warehouse = "{warehouse}"
state = "{state}"
"""
SEEDS = """\
[svt_t]
columns = { id = "integer", g = "varchar", name = "varchar", d = "date", ts = "timestamp", x = "double", n = "integer", k = "integer", v = "integer" }
"""
ROWS = """\
id,g,name,d,ts,x,n,k,v
1,a,alice,2024-03-01,2024-03-01 06:15:30.123456,-2.5,-2,3,10
2,a,bob,2024-01-05,2024-01-05 00:00:10,2.5,2,,20
3,a,carol,2024-02-10,2024-02-10 12:00:00,0.5,-10,1,
4,b,dave,2024-12-31,2024-12-31 23:59:59.5,-0.5,0,2,40
5,b,,2023-12-31,2023-12-31 00:00:00,3.5,,5,50
"""
ROW_CASES = {
    "neg_lit_int": "cast(-2.5 as integer)",
    "neg_half": "cast(-0.5 as bigint)",
    "neg_paren": "cast(-(1.5) as smallint)",
    "dec_int": "cast(cast(x as decimal(4, 1)) as integer)",
    "left_neg": "left(name, -2)",
    "right_neg": "right(name, -2)",
    "left_col": "left(name, n)",
    "right_col": "right(name, n)",
    "sub_zero": "substring(name, 0, 3)",
    "sub_back": "substring(name, 3, -2)",
    "sub_from_end": "substring(name, -3, 2)",
    "sub_col_start": "substring(name, n, 3)",
    "sub_col_length": "substring(name, 2, n)",
    "sec": "extract(second from ts)",
    "ms": "extract(millisecond from ts)",
    "us": "extract(microsecond from ts)",
    "part_sec": "date_part('second', ts)",
    "doy": "extract(doy from d)",
    "days": "d - date '2024-01-01'",
    "days_back": "date '2024-01-01' - d",
    "days_cols": "d - cast(ts as date)",
    "tts_text": "cast(to_timestamp(1719820800) as varchar)",
    "tts_fraction": "to_timestamp(1719820800.5)",
    "window_list": "list(v order by k) over (partition by g)",
    "window_filtered": "list(v order by k) filter (where id > 1) over (partition by g)",
}
GROUP_CASES = {
    "nulls_last": "list(v order by k)",
    "descending": "array_agg(v order by k desc)",
    "nulls_first": "list(v order by k nulls first)",
    "two_keys": "list(name order by d desc, id)",
    "none_left": "list(v order by k) filter (where id > 10)",
    "some_left": "list(v order by k) filter (where id > 1)",
    "joined": "string_agg(name, '-' order by k desc)",
    "q_cont": "quantile_cont(x, 0.25)",
    "q_disc": "quantile_disc(id, 0.5)",
    "q_disc_x": "quantile_disc(x, 0.4)",
}


def _select(cases: dict, tail: str = "") -> str:
    columns = ",\n".join(f"  {expression} as {name}" for name, expression in cases.items())
    return f"select {'min(id)' if tail else 'id'} as id,\n{columns}\nfrom {{{{ ref('svt_t') }}}}\n{tail}"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_values_truth")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/svt_t.csv": ROWS,
        "features/svt_rows.sql": _select(ROW_CASES),
        "features/svt_groups.sql": _select(GROUP_CASES, "group by g\n"),
    })
    return root


def _list_types_aside(wrong_types: dict) -> dict:
    """Arrow names a list's item 'element' (Spark) or otherwise (DuckDB: 'item', 'l'): the same type."""
    def item(kind: str) -> str:
        return re.sub(r"^list<\w+: ", "list<", kind)
    return {name: kinds for name, kinds in wrong_types.items() if item(kinds[0]) != item(kinds[1])}


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
@pytest.mark.parametrize("step, cases", [("svt_rows", ROW_CASES), ("svt_groups", GROUP_CASES)])
def test_a_step_publishes_duckdbs_values_on_spark(project, step, cases):
    wrong_types, wrong = differences_on_spark(project, step, cases)
    wrong_types = _list_types_aside(wrong_types)
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"


def test_an_ordered_distinct_list_is_refused_for_spark_at_its_line(tmp_path):
    """Spark has no ordered COLLECT_SET: list(DISTINCT v ORDER BY v) is exit 2 at its line."""
    write_files(tmp_path, {
        "toolkit.toml": CONFIG.format(warehouse=tmp_path / "spark", state=tmp_path / "state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/svt_t.csv": ROWS,
        "features/svt_distinct.sql": "select g,\n  list(distinct v order by v) as vs\nfrom {{ ref('svt_t') }}\ngroup by g\n",
    })
    code, out = run_here(tmp_path, "compile", "--dialect", "spark", "svt_distinct")
    assert code == 2, out
    assert "svt_distinct.sql:2" in out and "distinct" in out.lower() and "Traceback" not in out, out
