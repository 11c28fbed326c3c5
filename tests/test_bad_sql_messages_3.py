"""SQL a tester wrote that ended in an internal error, a false refusal or a message at the
wrong line: each now runs as DuckDB runs it, or is exit 2 naming the file and the line
where the construct is written, with no traceback."""

from __future__ import annotations

import re

import duckdb
import pytest

from postgres_support import pg_query, pg_url, two_target_project  # noqa: F401 (a fixture)

SOURCE = ("select 1 as id, date '2024-01-31' as d, 2 as k, timestamptz '2024-01-01 10:00:00+00' as ts,\n"
          "       'hello wORLD-x' as s\n")


def _duck_rows(root, name: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as con:
        return con.execute(f"select * from features.{name} order by all").fetchall()


def _refused(run_cli, root, where: str, *phrases: str, args=("run",)) -> str:
    code, out, err = run_cli(*args, cwd=root)
    assert code == 2, f"exit {code}\n{out}\n{err}"
    assert "Traceback" not in out + err and "internal error" not in err
    message = err.strip()
    assert re.search(rf"^error: {re.escape(where)}(:|\b)", message), f"expected {where} in: {message}"
    for phrase in phrases:
        assert phrase in message, f"expected {phrase!r} in: {message}"
    return message


def _project(root, url: str, files: dict[str, str], dialect: str = "duckdb") -> None:
    two_target_project(root, url, {"features/a.sql": SOURCE, **files}, dialect, "msgs")


# -- 1. INTERVAL (k) MONTH ---------------------------------------------------------------

INTERVALS = """-- an amount read from a column
select
  id,
  d + interval (k) month as months_later,
  d - interval (k * 2) day as days_before,
  date_add(d, interval (k + 1) quarter) as quarters_later,
  ts + interval (k) hour as hours_later,
  ts + interval (k) second as seconds_later
from {{ ref('a') }}
"""


def test_interval_of_a_column_runs_on_postgres_as_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    """`d + interval (k) month` ran on DuckDB and was 'internal error: ParseError' on a
    PostgreSQL target: sqlglot wrote `INTERVAL MONTH` (the amount dropped). It is
    make_interval(months => ...) there."""
    root = tmp_path / "p"
    _project(root, pg_url, {"features/later.sql": INTERVALS})
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=root)
        assert code == 0, out + err
    expected = _duck_rows(root, "later")
    assert [str(value) for value in expected[0][1:4]] == ["2024-03-31 00:00:00", "2024-01-27 00:00:00", "2024-10-31 00:00:00"]
    got = pg_query(pg_url, "select * from features.later order by 1")
    assert [tuple(str(v) for v in row) for row in got] == [tuple(str(v) for v in row) for row in expected]


WRITTEN_FRACTIONS = """select
  id,
  d + interval (1.5) month as a_month,
  d + interval '1.5' month as a_month_quoted,
  ts + interval 2.7 year as two_years,
  ts - interval '1.5' day as a_day_before,
  ts + interval (2.5) hour as two_hours,
  ts + interval '1.5' second as a_second_and_a_half,
  ts + interval '1.5 months' as one_string
from {{ ref('a') }}
"""


def test_a_written_fraction_of_a_whole_unit_is_cut_on_postgres_as_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    """DuckDB cuts `INTERVAL (1.5) MONTH` to one month; PostgreSQL read the literal it was
    written as ('1.5 MONTH') as one month and fifteen days, and published other dates."""
    root = tmp_path / "p"
    _project(root, pg_url, {"features/fractions.sql": WRITTEN_FRACTIONS})
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=root)
        assert code == 0, out + err
    expected = _duck_rows(root, "fractions")
    assert [str(value) for value in expected[0][1:3]] == ["2024-02-29 00:00:00", "2024-02-29 00:00:00"]
    got = pg_query(pg_url, "select * from features.fractions order by 1")
    assert [tuple(str(v) for v in row) for row in got] == [tuple(str(v) for v in row) for row in expected]


def test_interval_in_a_unit_postgres_cannot_take_is_exit_2_at_its_line(tmp_path, run_cli):
    root = tmp_path / "p"
    _project(root, "postgresql://nobody@127.0.0.1:1/none", {
        "features/span.sql": "select\n  id,\n  interval (k) day to hour as span\nfrom {{ ref('a') }}\n"})
    _refused(run_cli, root, "features/span.sql:3", "cannot be written for postgres", args=("compile", "--target", "pg"))


# -- 2. EXTRACT from a TIMESTAMPTZ on DuckDB itself -------------------------------------------


def test_extract_from_a_timestamptz_runs_on_duckdb(make_project, run_cli):
    """sqlglot's DuckDB generator remarks that Snowflake extracts otherwise; as an error it
    failed the build of DuckDB SQL on DuckDB (exit 1, the remark as the step's error)."""
    root = make_project({"features/a.sql": SOURCE,
                         "features/h.sql": "select\n  id,\n  extract(hour from cast(ts as timestamptz)) as h\nfrom {{ ref('a') }}\n"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert "may produce different results" not in out + err
    with duckdb.connect(str(root / "warehouse/test.duckdb"), read_only=True) as con:
        assert con.execute("select h from features.h").fetchall() == [(10,)]


# -- 3. initcap and unknown functions -------------------------------------------------------

CAPITALS = "-- initcap\nselect\n  id,\n  initcap(s) as t\nfrom {{ ref('a') }}\n"


def test_initcap_runs_on_postgres_after_a_duckdb_run(tmp_path, pg_url, run_cli):  # noqa: F811
    """The compile cache keeps a step as DuckDB text, where sqlglot writes initcap as a
    regexp/list expression; read back for PostgreSQL it was refused at line 1 ('regexp_matches
    with the pattern ...'), a call the user never wrote. Such a step is compiled afresh."""
    root = tmp_path / "p"
    _project(root, pg_url, {"features/caps.sql": CAPITALS})
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=root)
        assert code == 0, out + err
    assert _duck_rows(root, "caps") == [(1, "Hello World-X")]
    assert pg_query(pg_url, "select * from features.caps") == [(1, "Hello World-X")]


def test_a_function_duckdb_does_not_know_is_exit_2_at_its_line(make_project, run_cli):
    """It failed the build with DuckDB's 'Catalog Error: Scalar Function with name proper does
    not exist!' (exit 1, no line), after the steps before it were built."""
    root = make_project({"features/a.sql": SOURCE,
                         "features/caps.sql": "-- proper case\nselect\n  id,\n  proper(s) as t\nfrom {{ ref('a') }}\n"})
    _refused(run_cli, root, "features/caps.sql:4", "proper(...) is not a function this duckdb target knows")


# -- 4. UNION BY NAME ---------------------------------------------------------------------------


def test_union_by_name_matches_columns_by_name(make_project, run_cli):
    """It was refused as a positional union ('different numbers of columns')."""
    root = make_project({"features/a.sql": SOURCE, "features/b.sql": "select 2 as k, 5 as id\n",
                         "features/u.sql": "select id, k from {{ ref('a') }}\nunion all by name\nselect k, id, 'b' as side from {{ ref('b') }}\n",
                         "features/v.sql": "select side, id from {{ ref('u') }}\n"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse/test.duckdb"), read_only=True) as con:
        assert con.execute("select id, k, side from features.u order by id").fetchall() == [(1, 2, None), (5, 2, "b")]
        assert con.execute("select * from features.v order by id").fetchall() == [(None, 1), ("b", 5)]


def test_positional_union_of_other_widths_is_still_refused(make_project, run_cli):
    root = make_project({"features/a.sql": SOURCE, "features/b.sql": "select 2 as k, 5 as id\n",
                         "features/u.sql": "select id, k from {{ ref('a') }}\nunion all\nselect k, id, 3 from {{ ref('b') }}\n"})
    _refused(run_cli, root, "features/u.sql:3", "different numbers of columns")


# -- 5. refusals at the line of what they refuse ---------------------------------------------


@pytest.mark.parametrize("call, phrase", [
    ("sha2(s, 512)", "SHA256"),
    ("regexp_substr(s, 'a', 1, 1, 'q')", "Regexp flags"),
], ids=["sha2", "regexp-flags"])
def test_snowflake_call_duckdb_cannot_take_is_refused_at_its_line(make_project, run_cli, call, phrase):
    """sqlglot's 'cannot translate' names no place: the refusal said line 1."""
    config = 'name = "s"\ndialect = "snowflake"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/s.duckdb"\n'
    root = make_project({"toolkit.toml": config, "features/a.sql": "select 1 as id, 'abc' as s\n",
                         "features/c.sql": f"-- {phrase}\nselect\n  id,\n\n  {call} as t\nfrom {{{{ ref('a') }}}}\n"})
    _refused(run_cli, root, "features/c.sql:5", "cannot translate to duckdb", phrase)


def test_call_spelled_otherwise_than_sqlglot_writes_it_is_refused_at_its_line(tmp_path, run_cli):
    """string_split(...) is STR_SPLIT(...) in sqlglot's DuckDB text: searched under that name,
    the refusal for PostgreSQL said line 1."""
    root = tmp_path / "p"
    _project(root, "postgresql://nobody@127.0.0.1:1/none", {
        "features/last.sql": "-- last word\nselect\n  id,\n  string_split(s, ' ')[-1] as t\nfrom {{ ref('a') }}\n"})
    _refused(run_cli, root, "features/last.sql:4", "translated to SPLIT(...)", args=("compile", "--target", "pg"))
