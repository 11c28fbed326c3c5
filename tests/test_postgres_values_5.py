"""DuckDB's values and types kept on PostgreSQL (toolkit/pgmeanings.py) for sign, round and
trunc of integers (also as // operands), format's values, upper of 'ß' and lengths; or
refused at the user's line (format of a double, a decimal or a list; round(i, -1) of an
integer not cast back).

The PostgreSQL tests run steps through `toolkit run` on DuckDB and on PostgreSQL (a fresh
database, TOOLKIT_TEST_POSTGRES_URL) and compare the published rows and column types.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from meanings_support import assert_refused_at_line
from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

SEED = """id,i,b,d,n,s
1,7,7,0.7,2.50,straße
2,-7,-7,-2.5,-2.50,ÀÉß
3,5,5,1e10,1.25,abc
4,0,0,0.1,0.00,x
"""
# (column, expression): each published on both engines, values and types compared
COLUMNS = [
    ("sign_d", "sign(d)"), ("sign_n", "sign(n)"), ("sign_i", "sign(i)"), ("sign_div", "sign(d) // 2"),
    ("trunc_i", "trunc(i)"), ("trunc_div", "trunc(i) // 2"), ("trunc_b_div", "trunc(b) // 2"),
    ("trunc_n_div", "trunc(n) // 2"), ("trunc_d_div", "trunc(d) // 2"), ("trunc_places", "trunc(b, 1)"),
    ("round_i", "round(i)"), ("round_div", "round(i) // 2"), ("round_places", "round(i, 1)"),
    ("round_lit_div", "round(7) // 2"), ("round_cast", "round(cast(d as bigint))"),
    ("round_back", "cast(round(i, -1) as integer)"), ("nested_div", "trunc(round(i)) // 2"),
    ("round_n_div", "round(n) // 2"), ("floor_i", "floor(i)"), ("floor_div", "floor(i) // 2"), ("ceil_n_div", "ceil(n) // 2"),
    ("fmt_bool", "format('{} {}', i > 0, s)"), ("fmt_int", "format('<{}>', b)"),
    ("up", "upper(s)"), ("low", "lower(s)"),
    ("len_list", "len(l)"), ("length_list", "length(l)"), ("array_len", "array_length(l)"),
    ("array_len_empty", "array_length(cast([] as integer[]))"), ("len_text", "length(s)"), ("last", "l[-1]"),
]
# DuckDB types tinyint // 2 a TINYINT, PostgreSQL smallint / 2 an integer: the values only
VALUES_ONLY = {"sign_div"}


def _project(root, pg_url: str, step: str | None = None) -> None:  # noqa: F811
    select = ",\n  ".join(f"{expression} as {name}" for name, expression in COLUMNS)
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", i = "integer", b = "bigint", d = "double", '
                                'n = "decimal(10, 2)", s = "varchar" }\n',
        "features/l.sql": "select id, list_value(i, id, 3) as l from {{ ref('t') }}\n",
        "features/s.sql": step or f"select t.id,\n  {select}\nfrom {{{{ ref('t') }}}} t join {{{{ ref('l') }}}} l on l.id = t.id\n",
    }, "duckdb", "pgv5")


# DuckDB's type name -> PostgreSQL's for the published columns (toolkit publishes a TINYINT as
# a SMALLINT, a DECIMAL(p, s) as a NUMERIC)
_PG_TYPE = {"DOUBLE": "double precision", "VARCHAR": "text", "BOOLEAN": "boolean", "INTEGER": "integer",
            "BIGINT": "bigint", "TINYINT": "smallint", "SMALLINT": "smallint"}


def _pg_type(duckdb_type: str) -> str:
    return "numeric" if duckdb_type.startswith("DECIMAL") else _PG_TYPE.get(duckdb_type, duckdb_type)


def _same(a, b) -> bool:
    if isinstance(a, Decimal) and isinstance(b, str):  # a NUMERIC reads as text
        return a == Decimal(b)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isnan(a) and math.isnan(b)
    return a == b


def test_one_step_publishes_duckdbs_values_and_types_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    _project(root, pg_url)
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "s")
    names = [name for name, _ in [("id", None)] + COLUMNS]
    assert len(got) == len(want) == 4
    problems = []
    for name in names:
        if name not in VALUES_ONLY and got_types[name] != _pg_type(want_types[name]):
            problems.append(f"{name}: type {got_types[name]} on postgres, {want_types[name]} on duckdb")
    for want_row, got_row in zip(want, got):
        for name, a, b in zip(names, want_row, got_row):
            if not _same(a, b):
                problems.append(f"{name} (id {want_row[0]}): postgres {b!r}, duckdb {a!r}")
    assert not problems, "\n".join(problems)
    assert [row[names.index("up")] for row in got] == ["STRAẞE", "ÀÉẞ", "ABC", "X"]
    assert [row[names.index("sign_div")] for row in got] == [0, 0, 0, 0]


@pytest.mark.parametrize(("expression", "message"), [
    ("format('{}', d)", "s.sql:2: format of a double (t.d) writes other text on postgres (3.0 is '3' there)"),
    ("format('{} {}', s, n)", "s.sql:2: format of a decimal (t.n) writes other text on postgres"),
    ("format('{}', [i, id])", "s.sql:2: format of a list ([t.i, t.id]) writes other text on postgres"),
    ("round(i, -1)", "s.sql:2: round(t.i, -1) of an integer cannot run on postgres with DuckDB's type"),
    ("trunc(b, id)", "s.sql:2: trunc(t.b, t.id) of an integer cannot run on postgres"),
])
def test_a_refused_call_is_exit_2_at_the_line_before_publishing(expression, message, tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    _project(root, pg_url, f"select id,\n  {expression} as v\nfrom {{{{ ref('t') }}}}\n")
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 2, out + err
    assert message in out + err, out + err
    assert "Traceback" not in out + err
    assert not pg_query(pg_url, "select 1 from information_schema.tables where table_schema = 'features'")


@pytest.mark.parametrize(("expression", "message"), [
    ("format('{}', cast(k as double))", "format of a double (CAST(k AS DOUBLE)) writes other text on postgres"),
    ("round(cast(k as integer), -2)", "round(CAST(k AS INT), -2) of an integer cannot run on postgres"),
])
def test_refused_at_compile_at_the_line(expression, message):
    assert_refused_at_line("pgv5", expression, ["postgres"], message)
