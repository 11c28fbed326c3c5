"""A custom test reading several steps holds the publish of every one this run builds.

features/tests/a_and_b.sql reads a and b, so it runs with b (the last step it reads). a,
and c (a view built from a, read by b), used to be published before the test ran: a
failing test then reported only b, while a's new rows were already what readers saw.
Now a, c and d (built from a) wait for the test: it fails, none of them is published
(their previous versions stay) and the messages say so; it passes, all are published.
u, which the test does not read, is published either way.
"""

from __future__ import annotations

import json

import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

from _projects import cli, execute, make_project, query

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SOURCES = """\
[app]
schema = "app"

[app.tables.a_src]
columns = { id = "bigint", v = "bigint" }

[app.tables.u_src]
columns = { id = "bigint" }
"""
TEST = """\
-- every a row has its b row, and no v is negative
select a.id
from {{ ref("a") }} as a left join {{ ref("b") }} as b on b.id = a.id
where b.id is null or a.v < 0
"""
FILES = {
    "warehouse/sources.toml": SOURCES,
    "features/a.sql": 'select id, v from {{ source("app", "a_src") }}\n',
    "features/c.sql": '{{ config(materialized="view") }}\nselect id, v from {{ ref("a") }}\n',
    "features/b.sql": 'select id, v * 2 as w from {{ ref("c") }}\n',
    "features/d.sql": 'select id, v from {{ ref("a") }}\n',
    "features/u.sql": 'select id from {{ source("app", "u_src") }}\n',
    "features/tests/a_and_b.sql": TEST,
}
INCREMENTAL_A = '{{ config(materialized="incremental", unique_key="id") }}\nselect id, v from {{ source("app", "a_src") }}\n'
POSTGRES = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'
HELD = "held back with it, not published (their previous versions stay): a, c, d"


class Warehouse:
    """The project and its warehouse, DuckDB or a fresh PostgreSQL database; a_src holds (1, 1)."""

    def __init__(self, tmp_path, url: str | None, **files: str):
        files = {**FILES, **{f"features/{name}.sql": text for name, text in files.items()}}
        if url:
            files["toolkit.toml"] = POSTGRES.format(url=url)
        self.url, self.root = url, make_project(tmp_path / "proj", files)
        self.sql("create schema app")
        self.sql("create table app.a_src (id bigint, v bigint)")
        self.sql("create table app.u_src (id bigint)")
        self.sql("insert into app.a_src values (1, 1)")
        self.sql("insert into app.u_src values (1)")

    def sql(self, text: str):
        return pg_query(self.url, text) if self.url else execute(self.root, text)

    def rows(self, text: str) -> list[tuple]:
        return pg_query(self.url, text) if self.url else query(self.root, text)

    def published(self) -> dict[str, list[tuple]]:
        return {name: self.rows(f"select * from features.{name} order by 1") for name in "abcdu"}

    def statuses(self, run_id: int) -> dict[str, str]:
        return dict(self.rows(f"select step, status from toolkit.step_runs where run_id = {run_id}"))

    def toolkit(self, *args: str):
        return cli(args[0], "-p", str(self.root), *args[1:])


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgres" else None


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_failing_test_publishes_none_of_the_steps_it_reads(tmp_path, warehouse_url, threads):
    w = Warehouse(tmp_path, warehouse_url)
    assert w.toolkit("run").code == 0
    before = w.published()
    w.sql("insert into app.a_src values (2, -1)")
    w.sql("insert into app.u_src values (2)")

    done = w.toolkit("run", "--threads", threads)

    assert done.code == 1, done.out + done.err
    after = w.published()
    assert {name: after[name] for name in "abcd"} == {name: before[name] for name in "abcd"}  # old rows, all of them
    assert after["u"] == [(1,), (2,)]  # not read by the test: published as before
    assert "data tests failed on b, not published: custom(a_and_b): 1 failing row (e.g. id=2); " + HELD in done.out, done.out
    assert ("failed   a (rebuild 2 rows" in done.out and "features/tests/a_and_b.sql: not published (its previous version stays): "
            "held back by custom test a_and_b, run with b, and it failed" in done.out), done.out
    assert w.statuses(2) == {"a": "failed", "b": "failed", "c": "failed", "d": "failed", "u": "success"}
    tests = w.rows("select step, test, status from toolkit.test_results where run_id = 2 order by step")
    assert tests == [(name, "custom(a_and_b)", "fail") for name in "abcd"]

    w.sql("delete from app.a_src where v < 0")  # fixed: the next run publishes them all
    assert w.toolkit("run").code == 0
    assert w.published()["a"] == [(1, 1)]


def test_a_passing_test_publishes_them_all_built_from_the_new_rows(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (2, 5)")
    planned = w.toolkit("plan")
    assert "published only if custom test features/tests/a_and_b.sql (run with b) passes" in planned.out, planned.out

    done = w.toolkit("run")

    assert done.code == 0, done.out + done.err
    # b was built from c, built from a's new rows (not from the published a): id 2 is in it
    assert w.published() == {"a": [(1, 1), (2, 5)], "b": [(1, 2), (2, 10)], "c": [(1, 1), (2, 5)], "d": [(1, 1), (2, 5)], "u": [(1,)]}
    assert w.statuses(2) == {"a": "success", "b": "success", "c": "success", "d": "success", "u": "reused"}


def test_an_incremental_step_is_not_updated_in_place_while_held(tmp_path, warehouse_url):
    w = Warehouse(tmp_path, warehouse_url, a=INCREMENTAL_A)
    assert w.toolkit("run").code == 0
    physical = w.rows("select physical_name from toolkit.published where step = 'a'")
    w.sql("insert into app.a_src values (2, -1)")

    done = w.toolkit("run")

    assert done.code == 1, done.out + done.err
    assert "incremental" in done.out and HELD in done.out, done.out
    assert w.published()["a"] == [(1, 1)]
    assert w.rows("select physical_name from toolkit.published where step = 'a'") == physical
    assert w.rows(f"select id, v from toolkit_physical.{physical[0][0]} order by 1") == [(1, 1)]  # not half-appended
    w.sql("update app.a_src set v = 3 where id = 2")
    assert w.toolkit("run").code == 0
    assert w.published()["a"] == [(1, 1), (2, 3)]


def test_select_runs_the_hold_with_the_steps_it_selects(tmp_path):
    w = Warehouse(tmp_path, None)
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (2, -1)")

    done = w.toolkit("run", "--select", "a+")

    assert done.code == 1 and HELD in done.out, done.out
    assert w.published()["a"] == [(1, 1)]
    assert set(w.statuses(2)) == {"a", "b", "c", "d"}
    # Without b the test does not run (it reads b as built from the new rows): a goes out untested, and both commands say so.
    warning = "warning: features/tests/a_and_b.sql runs with b, which this run leaves out, so it does not run: a is published without it"
    assert warning in w.toolkit("plan", "--select", "a").out
    alone = w.toolkit("run", "--select", "a")
    assert alone.code == 0 and warning in alone.out, alone.out


def test_warn_severity_holds_nothing(tmp_path):
    strict = TEST.replace("or a.v < 0", "")  # passes: every a row has its b row
    lenient = "{{ config(severity='warn') }}\n" + TEST
    w = Warehouse(tmp_path, None, **{"tests/a_and_b": lenient, "tests/strict": strict})
    assert w.toolkit("run").code == 0
    w.sql("insert into app.a_src values (2, -1)")
    planned = w.toolkit("plan", "--log-format", "json")
    held_by = {event["step"]: event.get("held_by") for event in map(json.loads, planned.out.splitlines()) if event.get("event") == "plan"}
    only_strict = [{"test": "strict", "where": "features/tests/strict.sql:2", "step": "b"}]
    assert held_by == {"a": only_strict, "b": None, "c": only_strict, "d": only_strict, "u": None}, planned.out

    done = w.toolkit("run")

    assert done.code == 0, done.out + done.err
    assert "custom(a_and_b)" in done.out and "1 failing row" in done.out, done.out
    assert w.published()["a"] == [(1, 1), (2, -1)]
