"""A view `run --select X` re-points keeps its published SQL (its file's edits wait), but
not when that SQL reads a step since deleted, which the same run drops (tester G): the view
was left reading a table that no longer exists (DuckDB: exit 0, the view broken; PostgreSQL:
dropping the step failed, "other objects depend on it"). It is then re-created from its file,
as before the published SQL was kept, and the plan says so."""

from __future__ import annotations

import pytest

from _projects import make_project, rows, run, write
from test_repoint_rollback_more import plan_lines
from test_repoint_small import BY_USER, SETUP, SOURCES

pytestmark = pytest.mark.slow  # end-to-end runs

STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/by_user.sql": BY_USER.format(""),
    "features/other.sql": "select user_id, 1 as one from {{ ref('by_user') }}",
    "features/v_user.sql": "{{ config(materialized='view') }}\n"
                           "select b.user_id, b.amt, o.one from {{ ref('by_user') }} b join {{ ref('other') }} o using (user_id)",
}


def test_a_re_pointed_view_whose_published_sql_reads_a_deleted_step_is_re_created_from_its_file(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    (root / "features/other.sql").unlink()
    write(root, {"features/by_user.sql": BY_USER.format(" * 2"),
                 "features/v_user.sql": "{{ config(materialized='view') }}\nselect user_id, amt from {{ ref('by_user') }}"})
    lines = plan_lines(root, "--select", "by_user")
    assert "published SQL kept" not in lines["v_user"] and "SQL changed" in lines["v_user"], lines
    done = run(root, "--select", "by_user")
    assert done.code == 0, done
    assert rows(root, "(select user_id, amt from features.v_user)") == rows(root, "(select user_id, amt from features.by_user)")
