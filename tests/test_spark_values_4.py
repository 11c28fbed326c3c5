"""`||` and timestamptz literals publish DuckDB's values on Spark, or are refused at compile
(exit 2, file:line), as toolkit/sparkmeanings.py promises for concat and column values:

- `s || x` of a double writes Java's text there (1e20 is '1.0E20', DuckDB's '1e+20'): refused
  like concat(s, x); a timestamptz is written with its offset as DuckDB writes it.
- cast('2024-11-03 01:30:00' as timestamptz) (timestamptz '...') in a fall-back hour is the
  later instant in DuckDB (-05 in New York), the earlier on Spark (-04).

One step runs on DuckDB and on the process's shared embedded Spark (tests/spark_support.py);
its published values and Arrow types are compared.
"""

from __future__ import annotations


import pytest

from _projects import write_files
from spark_support import SKIP_REASON, run_here, shared_warehouse
from test_spark_values_more import differences_on_spark

CONFIG = """\
name = "spark_values_4"
dialect = "duckdb"
target = "duck"
time_zone = "America/New_York"

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
[sv4_t]
columns = { id = "bigint", s = "varchar", f = "double", n = "bigint", tz = "timestamptz", d = "date" }
"""
ROWS = """\
id,s,f,n,tz,d
1,a,1e20,7,2024-01-01 09:00:00+00,2024-11-03
2,b,5.0,,2024-11-03 05:30:00.25+00,2024-03-10
3,,0.1,-3,2024-11-03 06:30:00+00,
"""
CASES = {
    # New York's fall-back hour (01:30 twice: -04 then -05; DuckDB takes -05) and its edges
    "fold_cast": "cast('2024-11-03 01:30:00' as timestamptz)",
    "fold_typed": "timestamptz '2024-11-03 01:30:00'",
    "fold_colons": "'2024-11-03 01:59:59.999999'::timestamptz",
    "fold_t": "cast('2024-11-03T01:00:00' as timestamptz)",
    "fold_named": "cast('2024-10-27 02:30:00 Europe/Berlin' as timestamptz)",
    "fold_offset": "cast('2024-11-03 01:30:00-04' as timestamptz)",
    "fold_utc": "cast('2024-11-03 01:30:00 UTC' as timestamptz)",
    "gap": "cast('2024-03-10 02:30:00' as timestamptz)",
    "summer": "cast('2024-07-01 12:00:00' as timestamptz)",
    "day": "cast('2024-11-03' as timestamptz)",
    "pipe_tz": "s || ' at ' || tz",
    "pipe_tz_cast": "s || cast(d as timestamptz)",
    "pipe_int": "s || n",
    "pipe_decimal": "cast(f as decimal(38, 2)) || '/' || s",
    "pipe_date": "s || d",
    "pipe_numbers": "s || 1.5 || concat('x', 2.50, -7)",
}
STEP = "select id,\n" + ",\n".join(f"  {expression} as {name}" for name, expression in CASES.items()) + "\nfrom {{ ref('sv4_t') }}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_values_4")
    write_files(root, {
        "toolkit.toml": CONFIG.format(warehouse=shared_warehouse(), state=root / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/sv4_t.csv": ROWS,
        "features/sv4_values.sql": STEP,
    })
    return root


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "")
def test_pipes_and_timestamptz_literals_publish_duckdbs_values_on_spark(project):
    wrong_types, wrong = differences_on_spark(project, "sv4_values", CASES)
    assert not wrong_types and not wrong, f"types (spark, duckdb): {wrong_types}; values (id, column, spark, duckdb): {wrong}"


@pytest.mark.parametrize("expression", [
    "s || f",
    "f || s",
    "s || '-' || f",
    "s || cast(n as double)",
    "s || n::float",
    "s || (f * 2)",
    "s || cast(f as varchar)",
    "cast(f as varchar)",
    "concat(s, f)",
    "s || 1e20",
    "concat(s, 2.5e0)",
])
def test_a_double_written_as_text_is_refused_for_spark_at_its_line(tmp_path, expression):
    """Spark writes a double as Java does (1e20 is '1.0E20', DuckDB's '1e+20'): || of one is
    exit 2 at its line like concat and a cast to text; a decimal is not."""
    write_files(tmp_path, {
        "toolkit.toml": CONFIG.format(warehouse=tmp_path / "unused", state=tmp_path / "unused.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/sv4_t.csv": ROWS,
        "features/labels.sql": "select id,\n  s || cast(n as decimal(38, 2)) || 1.5 as fine,\n"
                               f"  {expression} as label\nfrom {{{{ ref('sv4_t') }}}}\n",
    })
    code, out = run_here(tmp_path, "compile", "--dialect", "spark", "labels")
    assert code == 2, out
    assert "labels.sql:3" in out and "double" in out and "decimal" in out, out


def test_a_decimal_or_integer_through_pipes_compiles_for_spark(tmp_path):
    write_files(tmp_path, {
        "toolkit.toml": CONFIG.format(warehouse=tmp_path / "unused", state=tmp_path / "unused.duckdb"),
        "warehouse/seeds.toml": SEEDS,
        "warehouse/seeds/sv4_t.csv": ROWS,
        "features/labels.sql": "select id, s || cast(f as decimal(38, 2)) || n || 1.5 || concat(s, 1.5) as fine\nfrom {{ ref('sv4_t') }}\n",
    })
    code, out = run_here(tmp_path, "compile", "--dialect", "spark", "labels")
    assert code == 0, out
