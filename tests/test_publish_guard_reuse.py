"""A reused step's published name the user replaced since is refused too (publishguard.check
with the plan's catalog): plan and run exit 2 at the step's config line, before anything
is built. Before, the plan said "reuse", the run exited 0 ("reused", even with other
steps rebuilt) and the name went on serving the user's rows. A dropped view is still
published again silently. The plan reads each published schema once, kinds and views'
SQL together (Engine.definitions): no query more on a no-op run.

A promote checks the names the destination publishes already and re-points (refused
when the user replaced toolkit's view there), and leaves, with a warning, one it would
drop that the user took. Names are compared as the engine compares them: on PostgreSQL
a dropped app."Orders" is missing though the user's app.orders is there, and a step
moving away from app.orders drops it though another step now publishes app."Orders"."""

from __future__ import annotations

import pytest

from _projects import execute
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_publish_guard import STEP, _pg, project, toolkit
from test_publish_guard_more import USERS_TABLE, USERS_VIEW, replace_by_hand, warehouse  # noqa: F401 (fixture)

REFUSED = ("error: features/vs.sql:1: vs publishes app.report, which is now a {kind} toolkit did not make "
           "(replaced by hand since toolkit published it)")


@pytest.mark.parametrize("statement", [USERS_VIEW, USERS_TABLE], ids=["view", "table"])
def test_a_reused_step_whose_name_the_user_took_is_refused(warehouse, statement):  # noqa: F811 (fixture)
    assert warehouse.toolkit("run")[0] == 0
    replace_by_hand(warehouse, statement)
    kind = "view" if "view" in statement else "table"
    for command in ("plan", "run"):
        code, text = warehouse.toolkit(command)
        assert code == 2 and REFUSED.format(kind=kind) in text, text
    (warehouse.root / "features/other.sql").write_text("select 3 as b\n")  # another step changed: still refused, nothing built
    code, text = warehouse.toolkit("run")
    assert code == 2 and REFUSED.format(kind=kind) in text, text
    assert warehouse.rows("select * from features.other") == [(2,)]
    assert warehouse.rows("select * from app.report") == [("precious",)]
    warehouse.sql(f"drop {kind} app.report")  # gone: published again, silently, as a dropped view always was
    code, text = warehouse.toolkit("run")
    assert code == 0, text
    assert warehouse.rows("select * from app.report") == [(1,)]
    assert warehouse.rows("select * from features.other") == [(3,)]


def test_a_reused_view_step_whose_name_now_computes_is_refused(tmp_path):
    view = '{{ config(schema="app", alias="report", materialized="view") }}\nselect b from {{ ref("other") }}\n'
    root = project(tmp_path, files={"features/vs.sql": view})
    assert toolkit(root, "run")[0] == 0
    execute(root, "create or replace view app.report as select 1 as b, 99 as n")
    code, text = toolkit(root, "run")
    assert code == 2 and REFUSED.format(kind="view") in text, text


def test_a_promote_re_pointing_a_name_the_user_took_is_refused(warehouse):  # noqa: F811 (fixture)
    assert warehouse.toolkit("run")[0] == 0
    (warehouse.root / "features/vs.sql").write_text(STEP.replace("select 1", "select 2"))
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    replace_by_hand(warehouse, USERS_TABLE)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert ("cannot promote dev -> prod: vs would be published again as app.report, which is now a table toolkit did not "
            "make (replaced by hand since toolkit published it); nothing was changed") in text, text
    assert warehouse.rows("select * from app.report") == [("precious",)]
    warehouse.sql("drop table app.report")
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 0, text
    assert warehouse.rows("select * from app.report") == [(2,)]


@pytest.mark.parametrize("statement", [USERS_VIEW, USERS_TABLE], ids=["view", "table"])
def test_a_promote_leaves_a_name_it_would_drop_that_the_user_took(warehouse, statement):  # noqa: F811 (fixture)
    assert warehouse.toolkit("run")[0] == 0
    (warehouse.root / "features/vs.sql").write_text(STEP.replace('alias="report"', 'alias="report2"'))
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    replace_by_hand(warehouse, statement)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    kind = "view" if "view" in statement else "table"
    assert code == 0, text
    assert f"warning: app.report was left as it is: a {kind} toolkit did not make" in text, text
    assert warehouse.rows("select * from app.report") == [("precious",)]
    assert warehouse.rows("select * from app.report2") == [(1,)]


def test_a_dropped_view_is_missing_beside_the_users_name_in_lower_case_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = project(tmp_path, files={"features/vs.sql": STEP.replace('alias="report"', 'alias="Orders"')})
    _pg(root, pg_url)
    assert toolkit(root, "run", "--target", "pg")[0] == 0
    pg_query(pg_url, "create table app.orders as select 42 as id")
    pg_query(pg_url, 'drop view app."Orders"')
    code, text = toolkit(root, "run", "--target", "pg")
    assert code == 0, text
    assert pg_query(pg_url, 'select * from app."Orders"') == [(1,)]
    assert pg_query(pg_url, "select * from app.orders") == [(42,)]


def test_a_name_left_is_dropped_though_another_step_takes_it_in_another_case_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    files = {"features/vs.sql": STEP.replace('alias="report"', 'alias="orders"'),
             "features/other.sql": '{{ config(schema="app", alias="x") }}\nselect 2 as b\n'}
    root = project(tmp_path, files=files)
    _pg(root, pg_url)
    assert toolkit(root, "run", "--target", "pg")[0] == 0
    (root / "features/vs.sql").write_text(STEP.replace('alias="report"', 'alias="y"'))
    (root / "features/other.sql").write_text('{{ config(schema="app", alias="Orders") }}\nselect 2 as b\n')
    code, text = toolkit(root, "run", "--target", "pg")
    assert code == 0, text
    names = pg_query(pg_url, "select table_name from information_schema.tables where table_schema = 'app' order by 1")
    assert sorted(name for (name,) in names) == ["Orders", "y"]


def _physical(wh, step: str) -> str:
    return wh.rows(f"select physical_name from toolkit.published where step = '{step}' and env = 'prod'")[0][0]


def test_a_view_the_user_pointed_at_another_of_toolkits_tables_is_refused(warehouse):  # noqa: F811 (fixture)
    """It reads toolkit_physical, but not the table the state records for the step: readers
    got another step's rows while the run said reused."""
    assert warehouse.toolkit("run")[0] == 0
    replace_by_hand(warehouse, f"create view app.report as select * from toolkit_physical.{_physical(warehouse, 'other')}")
    for command in ("plan", "run"):
        code, text = warehouse.toolkit(command)
        assert code == 2 and REFUSED.format(kind="view") in text, text


def test_a_view_that_renames_toolkits_columns_is_refused(warehouse):  # noqa: F811 (fixture)
    (warehouse.root / "features/vs.sql").write_text(STEP.replace("select 1 as a", "select 1 as a, 2 as c"))
    assert warehouse.toolkit("run")[0] == 0
    physical = _physical(warehouse, "vs")
    replace_by_hand(warehouse, f"create view app.report as select c as a, a as c from toolkit_physical.{physical}")
    code, text = warehouse.toolkit("run")
    assert code == 2 and REFUSED.format(kind="view") in text, text
    replace_by_hand(warehouse, f"create view app.report as select a, c from toolkit_physical.{physical}")  # toolkit's, as spelt by hand
    code, text = warehouse.toolkit("run")
    assert code == 0, text
