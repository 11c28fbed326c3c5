"""DuckDB's values and types kept on PostgreSQL (toolkit/pgmeanings.py) for strptime with a
format that reads no zone (a TIMESTAMP, the wall time written, whatever the session's zone:
TO_TIMESTAMP there is a TIMESTAMPTZ read in it) and for round of a decimal literal (a DECIMAL
in DuckDB, rounded half away from zero: not as a double).

The tests run steps through `toolkit run` on DuckDB and on PostgreSQL (a fresh database,
TOOLKIT_TEST_POSTGRES_URL) and compare the published rows and column types.
"""

from __future__ import annotations

from decimal import Decimal

from postgres_support import built_on_both, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

# summer, winter, and a wall time Berlin's clocks skip (2024-03-31 02:00 -> 03:00)
TIMES = "id,s\n1,2024-07-01 10:00:00\n2,2024-01-01 00:00:00\n3,2024-03-31 02:30:00\n4,\n"


def test_strptime_without_a_zone_publishes_the_wall_time(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": TIMES,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", s = "varchar" }\n',
        "features/v.sql": "select id, strptime(nullif(s, ''), '%Y-%m-%d %H:%M:%S') as spt,\n"
                          "  epoch(strptime(nullif(s, ''), '%Y-%m-%d %H:%M:%S')) as ep\nfrom {{ ref('t') }}\n",
    }, "duckdb", "pgv8", settings='time_zone = "Europe/Berlin"\n')
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert want_types["spt"] == "TIMESTAMP"
    assert got_types["spt"] == "timestamp without time zone"
    assert got == want
    assert [row[2] for row in want] == [1719828000.0, 1704067200.0, 1711852200.0, None]


def test_round_of_a_decimal_literal_rounds_half_away_from_zero(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": "id\n1\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer" }\n',
        "features/v.sql": "select id, round(-2.675, 2) as neg, round(2.675, 2) as pos, round((1.005), 2) as par,\n"
                          "  round(2.675e0, 2) as dbl\nfrom {{ ref('t') }}\n",
    }, "duckdb", "pgv8")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert want[0][1:4] == (Decimal("-2.68"), Decimal("2.68"), Decimal("1.01"))
    assert [Decimal(str(value)) for value in got[0][1:4]] == list(want[0][1:4])
    assert got_types["neg"] == "numeric" and want_types["neg"] == "DECIMAL(4,2)"
    assert got[0][4] == want[0][4] == 2.67  # a double: its exact value is below 2.675
    assert got_types["dbl"] == "double precision"


def test_split_part_by_an_empty_delimiter_is_a_character(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    indexes = [-4, -3, -1, 0, 1, 2, 3, 4]
    parts = ",\n  ".join(f"split_part(s, '', {n}) as p{i}" for i, n in enumerate(indexes))
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": "id,s,n\n1,bob,2\n2,é x,-1\n3,,1\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", s = "varchar", n = "integer" }\n',
        "features/v.sql": f"select id,\n  {parts},\n  split_part(s, '', n) as pn\nfrom {{{{ ref('t') }}}}\n",
    }, "duckdb", "pgv8")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert want[0] == (1, "", "b", "b", "", "b", "o", "b", "", "o")
    assert want[1][-1] == "x"


def test_snowflake_round_of_a_double_rounds_half_away_from_zero(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": "id,x\n1,2.5\n2,-2.5\n3,-0.5\n4,3.5\n5,0.125\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", x = "double" }\n',
        "features/v.sql": "select id, round(x) as rx, round(x, 0) as rx0, round(x, 2) as rx2\nfrom {{ ref('t') }}\n",
    }, "snowflake", "pgv8")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert [row[1] for row in want] == [3.0, -3.0, -1.0, 4.0, 0.0]
    assert want[4][3] == 0.13
