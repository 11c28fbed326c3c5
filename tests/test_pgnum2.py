"""A project written for PostgreSQL (dialect = "postgres") casts a numeric computed in the step
(sum(bigint), avg(int), x / 3.0, numeric arithmetic: a numeric without declared precision in
PostgreSQL) to numeric on DuckDB as PostgreSQL does (pgdialectmeanings.py), or is refused:
such casts were left as DuckDB's DECIMAL(18, 3), so sum(b)::numeric was published 21.000
(21 there), avg(i)::numeric 1.667 (1.6666666666666667 there) and round((s / 10000.0)::numeric, 2)
of 1.0046 was 1.01, rounded twice (1.00 there), all with exit 0. Also a quoted "Amount" text
column's unrounded cast is exit 2 at its line like a lower-case one's, and 'NaN' text rounded
(NaN in PostgreSQL, no DuckDB DECIMAL holds it) is an error naming the value."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import duckdb
import pytest
from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, two_target_project, with_database

SEEDS = {
    "warehouse/seeds/t.csv": "g,b,i,n,s\n1,10,1,2.55,1.005\n1,11,2,1.25,NaN\n2,5,2,0.10,2\n2,7,10046,3.33,-0.125\n",
    "warehouse/seeds.toml": '[t]\ncolumns = { g = "integer", b = "bigint", i = "integer", n = "numeric(10, 2)", s = "text" }\n',
}

EXACT = """select g as id, sum(b)::numeric as sb, sum(n)::numeric as sn, (sum(n) * 2.5)::numeric as m,
  (sum(b) - 1.50)::numeric as d, round(sum(b)::numeric, 2) as r, round(max(i)::numeric, 1) as r1
from {{ ref('t') }} group by g
"""

ROUNDED = """select g as id, round(avg(i)::numeric, 2) as a2, round((sum(i) / 10000.0)::numeric, 2) as q2,
  (avg(b)::numeric)::int as k, round(avg(n)::numeric, 1) as an, (sum(i) / 3.0)::numeric(20, 4) as p4,
  round((max(n) / 3)::numeric) as r0
from {{ ref('t') }} group by g
"""


@pytest.fixture
def fixer_pg_url():
    """A fresh database named fixer_pgnum2_*, dropped afterwards."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    database = f"fixer_pgnum2_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _plain(value) -> str:
    """A published value as text, its scale kept (DuckDB gives Decimals, PostgreSQL may give text)."""
    return format(Decimal(str(value)), "f") if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool) else value


def _both(run_cli, root, url: str, step: str) -> tuple[list, list]:
    """`step`'s rows (by id, as text with their scale) published on DuckDB, then on PostgreSQL."""
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as duck:
        duck_rows = duck.sql(f"select * from features.{step} order by id").fetchall()
    pg_rows = pg_query(url, f"select * from features.{step} order by id")
    return [tuple(map(_plain, row)) for row in duck_rows], [tuple(map(_plain, row)) for row in pg_rows]


def test_exact_numerics_cast_to_numeric_keep_postgresql_scale(tmp_path, fixer_pg_url, run_cli):
    two_target_project(tmp_path, fixer_pg_url, {**SEEDS, "features/exact.sql": EXACT}, dialect="postgres")
    duck, pg = _both(run_cli, tmp_path, fixer_pg_url, "exact")
    assert pg[0] == ("1", "21", "3.80", "9.500", "19.50", "21.00", "2.0")
    assert duck == pg


def test_computed_numerics_rounded_at_once_are_postgresql_values(tmp_path, fixer_pg_url, run_cli):
    """avg(), a division: rounded once from the double's 15 significant digits (PostgreSQL's
    exact value rounded), not first to DuckDB's DECIMAL(18, 3) (1.0048 to 1.005, then 1.01)."""
    two_target_project(tmp_path, fixer_pg_url, {**SEEDS, "features/rounded.sql": ROUNDED}, dialect="postgres")
    duck, pg = _both(run_cli, tmp_path, fixer_pg_url, "rounded")
    assert pg[1][:3] == ("2", "5024.00", "1.00")  # 10048 / 10000.0 = 1.0048: 1.00
    assert duck == pg


@pytest.mark.parametrize("call, says", [
    ("avg(i)::numeric", r"features/k\.sql:2: .*computed by a division, avg\(\) .*1\.6666666666666667.*round\(avg\(x\)::numeric, 2\)"),
    ("(sum(i) / 3.0)::numeric * 2", r"features/k\.sql:2: .*computed by a division"),
    ("cast(sqrt(sum(n)) + 1 as numeric)", r"features/k\.sql:2: .*(computed by a division|double precision cast to numeric)"),
])
def test_a_computed_numeric_unrounded_is_refused_at_its_line(tmp_path, run_cli, call, says):
    two_target_project(tmp_path, "postgresql://unused", {**SEEDS, "features/k.sql": f"select g as id,\n  {call} as v\n"
                                                          "from {{ ref('t') }} group by g\n"}, dialect="postgres")
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2, out + err
    assert "Traceback" not in err and re.search(says, err), err


def test_a_quoted_text_column_with_capitals_is_refused_at_its_line(tmp_path, run_cli):
    (tmp_path / "warehouse").mkdir()
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb")) as duck:
        duck.execute("create schema app")
        duck.execute("""create table app.ev as select * from (values (1, '1e-7'), (2, '12.5')) v(id, "Amount")""")
    files = {"warehouse/sources.toml": '[app.tables.ev]\ncolumns = { id = "integer", "Amount" = "text" }\n',
             "features/k.sql": 'select id,\n  "Amount"::numeric as v\nfrom {{ source(\'app\', \'ev\') }}\n'}
    two_target_project(tmp_path, "postgresql://unused", {**SEEDS, **files}, dialect="postgres")
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2, out + err
    assert re.search(r"features/k\.sql:2: .*text cast to numeric without a precision", err), err


def test_nan_text_rounded_is_an_error_naming_it_not_a_wrong_value(tmp_path, fixer_pg_url, run_cli):
    """PostgreSQL rounds 'NaN' to NaN (its numeric has NaN); no DECIMAL of DuckDB holds it."""
    step = "select g as id, round(s::numeric, 2) as r from {{ ref('t') }}\n"
    two_target_project(tmp_path, fixer_pg_url, {**SEEDS, "features/k.sql": step}, dialect="postgres")
    code, out, err = run_cli("run", "--target", "pg", cwd=tmp_path)
    assert code == 0, out + err
    assert ("nan",) in [tuple(map(_plain, row)) for row in pg_query(fixer_pg_url, "select r from features.k")]
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code != 0 and "Traceback" not in err, out + err
    assert re.search(r"'NaN' cast to numeric .*PostgreSQL's numeric has NaN", out + err), out + err
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as duck:
        published = duck.sql("select table_name from information_schema.tables where table_schema = 'features'").fetchall()
    assert ("k",) not in published


def test_a_nan_string_rounded_is_refused_at_its_line(tmp_path, run_cli):
    two_target_project(tmp_path, "postgresql://unused", {**SEEDS, "features/k.sql": "select g as id,\n  round('NaN'::numeric, 2)"
                                                          " as v\nfrom {{ ref('t') }}\n"}, dialect="postgres")
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 2, out + err
    assert re.search(r"features/k\.sql:2: 'NaN'::numeric .*no DuckDB DECIMAL holds its value", err), err
