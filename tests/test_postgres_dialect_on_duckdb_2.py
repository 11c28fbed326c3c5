"""A project written for PostgreSQL (dialect = "postgres") writes a double as text the way
PostgreSQL does on DuckDB too (x::text, || and concat: '3', not '3.0'; '1e+15', 'Infinity',
'NaN'), and rounds a numeric (2.5, avg of integers) half away from zero as PostgreSQL does,
a double half to even (pgdialectmeanings.py)."""

from __future__ import annotations

import random

import duckdb
import pytest
import sqlglot
from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)
from sqlglot import exp

from toolkit import pgdialectmeanings

# whole numbers, the bounds of each notation (1e-4 and 1e-5, 1e15 and 1e16), -0, the infinities, NaN
EDGES = ["3", "-3", "0", "-0", "0.5", "100", "1e10", "1e14", "99999999999999.9", "1e15", "-1e15", "1234567890123456.7",
         "1.5e15", "9999999999999998", "1e16", "1e20", "1e100", "0.0001", "0.00012", "0.00001", "1.5e-5", "1e-300",
         "5e-324", "1.7976931348623157e308", "0.1", "0.30000000000000004", "-2.5", "Infinity", "-Infinity", "NaN"]


# whole doubles from 2^53, where DuckDB may write a bound of the rounding interval (fewer digits)
BOUNDS = ["-3.447731110078344e+17", "9.56050241309432e+17", "-6.26407688197928e+17", "5.113696431483018e+16"]


def _doubles() -> list[str]:
    """EDGES, BOUNDS and random doubles of every magnitude, as Python writes them (round-trip
    exact); none from 2^120 to 1e40 (refused)."""
    draw = random.Random(7)
    drawn = [draw.uniform(-1, 1) * 10.0 ** draw.randint(-320, 308) for _ in range(1500)]
    drawn += [float(draw.randint(-2**120, 2**120) >> draw.randint(0, 66)) for _ in range(1500)]  # whole, 2^53 to 2^120
    return EDGES + BOUNDS + [repr(value) for value in drawn if not 2 ** 120 <= abs(value) < 1e40]


def _values(texts: list[str]) -> str:
    rows = exp.values([(exp.Literal.number(index), exp.cast(exp.Literal.string(text), "double"))
                       for index, text in enumerate(texts)], alias="v", columns=["id", "x"])
    return exp.select("id", "x").from_(rows).sql("postgres")


QUERY = "select id, x::text as t, cast(x as varchar) as v, 'a' || x as p, concat(x, 'b') as c from s.t order by id"


def test_double_text_is_postgres_text_on_duckdb(pg_url):  # noqa: F811
    texts = _doubles()
    pg_query(pg_url, "create schema s")
    pg_query(pg_url, "create table s.t as " + _values(texts))
    want = [tuple(row) for row in pg_query(pg_url, QUERY)]
    duck = duckdb.connect()
    duck.execute("create schema s")
    duck.execute("create table s.t as " + sqlglot.transpile(_values(texts), read="postgres", write="duckdb")[0])
    columns = lambda table: dict(duck.execute("select column_name, data_type from information_schema.columns "  # noqa: E731
                                              "where table_name = 't'").fetchall())
    repaired = pgdialectmeanings.repair(sqlglot.parse_one(QUERY, read="postgres"), columns)
    got = duck.execute(repaired.sql("duckdb")).fetchall()
    assert [row[1] for row in want[:4]] == ["3", "-3", "0", "-0"]
    assert want[len(EDGES)][1] == "-3.4477311100783437e+17"
    assert got == want


def test_a_double_from_2_to_the_120_to_1e40_as_text_fails_on_duckdb():
    """Its digits may differ and are not computed: the statement fails, it publishes no other text."""
    duck = duckdb.connect()
    duck.execute("create schema s")
    duck.execute("create table s.t as select 1 as id, 2e38::double as x")
    repaired = pgdialectmeanings.repair(sqlglot.parse_one("select x::text from s.t", read="postgres"), lambda table: {"x": "DOUBLE"})
    with pytest.raises(duckdb.InvalidInputException, match=r"here 2e\+38.*cast it to numeric\(38, 0\) first"):
        duck.execute(repaired.sql("duckdb"))


STEP = ("select id, x::text as t, 'x=' || x as labelled, concat(round(x), '!') as rounded, i::text as it\n"
        "from {{ ref('t') }}\n")


def test_a_postgres_project_publishes_postgres_text_of_doubles_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    two_target_project(tmp_path, pg_url, {
        "warehouse/seeds/t.csv": "id,i,x\n1,3,3\n2,-1,2.5\n3,7,1e15\n4,0,-0.000015\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", i = "integer", x = "double precision" }\n',
        "features/texts.sql": STEP,
    }, dialect="postgres")
    duck_types, duck_rows, pg_types, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "texts")
    assert pg_rows == [(1, "3", "x=3", "3!", "3"), (2, "2.5", "x=2.5", "2!", "-1"), (3, "1e+15", "x=1e+15", "1e+15!", "7"),
                       (4, "-1.5e-05", "x=-1.5e-05", "-0!", "0")]
    assert duck_rows == pg_rows


def test_statements_are_typed_from_the_tables_as_they_are_now(tmp_path):
    """Every statement of a run is typed from the tables it reads, as they are when it runs:
    after a statement replaces one (its integer column is now a double), and after a rollback."""
    from toolkit.config import Target
    from toolkit.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine(Target("t", "duckdb", {"path": str(tmp_path / "w.duckdb")}), tmp_path)
    engine.source_dialect = "postgres"
    engine.open(5)
    try:
        engine.execute(sqlglot.parse_one("create schema s", read="duckdb"))
        engine.execute(sqlglot.parse_one("create table s.t as select 7 as i", read="postgres"))
        query = sqlglot.parse_one("select i / 2 as h, i::text as t from s.t", read="postgres")
        assert [engine.fetch_rows(query) for _ in range(3)] == [[(3, "7")]] * 3
        engine.execute(sqlglot.parse_one("create or replace table s.t as select 7.0::float8 as i", read="postgres"))
        assert engine.fetch_rows(query) == [(3.5, "7")]
        with pytest.raises(RuntimeError), engine.transaction():  # rolled back: its integer column is back
            engine.execute(sqlglot.parse_one("create or replace table s.t as select 7 as i", read="postgres"))
            assert engine.fetch_rows(query) == [(3, "7")]
            raise RuntimeError("roll back")
        assert engine.fetch_rows(query) == [(3.5, "7")]
    finally:
        engine.close()


ROUNDS = ("select round(2.5) as a, round(0.5) as b, round(-2.5) as c, round(5 / 2.0) as d, round(5 * 0.5) as e, "
          "round(avg(i)) as f, round(avg(i), 0) as g, round(1e0 * 2.5) as h, round(avg(x)) as k, round(max(x)) as m from s.n")


def test_round_of_a_numeric_is_half_away_from_zero_and_of_a_double_half_to_even(pg_url):  # noqa: F811
    """2.5, 5 / 2.0 and avg() of integers are numerics in PostgreSQL (round: 3), avg() of doubles
    a double (round: 2): the rewrite to round_even is for doubles only."""
    rows = "select * from (values (2, 2.5::float8), (3, 2.5::float8)) as v(i, x)"
    pg_query(pg_url, "create schema s")
    pg_query(pg_url, "create table s.n as " + rows)
    want = [float(value) for value in pg_query(pg_url, ROUNDS)[0]]
    duck = duckdb.connect()
    duck.execute("create schema s")
    duck.execute("create table s.n as " + sqlglot.transpile(rows, read="postgres", write="duckdb")[0])
    columns = lambda table: dict(duck.execute("select column_name, data_type from information_schema.columns "  # noqa: E731
                                              "where table_name = 'n'").fetchall())
    repaired = pgdialectmeanings.repair(sqlglot.parse_one(ROUNDS, read="postgres"), columns)
    got = [float(value) for value in duck.execute(repaired.sql("duckdb")).fetchone()]
    assert want == [3, 1, -3, 3, 3, 3, 3, 3, 2, 2]
    assert got == want
