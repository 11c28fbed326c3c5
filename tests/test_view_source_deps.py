"""A view source reading a step's published relation (viewsources.py): its readers are
rebuilt in the run that rebuilds that step, after it is published, not one run later
with stale rows and exit 0.

The project: step `a` (features.a), a DBA's view `app.v` = select * from features.a,
declared as a source, and step `b` reading that source.
"""

from __future__ import annotations

from _projects import cli, execute, make_project, rows, run, run_in_process, statuses, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

SOURCES = '[app]\nschema = "app"\n[app.tables.orders]\n[app.tables.v]\n'


def view_project(tmp_path, view_sql: str = "create view app.v as select * from features.a"):
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES,
                                         "features/a.sql": 'select id from {{ source("app", "orders") }}'},
                        "create schema app; create table app.orders as select 1 as id")
    assert run_in_process(root).ok
    execute(root, view_sql)  # a DBA's view over a published step
    write(root, {"features/b.sql": 'select count(*) as n, max(id) as top from {{ source("app", "v") }}'})
    assert run_in_process(root).ok
    return root


def plan(root, *args) -> dict[str, tuple[str, str]]:
    result = cli("plan", "-p", str(root), "--log-format", "json", *args)
    assert result.code == 0, result
    return {e["step"]: (e["action"], e["reason"]) for e in result.events() if e["event"] == "plan"}


def test_reader_of_a_view_source_is_rebuilt_in_the_run_that_changes_the_step_it_reads(tmp_path):
    root = view_project(tmp_path)
    assert rows(root, "features.b") == [(1, 1)]
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 10'})
    result = run(root)  # one run, as a scheduler starts it
    assert result.code == 0, result
    assert rows(root, "features.b") == [(2, 10)]  # a's new rows, not the ones before this run
    assert statuses(root) == {"a": "success", "b": "success"}


def test_the_run_after_the_change_reuses_the_reader(tmp_path):
    """The view reads nothing but `a`: its print for b is its text over a's data, so the next
    run, which hashes the view's new rows, rebuilds nothing (b was built from them already)."""
    root = view_project(tmp_path)
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 4'})
    assert run_in_process(root).ok
    assert statuses(root) == {"a": "success", "b": "success"}
    assert run_in_process(root).ok
    assert statuses(root) == {"a": "reused", "b": "reused"}
    execute(root, "create or replace view app.v as select * from features.a where id > 1")  # the DBA's new text
    assert run_in_process(root).ok
    assert rows(root, "features.b") == [(1, 4)]


def test_view_over_a_step_and_a_table_is_fresh_in_the_same_run(tmp_path):
    root = view_project(tmp_path, "create table app.extra as select 100 as id; "
                                  "create view app.v as select * from features.a union all select * from app.extra")
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 9'})
    assert run_in_process(root).ok
    assert rows(root, "features.b") == [(3, 100)]
    execute(root, "insert into app.extra values (200)")
    assert run_in_process(root).ok
    assert rows(root, "features.b") == [(4, 200)]


def test_step_reading_the_view_through_an_ephemeral_step_waits_for_it(tmp_path):
    root = view_project(tmp_path)
    write(root, {"features/e.sql": '{{ config(materialized="ephemeral") }}\nselect id from {{ source("app", "v") }}',
                 "features/c.sql": 'select count(*) as n, max(id) as top from {{ ref("e") }}'})
    assert run_in_process(root).ok
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 8'})
    assert run_in_process(root).ok
    assert rows(root, "features.c") == [(2, 8)]


def test_plan_names_the_step_the_view_source_reads(tmp_path):
    root = view_project(tmp_path)
    write(root, {"features/a.sql": 'select id + 1 as id from {{ source("app", "orders") }}'})
    planned = plan(root)
    assert planned["a"][0] == "rebuild"
    action, reason = planned["b"]
    assert action == "rebuild", planned
    assert "app.v: a view reading a" in reason, reason


def test_reader_of_a_view_through_another_view_follows_in_the_same_run(tmp_path):
    root = view_project(tmp_path, "create schema other; create view other.w as select * from features.a; "
                                  "create view app.v as select * from other.w")
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 7'})
    assert run_in_process(root).ok
    assert rows(root, "features.b") == [(2, 7)]


def test_unchanged_step_leaves_the_reader_reused(tmp_path):
    """No change anywhere: nothing is rebuilt for the view's sake, in two runs running."""
    root = view_project(tmp_path)
    assert run_in_process(root).ok
    assert run_in_process(root).ok
    assert statuses(root) == {"a": "reused", "b": "reused"}


def test_failed_step_skips_the_reader_of_its_view(tmp_path):
    """`a` fails: its published rows stay the old ones, and b, which would read them through
    the view as if they were new, is skipped (built the next run that publishes a)."""
    root = view_project(tmp_path)
    write(root, {"features/a.sql": "{{ config(tests={'id': ['unique']}) }}\n"
                                   'select id from {{ source("app", "orders") }} union all select 1'})
    result = run_in_process(root)
    assert not result.ok
    assert statuses(root) == {"a": "failed", "b": "skipped"}
    assert rows(root, "features.b") == [(1, 1)]
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 3'})
    assert run_in_process(root).ok
    assert rows(root, "features.b") == [(2, 3)]


def test_view_over_another_environments_relation_is_no_dependency(tmp_path):
    """A dev run writes features__dev.a, not prod's features.a that the view reads: b is not
    made to wait for (or be rebuilt with) dev's a."""
    root = view_project(tmp_path)
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 5'})
    planned = plan(root, "--env", "dev")
    assert planned["a"][0] == "rebuild"
    assert "a view reading" not in planned["b"][1], planned
    result = run(root, "--env", "dev")
    assert result.code == 0, result
    assert rows(root, "features__dev.b") == [(1, 1)]  # prod's a, unchanged, is what the view reads


def test_postgres_reader_of_a_view_source_is_fresh_in_the_same_run(tmp_path, pg_url):  # noqa: F811
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.orders as select 1 as id")
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES,
                                         "features/a.sql": 'select id from {{ source("app", "orders") }}'})
    config = (root / "toolkit.toml").read_text()
    (root / "toolkit.toml").write_text(config + f'\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n')
    assert run(root, "--target", "pg").code == 0
    pg_query(pg_url, "create view app.v as select * from features.a")
    write(root, {"features/b.sql": 'select count(*) as n, max(id) as top from {{ source("app", "v") }}'})
    assert run(root, "--target", "pg").code == 0
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 6'})
    result = run(root, "--target", "pg")
    assert result.code == 0, result
    assert pg_query(pg_url, "select n, top from features.b") == [(2, 6)]
