"""After a run, every relationships test of severity error holds between what is published.

DESIGN decision 3: a relationships test of step c to parent p holds p's publish. It held p
only when the test itself failed on c's new rows. When c kept its previous rows for any other
reason (another of its tests failed, a test of a later step held it, a second relationships
test failed, its build failed), the passing (or never run) test said nothing of those rows, and p's new build was published
without keys they still use: an orphan in the published tables of a failed run. Now, when c
keeps its previous rows, p is published only if they pass the test against p's new build
(execute._Runner._kept_rows_verdict); a held p keeps its previous rows in turn, which then
decide for p's own parents (a chain). On c's first run nothing of c is published: p is not
held for it. A test of severity warn never holds.

Project: g (ids), p (id, gid -> g), c (kid, pid -> p), from app.gp, app.par, app.kid, each
holding 1..4 (c: kid = pid); run 2 drops id 4 from the parents' sources.
"""

from __future__ import annotations

import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import cli, execute, make_project, query

pytestmark = pytest.mark.slow  # end-to-end runs

SOURCES = """\
[app]
schema = "app"

[app.tables.gp]
columns = { id = "bigint" }

[app.tables.par]
columns = { id = "bigint", gid = "bigint" }

[app.tables.kid]
columns = { kid = "bigint", pid = "bigint" }
"""
G = 'select id from {{ source("app", "gp") }}\n'
P = ('{{ config(tests={"gid": [{"relationships": {"to": "g", "field": "id"}}]}) }}\n'
     'select id, gid from {{ source("app", "par") }}\n')
P_ALONE = 'select id, gid from {{ source("app", "par") }}\n'
C = ('{{ config(tests={"pid": [{"relationships": {"to": "p", "field": "id"}}], "kid": ["not_null"]}) }}\n'
     'select kid, pid from {{ source("app", "kid") }}\n')
WARN_C = ('{{ config(tests={"pid": [{"relationships": {"to": "p", "field": "id", "severity": "warn"}}], "kid": ["not_null"]}) }}\n'
          'select kid, pid from {{ source("app", "kid") }}\n')
# c reads p and g: the test to p fails, the one to g passes on c's new rows
C_TWO = ('{{ config(tests={"pid": [{"relationships": {"to": "p", "field": "id"}}, {"relationships": {"to": "g", "field": "id"}}]}) }}\n'
         'select kid, pid from {{ source("app", "kid") }}\n')
POSTGRES = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'
KEPT = "but c keeps its previous rows (its new rows were not published), which fail it against p's new rows"


class Warehouse:
    def __init__(self, tmp_path, url: str | None, **steps: str):
        files = {"warehouse/sources.toml": SOURCES, **{f"features/{name}.sql": text for name, text in steps.items()}}
        if url:
            files["toolkit.toml"] = POSTGRES.format(url=url)
        self.url, self.root = url, make_project(tmp_path / "proj", files)
        self.sql("create schema app")
        self.sql("create table app.gp (id bigint)")
        self.sql("create table app.par (id bigint, gid bigint)")
        self.sql("create table app.kid (kid bigint, pid bigint)")
        self.sql("insert into app.gp values (1), (2), (3), (4)")
        self.sql("insert into app.par values (1, 1), (2, 2), (3, 3), (4, 4)")
        self.sql("insert into app.kid values (1, 1), (2, 2), (3, 3), (4, 4)")

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else execute(self.root, text)

    def rows(self, text: str) -> list[tuple]:
        return pg_query(self.url, text) if self.url else query(self.root, text)

    def published(self, *names: str) -> dict[str, list[tuple]]:
        return {name: self.rows(f"select * from features.{name} order by 1") for name in names}

    def orphans(self, child: str, column: str, parent: str) -> list[tuple]:
        return self.rows(f"select {column} from features.{child} where {column} not in (select id from features.{parent})")

    def statuses(self, run_id: int) -> dict[str, str]:
        return dict(self.rows(f"select step, status from toolkit.step_runs where run_id = {run_id}"))

    def error(self, run_id: int, step: str) -> str:
        return self.rows(f"select error from toolkit.step_runs where run_id = {run_id} and step = '{step}'")[0][0]

    def toolkit(self, *args: str):
        return cli(args[0], "-p", str(self.root), *args[1:])


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


def test_a_child_failing_another_test_holds_a_parent_its_kept_rows_need(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, p=P_ALONE, c=C)
    assert w.toolkit("run").code == 0
    w.sql("delete from app.par where id = 4")  # p's new rows lack 4, which c's published rows use
    w.sql("delete from app.kid where pid = 4")  # c's new rows pass its relationships test ...
    w.sql("insert into app.kid values (null, 1)")  # ... and fail not_null: c keeps its previous rows

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.orphans("c", "pid", "p") == []
    assert w.published("p")["p"] == [(1, 1), (2, 2), (3, 3), (4, 4)]  # held: its previous version stays
    assert w.statuses(2) == {"p": "failed", "c": "failed"}
    assert w.error(2, "p") == ("features/c.sql: not published (its previous version stays): held back by test relationships(pid) of c, "
                               f"and it passed on c's new rows, {KEPT}: relationships(pid): 1 failing row (e.g. kid=4, pid=4)")
    assert w.error(2, "c").endswith("; held back with it, not published (their previous versions stay): p"), w.error(2, "c")

    w.sql("delete from app.kid where kid is null")  # fixed: both are published
    fixed = w.toolkit("run")
    assert fixed.code == 0, fixed.out + fixed.err
    assert w.published("p", "c") == {"p": [(1, 1), (2, 2), (3, 3)], "c": [(1, 1), (2, 2), (3, 3)]}


def test_a_parent_the_kept_rows_still_pass_with_is_published(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, p=P_ALONE, c=C)
    assert w.toolkit("run").code == 0
    w.sql("update app.par set gid = 9")  # p changes, every id stays
    w.sql("insert into app.kid values (null, 1)")  # c fails not_null: its previous rows, all of whose pid p keeps

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.statuses(2) == {"p": "success", "c": "failed"}
    assert w.published("p")["p"] == [(1, 9), (2, 9), (3, 9), (4, 9)]


def test_a_child_on_its_first_run_holds_nothing_when_another_test_fails(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, p=P_ALONE, c=C)
    w.sql("insert into app.kid values (null, 1)")  # c fails not_null: nothing of it is published

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.statuses(1) == {"p": "success", "c": "failed"}


def test_a_child_with_two_parents_holds_the_one_whose_test_passed(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, g=G, p=P_ALONE, c=C_TWO)
    assert w.toolkit("run").code == 0
    w.sql("delete from app.gp where id = 4")  # g's new rows lack 4, which c's published rows use
    w.sql("delete from app.kid where pid = 4")
    w.sql("delete from app.par where id = 3")  # c's test to p fails (pid 3), the one to g passes on c's new rows

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.orphans("c", "pid", "g") == [] and w.orphans("c", "pid", "p") == []
    assert w.published("g", "p") == {"g": [(1,), (2,), (3,), (4,)], "p": [(1, 1), (2, 2), (3, 3), (4, 4)]}
    assert w.statuses(2) == {"g": "failed", "p": "failed", "c": "failed"}
    assert "c keeps its previous rows (its new rows were not published), which fail it against g's new rows" in w.error(2, "g")


def test_a_held_parent_holds_its_own_parent_its_kept_rows_need(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, g=G, p=P, c=C)
    assert w.toolkit("run").code == 0
    w.sql("delete from app.gp where id = 4")
    w.sql("delete from app.par where id = 4")  # p's new rows pass their test to g's new ones
    w.sql("delete from app.kid where pid = 4")
    w.sql("insert into app.kid values (9, 9)")  # c's test to p fails: p keeps its previous rows (gid 4)

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.orphans("p", "gid", "g") == [] and w.orphans("c", "pid", "p") == []
    assert w.published("g")["g"] == [(1,), (2,), (3,), (4,)]
    assert w.statuses(2) == {"g": "failed", "p": "failed", "c": "failed"}
    assert w.error(2, "g") == ("features/p.sql: not published (its previous version stays): held back by test relationships(gid) of p, "
                               "and it passed on p's new rows, but p keeps its previous rows (its new rows were not published), "
                               "which fail it against g's new rows: relationships(gid): 1 failing row (e.g. id=4, gid=4)")
    assert w.error(2, "p").endswith("; held back with it, not published (their previous versions stay): g"), w.error(2, "p")


def test_a_warn_relationships_test_holds_nothing(tmp_path):
    w = Warehouse(tmp_path, None, p=P_ALONE, c=WARN_C)
    assert w.toolkit("run").code == 0
    w.sql("delete from app.par where id = 4")
    w.sql("delete from app.kid where pid = 4")
    w.sql("insert into app.kid values (null, 1)")  # c fails not_null; its warn test to p holds nothing

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.statuses(2) == {"p": "success", "c": "failed"}


# c's build fails once a kid is NULL (the text 'x' is no bigint): its relationships test does not run
BREAKING_C = ('{{ config(tests={"pid": [{"relationships": {"to": "p", "field": "id"}}]}) }}\n'
              'select kid, pid, cast(case when kid is null then \'x\' else \'1\' end as bigint) as k from {{ source("app", "kid") }}\n')


def test_a_child_whose_build_fails_holds_a_parent_its_kept_rows_need_and_no_other(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, p=P_ALONE, c=BREAKING_C)
    assert w.toolkit("run").code == 0
    w.sql("update app.par set gid = 9")  # p changes, every id stays: c's kept rows pass against it
    w.sql("insert into app.kid values (null, 1)")  # c's build fails

    kept_pass = w.toolkit("run")

    assert kept_pass.code == 1, kept_pass.out + kept_pass.err
    assert w.statuses(2) == {"p": "success", "c": "failed"}
    w.sql("delete from app.par where id = 4")  # now p's new rows lack 4, which c's kept rows use

    kept_fail = w.toolkit("run")

    assert kept_fail.code == 1, kept_fail.out + kept_fail.err
    assert w.orphans("c", "pid", "p") == []
    assert w.statuses(3) == {"p": "failed", "c": "failed"}
    error = w.error(3, "p")
    assert error.startswith("features/c.sql: not published (its previous version stays): held back by test relationships(pid) of c, "
                            "and it did not run on c's new rows (failed: features/c.sql: "), error
    assert error.endswith(f"{KEPT}: relationships(pid): 1 failing row (e.g. kid=4, pid=4, k=1)"), error


def test_a_child_whose_build_fails_on_its_first_run_holds_nothing(tmp_path):
    w = Warehouse(tmp_path, None, p=P_ALONE, c=BREAKING_C)
    w.sql("insert into app.kid values (null, 1)")

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert w.statuses(1) == {"p": "success", "c": "failed"}
