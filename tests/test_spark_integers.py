"""Integer arithmetic of a DuckDB-dialect step publishes DuckDB's values and types on Spark,
or fails the step there as it fails in DuckDB (toolkit/sparkmeanings.py's table):

- `a // b` of INTEGERs is an INTEGER in DuckDB, so (-2^31) // -1 overflows and fails; Spark's
  DIV is a BIGINT and published 2147483648 with exit 0 (SMALLINTs alike: 32768).
- sum() of integers is a HUGEINT in DuckDB, exact past 2^63 (a running total too); Spark's
  SUM of a BIGINT failed there, and of an INT was a BIGINT. HUGEINT itself (INT128 as sqlglot
  writes it) is no Spark type.
- `//` of a double or decimal is the double division in DuckDB 2 (5.5 // 2 = 2.75); Spark's DIV
  truncated a decimal (2) and refused a double.
- toolkit's sessions run in ANSI mode, where an overflow fails as in DuckDB: a target whose conf
  turns it off is refused (exit 2), and a session where it was turned off is turned back.

Each step runs on DuckDB and on the process's shared embedded Spark (tests/spark_support.py).
"""

from __future__ import annotations

import pytest

from _projects import write_files
from spark_support import SKIP_REASON, run_here, shared_engine, shared_warehouse
from test_spark_values_more import differences_on_spark

CONFIG = """\
name = "spark_integers"
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
SEEDS = """\
[si_t]
columns = { id = "bigint", n = "bigint", i = "int", m = "int", s = "smallint", sm = "smallint", f = "double" }
"""
# id 4: each type's minimum and -1, whose quotient overflows
ROWS = """\
id,n,i,m,s,sm,f
1,9223372036854775807,2147483647,3,5,2,5.5
2,9223372036854775807,2147483647,-2,-7,2,-7.5
3,-5,1,1,1,1,1
4,-9223372036854775808,-2147483648,-1,-32768,-1,0.25
"""
QUOTIENTS = {
    "int_div": "i // m",
    "int_mod": "i % m",
    "small_div": "s // sm",
    "small_by_literal": "s // 2",
    "big_div": "n // m",
    "double_div": "f // 2",
    "decimal_div": "cast(f as decimal(10, 2)) // 2",
    "by_fraction": "i // 2.0",
}
SUMS = {
    "sum_big": "sum(n)",
    "sum_int": "sum(i)",
    "sum_small": "sum(s)",
    "sum_distinct": "sum(distinct n)",
    "sum_huge": "sum(cast(n as hugeint))",
    "sum_filtered": "sum(n) filter (where n > 0)",
}
RUNNING = {"running": "sum(n) over (order by id)", "huge": "cast(n as hugeint) * 4"}
OVERFLOWS = {
    "si_int_overflow": "select i // m as v from {{ ref('si_t') }} where id = 4\n",
    "si_small_overflow": "select s // sm as v from {{ ref('si_t') }} where id = 4\n",
    "si_literal_overflow": "select cast('-2147483648' as int) // -1 as v\n",
}


def _select(cases: dict, where: str = "id <> 4", group: bool = False) -> str:
    columns = ",\n".join(f"  {expression} as {name}" for name, expression in cases.items())
    return f"select {'1 as id' if group else 'id'},\n{columns}\nfrom {{{{ ref('si_t') }}}}\nwhere {where}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_integers")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/si_t.csv": ROWS,
        "features/si_quotients.sql": _select(QUOTIENTS),
        "features/si_sums.sql": _select(SUMS, group=True),
        "features/si_running.sql": _select(RUNNING, where="true"),
        **{f"features/{name}.sql": step for name, step in OVERFLOWS.items()},
        "features/si_total.sql": "select id % 2 as id, sum(n) as total from {{ ref('si_t') }} where id <> 4 group by 1\n",
        "features/si_halves.sql": "select id,\n  total // 2 as half,\n  total // -7 as seventh\nfrom {{ ref('si_total') }}\n",
    })
    return root


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
@pytest.mark.parametrize("step, cases", [("si_quotients", QUOTIENTS), ("si_sums", SUMS), ("si_running", RUNNING)])
def test_integer_arithmetic_publishes_duckdbs_values_and_types_on_spark(project, step, cases):
    wrong_types, wrong = differences_on_spark(project, step, cases)
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"


@pytest.mark.slow
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_a_quotient_of_an_integer_sum_read_back_is_an_integer_quotient_on_spark(project):
    """A sum of integers (a HUGEINT) is published as DECIMAL(38, 0) on Spark; read back from the
    catalog there, its // must stay an integer division (DuckDB's), not a decimal's double one.
    Its type stays Spark's DIV's, a BIGINT (DuckDB: a HUGEINT)."""
    wrong_types, wrong = differences_on_spark(project, "si_halves", {"half": "", "seventh": ""})
    assert not wrong, f"values (id, column, spark, duckdb): {wrong}"
    assert wrong_types == {"half": ("int64", "decimal128(38, 0)"), "seventh": ("int64", "decimal128(38, 0)")}, wrong_types


@pytest.mark.slow
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
@pytest.mark.parametrize("step", sorted(OVERFLOWS))
def test_an_integer_quotient_that_overflows_fails_on_spark_as_in_duckdb(project, step):
    for target in ("duck", "spark"):
        code, out = run_here(project, "run", "--target", target, "--select", f"+{step}")
        assert code == 1, (target, out)
        assert f"features/{step}.sql" in out and "overflow" in out.lower(), (target, out)


@pytest.mark.slow
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_a_session_out_of_ansi_mode_is_put_back_in_it(project):
    """A session whose ANSI mode is off (a Spark 3 cluster's default) wraps 2147483647 + 1 and
    publishes it; toolkit turns it on for each target it opens."""
    engine = shared_engine(exclusive=False)
    try:
        engine._spark.conf.set("spark.sql.ansi.enabled", "false")
    finally:
        engine.close()
    write_files(project, {"features/si_wraps.sql": "select i + 1 as v from {{ ref('si_t') }} where id = 1\n"})
    code, out = run_here(project, "run", "--target", "spark", "--select", "+si_wraps")
    assert code == 1, out
    assert "features/si_wraps.sql" in out and "overflow" in out.lower(), out


def test_a_spark_target_out_of_ansi_mode_is_refused(tmp_path):
    write_files(tmp_path, {
        "toolkit.toml": CONFIG.format(warehouse=tmp_path / "spark", state=tmp_path / "state.duckdb")
                        + '\n[targets.spark.conf]\n"spark.sql.ansi.enabled" = "false"\n',
        "features/one.sql": "select 1 as v\n",
    })
    code, out = run_here(tmp_path, "run", "--target", "spark")
    assert code == 2, out
    assert "spark.sql.ansi.enabled" in out and "ANSI" in out and "Traceback" not in out, out
    assert not (tmp_path / "spark").exists()  # refused before Spark started


def test_integer_quotients_and_sums_compile_for_spark(tmp_path):
    write_files(tmp_path, {
        "toolkit.toml": CONFIG.format(warehouse=tmp_path / "spark", state=tmp_path / "state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/si_t.csv": ROWS,
        "features/q.sql": "select i // m as a, s // 2 as b, n // m as c, f // 2 as d,\n"
                          "  sum(i) over () as e, sum(cast(n as hugeint)) over () as g\nfrom {{ ref('si_t') }}\n",
    })
    code, out = run_here(tmp_path, "compile", "--dialect", "spark", "q")
    assert code == 0, out
    flat = " ".join(out.split())
    for written in ("CAST(`si_t`.`i` DIV `si_t`.`m` AS INT)", "CAST(`si_t`.`s` DIV 2 AS SMALLINT)",
                    "CAST(`si_t`.`f` AS DOUBLE) / CAST(2 AS DOUBLE)", "SUM(CAST(`si_t`.`i` AS DECIMAL(38, 0)))",
                    "SUM(CAST(`si_t`.`n` AS DECIMAL(38, 0)))"):
        assert written in flat, (written, out)
    assert "INT128" not in flat and "CAST(`si_t`.`n` DIV" not in flat, out
