"""`toolkit run --select X` rebuilding X into a new physical table re-points the published
views over X (through views and ephemeral steps) that it did not select: a view reads its
upstream's physical table, so left alone it went on serving X's old rows (and gc kept
that table) until a run selected it. Tables it did not select keep their data; a view
--exclude names is left as it is. Every check compares the published view's rows with
the upstream's published rows now."""

from __future__ import annotations

import json

import pytest

from _projects import cli, cli_tuple, make_project, query, rows, run, statuses, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_repoint_small import BY_USER, SETUP, SOURCES

pytestmark = pytest.mark.slow  # end-to-end runs

STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/by_user.sql": BY_USER.format(""),
    "features/v_user.sql": "{{ config(materialized='view') }}\nselect user_id, n, amt from {{ ref('by_user') }}",
    # a view over a view, and one over an ephemeral step over by_user
    "features/vv_user.sql": "{{ config(materialized='view') }}\nselect user_id, n, amt from {{ ref('v_user') }}",
    "features/e_user.sql": "{{ config(materialized='ephemeral') }}\nselect user_id, amt from {{ ref('by_user') }}",
    "features/ve_user.sql": "{{ config(materialized='view') }}\nselect user_id, amt from {{ ref('e_user') }}",
    "features/t_user.sql": "select user_id, amt from {{ ref('by_user') }}",  # a table: keeps its data unless selected
}
VIEWS = ("v_user", "vv_user", "ve_user")


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    return root


def amounts(root, relation: str) -> list[tuple]:
    return rows(root, f"(select user_id, amt from {relation})")


def plan_lines(root, *args: str) -> dict[str, str]:
    planned = cli("plan", "-p", str(root), *args)
    assert planned.code == 0, planned
    return {line.split()[0]: line for line in planned.out.splitlines()[:-1] if line.strip()}


def test_select_rebuilding_an_upstream_re_points_the_views_over_it_not_the_tables(project):
    before = amounts(project, "features.by_user")
    write(project, {"features/by_user.sql": BY_USER.format(" * 2")})
    lines = plan_lines(project, "--select", "by_user")
    assert set(lines) == {"by_user", *VIEWS}, lines  # t_user is not selected, and the plan does not list it
    for view in ("v_user", "ve_user"):
        assert lines[view].split()[1] == "rebuild" and "re-point: reads by_user, rebuilt" in lines[view], lines
    assert "re-point: reads v_user, rebuilt" in lines["vv_user"], lines
    events = cli("plan", "-p", str(project), "--select", "by_user", "--log-format", "json").events()
    kinds = {e["step"]: e["reason_kind"] for e in events if e.get("event") == "plan"}
    assert kinds == {"by_user": "sql_changed", "v_user": "repoint", "vv_user": "repoint", "ve_user": "repoint"}, events

    assert run(project, "--select", "by_user").code == 0
    now = amounts(project, "features.by_user")
    assert now == [(u, a * 2) for u, a in before]
    for view in VIEWS:
        assert amounts(project, f"features.{view}") == now, view
    assert amounts(project, "features.t_user") == before  # not selected: as it was
    assert set(statuses(project)) == {"by_user", *VIEWS}
    physical = query(project, "select physical_name from toolkit.published where step = 'by_user'")[0][0]
    for view in VIEWS:
        reads = query(project, "select reads from toolkit.published where step = ?", [view])[0][0]
        assert physical in json.loads(reads) or view == "vv_user", (view, reads)

    # the same selection again is a no-op; a plain run then rebuilds the table it left
    again = plan_lines(project, "--select", "by_user")
    assert list(again) == ["by_user"] and again["by_user"].split()[1] == "reuse", again  # nothing rebuilt: no view pulled in
    assert run(project, "--select", "by_user").code == 0 and statuses(project) == {"by_user": "reused"}
    full = plan_lines(project)
    assert {name for name, line in full.items() if line.split()[1] not in ("reuse", "inline")} == {"t_user"}, full
    assert run(project).code == 0
    assert amounts(project, "features.t_user") == now
    assert {line.split()[1] for line in plan_lines(project).values()} == {"reuse", "inline"}


def test_exclude_leaves_a_named_view_as_it_is_and_re_points_the_others(project):
    before = amounts(project, "features.by_user")
    write(project, {"features/by_user.sql": BY_USER.format(" * 3")})
    # everything but t_user: the views are selected anyway; t_user keeps its data
    assert run(project, "--exclude", "t_user").code == 0
    now = amounts(project, "features.by_user")
    for view in VIEWS:
        assert amounts(project, f"features.{view}") == now, view
    assert amounts(project, "features.t_user") == before

    write(project, {"features/by_user.sql": BY_USER.format(" * 4")})
    lines = plan_lines(project, "--select", "by_user", "--exclude", "v_user")
    # vv_user reads v_user, which stays: nothing to re-point; both are listed as left stale
    # (tests/test_select_promote_more.py)
    assert set(lines) == {"by_user", "ve_user", "warning:"}, lines
    assert run(project, "--select", "by_user", "--exclude", "v_user").code == 0
    newest = amounts(project, "features.by_user")
    assert amounts(project, "features.ve_user") == newest
    assert amounts(project, "features.v_user") == now  # named by --exclude: as it was, until a run includes it
    assert plan_lines(project)["v_user"].split()[1:] == ["rebuild", "upstream", "changed", "(by_user)"]
    assert run(project).code == 0
    assert amounts(project, "features.v_user") == amounts(project, "features.vv_user") == newest


def test_a_dev_selection_re_points_dev_views_and_leaves_prod(project):
    before = amounts(project, "features.by_user")
    write(project, {"features/by_user.sql": BY_USER.format(" * 5")})
    lines = plan_lines(project, "--env", "dev", "--select", "by_user")
    assert "re-point: reads by_user, rebuilt" in lines["v_user"], lines
    assert run(project, "--env", "dev", "--select", "by_user").code == 0
    dev = amounts(project, "features__dev.by_user")
    assert dev == [(u, a * 5) for u, a in before]
    for view in VIEWS:
        assert amounts(project, f"features__dev.{view}") == dev, view
        assert amounts(project, f"features.{view}") == before, view  # prod's views read prod's table
    assert {line.split()[1] for line in plan_lines(project, "--env", "dev", "--select", "by_user").values()} == {"reuse"}


PG_TOML = """
name = "proj"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "${PG_URL}"
"""


def test_select_re_points_views_on_postgres(tmp_path, pg_url):  # noqa: F811
    root = make_project(tmp_path / "proj", STEPS)
    write(root, {"toolkit.toml": PG_TOML})
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.events as select i::bigint as event_id, (i % 5)::bigint as user_id, i * 1.0::double precision as amount from generate_series(0, 19) i")
    env = {"PG_URL": pg_url}

    def pg_amounts(relation: str) -> list[tuple]:
        return sorted(pg_query(pg_url, f"select user_id, amt from {relation}"))

    code, out, err = cli_tuple("run", "-p", str(root), cwd=root, env=env)
    assert code == 0, out + err
    before = pg_amounts("features.by_user")
    write(root, {"features/by_user.sql": BY_USER.format(" * 2")})
    code, out, err = cli_tuple("run", "-p", str(root), "--select", "by_user", cwd=root, env=env)
    assert code == 0, out + err
    now = pg_amounts("features.by_user")
    assert now == [(u, a * 2) for u, a in before]
    for view in VIEWS:
        assert pg_amounts(f"features.{view}") == now, view
    assert pg_amounts("features.t_user") == before
    code, out, err = cli_tuple("plan", "-p", str(root), "--select", "by_user", cwd=root, env=env)
    assert code == 0 and out.splitlines()[-1] == "plan for env prod: 1 reuse", out + err


def test_a_selected_view_over_an_unselected_ephemeral_step_waits_for_what_it_reads(project):
    """ve_user reads by_user through e_user, which is not selected: the runner waited only
    for planned upstream steps, so ve_user was built at once, over by_user's old table."""
    write(project, {"features/by_user.sql": BY_USER.format(" * 6")})
    assert run(project, "--select", "by_user ve_user").code == 0
    assert amounts(project, "features.ve_user") == amounts(project, "features.by_user")
