"""Holds that keep published data consistent, beyond a relationships test on a child's new rows.

1. A custom test (features/tests/*.sql) that runs with c and reads p: when c keeps its
   previous rows (another of its tests failed), p's new build was published beside them
   although they fail the custom test against it. Now the test runs on c's kept rows and p's
   new table, and p is held when it fails (as a relationships test: tests/test_relhold.py).
2. c's test passed on its new rows and released p, then c's publish failed (an analyst's
   view on features.c blocks its DROP VIEW): p went live beside c's previous rows, which fail
   the test against it. Now p commits only together with c.
3. A relationships test toward an ephemeral step e (inlined) read only e, which the run never
   publishes: its failure held nothing, and p, which e reads, was published. It holds p now.
4. `toolkit plan` says that a held step's test also judges the rows its step keeps.

Project: p (id, gid) from app.par, c (kid, pid) from app.kid, each holding 1..4 (kid = pid);
a later run drops id 4 from app.par.
"""

from __future__ import annotations

import uuid

import pytest
from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, with_database

from _projects import cli, execute, make_project, query

pytestmark = pytest.mark.slow  # end-to-end runs

SOURCES = """\
[app]
schema = "app"

[app.tables.par]
columns = { id = "bigint", gid = "bigint" }

[app.tables.kid]
columns = { kid = "bigint", pid = "bigint" }
"""
P = 'select id, gid from {{ source("app", "par") }}\n'
# c reads p (so the custom test reading both runs with c) and fails not_null once a kid is NULL
C = ('{{ config(tests={"kid": ["not_null"]}) }}\n'
     'select kid, pid from {{ source("app", "kid") }} where exists (select 1 from {{ ref("p") }})\n')
CUSTOM = ('-- every c row has its p row\n'
          'select c.kid, c.pid from {{ ref("c") }} as c left join {{ ref("p") }} as p on p.id = c.pid where p.id is null\n')
# c's relationships test to p, and a column (`extra`) the next version drops
C_REL = ('{{ config(tests={"pid": [{"relationships": {"to": "p", "field": "id"}}]}) }}\n'
         'select kid, pid, \'a\' as extra from {{ source("app", "kid") }}\n')
C_REL_NO_EXTRA = ('{{ config(tests={"pid": [{"relationships": {"to": "p", "field": "id"}}]}) }}\n'
                  'select kid, pid from {{ source("app", "kid") }}\n')
E = '{{ config(materialized="ephemeral") }}\nselect id from {{ ref("p") }}\n'
C_TO_E = ('{{ config(tests={"pid": [{"relationships": {"to": "e", "field": "id"}}]}) }}\n'
          'select kid, pid from {{ source("app", "kid") }}\n')
POSTGRES = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'
KEPT = "but c keeps its previous rows (its new rows were not published), which fail it against p's new rows"


@pytest.fixture
def fixer_pg_url():
    """A fresh database fixer_holds2_*, dropped afterwards."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    database = f"fixer_holds2_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("fixer_pg_url") if request.param == "postgres" else None


class Warehouse:
    def __init__(self, tmp_path, url: str | None, files: dict[str, str]):
        files = {"warehouse/sources.toml": SOURCES, **files}
        if url:
            files["toolkit.toml"] = POSTGRES.format(url=url)
        self.url, self.root = url, make_project(tmp_path / "proj", files)
        self.sql("create schema app")
        self.sql("create table app.par (id bigint, gid bigint)")
        self.sql("create table app.kid (kid bigint, pid bigint)")
        self.sql("insert into app.par values (1, 1), (2, 2), (3, 3), (4, 4)")
        self.sql("insert into app.kid values (1, 1), (2, 2), (3, 3), (4, 4)")

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else execute(self.root, text)

    def rows(self, text: str) -> list[tuple]:
        return pg_query(self.url, text) if self.url else query(self.root, text)

    def published_p(self) -> list[tuple]:
        return self.rows("select id, gid from features.p order by 1")

    def orphans(self) -> list[tuple]:
        return self.rows("select pid from features.c where pid not in (select id from features.p)")

    def statuses(self, run_id: int) -> dict[str, str]:
        return dict(self.rows(f"select step, status from toolkit.step_runs where run_id = {run_id}"))

    def error(self, run_id: int, step: str) -> str:
        return self.rows(f"select error from toolkit.step_runs where run_id = {run_id} and step = '{step}'")[0][0]

    def toolkit(self, *args: str):
        return cli(args[0], "-p", str(self.root), *args[1:])


def test_a_custom_test_holds_a_parent_the_childs_kept_rows_fail_against(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, {"features/p.sql": P, "features/c.sql": C, "features/tests/c_in_p.sql": CUSTOM})
    first = w.toolkit("run")
    assert first.code == 0, first.out + first.err
    w.sql("delete from app.par where id = 4")  # p's new rows lack 4, which c's published rows use
    w.sql("delete from app.kid where pid = 4")  # c's new rows pass the custom test ...
    w.sql("insert into app.kid values (null, 1)")  # ... and fail not_null: c keeps its previous rows

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.orphans() == []
    assert w.published_p() == [(1, 1), (2, 2), (3, 3), (4, 4)]  # held: its previous version stays
    assert w.statuses(2) == {"p": "failed", "c": "failed"}
    error = w.error(2, "p")
    assert error.startswith("features/tests/c_in_p.sql: not published (its previous version stays): held back by custom test c_in_p"), error
    assert f"it passed on c's new rows, {KEPT}: custom(c_in_p): 1 failing row" in error, error
    assert w.error(2, "c").endswith("; held back with it, not published (their previous versions stay): p"), w.error(2, "c")

    w.sql("delete from app.kid where kid is null")  # fixed: both are published, and pass the test together
    fixed = w.toolkit("run")
    assert fixed.code == 0, fixed.out + fixed.err
    assert w.published_p() == [(1, 1), (2, 2), (3, 3)] and w.orphans() == []


def test_a_custom_test_lets_a_parent_the_kept_rows_pass_with_publish_after_a_failed_build(tmp_path, warehouse_url):
    # c's build fails once a kid is NULL: the custom test does not run on c's new rows
    breaking = C.replace("select kid, pid", "select kid, pid, cast(case when kid is null then 'x' else '1' end as bigint) as k")
    w = Warehouse(tmp_path, warehouse_url, {"features/p.sql": P, "features/c.sql": breaking, "features/tests/c_in_p.sql": CUSTOM})
    assert w.toolkit("run").code == 0
    w.sql("update app.par set gid = 9")  # every id stays: c's kept rows pass against p's new rows
    w.sql("insert into app.kid values (null, 1)")

    kept_pass = w.toolkit("run")

    assert kept_pass.code == 1, kept_pass.out + kept_pass.err
    assert w.statuses(2) == {"p": "success", "c": "failed"}  # before: p held as if the test had failed
    assert w.published_p() == [(1, 9), (2, 9), (3, 9), (4, 9)]
    w.sql("delete from app.par where id = 4")

    kept_fail = w.toolkit("run")

    assert kept_fail.code == 1, kept_fail.out + kept_fail.err
    assert w.statuses(3) == {"p": "failed", "c": "failed"} and w.orphans() == []
    assert "it did not run on c's new rows (failed: features/c.sql: " in w.error(3, "p"), w.error(3, "p")
    assert f"{KEPT}: custom(c_in_p): 1 failing row" in w.error(3, "p"), w.error(3, "p")


def test_a_parent_released_by_a_child_whose_publish_then_fails_is_published_only_if_the_kept_rows_pass(tmp_path, fixer_pg_url):
    w = Warehouse(tmp_path, fixer_pg_url, {"features/p.sql": P, "features/c.sql": C_REL})
    assert w.toolkit("run").code == 0
    w.sql("create schema analyst")
    w.sql("create view analyst.report as select * from features.c")  # blocks the DROP VIEW c's new columns need
    w.root.joinpath("features/c.sql").write_text(C_REL_NO_EXTRA)
    w.sql("update app.par set gid = 9")  # every id stays: c's kept rows pass against p's new rows

    kept_pass = w.toolkit("run")

    assert kept_pass.code == 1, kept_pass.out + kept_pass.err
    assert w.statuses(2) == {"p": "success", "c": "failed"}
    assert w.published_p() == [(1, 9), (2, 9), (3, 9), (4, 9)]
    assert "publish failed" in w.error(2, "c") and "held back" not in w.error(2, "c"), w.error(2, "c")
    w.sql("delete from app.par where id = 4")
    w.sql("delete from app.kid where pid = 4")  # c's new rows pass its test: p is released, c's publish fails again

    kept_fail = w.toolkit("run")

    assert kept_fail.code == 1, kept_fail.out + kept_fail.err
    assert w.statuses(3) == {"p": "failed", "c": "failed"}
    assert w.orphans() == []
    assert w.published_p() == [(1, 9), (2, 9), (3, 9), (4, 9)]
    error = w.error(3, "p")
    assert error.startswith("features/c.sql: not published (its previous version stays): held back by test relationships(pid) of c, "
                            f"and it passed on c's new rows, {KEPT}: relationships(pid): 1 failing row"), error
    assert "publish failed" in error and "analyst.report" in error, error
    assert "publish failed" in w.error(3, "c") and w.error(3, "c").endswith(
        "; held back with it, not published (their previous versions stay): p"), w.error(3, "c")

    w.sql("drop view analyst.report")
    fixed = w.toolkit("run")
    assert fixed.code == 0, fixed.out + fixed.err
    assert w.published_p() == [(1, 9), (2, 9), (3, 9)] and w.orphans() == []


def test_a_relationships_test_toward_an_ephemeral_step_holds_what_it_reads(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, {"features/p.sql": P, "features/e.sql": E, "features/c.sql": C_TO_E})
    assert w.toolkit("run").code == 0
    w.sql("delete from app.par where id = 4")  # p's new rows lack 4 ...
    w.sql("insert into app.kid values (5, 3)")  # ... which c's new rows still use: c's test fails

    plan = w.toolkit("plan")
    assert plan.code == 0, plan.out + plan.err
    assert "published only if test relationships(pid) of c passes" in next(
        line for line in plan.out.splitlines() if line.split()[:1] == ["p"]), plan.out

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.orphans() == []
    assert w.published_p() == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert w.statuses(2)["p"] == "failed" and w.statuses(2)["c"] == "failed"
    assert w.error(2, "p").startswith("features/c.sql: not published (its previous version stays): held back by test relationships(pid) of c, "
                                      "and it failed: relationships(pid): 1 failing row"), w.error(2, "p")


def test_plan_states_the_kept_rows_rule_under_its_holds(tmp_path):
    w = Warehouse(tmp_path, None, {"features/p.sql": P, "features/c.sql": C_REL})
    first_plan = w.toolkit("plan")
    assert first_plan.code == 0 and "held steps" not in first_plan.out, first_plan.out  # nothing of c published yet
    assert w.toolkit("run").code == 0
    w.sql("delete from app.par where id = 4")

    plan = w.toolkit("plan")

    assert plan.code == 0, plan.out + plan.err
    assert ("held steps: if c keeps its previous rows (a test or build failed, or held), "
            "the test runs on those rows against the new builds instead") in plan.out.splitlines(), plan.out
