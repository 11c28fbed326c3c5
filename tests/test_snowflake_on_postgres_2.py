"""A Snowflake step (dialect = "snowflake") publishes on PostgreSQL what it publishes on DuckDB
(toolkit/snowflakemeanings.py): datediff(week, ...) counts the Mondays crossed, datediff of
dayofweek / dayofyear counts days, array_to_string writes a NULL element as '', a division by
zero is inf, split_part(s, d, 0) is the first field, ceil(x, n) and floor(x, n) are doubles.

Each test runs `toolkit run` on DuckDB and on a fresh PostgreSQL database
(TOOLKIT_TEST_POSTGRES_URL; skipped, saying why, when unset) and compares rows and column types.
"""

from __future__ import annotations

import math

from postgres_support import built_on_both, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

SEEDS = ('[ev]\ncolumns = { id = "integer", a = "timestamp", b = "timestamp" }\n'
         '[t]\ncolumns = { id = "integer", k = "integer", n = "decimal(10,2)", s = "varchar", i = "integer" }\n')
# Tuesday to the next Sunday, across a quarter, backwards within a week, Sunday to Monday,
# across 1970 (Thursday), a Monday to the next Monday less an hour
EVENTS = ("id,a,b\n1,2024-12-31 00:00:00,2025-01-05 10:00:00\n2,2024-09-29 00:00:00,2024-12-31 00:00:00\n"
          "3,2024-01-07 00:00:00,2024-01-01 00:00:00\n4,2024-01-07 23:00:00,2024-01-08 01:00:00\n"
          "5,1969-12-29 00:00:00,1970-01-05 00:00:00\n6,2024-01-08 01:00:00,2024-01-14 23:59:59\n7,,\n")
NUMBERS = "id,k,n,s,i\n1,,1.51,a.b.c,0\n2,0,2.00,a.b.c,2\n3,0,-1.55,x,-1\n4,0,0.00,,\n5,4,-7.25,a.b,0\n"
SPELLED = {"BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double precision", "VARCHAR": "text"}


def _build(tmp_path, pg_url, step: str, sql: str, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {"warehouse/seeds/ev.csv": EVENTS, "warehouse/seeds/t.csv": NUMBERS,
                                      "warehouse/seeds.toml": SEEDS, f"features/{step}.sql": sql}, "snowflake", "snowpg2")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, step)
    assert {name: SPELLED[kind] for name, kind in want_types.items()} == got_types
    return want, got


def _same(want: list, got: list) -> None:
    """Rows equal, a NaN equal to a NaN."""
    def key(row):
        return tuple("nan" if isinstance(value, float) and math.isnan(value) else value for value in row)
    assert [key(row) for row in got] == [key(row) for row in want]


def test_datediff_week_counts_the_mondays_crossed(tmp_path, pg_url, run_cli):  # noqa: F811
    want, got = _build(tmp_path, pg_url, "w", (
        "select id, datediff(week, a, b) as w, datediff(week, a::date, b::date) as wd,\n"
        "  datediff(week, b, a) as wr, datediff('weeks', a, b) as ws, datediff(isoweek, a, b) as wi,\n"
        "  datediff(day, a, b) as dd\n"
        "from {{ ref('ev') }}\n"), run_cli)
    assert got == want
    # DuckDB's (and Snowflake's default WEEK_START): weeks start on Monday, whatever the time
    assert [row[1] for row in want] == [0, 14, 0, 1, 1, 0, None]
    assert [row[2] for row in want[:6]] == [row[1] for row in want[:6]]
    assert [row[3] for row in want[:6]] == [-row[1] for row in want[:6]]
    assert [row[5] for row in want[:6]] == [row[1] for row in want[:6]]
    # 'weeks' is DuckDB's own date_diff as sqlglot writes it: the days crossed over 7, truncated
    assert [row[4] for row in want] == [0, 13, 0, 0, 1, 0, None]
    assert [row[6] for row in want] == [5, 93, -6, 1, 7, 6, None]  # a BIGINT (an INTEGER there as sqlglot wrote it)


def test_day_units_null_elements_zero_division_and_split_part_zero(tmp_path, pg_url, run_cli):  # noqa: F811
    want, got = _build(tmp_path, pg_url, "m", (
        "select id, array_to_string(array_construct(k, 2), ',') as ats, n / k as nk, id / k as ik,\n"
        "  split_part(s, '.', 0) as sp0, split_part(s, '.', i) as spi,\n"
        "  datediff(dayofweek, '2024-01-01'::date, '2024-01-09'::date) as dd,\n"
        "  datediff(dayofyear, '2024-01-01 23:00'::timestamp, '2024-03-09 01:00'::timestamp) as dy\n"
        "from {{ ref('t') }}\n"), run_cli)
    _same(want, got)
    assert [row[1] for row in want] == [",2", "0,2", "0,2", "0,2", "4,2"]
    assert want[1][2] == math.inf and want[2][2] == -math.inf and math.isnan(want[3][2]) and want[1][3] == math.inf
    assert [row[4] for row in want] == ["a", "a", "x", "", "a"]
    assert [row[5] for row in want] == ["a", "b", "x", None, "a"]
    assert want[0][6:] == (8, 68)


def test_ceil_and_floor_to_places_are_duckdbs_doubles(tmp_path, pg_url, run_cli):  # noqa: F811
    want, got = _build(tmp_path, pg_url, "c", (
        "select id, ceil(n, 1) as c1, floor(n, 1) as f1, ceil(n * 3, 2) as c2, floor(k, 0) as f0\n"
        "from {{ ref('t') }}\n"), run_cli)
    assert got == want
    assert [row[1:3] for row in want] == [(1.6, 1.5), (2.0, 2.0), (-1.5, -1.6), (0.0, 0.0), (-7.2, -7.3)]


def test_ceil_to_tens_is_refused_at_its_line(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {"warehouse/seeds/t.csv": NUMBERS, "warehouse/seeds/ev.csv": EVENTS,
                                      "warehouse/seeds.toml": SEEDS,
                                      "features/r.sql": "select id,\n  ceil(n, -1) as c\nfrom {{ ref('t') }}\n"},
                       "snowflake", "snowpg2")
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 2, out + err
    assert "features/r.sql:2" in out + err and "ceil(x, -1)" in out + err and "Traceback" not in out + err
