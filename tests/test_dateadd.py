"""A date plus whole days, weeks, months or years stays a DATE where the project's dialect
makes it one (intervals.keep_dates): sqlglot writes Spark's date_add(d, 3), Snowflake's
dateadd(day, 3, d), BigQuery's date_add(d, interval 3 day), Trino's date_add('day', 3, d)
as d + INTERVAL 3 DAY, a TIMESTAMP in DuckDB and PostgreSQL: the published column's type
changed (and its text, and what it compares equal to). A timestamp plus days stays a
timestamp, and date_add(d, -interval 2 day) is valid SQL with the same value."""

from __future__ import annotations

import datetime
import uuid

import duckdb
import pytest
from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, two_target_project, with_database

from toolkit import meanings, sql

SEEDS = {
    "warehouse/seeds/t.csv": "id,d,ts\n1,2024-01-31,2024-01-31 10:00:00\n2,2024-02-29,2024-02-29 23:30:00\n",
    "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", d = "date", ts = "timestamp" }\n',
}
# a wall time (DuckDB's TIMESTAMP) in each dialect: TIMESTAMP is an instant in Spark's and BigQuery's
WALL_TIME = {"spark": "timestamp_ntz", "databricks": "timestamp_ntz", "bigquery": "datetime"}

# dialect -> (the step's select list over t: a..e; which of them are DATEs there)
STEPS = {
    "spark": ("date_add(d, 3) as a, date_sub(d, 3) as b, add_months(d, 1) as c, d + interval 2 day as e, "
              "ts + interval 1 day as f", "abce"),
    "databricks": ("date_add(d, 3) as a, date_sub(d, 3) as b, add_months(d, 1) as c, d - interval 2 day as e, "
                   "ts - interval 1 day as f", "abce"),
    "snowflake": ("dateadd(day, 3, d) as a, dateadd(day, -3, d) as b, dateadd(month, 1, d) as c, "
                  "d + interval '2 day' as e, dateadd(day, 1, ts) as f", "abce"),
    "bigquery": ("date_add(d, interval 3 day) as a, date_sub(d, interval 3 day) as b, date_add(d, interval 1 month) as c, "
                 "date_add(d, interval -2 day) as e, datetime_add(ts, interval 1 day) as f", "abce"),
    "trino": ("date_add('day', 3, d) as a, date_add('day', -3, d) as b, date_add('month', 1, d) as c, "
              "d - interval '2' day as e, date_add('day', 1, ts) as f", "abce"),
}
SHIFTS = {"spark": (3, -3, 1, 2, 1), "databricks": (3, -3, 1, -2, -1), "snowflake": (3, -3, 1, 2, 1),
          "bigquery": (3, -3, 1, -2, 1), "trino": (3, -3, 1, -2, 1)}


def _shifted(day: datetime.date, days: int = 0, months: int = 0) -> datetime.date:
    if months:
        month = day.month - 1 + months
        year, month = day.year + month // 12, month % 12 + 1
        last = (datetime.date(year + month // 12, month % 12 + 1, 1) - datetime.timedelta(days=1)).day
        return datetime.date(year, month, min(day.day, last))
    return day + datetime.timedelta(days=days)


def _expected(dialect: str) -> list[tuple]:
    a, b, c, e, f = SHIFTS[dialect]
    rows = []
    for number, (day, stamp) in enumerate(((datetime.date(2024, 1, 31), datetime.datetime(2024, 1, 31, 10)),
                                           (datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 23, 30))), 1):
        rows.append((number, _shifted(day, a), _shifted(day, b), _shifted(day, months=c), _shifted(day, e),
                     stamp + datetime.timedelta(days=f)))
    return rows


def _project(root, dialect: str, url: str = "postgresql://unused/none") -> None:
    select, _ = STEPS[dialect]
    wall_time = WALL_TIME.get(dialect, "timestamp")
    two_target_project(root, url, {
        **SEEDS,
        "warehouse/seeds.toml": f'[t]\ncolumns = {{ id = "integer", d = "date", ts = "{wall_time}" }}\n',
        "features/shifted.sql": f"select id, {select}\nfrom {{{{ ref('t') }}}}\n",
        # reads the published dates from the catalog: a DATE compared with a DATE
        "features/later.sql": "select id, a, a > d as after from {{ ref('shifted') }} join {{ ref('t') }} using (id)\n",
    }, dialect=dialect)


def _duckdb_published(root, step: str) -> tuple[dict, list]:
    columns = ("select column_name, data_type from information_schema.columns "
               f"where table_schema = 'features' and table_name = '{step}'")
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as duck:
        return dict(duck.sql(columns).fetchall()), duck.sql(f"select * from features.{step} order by id").fetchall()


@pytest.mark.parametrize("dialect", sorted(STEPS))
def test_a_date_plus_days_publishes_a_date_on_duckdb(tmp_path, run_cli, dialect):
    _project(tmp_path, dialect)
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 0, out + err
    types, rows = _duckdb_published(tmp_path, "shifted")
    assert types == {"id": "INTEGER", "a": "DATE", "b": "DATE", "c": "DATE", "e": "DATE", "f": "TIMESTAMP"}
    assert rows == _expected(dialect)
    later_types, later = _duckdb_published(tmp_path, "later")
    assert later_types["a"] == "DATE" and [row[2] for row in later] == [True, True]


def test_compiled_sql_casts_the_date_back_only_where_the_dialect_gives_a_date():
    schema = {"s": {"t": {"d": "date", "ts": "timestamp"}}}

    def written(text: str, read: str, write: str = "duckdb") -> str:
        tree = sql.parse_select(f"select {text} as x from s.t", read)
        return sql.to_target(tree, read, write, meanings.cast_types(tree, schema, read))

    with duckdb.connect() as con:
        con.execute("create schema s; create table s.t as select date '2024-01-31' as d, timestamp '2024-01-31 10:00' as ts")

        def typed(text: str, read: str) -> tuple:
            return con.execute(f"select typeof(x), x from ({written(text, read)})").fetchone()

        assert typed("dateadd(day, 3, d)", "snowflake") == ("DATE", datetime.date(2024, 2, 3))
        assert typed("dateadd(day, 3, ts)", "snowflake") == ("TIMESTAMP", datetime.datetime(2024, 2, 3, 10))
        assert typed("dateadd(hour, 3, d)", "snowflake")[0] == "TIMESTAMP"  # a timestamp there too
        assert typed("date_add(d, 3)", "spark") == ("DATE", datetime.date(2024, 2, 3))
        assert typed("date_add(date_add(d, 1), 2)", "spark") == ("DATE", datetime.date(2024, 2, 3))
        assert typed("dateadd(day, 3, d)", "databricks")[0] == "TIMESTAMP"  # timestampadd: a TIMESTAMP there
        assert typed("d + interval 3 day", "bigquery")[0] == "TIMESTAMP"  # a DATETIME there
        assert typed("d + interval '3 day'", "postgres")[0] == "TIMESTAMP"  # a timestamp there too
        assert typed("d + interval 3 day", "duckdb")[0] == "TIMESTAMP"  # DuckDB's own
        # a negated interval: valid SQL (was INTERVAL (-INTERVAL '2' DAY) DAY), the same value
        assert typed("date_add(d, -interval 2 day)", "duckdb") == ("TIMESTAMP", datetime.datetime(2024, 1, 29))
        assert typed("date_add(d, -(interval 2 day))", "duckdb") == ("TIMESTAMP", datetime.datetime(2024, 1, 29))
        assert typed("date_add(d, -interval 2 day)", "spark") == ("DATE", datetime.date(2024, 1, 29))
    assert written("date_add(d, -interval 2 day)", "duckdb", "postgres") == 'SELECT "d" - INTERVAL \'2 DAY\' AS "x" FROM "s"."t"'


def test_a_duckdb_step_with_a_negated_interval_runs(tmp_path, run_cli):
    two_target_project(tmp_path, "postgresql://unused/none", {
        **SEEDS,
        "features/shifted.sql": ("select id, date_add(d, -interval 2 day) as a, date_add(ts, -interval 1 month) as b\n"
                                 "from {{ ref('t') }}\n"),
    })
    code, out, err = run_cli("run", cwd=tmp_path)
    assert code == 0, out + err
    types, rows = _duckdb_published(tmp_path, "shifted")
    assert types == {"id": "INTEGER", "a": "TIMESTAMP", "b": "TIMESTAMP"}  # DuckDB's own: a TIMESTAMP
    assert rows == [(1, datetime.datetime(2024, 1, 29), datetime.datetime(2023, 12, 31, 10)),
                    (2, datetime.datetime(2024, 2, 27), datetime.datetime(2024, 1, 29, 23, 30))]


@pytest.fixture
def fixer_pg_url():
    """A fresh PostgreSQL database named fixer_dateadd_*, dropped afterwards."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    database = f"fixer_dateadd_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.mark.parametrize("dialect", ["snowflake", "trino"])
def test_a_date_plus_days_publishes_a_date_on_postgres(tmp_path, run_cli, fixer_pg_url, dialect):
    _project(tmp_path, dialect, fixer_pg_url)
    code, out, err = run_cli("run", "--target", "pg", cwd=tmp_path)
    assert code == 0, out + err
    columns = ("select column_name, data_type from information_schema.columns "
               "where table_schema = 'features' and table_name = 'shifted'")
    assert dict(pg_query(fixer_pg_url, columns)) == {"id": "integer", "a": "date", "b": "date", "c": "date", "e": "date",
                                                     "f": "timestamp without time zone"}
    assert pg_query(fixer_pg_url, "select * from features.shifted order by id") == _expected(dialect)
