"""A published name is toolkit's while what is there is toolkit's view (publishguard.py): one
the user dropped and replaced (`drop view app.report; create table app.report as ...`, or
a view of their own) is theirs, although the state still records the name. Deleting the
step leaves it alone, saying so; a rebuild and a rollback refuse it, exit 2 naming it.
Before, deleting the step dropped the user's view (a table failed the run), and a rebuild
or a rollback replaced the view silently.

Names are compared as the engine compares them: on PostgreSQL an alias "Orders" is a
relation other than a user's orders (it was refused), and an alias changed only in case
is a new relation there, checked like a new name (it replaced the user's "Orders")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from _projects import execute, query
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_publish_guard import STEP, _pg, project, toolkit

USERS_VIEW = "create view app.report as select 'precious' as what"
USERS_TABLE = "create table app.report as select 'precious' as what"


@dataclass
class Warehouse:
    """One project on DuckDB or PostgreSQL: toolkit commands and SQL of the user's."""

    root: Path
    url: str | None = None

    def toolkit(self, *args: str) -> tuple[int, str]:
        return toolkit(self.root, *args, *(("--target", "pg") if self.url else ()))

    def sql(self, statement: str) -> None:
        if self.url:
            pg_query(self.url, statement)
        else:
            execute(self.root, statement)

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in (pg_query(self.url, sql) if self.url else query(self.root, sql))]


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path) -> Warehouse:
    root = project(tmp_path)
    if request.param == "duckdb":
        return Warehouse(root)
    url = request.getfixturevalue("pg_url")
    _pg(root, url)
    return Warehouse(root, url)


def replace_by_hand(wh: Warehouse, statement: str) -> None:
    wh.sql("drop view app.report")
    wh.sql(statement)


@pytest.mark.parametrize("statement", [USERS_VIEW, USERS_TABLE], ids=["view", "table"])
def test_deleting_the_step_leaves_what_the_user_put_in_its_place(warehouse, statement):
    assert warehouse.toolkit("run")[0] == 0
    replace_by_hand(warehouse, statement)
    (warehouse.root / "features/vs.sql").unlink()
    code, text = warehouse.toolkit("run")
    kind = "view" if "view" in statement else "table"
    assert code == 0, text
    assert f"warning: app.report was left as it is: a {kind} toolkit did not make" in text, text
    assert warehouse.rows("select * from app.report") == [("precious",)]
    code, text = warehouse.toolkit("run")  # the step is forgotten: nothing more to say
    assert code == 0 and "app.report" not in text, text
    assert warehouse.rows("select * from app.report") == [("precious",)]


@pytest.mark.parametrize("statement", [USERS_VIEW, USERS_TABLE], ids=["view", "table"])
def test_a_rebuild_over_what_the_user_put_in_its_place_is_refused(warehouse, statement):
    assert warehouse.toolkit("run")[0] == 0
    replace_by_hand(warehouse, statement)
    (warehouse.root / "features/vs.sql").write_text(STEP.replace("select 1", "select 2"))
    kind = "view" if "view" in statement else "table"
    for command in ("plan", "run"):
        code, text = warehouse.toolkit(command)
        assert code == 2, text
        assert (f"error: features/vs.sql:1: vs publishes app.report, which is now a {kind} toolkit did not make "
                f"(replaced by hand since toolkit published it)") in text, text
    assert warehouse.rows("select * from app.report") == [("precious",)]
    warehouse.sql(f"drop {kind} app.report")  # gone: toolkit publishes there again
    code, text = warehouse.toolkit("run")
    assert code == 0, text
    assert warehouse.rows("select * from app.report") == [(2,)]


def test_a_rollback_onto_a_name_the_user_took_is_refused(warehouse):
    assert warehouse.toolkit("run")[0] == 0
    (warehouse.root / "features/vs.sql").write_text(STEP.replace("select 1", "select 2"))
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    assert warehouse.toolkit("promote", "dev", "prod")[0] == 0
    replace_by_hand(warehouse, USERS_VIEW)
    code, text = warehouse.toolkit("rollback", "prod")
    assert code == 2, text
    assert ("cannot roll back prod: vs would be published again as app.report, which is now a view toolkit did not make "
            "(replaced by hand since toolkit published it); nothing was changed") in text, text
    assert warehouse.rows("select * from app.report") == [("precious",)]
    warehouse.sql("drop view app.report")
    code, text = warehouse.toolkit("rollback", "prod")  # the saved state is still there
    assert code == 0, text
    assert warehouse.rows("select * from app.report") == [(1,)]


def test_a_rollback_leaves_a_name_it_would_drop_that_the_user_took(warehouse):
    """A step published since the saved state is unpublished by the rollback: not the user's object there."""
    (warehouse.root / "features/new.sql").write_text('{{ config(schema="app", alias="fresh") }}\nselect 3 as c\n')
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    (warehouse.root / "features/new.sql").unlink()
    assert warehouse.toolkit("run")[0] == 0  # prod without it
    assert warehouse.toolkit("promote", "dev", "prod")[0] == 0  # prod publishes app.fresh
    warehouse.sql("drop view app.fresh")
    warehouse.sql("create table app.fresh as select 'precious' as what")
    code, text = warehouse.toolkit("rollback", "prod")
    assert code == 0, text
    assert "warning: app.fresh was left as it is: a table toolkit did not make" in text, text
    assert warehouse.rows("select * from app.fresh") == [("precious",)]


def test_an_alias_in_another_case_is_another_relation_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = project(tmp_path, files={"features/vs.sql": STEP.replace('alias="report"', 'alias="Orders"')})
    _pg(root, pg_url)
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.orders as select 42 as id")
    code, text = toolkit(root, "run", "--target", "pg")
    assert code == 0, text
    assert pg_query(pg_url, 'select * from app."Orders"') == [(1,)]
    assert pg_query(pg_url, "select * from app.orders") == [(42,)]


def test_an_alias_changed_only_in_case_is_checked_like_a_new_name_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = project(tmp_path, files={"features/vs.sql": STEP.replace('alias="report"', 'alias="orders"')})
    _pg(root, pg_url)
    assert toolkit(root, "run", "--target", "pg")[0] == 0
    pg_query(pg_url, """create view app."Orders" as select 'precious' as what""")
    (root / "features/vs.sql").write_text(STEP.replace('alias="report"', 'alias="Orders"'))
    code, text = toolkit(root, "run", "--target", "pg")
    assert code == 2 and "vs publishes app.Orders, which already exists in the warehouse and was not published by toolkit (a view)" in text, text
    assert pg_query(pg_url, 'select * from app."Orders"') == [("precious",)]
    assert pg_query(pg_url, "select * from app.orders") == [(1,)]


def test_an_alias_changed_only_in_case_on_duckdb_is_the_same_relation(tmp_path):
    root = project(tmp_path)
    assert toolkit(root, "run")[0] == 0
    (root / "features/vs.sql").write_text(STEP.replace('alias="report"', 'alias="Report"'))
    code, text = toolkit(root, "run")
    assert code == 0, text
    assert query(root, "select * from app.report") == [(1,)]
    execute(root, "create schema app2; create table app2.orders as select 42 as id")
    (root / "features/vs.sql").write_text(STEP.replace('schema="app", alias="report"', 'schema="app2", alias="Orders"'))
    code, text = toolkit(root, "run")
    assert code == 2 and "vs publishes app2.orders, which already exists" in text, text


def test_a_step_moving_away_from_a_name_the_user_took_leaves_it(warehouse):
    """A changed alias drops the step's old name as it publishes the new one: not the user's object there."""
    assert warehouse.toolkit("run")[0] == 0
    replace_by_hand(warehouse, USERS_VIEW)
    (warehouse.root / "features/vs.sql").write_text(STEP.replace('alias="report"', 'alias="report2"'))
    code, text = warehouse.toolkit("run")
    assert code == 0, text
    assert "warning: app.report was left as it is: a view toolkit did not make" in text, text
    assert warehouse.rows("select * from app.report") == [("precious",)]
    assert warehouse.rows("select * from app.report2") == [(1,)]


TOOLKITS = [("duckdb", "CREATE VIEW app.report AS SELECT * FROM toolkit_physical.vs__7d50fd634c61__r1;"),
            ("postgres", ' SELECT y.a,\n    y."Weird (col"\n   FROM toolkit_physical.y;')]
USERS = [("duckdb", "CREATE VIEW app.r AS SELECT * FROM toolkit_physical.y WHERE (a > 1);"),
         ("duckdb", "CREATE VIEW app.r AS SELECT * FROM toolkit_physical.y, app.z;"),
         ("duckdb", "CREATE VIEW app.r AS SELECT 'precious' AS what;"),
         ("postgres", " SELECT orders.id\n   FROM app.orders;"),
         ("postgres", " SELECT upper(y.a) AS a\n   FROM toolkit_physical.y;"),
         ("postgres", " SELECT y.a\n   FROM toolkit_physical.y\n  WHERE (y.a IN ( SELECT z.a FROM z));")]


def catalog_of(dialect: str):
    """A guard's catalog of an engine of `dialect` (its name rules; no relation is looked up)."""
    from types import SimpleNamespace

    from toolkit.publishguard import Catalog

    return Catalog(SimpleNamespace(dialect=dialect, NAMES_FOLD_CASE=dialect != "postgres"))


@pytest.mark.parametrize("dialect,sql", TOOLKITS)
def test_toolkits_views_as_the_engines_show_them(dialect, sql):
    from toolkit.publishguard import _looks_published

    assert _looks_published(catalog_of(dialect), ("report", "view", sql))


@pytest.mark.parametrize("dialect,sql", USERS)
def test_views_that_filter_join_or_compute_are_the_users(dialect, sql):
    from toolkit.publishguard import _looks_published

    assert not _looks_published(catalog_of(dialect), ("report", "view", sql))
    assert not _looks_published(catalog_of(dialect), ("report", "table", None))
