"""A published name is toolkit's only while its view reads the physical table the state
records for it, all of its columns under their own names, in the schema toolkit_physical
as the engine spells it (publishguard.py). Found by a tester (2026-12-06, night): deleting
a step, moving its alias, a rollback and a promote took any view over any toolkit_physical
table for toolkit's own (only run and plan compared the recorded table): they dropped or
re-pointed a user's view that read another of toolkit's tables. A view showing some of the
columns passed, and on PostgreSQL a view reading "TOOLKIT_PHYSICAL".<same name>, another
schema there, passed as toolkit's and served the user's rows under "reused"."""

from __future__ import annotations

from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_publish_guard import STEP, _pg, project
from test_publish_guard_more import Warehouse, warehouse  # noqa: F401 (fixture)

TWO_COLUMNS = STEP.replace("select 1 as a", "select 1 as a, 2 as b")


def physical(wh: Warehouse, step: str) -> str:
    return wh.rows(f"select physical_name from toolkit.published where step = '{step}' and env = 'prod'")[0][0]


def view_over(wh: Warehouse, relation: str, select: str) -> None:
    """The user's own view at `relation` (was toolkit's)."""
    wh.sql(f"drop view {relation}")
    wh.sql(f"create view {relation} as {select}")


def test_deleting_the_step_leaves_the_users_view_over_another_of_toolkits_tables(warehouse):
    assert warehouse.toolkit("run")[0] == 0
    view_over(warehouse, "app.report", f"select * from toolkit_physical.{physical(warehouse, 'other')}")
    (warehouse.root / "features/vs.sql").unlink()
    code, text = warehouse.toolkit("run")
    assert code == 0, text
    assert "warning: app.report was left as it is: a view toolkit did not make" in text, text
    assert warehouse.rows("select * from app.report") == [(2,)]  # other's row, through the user's view


def test_a_rollback_refuses_the_users_view_over_another_of_toolkits_tables(warehouse):
    assert warehouse.toolkit("run")[0] == 0
    (warehouse.root / "features/vs.sql").write_text(STEP.replace("select 1", "select 5"))
    assert warehouse.toolkit("run")[0] == 0
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    (warehouse.root / "features/other.sql").write_text("select 3 as b\n")
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    assert warehouse.toolkit("promote", "dev", "prod")[0] == 0  # a saved state to roll back to
    view_over(warehouse, "app.report", f"select * from toolkit_physical.{physical(warehouse, 'other')}")
    code, text = warehouse.toolkit("rollback", "prod")
    assert code == 2, text
    assert "vs would be published again as app.report, which is now a view toolkit did not make" in text, text
    assert warehouse.rows("select * from app.report") == [(3,)]


def test_a_promote_refuses_the_users_view_over_another_of_toolkits_tables(warehouse):
    assert warehouse.toolkit("run")[0] == 0
    (warehouse.root / "features/vs.sql").write_text(STEP.replace("select 1", "select 5"))
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    view_over(warehouse, "app.report", f"select * from toolkit_physical.{physical(warehouse, 'other')}")
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert "cannot promote dev -> prod: vs would be published again as app.report" in text, text
    assert warehouse.rows("select * from app.report") == [(2,)]


def test_a_view_showing_fewer_columns_is_the_users(tmp_path, request):
    for engine in ("duckdb", "postgres"):
        root = project(tmp_path / engine, files={"features/vs.sql": TWO_COLUMNS})
        wh = Warehouse(root)
        if engine == "postgres":
            url = request.getfixturevalue("pg_url")
            _pg(root, url)
            wh = Warehouse(root, url)
        assert wh.toolkit("run")[0] == 0
        view_over(wh, "app.report", f"select a from toolkit_physical.{physical(wh, 'vs')}")
        for command in ("plan", "run"):
            code, text = wh.toolkit(command)
            assert code == 2, (engine, text)
            assert "vs publishes app.report, which is now a view toolkit did not make (replaced by hand" in text, text
        assert wh.rows("select * from app.report") == [(1,)]
        view_over(wh, "app.report", f"select b, a from toolkit_physical.{physical(wh, 'vs')}")  # all of them, in any order
        code, text = wh.toolkit("run")
        assert code == 0, (engine, text)


def test_an_upper_case_physical_schema_is_another_schema_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = project(tmp_path)
    _pg(root, pg_url)
    wh = Warehouse(root, pg_url)
    assert wh.toolkit("run")[0] == 0
    name = physical(wh, "vs")
    pg_query(pg_url, 'create schema "TOOLKIT_PHYSICAL"')
    try:
        pg_query(pg_url, f'create table "TOOLKIT_PHYSICAL".{name} as select -1 as a')
        view_over(wh, "app.report", f'select * from "TOOLKIT_PHYSICAL".{name}')
        code, text = wh.toolkit("plan")
        assert code == 2 and "which is now a view toolkit did not make" in text, text
        assert wh.rows("select * from app.report") == [(-1,)]
    finally:
        pg_query(pg_url, 'drop schema "TOOLKIT_PHYSICAL" cascade')


def test_moving_the_alias_leaves_the_users_view_at_the_old_name(warehouse):
    assert warehouse.toolkit("run")[0] == 0
    view_over(warehouse, "app.report", f"select * from toolkit_physical.{physical(warehouse, 'other')}")
    (warehouse.root / "features/vs.sql").write_text(STEP.replace('alias="report"', 'alias="report2"'))
    code, text = warehouse.toolkit("run")
    assert code == 0, text
    assert "app.report was left as it is" in text, text
    assert warehouse.rows("select * from app.report") == [(2,)]
    assert warehouse.rows("select * from app.report2") == [(1,)]

