"""A project written for PostgreSQL (dialect = "postgres") casts text to numeric on DuckDB as
PostgreSQL does (pgdialectmeanings.py), or is refused: DuckDB's own NUMERIC is DECIMAL(18, 3),
so '1e-7'::numeric and a text column's '1e-7' cast to numeric were published as 0.000 (exit 0).
A string written in the step is read with its own scale (exact); a text value is exact when
rounded at once (round(s::numeric, 2)), else exit 2 at its line; 'NaN'::numeric (a numeric in
PostgreSQL, no DECIMAL in DuckDB) is exit 2 too; an operand typed only when run is chosen by
its DuckDB type."""

from __future__ import annotations

import re
from decimal import Decimal

import duckdb
import pytest
import sqlglot
from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

from toolkit import pgdialectmeanings

SEEDS = {
    "warehouse/seeds/t.csv": ('id,s,js\n1,1e-7,"{""a"": ""1e-7""}"\n2,12.50,"{""a"": ""12.50""}"\n3,-0.125,"{""a"": ""-0.125""}"\n'
                              '4,0.005,"{""a"": ""0.005""}"\n5, 2.5 ,"{""a"": ""2.5""}"\n6,-1.50e1,"{""a"": ""-1.50e1""}"\n'
                              '7,12345678901234567.5649,"{""a"": ""0.0049""}"\n'),
    "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", s = "text", js = "text" }\n',
}

LITERALS = """select id, '1e-7'::numeric as a, '12.50'::numeric as b, (' -1.50e1 '::numeric)::text as c,
  round('0.125'::numeric, 2) as d, cast('1e3' as numeric) as e, ('.5'::numeric * 3)::text as f,
  '-0.000000000000000000000000000000000001'::numeric as g
from {{ ref('t') }}
"""

ROUNDED = """select id, round(s::numeric, 2) as r2, round(s::numeric) as r0, (s::numeric)::bigint as k,
  (s::numeric)::numeric(38, 1) as n1, round(split_part(s, 'x', 1)::numeric, 3) as r3,
  round((js::json ->> 'a')::numeric, 2) as j2, (round((js::json ->> 'a')::numeric, 3))::text as j3
from {{ ref('t') }}
"""


def _plain(value) -> str:
    """A published value as text, its scale kept (DuckDB gives Decimals, PostgreSQL may give text)."""
    return format(Decimal(str(value)), "f") if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool) else value


def _both(run_cli, tmp_path, pg_url, step):
    duck_types, duck_rows, pg_types, pg_rows = built_on_both(run_cli, tmp_path, pg_url, step)
    return [tuple(_plain(value) for value in row) for row in duck_rows], [tuple(_plain(value) for value in row) for row in pg_rows]


def test_a_written_string_cast_to_numeric_keeps_its_scale_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    two_target_project(tmp_path, pg_url, {**SEEDS, "features/lits.sql": LITERALS}, dialect="postgres")
    duck, pg = _both(run_cli, tmp_path, pg_url, "lits")
    # what the refusals say: PostgreSQL reads each text with its own scale; NaN and the infinities are numerics there
    assert pg_query(pg_url, "select (s::numeric)::text, ('NaN'::numeric)::text, ('-Infinity'::numeric)::text "
                            "from (values ('1e-7')) v(s)")[0] == ("0.0000001", "NaN", "-Infinity")
    assert pg[0] == ("1", "0.0000001", "12.50", "-15.0", "0.13", "1000", "1.5", "-0.000000000000000000000000000000000001")
    assert duck == pg


def test_text_rounded_at_once_is_postgresql_value_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    """Text from a seed, split_part(...) of it, and a json field (a type sqlglot cannot tell:
    chosen by its DuckDB type when run), rounded half away from zero from the exact digits."""
    two_target_project(tmp_path, pg_url, {**SEEDS, "features/rounded.sql": ROUNDED}, dialect="postgres")
    duck, pg = _both(run_cli, tmp_path, pg_url, "rounded")
    names = ("id", "r2", "r0", "k", "n1", "r3", "j2", "j3")
    by_id = {row[0]: dict(zip(names, row)) for row in pg}
    assert (by_id["1"]["r2"], by_id["1"]["j3"], by_id["3"]["r2"], by_id["4"]["r2"], by_id["7"]["j2"]) == \
        ("0.00", "0.000", "-0.13", "0.01", "0.00")  # 0.0049 to 2 places: 0.00, not 0.005 then 0.01
    assert (by_id["7"]["r2"], by_id["5"]["k"], by_id["6"]["n1"]) == ("12345678901234567.56", "3", "-15.0")
    assert duck == pg


def test_a_text_column_of_an_upstream_step_rounded_at_once(tmp_path, pg_url, run_cli):  # noqa: F811
    two_target_project(tmp_path, pg_url, {**SEEDS, "features/up.sql": "select id, trim(s) as u from {{ ref('t') }}\n",
                                          "features/down.sql": "select id, round(u::numeric, 4) as r from {{ ref('up') }}\n"},
                       dialect="postgres")
    duck, pg = _both(run_cli, tmp_path, pg_url, "down")
    assert pg[:4] == [("1", "0.0000"), ("2", "12.5000"), ("3", "-0.1250"), ("4", "0.0050")]
    assert duck == pg


def _refused(tmp_path, run_cli, files: dict[str, str]) -> str:
    """The error of running the postgres-dialect project on DuckDB (exit 2), nothing of step k published."""
    two_target_project(tmp_path, "postgresql://unused", {**SEEDS, **files}, dialect="postgres")
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2, out + err
    assert "Traceback" not in err
    assert not (tmp_path / "warehouse/w.duckdb").exists() or ("k",) not in duckdb.connect(
        str(tmp_path / "warehouse/w.duckdb"), read_only=True).sql(
        "select table_name from information_schema.tables where table_schema = 'features'").fetchall()
    return err


@pytest.mark.parametrize("call, says", [
    ("s::numeric", r"features/k\.sql:2: .*text cast to numeric without a precision.*'1e-7' is 0\.0000001.*numeric\(38, 10\)"),
    ("cast(split_part(s, 'x', 1) as numeric) * 2", r"features/k\.sql:2: .*text cast to numeric without a precision"),
    ("round(s::numeric * 100, 2)", r"features/k\.sql:2: .*text cast to numeric without a precision"),
    ("'NaN'::numeric", r"features/k\.sql:2: 'NaN'::numeric .*no DuckDB DECIMAL holds its value.*'NaN'::float8"),
    ("' -Infinity'::numeric", r"features/k\.sql:2: ' -Infinity'::numeric .*no DuckDB DECIMAL"),
    ("'1e40'::numeric", r"features/k\.sql:2: '1e40'::numeric .*at most 38 digits"),
    ("'0.0000000000000000000000000000000000000001'::numeric", r"features/k\.sql:2: .*no DuckDB DECIMAL"),
])
def test_what_duckdb_cannot_hold_is_refused_at_its_line(tmp_path, run_cli, call, says):
    err = _refused(tmp_path, run_cli, {"features/k.sql": f"select id,\n  {call} as v\nfrom {{{{ ref('t') }}}}\n"})
    assert re.search(says, err), err


def test_a_text_column_of_an_upstream_step_is_refused_at_its_line(tmp_path, run_cli):
    err = _refused(tmp_path, run_cli, {"features/up.sql": "select id, s || '' as u from {{ ref('t') }}\n",
                                       "features/k.sql": "select id,\n  u::numeric as v\nfrom {{ ref('up') }}\n"})
    assert re.search(r"features/k\.sql:2: .*text cast to numeric without a precision", err), err


def _run(query: str) -> list:
    """`query` (read as PostgreSQL) repaired and run on DuckDB over s.t, whose columns' types
    are known only when run (sqlglot types them through macros it does not know)."""
    duck = duckdb.connect()
    duck.execute("create schema s")
    duck.execute("create macro as_is(v) as v")
    duck.execute("create table s.t as select * from (values (1, '1e-7', 12345678901234567890, 1.005::double, 2.5::decimal(10, 1)))"
                 " v(id, s, b, x, n)")
    repaired = pgdialectmeanings.repair(sqlglot.parse_one(query, read="postgres"),
                                        lambda table: {"id": "INTEGER", "s": "VARCHAR", "b": "HUGEINT", "x": "DOUBLE",
                                                       "n": "DECIMAL(10,1)"})
    return duck.execute(repaired.sql("duckdb")).fetchall()


def test_a_cast_of_a_type_known_only_when_run_is_chosen_by_that_type():
    """An integer is exact (DECIMAL(38, 0)); rounded at once, a double goes through its 15
    significant digits (1.005 to 1.01 as in PostgreSQL) and text or a numeric exactly."""
    assert _run("select as_is(b)::numeric as v from s.t") == [(Decimal("12345678901234567890"),)]
    assert _run("select round(as_is(x)::numeric, 2), round(as_is(s)::numeric, 7), (as_is(n)::numeric)::int from s.t") == \
        [(Decimal("1.01"), Decimal("1E-7"), 3)]


@pytest.mark.parametrize("operand, value", [("as_is(s)", "1e-7"), ("as_is(x)", "1.005"), ("as_is(n)", "2.5")])
def test_a_cast_of_a_type_known_only_when_run_is_an_error_naming_the_value(operand, value):
    with pytest.raises(duckdb.InvalidInputException, match=rf"could not tell \(here {re.escape(value)}\).*numeric\(38, 10\)"):
        _run(f"select {operand}::numeric as v from s.t")


@pytest.mark.parametrize("declared", ['\ncolumns = { id = "integer", s = "text" }', ""])
def test_a_text_column_of_a_source_is_refused_at_its_line(tmp_path, run_cli, declared):
    """Declared in sources.toml or only in the warehouse's catalog."""
    (tmp_path / "warehouse").mkdir()
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb")) as duck:
        duck.execute("create schema app")
        duck.execute("create table app.ev as select 1 as id, '1e-7' as s")
    err = _refused(tmp_path, run_cli, {"warehouse/sources.toml": f"[app.tables.ev]{declared}\n",
                                       "features/k.sql": "select id,\n  s::numeric as v\nfrom {{ source('app', 'ev') }}\n"})
    assert re.search(r"features/k\.sql:2: .*text cast to numeric without a precision", err), err


def test_a_quoted_column_with_capitals_is_not_published_rounded(tmp_path, run_cli):
    """A source column stored as "Amount" (text): sqlglot could not type the statement, and its
    casts to numeric were left as DuckDB's DECIMAL(18, 3) (1e-7 published as 0.000, exit 0).
    Rounded at once it is exact; unrounded it fails naming the value."""
    (tmp_path / "warehouse").mkdir()
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb")) as duck:
        duck.execute("create schema app")
        duck.execute("""create table app.ev as select * from (values (1, '1e-7'), (2, '12.5')) v(id, "Amount")""")
    sources = {"warehouse/sources.toml": '[app.tables.ev]\ncolumns = { id = "integer", "Amount" = "text" }\n'}
    rounded = 'select id, round("Amount"::numeric, 8) as r from {{ source(\'app\', \'ev\') }}\n'
    two_target_project(tmp_path, "postgresql://unused", {**SEEDS, **sources, "features/r.sql": rounded}, dialect="postgres")
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 0, out + err
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as duck:
        assert duck.sql("select id, r::text from features.r order by id").fetchall() == [(1, "0.00000010"), (2, "12.50000000")]
    (tmp_path / "features/k.sql").write_text('select id, "Amount"::numeric as v from {{ source(\'app\', \'ev\') }}\n')
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code != 0 and "1e-7" in out + err, out + err
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as duck:
        published = duck.sql("select table_name from information_schema.tables where table_schema = 'features'").fetchall()
    assert ("k",) not in published
