"""`plan` says what `run` does to an incremental step's history, and a project's dialect counts.

1. A source column retyped (int -> double, the unique key int -> bigint): `plan` said
   `incremental  new rows`, the run found the new types and rebuilt the step from scratch,
   dropping the rows a rolling-window source no longer held, exit 0, no warning. Now `plan`
   says rebuild (its query's column types changed) and both warn (`history_rebuilt`).
2. Changing the project's `dialect` changes what a step's SQL means (`a / b` of integers on
   PostgreSQL: -3 in the postgres dialect, -3.5 in duckdb's), but plan said "unchanged" and
   the run kept the old table. The dialect is part of a SQL step's fingerprint now.
3. `run --full-refresh --start A --end B` ignored the interval and rebuilt from scratch
   (20 rows became 12): refused, exit 2.
"""

from __future__ import annotations

import json

import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import cli, make_project, query
from _projects import execute as duck_execute

SOURCES = '[app]\nschema = "app"\n[app.tables.ev]\n'
MERGED = """\
{{ config(materialized="incremental", unique_key="id") }}
select id, ts, v from {{ source("app", "ev") }}
{% if is_incremental() %} where ts > (select max(ts) from {{ this }}) {% endif %}
"""
POSTGRES = 'name = "t"\ndialect = "{dialect}"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


class Warehouse:
    """A project on DuckDB or on a fresh PostgreSQL database; SQL run on it as is."""

    def __init__(self, tmp_path, url: str | None, files: dict[str, str], dialect: str = "duckdb"):
        if url:
            files = {**files, "toolkit.toml": POSTGRES.format(url=url, dialect=dialect)}
        self.url, self.root = url, make_project(tmp_path / "proj", files)

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else duck_execute(self.root, text)

    def rows(self, text: str) -> list[tuple]:
        return pg_query(self.url, text) if self.url else query(self.root, text)

    def toolkit(self, *args: str):
        return cli(args[0], "-p", str(self.root), *args[1:])

    def events(self, *args: str) -> list[dict]:
        done = self.toolkit(*args, "--log-format", "json")
        assert done.code == 0, done
        return [json.loads(line) for line in done.out.splitlines() if line.startswith("{")]


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def _history(tmp_path, url, files=None) -> Warehouse:
    """An incremental step holding ids 1..3 while its rolling source holds only 2 and 3."""
    w = Warehouse(tmp_path, url, files or {"warehouse/sources.toml": SOURCES, "features/m.sql": MERGED})
    w.sql("create schema app")
    w.sql("create table app.ev (id integer, ts timestamp, v integer)")
    w.sql("insert into app.ev values (1, '2024-01-01', 10), (2, '2024-01-02', 20)")
    assert w.toolkit("run").code == 0
    w.sql("delete from app.ev where id = 1")
    w.sql("insert into app.ev values (3, '2024-01-03', 30)")
    assert w.toolkit("run").code == 0
    assert w.rows("select id from features.m order by id") == [(1,), (2,), (3,)]
    return w


def _step(events: list[dict], name: str) -> dict:
    return next(e for e in events if e.get("event") in ("plan", "step_finished", "step") and e.get("step") == name)


def _history_warnings(events: list[dict]) -> list[str]:
    return [e["step"] for e in events if e.get("event") == "warning" and "history_rebuilt" in e]


@pytest.mark.parametrize("retype", ["v", "id"])
def test_a_retyped_source_column_is_planned_and_warned_as_a_rebuild(tmp_path, warehouse_url, retype):
    w = _history(tmp_path, warehouse_url)
    wider = "double precision" if retype == "v" else "bigint"
    w.sql(f"alter table app.ev alter column {retype} type {wider}")
    w.sql("insert into app.ev values (4, '2024-01-04', 40)")
    planned = w.events("plan")
    step = _step(planned, "m")
    assert step["action"] == "rebuild" and "column types changed" in step["reason"] and retype in step["reason"], step
    assert _history_warnings(planned) == ["m"]
    ran = w.events("run")
    assert _history_warnings(ran) == ["m"]
    finished = [e for e in ran if e.get("step") == "m" and e.get("action")]
    assert finished and all(e["action"] == "rebuild" for e in finished), finished
    assert w.rows("select id from features.m order by id") == [(2,), (3,), (4,)]  # what the warning said


def test_a_retype_reaching_it_through_a_rebuilt_table_step_is_planned_too(tmp_path):
    files = {
        "warehouse/sources.toml": SOURCES,
        "features/t.sql": 'select id, ts, v from {{ source("app", "ev") }}',
        "features/m.sql": MERGED.replace('{{ source("app", "ev") }}', '{{ ref("t") }}'),
    }
    w = _history(tmp_path, None, files)
    w.sql("alter table app.ev alter column v type double")
    w.sql("insert into app.ev values (4, '2024-01-04', 40.5)")
    planned = w.events("plan")
    assert _step(planned, "t")["action"] == "rebuild"
    assert _step(planned, "m")["action"] == "rebuild" and "column types changed" in _step(planned, "m")["reason"]
    assert _history_warnings(planned) == ["m"]


def test_new_rows_of_the_same_types_are_still_taken_in(tmp_path):
    w = _history(tmp_path, None)
    w.sql("insert into app.ev values (4, '2024-01-04', 40)")
    planned = w.events("plan")
    assert _step(planned, "m")["action"] == "incremental" and _history_warnings(planned) == []
    assert w.toolkit("run").code == 0
    assert w.rows("select id from features.m order by id") == [(1,), (2,), (3,), (4,)]


def test_changing_the_project_dialect_rebuilds_what_its_sql_computes(tmp_path, pg_url):
    w = Warehouse(tmp_path, pg_url, {"warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.t]\n',
                                     "features/q.sql": "select a / b as q from app.t"}, dialect="postgres")
    w.sql("create schema app")
    w.sql("create table app.t (a integer, b integer)")
    w.sql("insert into app.t values (-7, 2)")
    assert w.toolkit("run").code == 0
    assert w.rows("select q from features.q") == [(-3,)]  # integer division, as written for postgres
    config = w.root / "toolkit.toml"
    config.write_text(config.read_text().replace('dialect = "postgres"', 'dialect = "duckdb"'))
    assert _step(w.events("plan"), "q")["action"] == "rebuild"
    assert w.toolkit("run").code == 0
    assert w.rows("select q from features.q") == [(-3.5,)]  # duckdb's `/` divides exactly


def test_a_dialect_change_on_duckdb_is_planned_and_an_unchanged_one_reused(tmp_path):
    w = Warehouse(tmp_path, None, {"warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.t]\n',
                                   "features/q.sql": "select a / b as q from app.t"})
    w.sql("create schema app; create table app.t as select -7 as a, 2 as b")
    assert w.toolkit("run").code == 0
    assert _step(w.events("plan"), "q")["action"] == "reuse"
    config = w.root / "toolkit.toml"
    config.write_text(config.read_text().replace('dialect = "duckdb"', 'dialect = "postgres"'))
    assert _step(w.events("plan"), "q")["action"] == "rebuild"
    assert w.toolkit("run").code == 0
    assert _step(w.events("plan"), "q")["action"] == "reuse"


def test_full_refresh_with_start_or_end_is_refused(tmp_path):
    inc = ('{{ config(materialized="incremental", time_column="ts", lookback="1 day") }}\n'
           'select id, ts from {{ source("app", "ev") }}\n')
    w = Warehouse(tmp_path, None, {"warehouse/sources.toml": SOURCES, "features/e.sql": inc})
    w.sql("create schema app; create table app.ev as select i as id, timestamp '2024-01-10' + i * interval 6 hour as ts "
          "from range(0, 20) t(i)")
    assert w.toolkit("run").code == 0
    w.sql("delete from app.ev where ts < '2024-01-12'")  # a rolling source
    for command in ("run", "plan"):
        for interval in (("--start", "2024-01-14", "--end", "2024-01-15"), ("--start", "2024-01-14"), ("--end", "2024-01-15")):
            done = w.toolkit(command, "--full-refresh", *interval)
            assert done.code == 2, done
            said = done.out + done.err
            assert "--full-refresh cannot be combined with" in said and "Traceback" not in said, said
    assert w.rows("select count(*) from features.e") == [(20,)]  # nothing rebuilt
