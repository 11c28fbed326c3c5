"""A view `toolkit run --select X` re-points (it reads X, which the run rebuilds) keeps the
SQL it was published with when its file was edited since: the run publishes what the user
selected, not the view's unpublished edits, and `plan`/`run` say the edits wait for a run
that selects the view."""

from __future__ import annotations

import json

import pytest

from _projects import cli, cli_tuple, make_project, query, rows, run, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_repoint_small import BY_USER, SETUP, SOURCES

pytestmark = pytest.mark.slow  # end-to-end runs

V_USER = "{{ config(materialized='view') }}\nselect user_id, n, amt from {{ ref('by_user') }}"
V_USER_EDITED = "{{ config(materialized='view') }}\nselect user_id, n, amt * 100 as amt from {{ ref('by_user') }}"
STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/by_user.sql": BY_USER.format(""),
    "features/v_user.sql": V_USER,
    "features/vv_user.sql": "{{ config(materialized='view') }}\nselect user_id, amt from {{ ref('v_user') }}",
}


def amounts(root, relation: str) -> list[tuple]:
    return rows(root, f"(select user_id, amt from {relation})")


def plan_lines(root, *args: str) -> dict[str, str]:
    planned = cli("plan", "-p", str(root), *args)
    assert planned.code == 0, planned
    return {line.split()[0]: line for line in planned.out.splitlines()[:-1] if line.strip()}


def published_sql(root, step: str) -> str:
    return query(root, "select sql from toolkit.published where step = ? and env = 'prod'", [step])[0][0]


def test_a_re_pointed_view_with_unpublished_edits_keeps_its_published_sql(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    before = amounts(root, "features.by_user")
    sql_before = published_sql(root, "v_user")
    write(root, {"features/by_user.sql": BY_USER.format(" * 2"), "features/v_user.sql": V_USER_EDITED})

    lines = plan_lines(root, "--select", "by_user")
    assert "re-point: reads by_user" in lines["v_user"], lines
    assert "published SQL kept" in lines["v_user"] and "edits (SQL changed: ~ column amt)" in lines["v_user"], lines
    assert "warning:" in lines and "v_user" in lines["warning:"], lines
    assert "edits" not in lines["vv_user"], lines  # re-pointed too, and unedited: nothing more to say
    events = cli("plan", "-p", str(root), "--select", "by_user", "--log-format", "json").events()
    kinds = {e["step"]: [r["kind"] for r in e["reasons"]] for e in events if e.get("event") == "plan"}
    assert kinds["v_user"] == ["repoint", "unpublished_edits"], events
    assert any(e.get("event") == "warning" and e.get("step") == "v_user" and e.get("unpublished_edits") for e in events), events

    done = run(root, "--select", "by_user")
    assert done.code == 0, done
    assert "v_user has unpublished edits" in done.out + done.err, done
    now = amounts(root, "features.by_user")
    assert now == [(u, a * 2) for u, a in before]
    # re-pointed at the new table with the SQL it was published with: not the file's * 100
    assert amounts(root, "features.v_user") == now
    assert amounts(root, "features.vv_user") == now
    assert published_sql(root, "v_user") == sql_before
    physical = query(root, "select physical_name from toolkit.published where step = 'by_user'")[0][0]
    assert physical in json.loads(query(root, "select reads from toolkit.published where step = 'v_user'")[0][0])

    # the edits still wait: a run that selects the view publishes them (and says why)
    lines = plan_lines(root)
    assert lines["v_user"].split()[1] == "rebuild" and "SQL changed" in lines["v_user"], lines
    assert lines["vv_user"].split()[1] == "rebuild", lines
    assert run(root).code == 0
    assert amounts(root, "features.v_user") == [(u, a * 100) for u, a in now]
    assert amounts(root, "features.vv_user") == [(u, a * 100) for u, a in now]
    assert {line.split()[1] for line in plan_lines(root).values()} == {"reuse"}


PG_TOML = """
name = "proj"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "${PG_URL}"
"""


def test_a_re_pointed_view_keeps_its_published_sql_on_postgres(tmp_path, pg_url):  # noqa: F811
    root = make_project(tmp_path / "proj", STEPS)
    write(root, {"toolkit.toml": PG_TOML})
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.events as select i::bigint as event_id, (i % 5)::bigint as user_id, "
                     "i * 1.0::double precision as amount from generate_series(0, 19) i")
    env = {"PG_URL": pg_url}

    def pg_amounts(relation: str) -> list[tuple]:
        return sorted(pg_query(pg_url, f"select user_id, amt from {relation}"))

    code, out, err = cli_tuple("run", "-p", str(root), cwd=root, env=env)
    assert code == 0, out + err
    before = pg_amounts("features.by_user")
    write(root, {"features/by_user.sql": BY_USER.format(" * 2"), "features/v_user.sql": V_USER_EDITED})
    code, out, err = cli_tuple("run", "-p", str(root), "--select", "by_user", cwd=root, env=env)
    assert code == 0, out + err
    assert "v_user has unpublished edits" in out + err
    now = pg_amounts("features.by_user")
    assert now == [(u, a * 2) for u, a in before]
    assert pg_amounts("features.v_user") == pg_amounts("features.vv_user") == now
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root, env=env)
    assert code == 0, out + err
    assert pg_amounts("features.v_user") == [(u, a * 100) for u, a in now]
