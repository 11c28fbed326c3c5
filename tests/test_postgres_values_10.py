"""DuckDB's values and published types kept on PostgreSQL (toolkit/pgmeanings.py) for REAL
(float4) arithmetic with an integer or a decimal (a REAL in DuckDB, a double there), sum of a
REAL (summed as doubles in DuckDB, as a REAL there), stddev and variance of integers and
decimals (a DOUBLE in DuckDB, a NUMERIC there), and a Snowflake step's year()/month()/day()
(toolkit/snowflakemeanings.py: a BIGINT in DuckDB, a NUMERIC there).

The tests run steps through `toolkit run` on DuckDB and on PostgreSQL (a fresh database,
TOOLKIT_TEST_POSTGRES_URL) and compare the published rows and column types.
"""

from __future__ import annotations

import math

from postgres_support import built_on_both, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

NUMBERS = "id,g,r,i,d,x\n1,1,1.1,3,1.5,2.5\n2,1,0.3,-7,-0.3,0.1\n3,2,16777217,0,2.25,-1\n4,2,,5,,\n5,3,-2.7,2147483647,9.99,1e300\n"
DECLARED = '[t]\ncolumns = { id = "integer", g = "integer", r = "real", i = "integer", d = "decimal(4, 2)", x = "double" }\n'


def _comparable(rows: list[tuple]) -> list[tuple]:
    """Rows with NaN written "NaN" (NaN equals nothing, itself neither)."""
    return [tuple("NaN" if isinstance(value, float) and math.isnan(value) else value for value in row) for row in rows]


def test_real_arithmetic_with_an_integer_or_a_decimal_stays_real(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": NUMBERS,
        "warehouse/seeds.toml": DECLARED,
        "features/v.sql": "select id, r * 0.1 as r_dec_lit, r + 1 as r_int_lit, i - r as int_r, r * d as r_dec,\n"
                          "  (r * d) * 2 as nested, (r * 0.1) + 1 as nested_lit, -r * 3 as neg, r * r as rr,\n"
                          "  r / i as quotient, r / 3 as lit_quotient, (r + 1) / d as nested_quotient,\n"
                          "  r * x as r_double, r * 1e0 as r_exp, r * cast(i as bigint) as r_big\n"
                          "from {{ ref('t') }}\n",
        # a REAL read from another step (typed through the DAG at compile)
        "features/u.sql": "select id, r_int_lit * 3 as twice, neg / 7 as seventh from {{ ref('v') }}\n",
    }, "duckdb", "pgv10")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert _comparable(got) == _comparable(want)
    assert want[0][1] == 0.11000000685453415  # computed in REAL (in doubles: 0.1100000023841858)
    assert want[2][2] == 16777216.0  # 16777217 is no REAL: 16777216 + 1 rounds back to it
    assert want[2][9] == math.inf  # r / 0 in REAL: inf (an error there, as written by sqlglot)
    for name in ("r_dec_lit", "r_int_lit", "int_r", "r_dec", "nested", "nested_lit", "neg", "rr", "quotient",
                 "lit_quotient", "nested_quotient", "r_big"):
        assert want_types[name] == "FLOAT" and got_types[name] == "real", name
    assert want_types["r_double"] == want_types["r_exp"] == "DOUBLE"
    assert got_types["r_double"] == got_types["r_exp"] == "double precision"
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "u")
    assert got == want
    assert want_types["twice"] == "FLOAT" and got_types["twice"] == got_types["seventh"] == "real"


def test_sum_of_a_real_is_a_double(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": NUMBERS,
        "warehouse/seeds.toml": DECLARED,
        "features/v.sql": "select g as id, sum(r) as s, avg(r) as a, sum(distinct r) as sd, sum(r) filter (where i > 0) as sf\n"
                          "from {{ ref('t') }}\ngroup by g\n",
        "features/w.sql": "select id, sum(r) over (order by id) as s from {{ ref('t') }}\n",
    }, "duckdb", "pgv10")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert want[0][1] == 1.1000000238418579 + 0.30000001192092896  # the REALs added as doubles
    assert want_types["s"] == want_types["a"] == "DOUBLE"
    assert got_types["s"] == got_types["a"] == got_types["sd"] == got_types["sf"] == "double precision"
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "w")
    assert got == want
    assert got_types["s"] == "double precision"


# values whose spread is exact in doubles (DuckDB's streaming and PostgreSQL's sums agree)
SPREADS = "id,g,i,d\n1,1,1,0.5\n2,1,3,1.5\n3,2,4,2.0\n4,2,4,2.0\n5,3,7,0.25\n6,1,5,2.5\n"
SPREADS_DECLARED = '[t]\ncolumns = { id = "integer", g = "integer", i = "integer", d = "decimal(4, 2)" }\n'
# a Sunday, the ISO year's last week (2023-01-01 is in 2022's week 52), a fraction of a second
CALENDAR = "id,ts,d\n1,2024-03-31 10:20:30.7,2023-01-01\n2,2024-12-30 23:59:59.999,2024-02-29\n3,,\n"
CALENDAR_DECLARED = '[t]\ncolumns = { id = "integer", ts = "timestamp", d = "date" }\n'


def test_stddev_and_variance_of_integers_and_decimals_are_doubles(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": SPREADS,
        "warehouse/seeds.toml": SPREADS_DECLARED,
        "features/v.sql": "select g as id, stddev(i) as sd, stddev_samp(i) as ss, stddev_pop(i) as sp, variance(i) as v,\n"
                          "  var_samp(d) as vd, var_pop(d) as vp, stddev(distinct i) as sdd,\n"
                          "  var_pop(i) filter (where id > 1) as vf\nfrom {{ ref('t') }}\ngroup by g\n",
        "features/w.sql": "select id, var_samp(i) over (partition by g) as v from {{ ref('t') }}\n",
    }, "duckdb", "pgv10")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert want[0][1:5] == (2.0, 2.0, math.sqrt(8 / 3), 4.0)  # 1, 3, 5
    assert want[1][2] == 0.0 and want[2][1] is None  # a constant; one row
    for name in ("sd", "ss", "sp", "v", "vd", "vp", "sdd", "vf"):
        assert want_types[name] == "DOUBLE" and got_types[name] == "double precision", name
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "w")
    assert got == want
    assert [row[1] for row in want] == [4.0, 4.0, 0.0, 0.0, None, 4.0]
    assert got_types["v"] == "double precision"


def test_snowflake_calendar_parts_are_bigints(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": CALENDAR,
        "warehouse/seeds.toml": CALENDAR_DECLARED,
        "features/v.sql": "select id, year(ts) as y, month(ts) as m, day(d) as dd, dayofmonth(ts) as dm, quarter(ts) as q,\n"
                          "  hour(ts) as h, minute(ts) as mi, second(ts) as s, dayofweek(ts) as dw, dayofyear(d) as dy,\n"
                          "  week(d) as w, weekofyear(d) as wy, dayofweekiso(ts) as di, yearofweekiso(d) as yi,\n"
                          "  extract(year from ts) as ey, date_part(dow, ts) as pdow, date_part('month', d) as pm,\n"
                          "  extract(second from ts) as es, extract(doy from d) as edoy\nfrom {{ ref('t') }}\n",
    }, "snowflake", "pgv10")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert want[0][1:] == (2024, 3, 1, 31, 1, 10, 20, 30, 0, 1, 52, 52, 7, 2022, 2024, 0, 1, 30, 1)
    assert want[2][1:] == (None,) * 19
    for name, kind in want_types.items():
        if name != "id":
            assert kind == "BIGINT" and got_types[name] == "bigint", name


def test_split_part_by_a_delimiter_column_holding_nothing_is_a_character(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": "id,s,d,n\n1,bob,,1\n2,bob,,2\n3,bob,,-1\n4,bob,,0\n5,bob,,4\n6,\"a,b\",\",\",2\n7,\"a,b\",\",\",0\n"
                                 "8,,,1\n9,bob,,\n10,bob,,-4\n",
        # d is '' where the CSV leaves it empty (nullif below: NULL where the row says so)
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", s = "varchar", d = "varchar", n = "integer" }\n',
        "features/v.sql": "select id, split_part(s, coalesce(d, ''), n) as p, split_part(s, coalesce(d, ''), 1) as p1,\n"
                          "  split_part(s, d, n) as pnull\nfrom {{ ref('t') }}\n",
    }, "duckdb", "pgv10")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert [row[1] for row in want] == ["b", "o", "b", "", "", "b", "", "", None, ""]
