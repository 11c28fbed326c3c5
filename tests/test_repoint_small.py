"""A view whose upstream was published anew without it (a run killed in between) is
re-pointed by the next run; `plan` counts every unpublish row it lists; `promote` says a
killed run never finished."""

from __future__ import annotations

import json

import pytest

from _projects import cli, execute, make_project, physical_relations, query, rows, run, scalar, write

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SETUP = "create schema app; create table app.events as select i as event_id, i % 5 as user_id, i * 1.0 as amount from range(20) t(i);"
SOURCES = """
[app]
schema = "app"

[app.tables.events]
columns = { event_id = "bigint", user_id = "bigint", amount = "double" }
"""
BY_USER = "select user_id, count(*) as n, sum(amount){} as amt from {{{{ source('app', 'events') }}}} group by user_id"
STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/by_user.sql": BY_USER.format(""),
    # reads only columns the change below leaves alone: its fingerprint stays the same
    "features/v_user.sql": "{{ config(materialized='view') }}\nselect user_id, n from {{ ref('by_user') }}",
    "features/totals.sql": "select count(*) as c from {{ source('app', 'events') }}",
}


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    return root


def physical(root, step: str) -> str:
    return scalar(root, "select physical_name from toolkit.published where step = ? and env = 'prod'", [step])


def view_sql(root, name: str) -> str:
    return scalar(root, "select sql from duckdb_views() where schema_name = 'toolkit_physical' and view_name = ?", [name])


def test_a_view_left_reading_an_old_upstream_table_is_re_pointed_and_gc_drops_that_table(project):
    """A run killed after publishing by_user anew and before re-pointing v_user left v_user's
    physical view reading by_user's old table: the next run reused v_user (its fingerprint
    had not changed) and gc kept the old table "in use" for good. A run selecting only
    by_user and excluding v_user leaves exactly that state (by_user published anew, v_user's
    row and physical view as they were), without the kill's timing (without --exclude the
    run re-points v_user itself: tests/test_select_views.py)."""
    old = physical(project, "by_user")
    write(project, {"features/by_user.sql": BY_USER.format(" * 2")})
    assert run(project, "--select", "by_user", "--exclude", "v_user").code == 0
    new = physical(project, "by_user")
    assert new != old and json.loads(scalar(project, "select reads from toolkit.published where step = 'v_user'")) == [old]
    assert old in view_sql(project, physical(project, "v_user"))  # the state the kill left

    planned = cli("plan", "-p", str(project))
    assert planned.code == 0, planned
    assert any(line.split()[:2] == ["v_user", "rebuild"] and "upstream by_user rebuilt" in line for line in planned.out.splitlines()), planned
    assert run(project).code == 0
    assert json.loads(scalar(project, "select reads from toolkit.published where step = 'v_user'")) == [new]
    assert new in view_sql(project, physical(project, "v_user")) and old not in view_sql(project, physical(project, "v_user"))
    again = cli("plan", "-p", str(project))
    assert again.code == 0 and "plan for env prod: 3 reuse" in again.out, again  # re-pointed once, then reused

    assert cli("gc", "--retention", "0s", "-p", str(project)).code == 0
    assert old not in physical_relations(project)
    assert rows(project, "features.v_user") == [(u, 4) for u in range(5)]


def test_a_dev_view_left_reading_an_old_upstream_table_is_re_pointed(project):
    """The same in another environment: the dev view is re-pointed at dev's new table."""
    write(project, {"features/by_user.sql": BY_USER.format(" * 3")})
    assert run(project, "--env", "dev").code == 0
    write(project, {"features/by_user.sql": BY_USER.format(" * 4")})
    assert run(project, "--env", "dev", "--select", "by_user", "--exclude", "v_user").code == 0
    planned = cli("plan", "-p", str(project), "--env", "dev")
    assert any(line.split()[:2] == ["v_user", "rebuild"] for line in planned.out.splitlines()), planned
    assert run(project, "--env", "dev").code == 0
    reads, dev_by_user = query(project, "select (select reads from toolkit.published where step = 'v_user' and env = 'dev'), "
                                        "(select physical_name from toolkit.published where step = 'by_user' and env = 'dev')")[0]
    assert json.loads(reads) == [dev_by_user]


def test_plan_summary_counts_the_unpublish_rows_a_promote_would_do(project):
    """`plan --env dev` listed 'totals unpublish removed by promote dev prod' but its summary
    line read '2 reuse': every row listed is counted."""
    (project / "features" / "totals.sql").unlink()
    planned = cli("plan", "-p", str(project), "--env", "dev")
    assert planned.code == 0, planned
    lines = planned.out.splitlines()
    assert any(line.split()[:2] == ["totals", "unpublish"] for line in lines), planned
    assert lines[-1] == "plan for env dev: 2 reuse; 1 unpublish by promote dev prod", planned
    events = cli("plan", "-p", str(project), "--env", "dev", "--log-format", "json").events()
    assert events[-1] == {"event": "plan_summary", "env": "dev", "reuse": 2, "promote_unpublish": 1}, events
    prod = cli("plan", "-p", str(project))
    assert prod.out.splitlines()[-1] == "plan for env prod: 2 reuse, 1 unpublish", prod


def test_promote_after_a_killed_dev_run_says_it_never_finished(project):
    """A run killed with kill -9 stays recorded as running: promote (which holds the run
    lock, so no process runs it) said it 'did not succeed (running)'. The killed run is
    recorded as a run starts one: its row, status running, and nothing after."""
    write(project, {"features/by_user.sql": BY_USER.format(" * 2")})
    assert run(project, "--env", "dev").code == 0
    killed = scalar(project, "select max(run_id) + 1 from toolkit.runs")
    execute(project, f"insert into toolkit.runs (run_id, project, target, command, status, started_at, env) "
                     f"select {killed}, project, target, command, 'running', now(), env from toolkit.runs where run_id = {killed - 1}")
    promoted = cli("promote", "dev", "prod", "-p", str(project))
    assert promoted.code == 0, promoted
    assert f"warning: dev's last run (run {killed}) was interrupted and never finished (status running, no process holds the lock" in promoted.out, promoted
    assert "did not succeed" not in promoted.out, promoted
