"""A Snowflake step (dialect = "snowflake") publishes on PostgreSQL the values and types it
publishes on DuckDB (toolkit/snowflakemeanings.py): last_day of a quarter, year or week,
date_trunc of a date, GROUP BY ALL, mode, the epoch_* date parts; parse_json(...)[...] and
mode(...) OVER are refused (exit 2, file and line).

Each test runs `toolkit run` on DuckDB and on a fresh PostgreSQL database
(TOOLKIT_TEST_POSTGRES_URL) and compares the published rows and column types.
"""

from __future__ import annotations

import datetime

from postgres_support import built_on_both, pg_query, pg_url, published_differences, two_target_project  # noqa: F401 (pg_url is a fixture)

COLUMN_TYPES = ("select column_name, data_type from information_schema.columns where table_schema = 'features' "
                "and table_name = '{step}' order by ordinal_position")
SEEDS = '[t]\ncolumns = { id = "integer", d = "date", ts = "timestamp", x = "integer", js = "varchar" }\n'
# a leap February, a Saturday at a year's end, a Sunday, a Monday, quarter ends, before 1970
ROWS = ("id,d,ts,x,js\n"
        "1,2024-02-10,2024-02-10 10:00:00.7,1,\"{\"\"a\"\": [1, 2]}\"\n"
        "2,2024-11-30,2024-11-30 23:59:59.5,1,\n"
        "3,2024-03-31,2024-03-31 02:30:00,2,\n"
        "4,2023-12-31,2024-01-01 00:00:00.5,3,\n"
        "5,2024-04-01,1969-12-31 23:59:59.5,2,\n"
        "6,1969-12-29,1969-12-31 23:59:59.9997,2,\n"
        "7,,,,\n")


def _build(tmp_path, pg_url, sql: str, run_cli, more: dict | None = None):  # noqa: F811
    """Step v (`sql`) and the steps in `more` run on both targets; v's types and rows on each."""
    root = tmp_path / "project"
    two_target_project(root, pg_url, {"warehouse/seeds/t.csv": ROWS, "warehouse/seeds.toml": SEEDS,
                                      "features/v.sql": sql, **(more or {})}, "snowflake", "snowpg")
    return built_on_both(run_cli, root, pg_url, "v")


def _same_types(want_types: dict, got_types: dict) -> None:
    spelled = {"DATE": "date", "TIMESTAMP": "timestamp without time zone", "BIGINT": "bigint", "INTEGER": "integer"}
    assert {name: spelled[kind] for name, kind in want_types.items()} == got_types


def test_last_day_of_a_quarter_year_and_week(tmp_path, pg_url, run_cli):  # noqa: F811
    want_types, want, got_types, got = _build(tmp_path, pg_url, (
        "select id, last_day(d, 'quarter') as q, last_day(d, 'year') as y, last_day(d, week) as w,\n"
        "  last_day(ts, 'quarter') as tq, last_day(d) as m\nfrom {{ ref('t') }}\n"), run_cli)
    assert got == want
    _same_types(want_types, got_types)
    # Snowflake's meaning too: the period's last day, weeks from Monday to Sunday
    assert want[0][1:] == (datetime.date(2024, 3, 31), datetime.date(2024, 12, 31), datetime.date(2024, 2, 11),
                           datetime.date(2024, 3, 31), datetime.date(2024, 2, 29))
    assert want[1][3] == datetime.date(2024, 12, 1) and want[2][3] == datetime.date(2024, 3, 31)


def test_date_trunc_of_a_date_is_a_timestamp_as_on_duckdb(tmp_path, pg_url, run_cli):  # noqa: F811
    # only date_trunc of columns (TimestampTrunc) in the step: typed from the catalog for it alone
    want_types, want, got_types, got = _build(tmp_path, pg_url, (
        "select id, date_trunc('month', d) as dm, date_trunc(week, d) as dw, date_trunc('month', ts) as tm\n"
        "from {{ ref('t') }}\n"), run_cli, {"features/c.sql": "select id, date_trunc('day', cast(ts as date)) as dd\n"
                                                               "from {{ ref('t') }}\n"})
    # DuckDB publishes a TIMESTAMP of a date column (Snowflake documents a DATE: DuckDB's is kept)
    assert want_types["dm"] == want_types["dw"] == "TIMESTAMP"
    _same_types(want_types, got_types)
    assert got == want
    assert want[0][1:3] == (datetime.datetime(2024, 2, 1), datetime.datetime(2024, 2, 5))
    # of a cast to date, a DATE (sqlglot casts DuckDB's result back to the operand's type)
    root = tmp_path / "project"
    assert published_differences(root, pg_url, ["c"]) == []
    assert pg_query(pg_url, COLUMN_TYPES.format(step="c")) == [("id", "integer"), ("dd", "date")]


def test_group_by_all_and_mode(tmp_path, pg_url, run_cli):  # noqa: F811
    # each group's most frequent value is unique (ties: see snowflakemeanings)
    want_types, want, got_types, got = _build(tmp_path, pg_url, (
        "select coalesce(x, 0) as id, count(*) as n, mode(coalesce(x, 0) * 10) as mx,\n"
        "  mode(last_day(d, 'year')) filter (where id < 7) as my\nfrom {{ ref('t') }}\ngroup by all\n"), run_cli)
    assert got == want
    _same_types(want_types, got_types)
    assert [row[:3] for row in want] == [(0, 1, 0), (1, 2, 10), (2, 3, 20), (3, 1, 30)]
    assert [row[3] for row in want] == [None, datetime.date(2024, 12, 31), datetime.date(2024, 12, 31),
                                        datetime.date(2023, 12, 31)]  # of group 2: 2024, 2024 and 1969


def test_epoch_parts_are_duckdbs_integers(tmp_path, pg_url, run_cli):  # noqa: F811
    want_types, want, got_types, got = _build(tmp_path, pg_url, (
        "select id, date_part(epoch_second, ts) as es, extract(epoch_second from ts) as es2,\n"
        "  date_part(epoch_millisecond, ts) as ems, date_part(epoch_microsecond, ts) as eus,\n"
        "  date_part(epoch_nanosecond, ts) as ens, date_part(epoch_second, d) as esd\nfrom {{ ref('t') }}\n"), run_cli)
    assert got == want
    _same_types(want_types, got_types)
    # DuckDB rounds the seconds half to even (Snowflake truncates: 10:00:00.7 is 1707559200 there)
    # and truncates the milliseconds toward zero
    assert [row[1] for row in want[:6]] == [1707559201, 1733011200, 1711852200, 1704067200, 0, 0]
    assert want[5][3] == 0 and want[5][4] == -300


def test_json_subscript_and_mode_over_a_window_are_refused(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {"warehouse/seeds/t.csv": ROWS, "warehouse/seeds.toml": SEEDS,
                                      "features/v.sql": "select id,\n  parse_json(nullif(js, ''))['a'][0] as j0\n"
                                                        "from {{ ref('t') }}\n",
                                      "features/w.sql": "select id,\n\n  mode(x) over (partition by d) as m\n"
                                                        "from {{ ref('t') }}\n"}, "snowflake", "snowpg")
    code, out, err = run_cli("run", "--target", "pg", "--select", "+v", cwd=root)
    assert code == 2, out + err
    assert "features/v.sql:2" in out + err and "parse_json" in out + err and "Traceback" not in out + err
    code, out, err = run_cli("run", "--target", "pg", "--select", "+w", cwd=root)
    assert code == 2, out + err
    assert "features/w.sql:3" in out + err and "mode(...) OVER" in out + err and "Traceback" not in out + err
