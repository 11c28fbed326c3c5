"""Data tests whose answer can change while the step's own data does not.

Before: a relationships test toward a source the step does not read in its SQL was
forgotten when the step compiled unchecked (a source without declared columns): the
source was not among the step's inputs, so deleting the parent rows left the step
"reuse unchanged" and the orphans published, exit 0 (only `toolkit test` saw them). A
step's freshness test ran only when the step was built: 19-day-old rows passed
max_age "1 day" on every later run, exit 0.
"""

from __future__ import annotations

import duckdb

from _projects import cli_tuple, write_files

CONFIG = 'name = "reuse"\ndialect = "duckdb"\ntarget = "local"\n[targets.local]\nengine = "duckdb"\npath = "wh.duckdb"\n'


def _sql(root, statement: str) -> None:
    with duckdb.connect(str(root / "wh.duckdb")) as connection:
        connection.execute(statement)


def _toolkit(root, *args: str, now: str | None = None) -> tuple[int, str, str]:
    return cli_tuple(*args, "--log-format", "json", cwd=root, env={"TOOLKIT_NOW": now} if now else None)


def test_relationships_toward_an_undeclared_source_runs_again_when_the_parent_changes(tmp_path):
    write_files(tmp_path, {
        "toolkit.toml": CONFIG,
        "warehouse/sources.toml": '[crm]\nschema = "crm"\n[crm.tables.cust]\n[crm.tables.orders]\n',
        "features/o.sql": '{{ config(tests={"cid": [{"relationships": {"to": "crm.cust", "field": "cid"}}]}) }}\n'
                          "select oid, cid from {{ source('crm', 'orders') }}\n",
    })
    _sql(tmp_path, "create schema crm; create table crm.cust(cid int); insert into crm.cust values (1), (2);"
                   "create table crm.orders(oid int, cid int); insert into crm.orders values (100, 2)")
    code, out, err = _toolkit(tmp_path, "run")
    assert code == 0, out + err
    _sql(tmp_path, "delete from crm.cust where cid = 2")
    code, out, err = _toolkit(tmp_path, "plan")
    assert '"reason_kind": "source_changed"' in out and "crm.cust" in out, out + err
    code, out, err = _toolkit(tmp_path, "run")
    assert code == 1, out + err
    assert "relationships(cid)" in out


def test_a_relationships_parent_step_stays_upstream_of_an_unchecked_step(tmp_path):
    write_files(tmp_path, {
        "toolkit.toml": CONFIG,
        "warehouse/sources.toml": '[crm]\nschema = "crm"\n[crm.tables.orders]\n',
        "features/p.sql": "select * from (values (1), (2)) t(cid)\n",
        "features/o.sql": '{{ config(tests={"cid": [{"relationships": {"to": "p", "field": "cid"}}]}) }}\n'
                          "select oid, cid from {{ source('crm', 'orders') }}\n",
    })
    _sql(tmp_path, "create schema crm; create table crm.orders(oid int, cid int); insert into crm.orders values (100, 2)")
    assert _toolkit(tmp_path, "run")[0] == 0
    (tmp_path / "features/p.sql").write_text("select * from (values (1), (3)) t(cid)\n")
    code, out, err = _toolkit(tmp_path, "run")
    assert code == 1, out + err  # o is tested again against p's new rows: cid 2 has no parent now
    assert "relationships(cid)" in out


FRESH = '{{ config(table_tests=[{"freshness": {"column": "ts", "max_age": "1 day"}}]) }}\nselect id, ts from {{ source("app", "ev") }}\n'


def test_a_steps_freshness_test_is_checked_on_every_run(tmp_path):
    write_files(tmp_path, {"toolkit.toml": CONFIG, "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.ev]\n',
                           "features/e.sql": FRESH})
    _sql(tmp_path, "create schema app; create table app.ev(id int, ts timestamp); insert into app.ev values (1, '2024-01-01 10:00')")
    assert _toolkit(tmp_path, "run", now="2024-01-01T12:00")[0] == 0
    code, out, err = _toolkit(tmp_path, "plan", now="2024-01-01T13:00")
    assert '"action": "test"' in out and '"reason_kind": "clock"' in out, out + err
    code, out, err = _toolkit(tmp_path, "run", now="2024-01-01T13:00")
    assert code == 0, out + err  # still fresh: tested, passes, nothing rebuilt
    code, out, err = _toolkit(tmp_path, "run", now="2024-01-20T12:00")
    assert code == 1, out + err
    assert "freshness(ts)" in out
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as connection:
        assert connection.execute("select id from features.e").fetchall() == [(1,)]  # the published rows stay


def test_the_clock_reruns_only_the_freshness_tests(tmp_path):
    """The other tests saw these very rows already: a failing not_null is not run again
    (nor reported) when only the clock moved."""
    step = ('{{ config(tests={"id": ["not_null"]}, table_tests=[{"freshness": {"column": "ts", "max_age": "1 day"}}]) }}\n'
            'select id, ts from {{ source("app", "ev") }}\n')
    write_files(tmp_path, {"toolkit.toml": CONFIG, "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.ev]\n',
                           "features/e.sql": step})
    _sql(tmp_path, "create schema app; create table app.ev(id int, ts timestamp); insert into app.ev values (1, '2024-01-01 10:00')")
    assert _toolkit(tmp_path, "run", now="2024-01-01T12:00")[0] == 0
    code, out, err = _toolkit(tmp_path, "run", now="2024-01-01T13:00")
    assert code == 0, out + err
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as connection:
        runs = connection.execute("select run_id, list(test order by test) from toolkit.test_results group by run_id order by run_id").fetchall()
    assert [tests for _, tests in runs] == [["freshness(ts)", "not_null(id)"], ["freshness(ts)"]]
