"""A project written for PostgreSQL (dialect = "postgres") publishes PostgreSQL's values on
DuckDB too: integer `/` truncates toward zero (-7 / 2 = -3, not -3.5) and round() of a double
rounds half to even (round(2.5) = 2, not 3), on a duckdb target and in `toolkit test --unit`
(pgdialectmeanings.py)."""

from __future__ import annotations

import pytest
from postgres_support import built_on_both, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

SEED = "id,a,b,x,d1,d2\n1,-7,2,2.5,2024-01-01,2024-01-16\n2,7,-2,-2.5,2024-01-16,2024-01-01\n3,9,4,3.5,2024-01-01,2024-01-01\n" \
       "4,-1,3,0.5,2024-03-01,2024-01-01\n"
SEED_TYPES = '[t]\ncolumns = { id = "integer", a = "integer", b = "bigint", x = "double precision", d1 = "date", d2 = "date" }\n'
STEP = ("select id, a / b as q, a % b as m, round(x) as rx, round(x::numeric)::int as rn, (d2 - d1) / 7 as weeks,\n"
        "       count(*) over () / 2 as half, (a / 2.0)::float8 as fraction, x / b as xb\n"
        "from {{ ref('t') }}\n")
# a step reading the first: its integer column stays an integer on DuckDB
DOWNSTREAM = "select id, q / 2 as qq from {{ ref('divided') }}\n"


def _project(root, url):
    two_target_project(root, url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": SEED_TYPES,
        "features/divided.sql": STEP,
        "features/downstream.sql": DOWNSTREAM,
    }, dialect="postgres")


def test_integer_division_and_rounding_publish_postgres_values_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    _project(tmp_path, pg_url)
    duck_types, duck_rows, pg_types, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "divided")
    assert [row[:6] for row in pg_rows] == [(1, -3, -1, 2.0, 3, 2), (2, -3, 1, -2.0, -3, -2), (3, 2, 1, 4.0, 4, 0),
                                            (4, 0, -1, 0.0, 1, -8)]
    assert duck_rows == pg_rows
    assert duck_types["q"] == "BIGINT" and pg_types["q"] == "bigint"  # integer / bigint
    assert duck_types["xb"] == "DOUBLE" and pg_types["xb"] == "double precision"  # a double divided stays a double
    _, duck_down, _, pg_down = built_on_both(run_cli, tmp_path, pg_url, "downstream")
    assert duck_down == pg_down == [(1, -1), (2, -1), (3, 1), (4, 0)]


def test_a_view_keeps_postgres_division_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    _project(tmp_path, pg_url)
    (tmp_path / "features/divided.sql").write_text('{{ config(materialized="view") }}\n' + STEP)
    duck_types, duck_rows, pg_types, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "divided")
    assert duck_rows == pg_rows
    assert [row[1] for row in duck_rows] == [-3, -3, 2, 0]


UNIT = """[[test]]
name = "postgres integer division and rounding"
[test.given.t]
rows = [ { id = 1, a = -7, b = 2, x = 2.5, d1 = 2024-01-01, d2 = 2024-01-16 },
         { id = 2, a = 7, b = -2, x = -2.5, d1 = 2024-01-16, d2 = 2024-01-01 } ]
[test.expect]
rows = [ { id = 1, q = -3, m = -1, rx = 2.0, rn = 3, weeks = 2, fraction = -3.5 },
         { id = 2, q = -3, m = 1, rx = -2.0, rn = -3, weeks = -2, fraction = 3.5 } ]

[[test]]
name = "a step reading it"
step = "downstream"
[test.given.divided]
rows = [ { id = 1, q = -3 } ]
[test.expect]
rows = [ { id = 1, qq = -1 } ]
"""


@pytest.mark.parametrize("dialect, passes", [("postgres", True), ("duckdb", False)])
def test_unit_tests_compute_what_postgres_does(tmp_path, run_cli, dialect, passes):
    """The unit tests run on DuckDB: PostgreSQL's answers pass for a postgres project (and
    a DuckDB project keeps DuckDB's own: -7 / 2 = -3.5 there)."""
    two_target_project(tmp_path, "postgresql://unused", {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": SEED_TYPES,
        "features/divided.sql": STEP,
        "features/downstream.sql": DOWNSTREAM,
        "features/divided.unit.toml": UNIT,
    }, dialect=dialect)
    code, out, err = run_cli("test", "--unit", cwd=tmp_path)
    if passes:
        assert code == 0, out + err
        assert "2 passed, 0 failed" in out
    else:
        assert code == 1, out + err
        assert "0 passed, 2 failed" in out and "+  1   -1.5" in out
