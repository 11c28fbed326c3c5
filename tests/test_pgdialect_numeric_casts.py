"""A project written for PostgreSQL (dialect = "postgres") casts to numeric on DuckDB as
PostgreSQL does (pgdialectmeanings.py): a double to numeric(p, s) through its 15 significant
digits, an integer, a numeric(p, s) or a written number to numeric without a precision
exactly (DuckDB's own NUMERIC is DECIMAL(18, 3): 1.23456789012345e-7 was 0.000). What DuckDB
cannot compute as PostgreSQL does is exit 2 at the step's line: a double to numeric without a
precision unless rounded at once (round(x::numeric, 2)), round(double, places) (PostgreSQL
has none) and to_char of a number."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest
import sqlglot
from sqlglot import exp
from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

from toolkit import pgdialectmeanings

SEEDS = {
    "warehouse/seeds/t.csv": ("id,i,b,n,x\n1,3,1234567890123456789,2.50,123456789.123\n2,-7,5,-0.05,2.5\n"
                              "3,0,-9000000000000000,0.00,1.23456789012345e-7\n4,1,1,1.25,0.125\n5,2,2,3.00,-2.5\n"
                              "6,4,4,4.00,0.1\n7,5,5,5.00,9007199254740993\n8,6,6,6.00,1.005\n9,7,7,7.00,-0.285\n"),
    "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", i = "integer", b = "bigint", n = "numeric(10, 2)", '
                            'x = "double precision" }\n',
}

CASTS = """select id,
  i::numeric as i_num, (i::numeric)::text as i_text, cast(b as numeric) as b_num, (b::numeric)::text as b_text,
  n::numeric as n_num, (n::numeric)::text as n_text, 2.50::numeric as lit, (1e3::numeric)::text as lit_text,
  (-0.000001::numeric)::text as small_text,
  cast(x as decimal(38, 20)) as x20, (x::numeric(38, 20))::text as x20_text, cast(x / 3 as decimal(38, 18)) as third,
  x::numeric(20, 2) as x2, x::numeric(20, 0) as x0, cast(x as numeric(38, 10)) * 1000000 as scaled,
  round(avg(i) over (), 1) as rounded_avg, round(x::numeric(38, 10), 1) as rounded,
  round(x::numeric, 2) as r2, round((x / 3)::numeric, 4) as r4, round(x::numeric) as r0, (x::numeric)::bigint as as_int,
  (x::numeric)::numeric(30, 1) as n1
from {{ ref('t') }}
"""


def _plain(value) -> str:
    """A published value as text, its scale kept (DuckDB gives Decimals, PostgreSQL may give text)."""
    return format(Decimal(str(value)), "f") if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool) else value


def test_numeric_casts_publish_postgres_values_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    two_target_project(tmp_path, pg_url, {**SEEDS, "features/casts.sql": CASTS}, dialect="postgres")
    duck_types, duck_rows, pg_types, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "casts")
    pg_plain = [tuple(_plain(value) for value in row) for row in pg_rows]
    duck_plain = [tuple(_plain(value) for value in row) for row in duck_rows]
    names = [item.alias_or_name for item in sqlglot.parse_one(CASTS.replace("{{ ref('t') }}", "t"), read="postgres").selects]
    first, third, last = (dict(zip(names, row)) for row in (pg_plain[0], pg_plain[2], pg_plain[6]))
    assert (first["x20"], first["x20_text"], first["b_text"]) == ("123456789.12300000000000000000", "123456789.12300000000000000000",
                                                                  "1234567890123456789")
    assert third["x20"] == "0.00000012345678901235"
    assert (first["i_text"], first["n_text"], first["lit_text"], first["small_text"]) == ("3", "2.50", "1000", "-0.000001")
    assert last["x0"] == "9007199254740990"  # 15 significant digits, then zeros
    assert [dict(zip(names, row))["r2"] for row in pg_plain[7:]] == ["1.01", "-0.29"]  # 1.00499999999999989...: its 15 digits
    assert duck_plain == pg_plain


def _refused(tmp_path, run_cli, step: str) -> str:
    """The error of running a postgres-dialect project whose step `k` is `step` on DuckDB (exit 2)."""
    two_target_project(tmp_path, "postgresql://unused", {**SEEDS, "features/k.sql": step}, dialect="postgres")
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2, out + err
    assert "Traceback" not in err
    assert not (tmp_path / "warehouse/w.duckdb").exists() or "k" not in str(
        duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True).sql(
            "select table_name from information_schema.tables where table_schema = 'features'").fetchall())
    return err


@pytest.mark.parametrize("call, says", [
    ("x::numeric", "features/k.sql:2: .*double precision cast to numeric without a precision.*numeric\\(38, 10\\)"),
    ("cast(x / 3 as numeric)", "features/k.sql:2: .*double precision cast to numeric without a precision"),
    ("round(x::numeric * 100, 2)", "features/k.sql:2: .*double precision cast to numeric without a precision"),
    ("round(x, 1)", "features/k.sql:2: round\\(.*x, 1\\): PostgreSQL has no round\\(double precision, integer\\)"),
    ("to_char(x, 'FM999.99')", "features/k.sql:2: to_char\\(.*x, ...\\) of a double precision .* does not run on DuckDB"),
])
def test_what_duckdb_cannot_compute_as_postgresql_is_refused_at_its_line(tmp_path, run_cli, call, says):
    import re

    err = _refused(tmp_path, run_cli, f"select id,\n  {call} as v\nfrom {{{{ ref('t') }}}}\n")
    assert re.search(says, err), err


def test_postgresql_refuses_them_too(pg_url):  # noqa: F811
    """What the refusals say PostgreSQL does: round(double, places) does not exist, and a double to
    numeric keeps 15 significant digits at any scale (no DECIMAL(p, s) holds every such value)."""
    with pytest.raises(Exception, match=r"round\(double precision, integer\) does not exist"):
        pg_query(pg_url, "select round(2.25::float8, 1)")
    assert pg_query(pg_url, "select (1.23456789012345e-7::float8::numeric)::text, (1.5e300::float8::numeric)::text")[0] == \
        ("0.000000123456789012345", "15" + "0" * 299)


def test_a_double_to_numeric_of_unknown_type_at_compile_is_an_error_when_run():
    """Typed only from the catalog (an upstream step sqlglot could not type): the statement fails
    naming the value, it publishes no DECIMAL(18, 3) rounding (0.000)."""
    duck = duckdb.connect()
    duck.execute("create schema s")
    duck.execute("create table s.t as select 1.23456789012345e-7::double as x")
    repaired = pgdialectmeanings.repair(sqlglot.parse_one("select x::numeric as v from s.t", read="postgres"),
                                        lambda table: {"x": "DOUBLE"})
    with pytest.raises(duckdb.InvalidInputException, match=r"here 1\.23456789012345e-07.*numeric\(38, 10\)"):
        duck.execute(repaired.sql("duckdb"))


def test_an_upstream_step_is_typed_as_postgresql_types_it(tmp_path, pg_url, run_cli):  # noqa: F811
    """avg() of integers is a numeric in PostgreSQL (sqlglot types it a double): a step rounding
    it to places reads its upstream step's numeric and runs, equal on both engines; rounding
    the upstream step's double is refused."""
    two_target_project(tmp_path, pg_url, {**SEEDS, "features/up.sql": "select id, avg(i) over () as a, x from {{ ref('t') }}\n",
                                          "features/down.sql": "select id, round(a, 3) as r, round(x::numeric, 1) as rx\n"
                                                               "from {{ ref('up') }}\n"}, dialect="postgres")
    duck_types, duck_rows, pg_types, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "down")
    assert [_plain(value) for value in pg_rows[0]] == ["1", "2.333", "123456789.1"]
    assert [tuple(_plain(value) for value in row) for row in duck_rows] == [tuple(_plain(value) for value in row) for row in pg_rows]
    (tmp_path / "features/down.sql").write_text("select id,\n  round(x, 1) as rx\nfrom {{ ref('up') }}\n", encoding="utf-8")
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2 and "features/down.sql:2: round(" in err, out + err


def _intervals() -> list[str]:
    """Random intervals of every field and sign, and the edges (-1 of a unit, a positive field
    after a negative one, zero)."""
    import random

    draw = random.Random(3)
    units = (("years", 3), ("months", 30), ("days", 40), ("hours", 50), ("minutes", 70), ("seconds", 70), ("microseconds", 2000000))
    drawn = [" ".join(f"{draw.randint(-top, top)} {unit}" for unit, top in units if draw.random() < 0.5) or "0 seconds"
             for _ in range(300)]
    return ["1 month", "-1 month", "-1 year 1 day", "-1 day 1 hour", "1 year -1 month", "-1 year -1 month -1 day -01:00:00",
            "00:00:00", "1000 hours", "-1 days 1 microsecond"] + drawn


INTERVALS = "select id, v::text as t, 'a' || v as p, concat(v, 'b') as c, cast(v * 2 as varchar) as d from s.i order by id"


def test_an_interval_as_text_is_postgres_text_on_duckdb(pg_url):  # noqa: F811
    """'5 mons', '-1 days', '-1 years +1 day' (IntervalStyle postgres), not DuckDB's '5 months',
    '-1 day', '-1 year 1 day': a cast to text, || and concat."""
    rows = exp.values([(exp.Literal.number(index), exp.cast(exp.Literal.string(text), "interval"))
                       for index, text in enumerate(_intervals())], alias="v", columns=["id", "v"])
    values = exp.select("id", "v").from_(rows).sql("postgres")
    pg_query(pg_url, "create schema s")
    pg_query(pg_url, "create table s.i as " + values)
    want = [tuple(row) for row in pg_query(pg_url, INTERVALS)]
    duck = duckdb.connect()
    duck.execute("create schema s")
    duck.execute("create table s.i as " + sqlglot.transpile(values, read="postgres", write="duckdb")[0])
    repaired = pgdialectmeanings.repair(sqlglot.parse_one(INTERVALS, read="postgres"), lambda table: {"id": "INTEGER", "v": "INTERVAL"})
    got = duck.execute(repaired.sql("duckdb")).fetchall()
    assert want[:3] == [(0, "1 mon", "a1 mon", "1 monb", "2 mons"), (1, "-1 mons", "a-1 mons", "-1 monsb", "-2 mons"),
                        (2, "-1 years +1 day", "a-1 years +1 day", "-1 years +1 dayb", "-2 years +2 days")]
    assert got == want


def test_a_postgres_project_publishes_postgres_interval_text_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    two_target_project(tmp_path, pg_url, {
        "warehouse/seeds/t.csv": "id,i\n1,5\n2,-1\n3,1\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", i = "integer" }\n',
        "features/texts.sql": "select id, (interval '1 month' * i)::text as m, 'every ' || (interval '1 day' * i) as d\n"
                              "from {{ ref('t') }}\n",
    }, dialect="postgres")
    duck_types, duck_rows, pg_types, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "texts")
    assert pg_rows == [(1, "5 mons", "every 5 days"), (2, "-1 mons", "every -1 days"), (3, "1 mon", "every 1 day")]
    assert duck_rows == pg_rows
