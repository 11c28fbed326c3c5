"""A DuckDB-dialect step publishes DuckDB's values and column types on Spark, or is refused
at compile (exit 2, file:line): the silent differences of toolkit/sparkmeanings.py's
second table (a wall time in a fall-back hour made an instant, a timestamptz's text,
date +/- interval, concat of a double) and the folder a failed step left in Spark's
warehouse.

One step holding every expression runs on DuckDB and on the process's shared embedded
Spark (tests/spark_support.py); its published values and Arrow types are compared.
"""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pytest
import sqlglot

from _projects import write_files
from spark_support import SKIP_REASON, run_here, shared_warehouse

CONFIG = """\
name = "spark_values"
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
[sv_t]
columns = { id = "bigint", d = "date", ts = "timestamp", ny = "timestamp", tz = "timestamptz", old = "timestamp", s = "varchar", f = "double" }
"""
# ts: Berlin's fall-back hour (twice: +02 then +01; DuckDB takes +01), its edges, its
# spring-forward gap; ny: New York's fall-back and spring-forward hours; old: before year 1000
ROWS = """\
id,d,ts,ny,tz,old,s,f
1,2024-01-31,2024-10-27 02:30:00,2024-11-03 01:30:00,2024-01-01 09:00:00+00,0999-03-04 01:02:03.000456,a,2.5
2,2024-02-29,2024-10-27 02:00:00,2024-03-10 02:30:00,2024-07-01 09:00:00.12345+00,0009-01-04 01:02:03.5,b,1e20
3,2024-10-27,2024-10-27 02:59:59.999999,2024-11-03 00:30:00,1900-07-01 09:00:00+00,2024-12-31 23:59:59,c,
4,2024-03-31,2024-03-31 02:30:00,2024-11-03 02:00:00,2024-10-27 00:30:00+00,2024-02-29 00:00:00,d,-0.5
"""
CASES = {
    "wall_as_instant": "cast(ts as timestamptz)",
    "wall_in_berlin": "ts at time zone 'Europe/Berlin'",
    "wall_in_ny": "ny at time zone 'America/New_York'",
    "wall_as_text": "cast(cast(ts as timestamptz) as varchar)",
    "day_as_instant": "cast(d as timestamptz)",
    "tz_text": "cast(tz as varchar)",
    "tz_concat": "concat(s, ' ', tz)",
    "next_month": "d + interval 1 month",
    "two_hours_before": "d - interval 2 hour",
    "tomorrow": "interval 1 day + d",
    "old_fmt": "strftime(old, '%Y-%m-%d %j %f %y')",
}
STEP = "select id,\n" + ",\n".join(f"  {expression} as {name}" for name, expression in CASES.items()) + "\nfrom {{ ref('sv_t') }}\n"
# fails on Spark while it writes (row 3's text is no integer): its folder must not stay behind
FAILING = "select id, cast(case when id = 3 then 'x' else '1' end as int) as v from {{ ref('sv_t') }}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_values")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/sv_t.csv": ROWS,
        "features/sv_values.sql": STEP,
        "features/sv_fails.sql": FAILING,
    })
    return root


def _in_utc(value):
    return value.astimezone(timezone.utc) if isinstance(value, datetime) and value.tzinfo is not None else value


def _kind(arrow_type: pa.DataType) -> str:
    """The Arrow type a reader sees, the zone's name aside (both are instants)."""
    if pa.types.is_timestamp(arrow_type):
        return f"timestamp[{arrow_type.unit}{', zoned' if arrow_type.tz else ''}]"
    return "string" if pa.types.is_large_string(arrow_type) else str(arrow_type)


def differences_on_spark(project, step: str, cases) -> tuple[dict, list]:
    """Build `step` on DuckDB and on Spark and compare the published tables column by column:
    ({column: (spark type, duckdb type)}, [(id, column, spark value, duckdb value)])."""
    from toolkit.config import load_config
    from toolkit.engines import connect

    for target in ("duck", "spark"):
        code, out = run_here(project, "run", "--target", target, "--select", f"+{step}")
        assert code == 0, out
    with duckdb.connect(str(project / "warehouse/w.duckdb"), read_only=True) as con:
        want = con.sql(f"select * from features.{step} order by id").to_arrow_table()
    engine = connect(load_config(project).target("spark"), project, exclusive=False)
    try:
        got = engine.fetch_arrow(sqlglot.parse_one(f"select * from features.{step} order by id", read="spark"))
    finally:
        engine.close()
    wrong_types = {name: (_kind(got.schema.field(name).type), _kind(want.schema.field(name).type))
                   for name in cases if _kind(got.schema.field(name).type) != _kind(want.schema.field(name).type)}
    wrong = [(row_id, name, a, b)
             for name in cases
             for row_id, a, b in zip(want.column("id").to_pylist(), got.column(name).to_pylist(), want.column(name).to_pylist())
             if _in_utc(a) != _in_utc(b)]
    return wrong_types, wrong


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_one_step_publishes_duckdbs_values_and_types_on_spark(project):
    wrong_types, wrong = differences_on_spark(project, "sv_values", CASES)
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"


@pytest.mark.slow
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_a_step_that_fails_on_spark_leaves_no_folder_in_the_warehouse(project):
    code, out = run_here(project, "run", "--target", "spark", "--select", "+sv_fails")
    assert code == 1, out
    physical = shared_warehouse() / "toolkit_physical.db"
    left = sorted(path.name for path in physical.glob("sv_fails*")) if physical.is_dir() else []
    assert not left, left


def test_concat_of_a_double_is_refused_for_spark_at_its_line(tmp_path):
    """Spark writes a double as Java does (1e20 is '1.0E20', 123456789.0 is '1.23456789E8'):
    concat of one, known from the seed's declared type, is exit 2 at its line; a decimal is not."""
    write_files(tmp_path, {
        "toolkit.toml": 'name = "sv"\ndialect = "duckdb"\ntarget = "duck"\ntime_zone = "Europe/Berlin"\n\n'
                        '[targets.duck]\nengine = "duckdb"\npath = "warehouse/w.duckdb"\n',
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/sv_t.csv": ROWS,
        "features/joined.sql": "select id,\n  cast(f as decimal(18, 2)) as fine,\n"
                               "  concat(s, '-', f) as label\nfrom {{ ref('sv_t') }}\n",
    })
    code, out = run_here(tmp_path, "compile", "--dialect", "spark", "joined")
    assert code == 2, out
    assert "joined.sql:3" in out and "double" in out and "decimal" in out, out


def test_compiled_for_spark_writes_a_timestamptz_with_its_offset_and_dates_as_timestamps(project):
    code, out = run_here(project, "compile", "--dialect", "spark", "sv_values")
    assert code == 0, out
    text = " ".join(out.split())
    assert "'xxxxx'" in text, text  # the offset of cast(tz as varchar) and concat(..., tz)
    assert "CAST(`sv_t`.`d` AS TIMESTAMP) + INTERVAL '1' MONTH" in text, text
    assert "CURRENT_TIMEZONE()" in text, text  # the wall time's instant in the session zone, DuckDB's in an overlap
