"""DuckDB-dialect steps publish DuckDB's values on Spark where the translation depends on an
operand's type (toolkit/sparkmeanings.py): AT TIME ZONE, epoch of a timestamptz, strftime
and date_trunc of a wall time, dayname/monthname, avg of a decimal, concat of a number,
ceil/floor of a double. Each was a silent wrong answer on Spark (exit 0) or a failure at
run time.

The translated SQL is checked through `toolkit compile --dialect spark` (types inferred
from the seeds, as compile and the portability check see them) and sql.to_target (types
the SQL states itself, or unknown); one test runs a step covering them on DuckDB and on
the process's embedded Spark and compares the published values.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from decimal import Decimal

import duckdb
import pytest
import sqlglot

from _projects import write_files
from spark_support import SKIP_REASON, run_here, shared_warehouse
from toolkit import sql

CONFIG = """\
name = "portable_more"
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
[pm_t]
columns = { id = "bigint", d = "date", amt = "decimal(10,2)", ts = "timestamp", tz = "timestamptz", f = "double", s = "varchar", x = "integer" }
"""
# row 1's ts is in Berlin's spring-forward gap; row 2's is not in the fall-back hour (02:00-03:00
# on 2024-10-27: tests/test_spark_values_more.py)
ROWS = """\
id,d,amt,ts,tz,f,s,x
1,2024-01-31,10.00,2024-03-31 02:30:00,2024-01-15 12:00:00+00,2.5,a,7
2,2024-02-29,0.01,2024-10-27 01:30:00.123456,2024-07-15 12:00:00+00,1e20,b,
3,2024-05-31,0.01,2024-07-01 15:00:00,2024-07-15 23:30:00+00,-2.5,c,3
"""
# one step, every case: column -> expression
CASES = {
    "utc_text": "cast(cast(ts as timestamptz) at time zone 'UTC' as varchar)",
    "tz_utc": "tz at time zone 'UTC'",
    "tz_ny": "tz at time zone 'America/New_York'",
    "ts_utc_epoch": "epoch(ts at time zone 'UTC')",
    "ep_tz": "epoch(tz)",
    "ep_ts": "epoch(ts)",
    "ep_ms_tz": "epoch_ms(cast(tz as timestamptz))",
    "fmt": "strftime(ts, '%Y-%m-%d %H:%M:%S.%f %I%p %j %a %A %b %B %%')",
    "fmt_tz": "strftime(tz, '%Y-%m-%d %H:%M')",
    "tr_month": "date_trunc('month', ts)",
    "tr_hour": "date_trunc('hour', ts)",
    "tr_minute": "date_trunc('minute', ts)",
    "tr_day_of_date": "date_trunc('month', d)",
    "dn": "dayname(d)",
    "mn": "monthname(d)",
    "a": "avg(amt) over ()",
    "c": "concat(s, '-', x)",
    "ce": "ceil(f)",
    "fl": "floor(f)",
}
STEP = "select id,\n" + ",\n".join(f"  {expression} as {name}" for name, expression in CASES.items()) + "\nfrom {{ ref('pm_t') }}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("portable_more")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/pm_t.csv": ROWS,
        "features/pm_step.sql": STEP,
    })
    return root


@pytest.fixture(scope="module")
def compiled_spark(project) -> str:
    code, out = run_here(project, "compile", "--dialect", "spark", "pm_step")
    assert code == 0, out
    # as one line, columns unqualified; sqlglot's pretty printer spells TIMESTAMPADD DATE_ADD
    text = re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", " ".join(out.split())))
    return text.replace("`pm_t`.", "").replace("DATE_ADD(", "TIMESTAMPADD(")


@pytest.mark.parametrize("wanted", [
    # timestamptz AT TIME ZONE: the instant's wall time in the zone, through its exact UTC wall time
    # (the cast to timestamptz: the wall time's instant in the session zone, DuckDB's in a fall-back hour)
    "CONVERT_TIMEZONE('UTC', 'UTC', TIMESTAMPADD(MICROSECOND, UNIX_MICROS(TIMESTAMP_MICROS(IF(CONVERT_TIMEZONE('UTC', CURRENT_TIMEZONE()",
    "CONVERT_TIMEZONE('UTC', 'America/New_York', TIMESTAMPADD(MICROSECOND, UNIX_MICROS(`tz`)",
    # a wall time AT TIME ZONE: the instant of that wall time in the zone
    "TIMESTAMP_MICROS(UNIX_MICROS(CONVERT_TIMEZONE('UTC', 'UTC', CAST(`ts` AS TIMESTAMP))))",
    # epoch of an instant: its own microseconds, not those of the session zone's wall time
    "UNIX_MICROS(CAST(`tz` AS TIMESTAMP_LTZ)) AS DOUBLE) / 1000000.0 AS `ep_tz`",
    "UNIX_MICROS(CAST(`ts` AS TIMESTAMP)) AS DOUBLE) / 1000000.0 AS `ep_ts`",
    "ROUND(UNIX_MICROS(CAST(CAST(`tz` AS TIMESTAMP_LTZ) AS TIMESTAMP_LTZ))",
    # strftime from fields, never through DATE_FORMAT of the wall time
    "CONCAT(LPAD(CAST(YEAR(`ts`) AS STRING), 4, '0'), '-', LPAD(CAST(MONTH(`ts`) AS STRING), 2, '0')",
    "DATE_FORMAT(CAST(`ts` AS DATE), 'EEEE')",
    # date_trunc of a wall time (or a date) stays a wall time
    "CAST(TRUNC(CAST(`ts` AS DATE), 'MONTH') AS TIMESTAMP) AS `tr_month`",
    "TIMESTAMPADD(HOUR, HOUR(`ts`), CAST(CAST(`ts` AS DATE) AS TIMESTAMP)) AS `tr_hour`",
    "CAST(TRUNC(CAST(`d` AS DATE), 'MONTH') AS TIMESTAMP) AS `tr_day_of_date`",
    "DATE_FORMAT(CAST(`d` AS DATE), 'EEEE') AS `dn`",
    "DATE_FORMAT(CAST(`d` AS DATE), 'MMMM') AS `mn`",
    "CAST(SUM(`amt`) OVER () AS DOUBLE) / NULLIF(COUNT(`amt`) OVER (), 0)",
    "COALESCE(CAST(`x` AS STRING), '')",
    "IF(ABS(`f`) < 4503599627370496.0, CAST(CEIL(`f`) AS DOUBLE), `f`) AS `ce`",
    "IF(ABS(`f`) < 4503599627370496.0, CAST(FLOOR(`f`) AS DOUBLE), `f`) AS `fl`",
])
def test_compiled_for_spark_keeps_duckdb_meaning(compiled_spark, wanted):
    assert wanted in compiled_spark, compiled_spark


@pytest.mark.parametrize("wrong", [
    "FROM_UTC_TIMESTAMP", "UNIX_MICROS(CAST(`tz` AS TIMESTAMP))", "DATE_FORMAT(`ts`", "DATE_TRUNC('MONTH', `ts`)",
    "DAYNAME(", "MONTHNAME(", "AVG(`amt`)", "COALESCE(`x`, '')",
])
def test_compiled_for_spark_drops_the_wrong_translation(compiled_spark, wrong):
    assert wrong not in compiled_spark, compiled_spark


def _spark(expression: str) -> str:
    """The Spark SQL of `select <expression> from t`, no column type known."""
    return sql.to_target(sqlglot.parse_one(f"select {expression} from t", read="duckdb"), "duckdb", "spark")


def test_types_the_sql_states_decide_without_a_catalog():
    assert "UNIX_MICROS(CAST(CAST(`u` AS TIMESTAMP_LTZ) AS TIMESTAMP_LTZ))" in _spark("epoch(cast(u as timestamptz))")
    assert "CONVERT_TIMEZONE('UTC', 'UTC'" in _spark("cast(u as timestamptz) at time zone 'UTC'")
    assert "CAST(TRUNC(CAST(CAST(`u` AS TIMESTAMP_NTZ) AS DATE), 'MONTH') AS TIMESTAMP)" in _spark("date_trunc('month', cast(u as timestamp))")
    assert "IF(ABS(CAST(`u` AS DOUBLE))" in _spark("ceil(cast(u as double))")
    assert "CONVERT_TIMEZONE('UTC', 'UTC'" in _spark("current_timestamp at time zone 'UTC'")


def test_unknown_types_keep_what_is_right_for_the_other_kinds():
    """A column whose type nobody knows: the translation right for timestamptz, doubles,
    decimals, integers (the zoneless cases are only rewritten when known)."""
    assert _spark("epoch(u)") == "SELECT CAST(UNIX_MICROS(CAST(`u` AS TIMESTAMP)) AS DOUBLE) / 1000000.0 FROM `t`"
    assert _spark("date_trunc('month', u)") == "SELECT DATE_TRUNC('MONTH', `u`) FROM `t`"
    assert _spark("ceil(u)") == "SELECT CEIL(`u`) FROM `t`"
    assert _spark("avg(u)") == "SELECT AVG(`u`) FROM `t`"
    # right for any operand type: fields, names of a date, text operands
    assert "DATE_FORMAT" not in _spark("strftime(u, '%Y-%m-%d %H')")
    assert _spark("dayname(u)") == "SELECT DATE_FORMAT(CAST(`u` AS DATE), 'EEEE') FROM `t`"
    assert _spark("concat(u, 1)") == "SELECT CONCAT(COALESCE(CAST(`u` AS STRING), ''), COALESCE(CAST(1 AS STRING), '')) FROM `t`"


def test_strftime_code_without_a_field_keeps_date_format():
    assert "DATE_FORMAT(`u`" in _spark("strftime(u, '%Y week %W')")


def _rows(table) -> dict:
    return {row["id"]: row for row in table.to_pylist()}


def _same(a, b) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return False
        return a == b
    if isinstance(a, (float, Decimal)) and isinstance(b, (float, Decimal)):
        return type(a) is type(b) and (math.isnan(a) and math.isnan(b) or a == b)
    return a == b


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_one_step_publishes_duckdbs_values_on_spark(project):
    from toolkit.config import load_config
    from toolkit.engines import connect

    code, out = run_here(project, "run", "--target", "duck")
    assert code == 0, out
    code, out = run_here(project, "run", "--target", "spark")
    assert code == 0, out
    with duckdb.connect(str(project / "warehouse/w.duckdb"), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        want = _rows(con.execute("select * from features.pm_step").to_arrow_table())
    engine = connect(load_config(project).target("spark"), project, exclusive=False)
    try:
        got = _rows(engine.fetch_arrow(sqlglot.parse_one("select * from features.pm_step", read="spark")))
    finally:
        engine.close()
    assert set(got) == set(want) == {1, 2, 3}
    wrong = []
    for key in want:
        for column in ["id", *CASES]:
            a, b = got[key][column], want[key][column]
            if isinstance(a, datetime) and a.tzinfo is not None:
                a = a.astimezone(timezone.utc)
            if isinstance(b, datetime) and b.tzinfo is not None:
                b = b.astimezone(timezone.utc)
            if not _same(a, b):
                wrong.append((key, column, a, b))
    assert not wrong, wrong


def test_typing_again_for_the_engine_forgets_compiles_tags():
    """Compile types a step's text casts too; the engine types its integer casts and calls
    again on the same nodes (catalog types): a tag left on a text cast shared a number with
    another node, which made both unknown (AT TIME ZONE kept sqlglot's zoned result)."""
    from toolkit import meanings

    tree = sqlglot.parse_one("select cast(tz at time zone 'UTC' as varchar) as a, tz at time zone 'UTC' as b from raw.t",
                             read="duckdb")
    meanings.cast_types(tree, {"raw": {"t": {"tz": "timestamptz"}}}, "duckdb")
    types = meanings.cast_types(tree, {"raw": {"t": {"tz": "timestamp"}}}, "spark", texts=False)
    text = sql.repair_for(tree, "spark", "duckdb", types).sql("spark")
    assert "FROM_UTC_TIMESTAMP" not in text and text.count("CONVERT_TIMEZONE('UTC', 'UTC'") == 2, text
