"""Plan reasons that said less than the run does, and view sources that rebuilt their readers twice.

- An incremental step whose source got new rows while the parent of its relationships test
  was edited: it takes only the new rows (not rebuilt: that lost its history) and re-runs its
  tests against the edited parent, but plan and the run's record said only "new rows". Now
  both say why its tests run again.
- A view source reading a step's published relation and a plain table: its reader was rebuilt
  in the run that changed the step (right) and again in the next run, nothing changed (its
  print was the view's rows, hashed before the step was rebuilt). Now it is reused then, and
  still rebuilt when the table gets rows; views over only a step, over views, over only tables.
"""

from __future__ import annotations

import json

import pytest
import test_custom_test_holds as holds  # the module, not its names: pytest would collect its tests here too
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import execute, make_project, query, run, write

pytestmark = pytest.mark.slow  # end-to-end runs

RELATIONSHIPS = '{"id": [{"relationships": {"to": "a", "field": "id"}}]}'
INCREMENTAL_Z = ('{{ config(materialized="incremental", unique_key="id", tests=' + RELATIONSHIPS + ') }}\n'
                 'select id from {{ source("app", "u_src") }}\n')


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def plan_events(w) -> dict[str, dict]:
    planned = w.toolkit("plan", "--log-format", "json")
    assert planned.code == 0, planned.out + planned.err
    return {e["step"]: e for e in map(json.loads, planned.out.splitlines()) if e.get("event") == "plan"}


def test_new_rows_and_an_edited_tests_parent_are_both_said(tmp_path, warehouse_url):
    w = holds.Warehouse(tmp_path, warehouse_url, z=INCREMENTAL_Z)
    assert w.toolkit("run").code == 0
    w.sql("delete from app.u_src where id = 1")
    w.sql("insert into app.u_src values (2)")
    w.sql("insert into app.a_src values (2, 2)")
    (w.root / "features" / "a.sql").write_text('select id, v + 1 as v from {{ source("app", "a_src") }}\n')

    steps = plan_events(w)
    text = w.toolkit("plan").out

    z = steps["z"]
    assert z["action"] == "incremental", z
    assert [r["kind"] for r in z["reasons"]] == ["new_rows", "tests_input_changed"], z
    assert z["reason"] == "new rows; a step its tests read changed (a)", z
    assert "new rows; a step its tests read changed (a)" in text, text
    done = w.toolkit("run")
    assert done.code == 0, done.out + done.err
    assert w.rows("select * from features.z order by 1") == [(1,), (2,)]  # updated: id 1 stays
    assert w.rows("select action, reason from toolkit.step_runs where run_id = 2 and step = 'z'") == [
        ("incremental", "new rows; a step its tests read changed (a)")]
    assert w.rows("select test, status from toolkit.test_results where run_id = 2 and step = 'z'") == [("relationships(id)", "pass")]


# -- view sources reading a step and a table ----------------------------------------------

VIEW_SOURCES = '[app]\nschema = "app"\n[app.tables.orders]\n[app.tables.v]\n'
VIEW_READER = 'select count(*) as n, max(id) as top from {{ source("app", "v") }}\n'
A_EDITED = 'select id from {{ source("app", "orders") }} union all select 10\n'


class ViewWarehouse:
    """a over app.orders (1) published, then the DBA's views (`view_sql`, making app.v), then b
    reading app.v; DuckDB, or a fresh PostgreSQL database (`url`). app.extra holds (100)."""

    def __init__(self, tmp_path, url: str | None, *view_sql: str):
        self.url = url
        self.root = make_project(tmp_path / "p", {"warehouse/sources.toml": VIEW_SOURCES,
                                                  "features/a.sql": 'select id from {{ source("app", "orders") }}\n'})
        if url:
            config = (self.root / "toolkit.toml").read_text()
            (self.root / "toolkit.toml").write_text(config + f'\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n')
        for statement in ("create schema app", "create table app.orders as select 1 as id",
                          "create table app.extra as select 100 as id"):
            self.sql(statement)
        assert self.run() == {"a": "success"}
        for statement in view_sql:
            self.sql(statement)
        write(self.root, {"features/b.sql": VIEW_READER})
        assert self.run() == {"a": "reused", "b": "success"}

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else execute(self.root, text)

    def rows(self, text: str) -> list[tuple]:
        return pg_query(self.url, text) if self.url else query(self.root, text)

    def run(self) -> dict[str, str]:
        """Runs; the status of each step in that run."""
        done = run(self.root, *(("--target", "pg") if self.url else ()))
        assert done.code == 0, done
        return dict(self.rows("select step, status from toolkit.step_runs "
                              "where run_id = (select max(run_id) from toolkit.step_runs)"))

    def b(self) -> list[tuple]:
        return self.rows("select n, top from features.b")


MIXED = "create view app.v as select id from features.a union all select id from app.extra"


@pytest.mark.parametrize("views", [
    [MIXED],
    ["create view app.v1 as select id from features.a",
     "create view app.v as select id from app.v1 union all select id from app.extra"],
    ["create view app.v as select id * 2 as id from features.a"],
], ids=["step-and-table", "view-over-view-and-table", "step-only"])
def test_a_reader_of_a_view_over_a_step_is_rebuilt_once(tmp_path, warehouse_url, views):
    """Its print was the view's rows hashed while planning, before the run rebuilt a; the next
    run, nothing changed, hashed the new rows and rebuilt b again. Now the views' texts and
    the tables they read beside a make the print: the run after the change reuses b."""
    w = ViewWarehouse(tmp_path, warehouse_url, *views)
    before = w.b()
    write(w.root, {"features/a.sql": A_EDITED})

    assert w.run() == {"a": "success", "b": "success"}
    assert w.b() != before and w.b()[0][0] == before[0][0] + 1  # a's new row, read in the same run
    assert w.run() == {"a": "reused", "b": "reused"}


def test_a_new_row_in_the_table_beside_the_step_rebuilds_the_reader_once(tmp_path, warehouse_url):
    w = ViewWarehouse(tmp_path, warehouse_url, MIXED)
    assert w.b() == [(2, 100)]
    w.sql("insert into app.extra values (200)")

    assert w.run() == {"a": "reused", "b": "success"}
    assert w.b() == [(3, 200)]
    assert w.run() == {"a": "reused", "b": "reused"}


def test_a_view_over_tables_only_follows_their_rows(tmp_path, warehouse_url):
    w = ViewWarehouse(tmp_path, warehouse_url, "create view app.v as select id from app.extra")
    write(w.root, {"features/a.sql": A_EDITED})
    assert w.run() == {"a": "success", "b": "reused"}
    w.sql("insert into app.extra values (300)")
    assert w.run() == {"a": "reused", "b": "success"}
    assert w.b() == [(2, 300)]
    assert w.run() == {"a": "reused", "b": "reused"}


# -- DuckDB: a view's unqualified names ----------------------------------------------------
# DuckDB binds a view's text when it is read: a name without a schema is found in the view's
# own schema, then along the reading session's search_path (toolkit's: the catalog's main).
# Taken as of the view's schema alone, app.lookup (missing) stood for main.lookup: the
# view's print was its rows again, and its reader rebuilt twice after a changed.


def test_duckdb_view_reading_an_unqualified_table_of_main_is_rebuilt_once(tmp_path):
    w = ViewWarehouse(tmp_path, None, "create table main.lookup as select 100 as id",
                      "create view app.v as with e as (select id from lookup) select id from features.a union all select id from e")
    w.sql("insert into main.lookup values (5)")
    assert w.run() == {"a": "reused", "b": "success"}
    assert w.b() == [(3, 100)]
    write(w.root, {"features/a.sql": A_EDITED})
    assert w.run() == {"a": "success", "b": "success"}
    assert w.b() == [(4, 100)]
    assert w.run() == {"a": "reused", "b": "reused"}


def test_duckdb_view_reading_a_step_of_main_unqualified_waits_for_it(tmp_path):
    """a publishes into main; the DBA's app.v reads `a` unqualified: DuckDB finds main.a."""
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": VIEW_SOURCES,
                                         "features/a.sql": '{{ config(schema="main") }}\nselect id from {{ source("app", "orders") }}\n'},
                        "create schema app; create table app.orders as select 1 as id")
    assert run(root).code == 0
    execute(root, "create view app.v as select id from a")
    write(root, {"features/b.sql": VIEW_READER})
    assert run(root).code == 0
    write(root, {"features/a.sql": '{{ config(schema="main") }}\n' + A_EDITED})
    done = run(root)
    assert done.code == 0, done
    assert query(root, "select n, top from features.b") == [(2, 10)]  # a's new rows, in the same run
