"""DuckDB's discrete quantiles publish DuckDB's exact values and x's own type on Spark
(toolkit/sparkvalues._discrete): quantile_disc(x, q), quantile(x, q) (the same function in
DuckDB), percentile_disc(q) WITHIN GROUP (ORDER BY x [DESC]), a list of fractions, FILTER,
and OVER (PARTITION BY ... [ORDER BY ...]).

x is an INTEGER, a BIGINT, a DECIMAL, a DOUBLE, a DATE, a TIMESTAMP or a VARCHAR; q is 0,
0.07, 0.25, 0.5, 0.75 and 1 (0.07 over 100 values: DuckDB's rank is not a plain
ceil(n * q) in doubles); groups of 100 values (plus NULLs, ignored), of a few values with
ties, of one row, and of NULLs only (NULL). Two steps (a GROUP BY and a window), each built
once on DuckDB and once on the process's shared embedded Spark (tests/spark_support.py);
their published values and Arrow types are compared.
"""

from __future__ import annotations

import datetime

import pytest
import sqlglot

from _projects import write_files
from spark_support import SKIP_REASON, shared_warehouse
from test_spark_values_more import differences_on_spark
from test_spark_values_truth import CONFIG, _list_types_aside

from toolkit import meanings

SEEDS = """\
[qd_t]
columns = { id = "integer", g = "varchar", i = "integer", b = "bigint", d = "decimal(10, 2)", x = "double", dt = "date", ts = "timestamp", s = "varchar" }
"""
TYPED = ("i", "b", "d", "x", "dt", "ts", "s")
FRACTIONS = ("0", "0.07", "0.25", "0.5", "0.75", "1")


def _row(number: int, group: str, rank: int | None) -> str:
    """A row whose typed columns all order by `rank` (NULL for None)."""
    if rank is None:
        return f"{number},{group},,,,,,,\n"
    day = datetime.date(2020, 1, 1) + datetime.timedelta(days=rank * 3)
    values = [rank * 7 - 300, rank * 10_000_000_000 + 1, f"{rank * 1.25 - 40:.2f}", rank * 0.5 - 10.25,
              day.isoformat(), f"{day.isoformat()} 10:{rank % 60:02d}:30.25", f"s{rank:04d}"]
    return f"{number},{group}," + ",".join(map(str, values)) + "\n"


def _rows() -> str:
    rows = ["id,g,i,b,d,x,dt,ts,s\n"]
    # 100 values shuffled, and 3 NULLs (n = 100 for DuckDB's rank)
    ranks = [[number * 37 % 100 for number in range(100)] + [None] * 3,
             [5, 1, None, 5, 3, 1, 9],  # ties
             [42],  # one row
             [None, None]]  # NULLs only: NULL
    for group, group_ranks in zip("abcd", ranks):
        rows += [_row(len(rows), group, rank) for rank in group_ranks]
    return "".join(rows)


GROUP_CASES = {f"q_{column}_{fraction.replace('.', '')}": f"quantile_disc({column}, {fraction})"
               for column in TYPED for fraction in FRACTIONS}
GROUP_CASES |= {f"list_{column}": f"quantile_disc({column}, [{', '.join(FRACTIONS)}])" for column in TYPED}
GROUP_CASES |= {
    "double_q": "quantile_disc(i, 0.07::double)",
    "double_q_list": "quantile_disc(x, [0.07::double, 0.3::double])",
    "quantile_alias": "quantile(d, 0.25)",
    "within": "percentile_disc(0.25) within group (order by ts)",
    "within_desc": "percentile_disc(0.07) within group (order by i desc)",
    "filtered": "quantile_disc(b, 0.5) filter (where i > -250)",
}
WINDOW_CASES = {f"w_{column}_{fraction.replace('.', '')}": f"quantile_disc({column}, {fraction}) over (partition by g)"
                for column in TYPED for fraction in ("0.07", "0.5")}
WINDOW_CASES |= {
    "w_running": "quantile_disc(i, 0.25) over (partition by g order by id)",
    "w_list": "quantile_disc(dt, [0.25, 0.75]) over (partition by g)",
    "w_within": "percentile_disc(0.75) within group (order by s) over (partition by g)",
}


def _select(cases: dict, first: str, tail: str = "") -> str:
    columns = ",\n".join(f"  {expression} as {name}" for name, expression in cases.items())
    return f"select {first} as id,\n{columns}\nfrom {{{{ ref('qd_t') }}}}\n{tail}"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_quantile_disc")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/qd_t.csv": _rows(),
        "features/qd_groups.sql": _select(GROUP_CASES, "min(id)", "group by g\n"),
        "features/qd_window.sql": _select(WINDOW_CASES, "id"),
    })
    return root


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
@pytest.mark.parametrize("step, cases", [("qd_groups", GROUP_CASES), ("qd_window", WINDOW_CASES)])
def test_discrete_quantiles_publish_duckdbs_values_and_types_on_spark(project, step, cases):
    wrong_types, wrong = differences_on_spark(project, step, cases)
    wrong_types = _list_types_aside(wrong_types)
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"


def test_the_cases_are_not_all_null_on_duckdb(tmp_path):
    """The groups reach every kind of answer: a value, a list, and NULL (the all-NULL group)."""
    import duckdb

    with duckdb.connect() as con:
        (tmp_path / "t.csv").write_text(_rows())
        con.sql(f"create table qd_t as select * from read_csv('{tmp_path / 't.csv'}', header = true, "
                "types = {'d': 'decimal(10, 2)', 'b': 'bigint', 'dt': 'date', 'ts': 'timestamp'})")
        sql = _select(GROUP_CASES, "min(id)", "group by g order by g\n").replace("{{ ref('qd_t') }}", "qd_t")
        rows = con.sql(sql).fetchall()
    assert [row[1:] for row in rows[:3]] and all(value is not None for row in rows[:3] for value in row[1:])
    assert all(value is None for value in rows[3][1:])
    assert rows[0][1 + list(GROUP_CASES).index("q_i_007")] == 6 * 7 - 300  # rank 7 of 0..99 is 6 (not 8)


@pytest.mark.parametrize("sql", [
    "select quantile_disc(x, 0.25) from t",
    "select quantile(x, [0.1, 0.9]) from t",
    "select percentile_disc(0.5) within group (order by x) from t",
    "select quantile_disc(x, 0.5) over (partition by g) from t",
])
def test_a_discrete_quantile_is_not_approximate_on_spark(sql):
    """The Spark SQL, read back as toolkit reads it, has no PERCENTILE_APPROX nor PERCENTILE_DISC."""
    written = meanings.repair(sqlglot.parse_one(sql, read="duckdb"), "spark", "duckdb").sql("spark")
    again = sqlglot.parse_one(written, read="spark").sql("spark")
    assert "PERCENTILE" not in again.upper() and "ARRAY_SORT(COLLECT_LIST(X" in again.upper().replace("`", ""), again
