"""DuckDB's values and types kept on PostgreSQL (toolkit/pgmeanings.py), or refused at the
user's line: round of a double, substring from the end, strftime, LIKE without ESCAPE,
list[-k], date_trunc of a date, format's {} and regexes mixing lazy and greedy quantifiers.

The PostgreSQL test runs one step through `toolkit run` on DuckDB and on PostgreSQL (a fresh
database, TOOLKIT_TEST_POSTGRES_URL) and compares the published rows and column types.
"""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from meanings_support import assert_refused_at_line
from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

SEED = """id,i,j,s,dt,f
1,7,2,abc,2024-01-15,2.5
2,-7,2,Hello World,2024-12-30,-0.5
3,5,3,a\\b%x,2021-01-03,1.5
4,0,1,C:\\temp,2024-03-10,2.675
"""
# (column, expression): each published on both engines, values and types compared
COLUMNS = [
    ("r0", "round(f)"), ("r2", "round(f, 2)"), ("r2675", "round(2.675::double, 2)"), ("r7", "round(f / 7, 7)"), ("r_expr", "round(f * 3 + id / 1000, 2)"),
    ("r_window", "round(sum(f) over (order by id) * 1.5, 1)"),
    ("sub_neg", "substring(s, -2, 2)"), ("substr_neg", "substr(s, -3)"), ("sub_var", "substring(s, -i, 2)"),
    ("iso_weekday", "strftime(dt, '%a %u')"), ("weekday0", "strftime(dt, '%w')"),
    ("ampm", "strftime(timestamp '2024-03-05 14:07:09', '%I %p Day %Y-%m-%d %%')"),
    ("like_bs", "s like 'a\\%'"), ("not_like", "s not like 'C:\\t%'"), ("ilike_bs", "s ilike 'A\\B%'"),
    ("like_any", "s like any ('C:\\t%', 'x')"), ("like_col", "'a\\b%x' like s"),
    ("last_el", "[i, j][-1]"), ("second_last", "list_value(i, j, id)[-2]"), ("first_el", "[i, j][1]"),
    ("mon", "date_trunc('month', dt)"), ("label", "format('{}-{} 100%', s, i)"),
    ("half_div", "i // 2.0"), ("by_1_5", "i // 1.5"), ("by_f", "i // f"), ("int_div", "i // j"),
    ("avg_as_int", "cast(avg(id + 1) over (partition by id <= 2) as integer)"), ("avg_f", "avg(id) filter (where id > 1) over ()"),
    ("epoch_as_int", "cast(extract(epoch from timestamp '2024-01-01 00:00:00.5') as bigint)"),
    ("epoch_ms", "epoch_ms(timestamp '2024-01-01 00:00:00.0005')"),
    ("dst_hours", "date_diff('hour', timestamptz '2024-03-30 12:00:00+01', timestamptz '2024-03-31 12:00:00+02')"),
    ("dst_minutes", "date_diff('minute', timestamptz '2024-10-26 12:00:00+02', cast(dt as timestamptz) + interval 300 day)"),
    ("dst_seconds", "date_diff('second', cast(dt as timestamptz), timestamptz '2024-03-31 12:00:00+02')"),
]


def _project(root, pg_url: str) -> None:  # noqa: F811
    select = ",\n  ".join(f"{expression} as {name}" for name, expression in COLUMNS)
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", i = "integer", j = "integer", s = "varchar", '
                                'dt = "date", f = "double" }\n',
        "features/s.sql": f"select id,\n  {select}\nfrom {{{{ ref('t') }}}}\n",
    }, "duckdb", "pgv", settings='time_zone = "Europe/Berlin"\n')


# DuckDB's type name -> PostgreSQL's for the published columns
_PG_TYPE = {"DOUBLE": "double precision", "VARCHAR": "text", "BOOLEAN": "boolean", "INTEGER": "integer",
            "BIGINT": "bigint", "TIMESTAMP": "timestamp without time zone"}


def _same(a, b) -> bool:
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
        if got_types[name] != _PG_TYPE.get(want_types[name], want_types[name]):
            problems.append(f"{name}: type {got_types[name]} on postgres, {want_types[name]} on duckdb")
    for want_row, got_row in zip(want, got):
        for name, a, b in zip(names, want_row, got_row):
            if isinstance(a, datetime) or isinstance(b, datetime):
                a, b = a.replace(tzinfo=None) if a else a, b.replace(tzinfo=None) if b else b
            if not _same(a, b):
                problems.append(f"{name} (id {want_row[0]}): postgres {b!r}, duckdb {a!r}")
    assert not problems, "\n".join(problems)


REFUSED = [  # (expression, words of the message)
    ("regexp_replace(s, 'l.*?o.*', '*')", "mixes lazy (*?, +?, ??) and greedy quantifiers"),
    ("regexp_matches(s, 'a+b*?')", "mixes lazy"),
    ("strftime(t, '%U')", "strftime code %U has no same-meaning TO_CHAR pattern on postgres"),
    ("strftime(t, s)", "with a format that is not a string literal"),
    ("format('{:d}', k)", "format placeholder {:d} has no same-meaning spelling on postgres"),
    ("round(cast(k as double), k)", "but for places written as a literal 0 to 7"),
    ("round(cast(k as double), -1)", "but for places written as a literal 0 to 7"),
    ("s like any (s, 'x')", "LIKE ANY of patterns that are not string literals"),
    ("concat(s, cast(k as double))", "concat of a double (CONCAT(s, CAST(k AS DOUBLE))) writes other text on postgres"),
    ("s || 5.0::double", "|| of a double"),
]


@pytest.mark.parametrize(("expression", "message"), REFUSED)
def test_refused_at_compile_at_the_line(expression, message):
    assert_refused_at_line("pgv", expression, ["postgres"], message)


@pytest.mark.parametrize(("expression", "message"), [
    ("regexp_replace(s, 'l.*?o.*', '*')", "s.sql:2: regexp_replace with the pattern 'l.*?o.*' mixes lazy"),
    ("concat(s, f)", "s.sql:2: concat of a double"),  # f: a double only the seed's declaration says
    ("s || (f * 2)", "s.sql:2: || of a double"),
])
def test_a_refused_call_is_exit_2_at_the_line_before_publishing(expression, message, tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    _project(root, pg_url)
    (root / "features/s.sql").write_text(f"select id,\n  {expression} as v\nfrom {{{{ ref('t') }}}}\n")
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 2, out + err
    assert message in out + err, out + err
    assert "Traceback" not in out + err
    assert not pg_query(pg_url, "select 1 from information_schema.tables where table_schema = 'features'")
