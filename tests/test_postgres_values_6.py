"""DuckDB's values and types kept on PostgreSQL (toolkit/pgmeanings.py) for a HUGEINT column
an upstream step publishes (a NUMERIC(38, 0) there, whose catalog type is a DECIMAL(38, 0)'s:
the step's own SQL says it is an integer) under //, round, trunc and format, and for format
of a NULL value (NULL in DuckDB, '' by PostgreSQL's %s); a real decimal's format stays
refused at compile, exit 2 at the user's line.

The tests run steps through `toolkit run` on DuckDB and on PostgreSQL (a fresh database,
TOOLKIT_TEST_POSTGRES_URL) and compare the published rows and column types.
"""

from __future__ import annotations

from decimal import Decimal


from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

SEED = "id,i,s\n1,,\n2,-3,x\n3,5,abc\n4,-1,y\n"
# (column, expression) of features.v, read from features.h: each published on both engines
COLUMNS = [
    ("d1", "hi // 2"), ("d2", "round(hi) // 2"), ("d3", "trunc(hi) // 2"), ("d4", "total // 2"), ("d5", "hi // -2"),
    ("r", "round(hi)"), ("tr", "trunc(hi)"),
    ("f_hi", "format('{}', hi)"), ("f_total", "format('<{}>', total)"),
    ("f_bool", "format('{}', i > 0)"), ("f_text", "format('{}', nullif(s, ''))"), ("f_int", "format('<{}>', i)"),
    ("f_two", "format('{} {}', s, i)"), ("f_extra", "format('x', i)"), ("f_null", "format('{}', null)"),
    ("f_percent", "format('[{}]%', id)"),
]
_PG_TYPE = {"VARCHAR": "text", "BOOLEAN": "boolean", "INTEGER": "integer", "BIGINT": "bigint", "HUGEINT": "numeric"}


def _project(root, pg_url: str, step: str | None = None) -> None:  # noqa: F811
    select = ",\n  ".join(f"{expression} as {name}" for name, expression in COLUMNS)
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", i = "integer", s = "varchar" }\n',
        # a HUGEINT cast and an integer sum (DuckDB: HUGEINT), NUMERIC(38, 0)s on PostgreSQL
        "features/h.sql": "select id, i, s, cast(-id as hugeint) as hi,\n  sum(coalesce(i, 0) - 2 * id) over (order by id) as total\n"
                          "from {{ ref('t') }}\n",
        "features/v.sql": step or f"select id,\n  {select}\nfrom {{{{ ref('h') }}}}\n",
    }, "duckdb", "pgv6")


def _same(a, b) -> bool:
    if isinstance(a, int) and isinstance(b, str):  # a HUGEINT is a NUMERIC(38, 0) there, read as text
        return Decimal(b) == a and Decimal(b).as_tuple().exponent == 0
    return a == b and type(a) is type(b)


def test_hugeint_and_null_formats_publish_duckdbs_values_and_types(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    _project(root, pg_url)
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    names = ["id"] + [name for name, _ in COLUMNS]
    assert len(got) == len(want) == 4
    problems = []
    for name in names:
        if got_types[name] != _PG_TYPE.get(want_types[name], want_types[name]):
            problems.append(f"{name}: type {got_types[name]} on postgres, {want_types[name]} on duckdb")
    for want_row, got_row in zip(want, got):
        for name, a, b in zip(names, want_row, got_row):
            if not _same(a, b):
                problems.append(f"{name} (id {want_row[0]}): postgres {b!r}, duckdb {a!r}")
    assert not problems, "\n".join(problems)
    assert [row[names.index("d1")] for row in want] == [0, -1, -1, -2]  # truncated toward zero
    assert [row[names.index("f_text")] for row in want] == [None, "x", "abc", "y"]
    assert [row[names.index("f_int")] for row in want] == [None, "<-3>", "<5>", "<-1>"]
    assert [row[names.index("f_hi")] for row in want] == ["-1", "-2", "-3", "-4"]
    numeric = pg_query(pg_url, "select format_type(atttypid, atttypmod) from pg_attribute "
                               "where attrelid = 'features.v'::regclass and attname in ('d1', 'd2', 'r') order by attname")
    assert [row[0] for row in numeric] == ["numeric(38,0)"] * 3  # as toolkit publishes a HUGEINT
    total = pg_query(pg_url, "select format_type(atttypid, atttypmod) from pg_attribute "
                             "where attrelid = 'features.h'::regclass and attname = 'total'")
    assert total == [("numeric(38,0)",)]  # sum(int) over a window: a HUGEINT in DuckDB


def test_format_of_a_decimal_is_refused_at_the_line(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    _project(root, pg_url, "select id,\n  format('{}', cast(hi as decimal(38, 0)) / 4) as v\nfrom {{ ref('h') }}\n")
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 2, out + err
    assert "v.sql:2: format of a decimal" in out + err, out + err
    assert "Traceback" not in out + err
