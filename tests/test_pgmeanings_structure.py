"""One module writes DuckDB's meanings for PostgreSQL (pgmeanings.py), and one function
refuses a double written as text on both targets (doubletext.py).

DuckDB's // divides decimals and doubles as doubles (7.50 // 2 is 3.75, a DOUBLE) and
truncates integers. sql.py once also spelled every // left by pgmeanings as /, without the
types: where sqlglot could not type the operand (trunc(d), median(d), arg_max(d, i)), a
decimal's quotient was published as a NUMERIC on PostgreSQL. The typed rewrite now decides
every //, and those calls are typed from their argument (meanings._untyped_call_family)."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

from toolkit import meanings, sql
from toolkit.regexmeanings import Refused


def _project(root, pg_url, step: str):
    files = {
        "toolkit.toml": ('name = "x"\ndialect = "duckdb"\ntarget = "local"\n[targets.local]\nengine = "duckdb"\n'
                         f'path = "warehouse/w.duckdb"\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'),
        "warehouse/seeds/t.csv": "id,i,d\n1,7,7.50\n2,-7,-7.25\n3,5,1.00\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", i = "integer", d = "decimal(10, 2)" }\n',
        "features/s.sql": step,
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


# one row per id: median groups by it
STEP = """\
select id,
       trunc(d) // 2 as trunc_div, median(d) // 2 as median_div, median(i) // 2 as median_int_div,
       d // 2 as d_div, i // 2 as int_div, floor(i) // 2 as floor_int_div
from {{ ref('t') }}
group by id, d, i
"""
TYPES = "select column_name, data_type from information_schema.columns where table_name = 's' order by ordinal_position"
AS_POSTGRES = {"INTEGER": "integer", "BIGINT": "bigint", "DOUBLE": "double precision"}


def test_decimal_floor_division_publishes_duckdbs_double_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    _project(tmp_path, pg_url, STEP)
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=tmp_path)
        assert code == 0, out + err
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as duck:
        want = duck.execute("select * from features.s order by id").fetchall()
        want_types = duck.execute(TYPES).fetchall()
    assert [tuple(row) for row in pg_query(pg_url, "select * from features.s order by id")] == want
    assert [tuple(row) for row in pg_query(pg_url, TYPES)] == [(name, AS_POSTGRES.get(kind, kind)) for name, kind in want_types]


def test_compile_target_pg_divides_a_decimal_call_as_doubles(tmp_path, run_cli):
    _project(tmp_path, "postgresql://postgres@127.0.0.1:1/unused", "select trunc(d) // 2 as h, i // 2 as k\nfrom {{ ref('t') }}\n")
    code, out, err = run_cli("compile", "--target", "pg", "s", cwd=tmp_path)
    assert code == 0, out + err
    assert 'CAST(TRUNC("t"."d") AS DOUBLE PRECISION) / CAST(2 AS DOUBLE PRECISION)' in out, out
    assert '"t"."i" / 2\n' in out and "DIV(" not in out, out


def _postgres(text: str, types=None) -> str:
    return sql.to_target(sqlglot.parse_one(text, read="duckdb"), "duckdb", "postgres", types)


def test_spellings_are_pgmeanings_own():
    """meanings.repair (pgmeanings) writes them: sql.py adds nothing for PostgreSQL."""
    tree = sqlglot.parse_one("select make_date(2024, 1, 2) as d, weekofyear(t) as w, len([1, 2]) as n, "
                             "isfinite(f) as fin, cast(i as hugeint) as h, x // y as q", read="duckdb")
    text = meanings.repair(tree, "postgres", "duckdb").sql("postgres")
    assert "MAKE_DATE(2024, 1, 2)" in text and "CAST(EXTRACT(WEEK FROM t) AS BIGINT)" in text
    assert "CAST(CARDINALITY(ARRAY[1, 2]) AS BIGINT)" in text and "NOT CAST(f AS TEXT) IN ('Infinity'" in text
    assert "CAST(i AS DECIMAL(38, 0))" in text and "x / y AS q" in text and "DIV" not in text
    assert meanings.repair(tree, "postgres", "duckdb").sql("postgres") == sql.repair_for(tree, "postgres", "duckdb").sql("postgres")


def test_unknown_operands_keep_their_division_text():
    assert _postgres("select x // y as q from t") == 'SELECT "x" / "y" AS "q" FROM "t"'
    assert _postgres("select x // 2.5 as q from t") == \
        'SELECT (CAST("x" AS DOUBLE PRECISION) / CAST(2.5 AS DOUBLE PRECISION)) AS "q" FROM "t"'


@pytest.mark.parametrize("write, step, message, token", [
    ("postgres", "select cast(f as varchar) as s from t",
     "cast(f as text) of a double writes other text on postgres (3.0 is '3' there, '3.0' and '10000000000.0' in "
     "DuckDB): cast it to a decimal first, e.g. cast(cast(x as decimal(18, 6)) as varchar)", "f"),
    ("spark", "select cast(f as varchar) as s from t",
     "cast(f as text) of a double writes other text on spark (1e10 is '1.0E10' there, '3.0' and '10000000000.0' in "
     "DuckDB): cast it to a decimal first, e.g. cast(cast(x as decimal(18, 6)) as varchar)", "f"),
    ("postgres", "select s || f as s from t",
     "|| of a double (s || f) writes other text on postgres (5.0 is '5' there, '5.0' in DuckDB): cast the double to "
     "a decimal first, e.g. cast(x as decimal(18, 6))", "s"),  # its first column, as before
])
def test_one_refusal_of_a_double_written_as_text(write, step, message, token):
    tree = sqlglot.parse_one(step, read="duckdb")
    types = meanings.cast_types(tree, {"t": {"f": "double", "s": "varchar"}}, "duckdb")
    with pytest.raises(Refused) as refused:
        meanings.repair(tree, write, "duckdb", types)
    assert str(refused.value) == message
    assert refused.value.token == token
