"""A Snowflake step keeps DuckDB's values and types on PostgreSQL for REAL (float4) arithmetic,
sum of a REAL, avg, sum and the spreads of integers and decimals (pgmeanings._number_types, shared
with a DuckDB step's repair); a DuckDB step's own year(), month(), day(), hour(), ... are
BIGINTs there as in DuckDB (snowflakemeanings.calendar_call; sqlglot wrote a NUMERIC EXTRACT,
or DAY_OF_MONTH(d), HOUR(ts), ..., which fail there).

Each step runs through `toolkit run` on DuckDB and on PostgreSQL (TOOLKIT_TEST_POSTGRES_URL).
"""

from __future__ import annotations

from postgres_support import built_on_both, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)
from test_postgres_values_10 import CALENDAR, CALENDAR_DECLARED, DECLARED, NUMBERS, SPREADS, SPREADS_DECLARED, _comparable


def test_snowflake_real_arithmetic_and_sum_of_a_real_are_duckdbs(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": NUMBERS,
        "warehouse/seeds.toml": DECLARED,
        "features/v.sql": "select id, r * 0.1 as r_dec_lit, r + 1 as r_int_lit, i - r as int_r, r * d as r_dec,\n"
                          "  -r * 3 as neg, r * x as r_double\nfrom {{ ref('t') }}\n",
        "features/s.sql": "select g as id, sum(r) as s, sum(r * i) as sri, max(r * i) as mri\n"
                          "from {{ ref('t') }}\ngroup by g\n",
    }, "snowflake", "pgv11")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert _comparable(got) == _comparable(want)
    assert want[0][1] == 0.11000000685453415  # computed in REAL (in doubles: 0.1100000023841858)
    for name in ("r_dec_lit", "r_int_lit", "int_r", "r_dec", "neg"):
        assert want_types[name] == "FLOAT" and got_types[name] == "real", name
    assert got_types["r_double"] == "double precision"
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "s")
    assert _comparable(got) == _comparable(want)
    assert want[0][1] == 1.1000000238418579 + 0.30000001192092896  # the REALs added as doubles
    assert want_types["s"] == want_types["sri"] == "DOUBLE" and want_types["mri"] == "FLOAT"
    assert got_types["s"] == got_types["sri"] == "double precision" and got_types["mri"] == "real"


def test_snowflake_spreads_avg_and_sum_of_integers_are_duckdbs(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": SPREADS,
        "warehouse/seeds.toml": SPREADS_DECLARED,
        "features/v.sql": "select g as id, stddev(i) as sd, variance(i) as v, stddev(d) as sdd, var_pop(d) as vp,\n"
                          "  avg(i) as a, sum(i) as s\nfrom {{ ref('t') }}\ngroup by g\n",
        "features/w.sql": "select id, stddev(i) over (partition by g) as sd, variance(d) over (partition by g) as v\n"
                          "from {{ ref('t') }}\n",
    }, "snowflake", "pgv11")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    # the HUGEINT sum: a NUMERIC(38, 0) there, as toolkit publishes one (read back as text)
    assert [row[:-1] + (int(row[-1]),) for row in got] == want
    assert want[0][1:3] == (2.0, 4.0)  # 1, 3, 5
    for name in ("sd", "v", "sdd", "vp", "a"):
        assert want_types[name] == "DOUBLE" and got_types[name] == "double precision", name
    assert want_types["s"] == "HUGEINT" and got_types["s"] == "numeric"
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "w")
    assert got == want
    assert got_types["sd"] == got_types["v"] == "double precision"


def test_duckdb_calendar_calls_are_bigints(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": CALENDAR,
        "warehouse/seeds.toml": CALENDAR_DECLARED,
        "features/v.sql": "select id, year(ts) as y, month(ts) as m, day(d) as dd, dayofmonth(ts) as dm, quarter(ts) as q,\n"
                          "  hour(ts) as h, minute(ts) as mi, second(ts) as s, dayofweek(ts) as dw, dayofyear(d) as dy,\n"
                          "  week(d) as w, isodow(ts) as di, extract(year from ts) as ey\nfrom {{ ref('t') }}\n",
    }, "duckdb", "pgv11")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert want[0][1:] == (2024, 3, 1, 31, 1, 10, 20, 30, 0, 1, 52, 7, 2024)
    assert want[2][1:] == (None,) * 13
    for name, kind in want_types.items():
        if name != "id":
            assert kind == "BIGINT" and got_types[name] == "bigint", name
