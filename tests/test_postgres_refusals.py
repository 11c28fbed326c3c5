"""DuckDB calls that passed the compile check but failed on PostgreSQL when built (exit 1,
the server's error, after other steps were built): each is now written with DuckDB's values
there, or refused at compile (exit 2, the file and line, "not portable to postgres").

Refused: try_cast (sqlglot writes CAST, which fails on bad text), mode (PostgreSQL breaks ties
with the smallest value, DuckDB with the first read), GLOB. Rewritten: f // 2 (DIV takes no
double), make_date (DATE_FROM_PARTS), weekofyear (WEEK_OF_YEAR), isfinite of a double,
len([...]) (LENGTH takes text), ::hugeint (INT128: NUMERIC(38, 0), as HUGEINT seeds).
DuckDB's // of a DECIMAL is a DOUBLE division: written as /, a NUMERIC of the same value
there (DIV truncated it to a whole number before). `compile --target pg` refuses, without a
connection, the calls sqlglot writes that PostgreSQL does not have, as plan and run do."""

from __future__ import annotations

import duckdb
import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

NO_SERVER = "postgresql://postgres@127.0.0.1:1/unused"  # compile never connects


def _project(root, pg_url, step: str):
    files = {
        "toolkit.toml": ('name = "x"\ndialect = "duckdb"\ntarget = "local"\n[targets.local]\nengine = "duckdb"\n'
                         f'path = "warehouse/w.duckdb"\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'),
        "warehouse/seeds/t.csv": "id,i,j,s,dt,f\n1,7,2,abc,2024-01-15,2.5\n2,-7,2,12,2024-12-30,-0.5\n3,5,3,a,2021-01-03,1.5\n",
        "warehouse/seeds.toml": ('[t]\ncolumns = { id = "integer", i = "integer", j = "integer", s = "varchar", '
                                 'dt = "date", f = "double" }\n'),
        "features/s.sql": step,
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


@pytest.mark.parametrize("call, message", [
    ("try_cast(s as integer)", "try_cast(...) is not portable to postgres"),
    ("mode(j)", "mode(...) is not portable to postgres"),
    ("s glob 'a*'", "GLOB is not portable to postgres"),
    ("dayname(dt)", "dayname(...) is not portable to postgres: translated to DAYNAME(...)"),
    ("list_transform([i, j], x -> x + 1)", "list_transform(...) is not portable to postgres: translated to TRANSFORM(...)"),
])
def test_compile_target_pg_refuses_at_the_line(tmp_path, run_cli, call, message):
    grouped = "\ngroup by id" if call.startswith("mode") else ""
    _project(tmp_path, NO_SERVER, f"select id,\n       {call} as x\nfrom {{{{ ref('t') }}}}{grouped}\n")
    code, out, err = run_cli("compile", "--target", "pg", "s", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err, out + err
    assert "features/s.sql:2" in err and message in err, err


def test_compile_target_pg_writes_postgres_spellings(tmp_path, run_cli):
    _project(tmp_path, NO_SERVER, "select id, make_date(2024, 1, 2) as d, weekofyear(dt) as w, f // 2 as h\n"
                                  "from {{ ref('t') }}\n")
    code, out, err = run_cli("compile", "--target", "pg", "s", cwd=tmp_path)
    assert code == 0, out + err
    assert "MAKE_DATE(2024, 1, 2)" in out and "EXTRACT(WEEK FROM" in out and "DIV(" not in out, out


STEP = """\
select id,
       f // 2 as f_div, i // 2 as i_div, (i * 1.5) // 2 as n_div,
       len([i, j]) as n_list, len([]::integer[]) as n_empty,
       isfinite(f) as fin, isfinite(cast(null as double)) as fin_null,
       isfinite(cast('NaN' as double)) as fin_nan, isfinite(cast('-Infinity' as double)) as fin_inf,
       isfinite(dt) as fin_date,
       i::hugeint * 10000000000000000 as h,
       make_date(2024, j, 29) as made,
       weekofyear(dt) as w
from {{ ref('t') }}
"""


def test_rewritten_calls_publish_duckdbs_values_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    _project(tmp_path, pg_url, STEP)
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=tmp_path)
        assert code == 0, out + err
    # n_div: a DECIMAL quotient is a DOUBLE in DuckDB, a NUMERIC of the same value on PostgreSQL;
    # h: a HUGEINT there is a NUMERIC(38, 0), as toolkit publishes HUGEINT seeds
    columns = "id, f_div, i_div, cast(n_div as double) as n_div, n_list, n_empty, fin, fin_null, fin_nan, fin_inf, " \
              "fin_date, cast(h as varchar) as h, made, w"
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as duck:
        want = duck.execute(f"select {columns} from features.s order by id").fetchall()
    got = pg_query(pg_url, f"select {columns.replace('double', 'float8')} from features.s order by id")
    assert [tuple(row) for row in got] == want
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as duck:
        want_types = duck.execute(TYPES).fetchall()
    as_postgres = {"INTEGER": "integer", "BIGINT": "bigint", "DOUBLE": "double precision", "BOOLEAN": "boolean",
                   "DATE": "date", "HUGEINT": "numeric", "DECIMAL(38,0)": "numeric"}
    assert [(name, as_postgres.get(kind, kind)) for name, kind in want_types if name != "n_div"] == \
        [row for row in pg_query(pg_url, TYPES) if row[0] != "n_div"]


TYPES = "select column_name, data_type from information_schema.columns where table_name = 's' order by ordinal_position"
