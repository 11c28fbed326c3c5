"""A dev run of one step, then prod moving on, then `promote dev prod`; and what a
`run --select X` leaves reading X's old table.

promote: `run --env dev --select c` builds c in dev from prod's published a and b. When prod
then rebuilt only a and b from new source rows (not c), or rebuilt c with its own (older)
code, the promote went through: prod's c became dev's c, built from the older rows of b,
beside prod's newer b. Now the print of each upstream dev's c was built from (its recorded
inputs) is compared with the print of the table prod keeps for that upstream, and the
promote is refused (exit 2) naming the upstream and the step to rebuild in dev.
"""

from __future__ import annotations

import pytest

from _projects import make_project
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
import test_publish_guard_more
from test_publish_guard import _pg

SOURCES = '[app]\nschema = "app"\n[app.tables.events]\n'
C_OLD = 'select id, v2 + 1 as v3 from {{ ref("b") }}\n'
C_NEW = 'select id, v2 + 5 as v3 from {{ ref("b") }}\n'
STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/a.sql": 'select id, v from {{ source("app", "events") }}\n',
    "features/b.sql": '{{ config(materialized="view") }}\nselect id, v * 2 as v2 from {{ ref("a") }}\n',
    "features/c.sql": C_OLD,
}
EVENTS = "create table app.events as select * from (values (0, 0), (1, 10), (2, 20), (3, 30), (4, 40)) t(id, v)"


class Warehouse(test_publish_guard_more.Warehouse):
    def count(self, relation: str) -> int:
        return self.rows(f"select count(*) from {relation}")[0][0]

    def write(self, step: str, text: str) -> None:
        (self.root / f"features/{step}.sql").write_text(text)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path) -> Warehouse:
    root = make_project(tmp_path / "p", STEPS)
    wh = Warehouse(root)
    if request.param == "postgres":
        wh.url = request.getfixturevalue("pg_url")
        _pg(root, wh.url)
    wh.sql("create schema app")
    wh.sql(EVENTS)
    return wh


def ok(wh: Warehouse, *args: str) -> str:
    code, text = wh.toolkit(*args)
    assert code == 0, (args, text)
    return text


def dev_builds_new_c(wh: Warehouse) -> None:
    ok(wh, "run")
    wh.write("c", C_NEW)
    ok(wh, "run", "--env", "dev", "--select", "c")
    assert wh.count("features__dev.c") == 5


def assert_refused_for_b(wh: Warehouse, text: str) -> None:
    assert "prod changed since dev was last run" in text, text
    assert "rebuilt b, which dev's c was built from before" in text and "nothing was changed" in text, text
    assert "toolkit run --env dev --select c" in text, text


def test_prod_rebuilding_only_the_upstream_of_devs_step_refuses_the_promote(warehouse):
    dev_builds_new_c(warehouse)
    warehouse.sql("insert into app.events values (9, 90)")
    ok(warehouse, "run", "--select", "a b")  # prod: a and b from 6 rows, c left as it was
    assert (warehouse.count("features.b"), warehouse.count("features.c")) == (6, 5)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert_refused_for_b(warehouse, text)
    assert warehouse.rows("select max(v3) from features.c") == [(81,)]  # prod's own c, untouched
    # What the message says to do: c rebuilt in dev on prod's b, and the promote goes through.
    ok(warehouse, "run", "--env", "dev", "--select", "c")
    ok(warehouse, "promote", "dev", "prod")
    assert warehouse.count("features.c") == 6
    assert warehouse.rows("select max(v3) from features.c") == [(185,)]


def test_prod_rebuilding_the_step_with_its_old_code_on_new_rows_refuses_the_promote(warehouse):
    dev_builds_new_c(warehouse)
    warehouse.write("c", C_OLD)  # prod's checkout still has the old c
    warehouse.sql("insert into app.events values (9, 90)")
    ok(warehouse, "run")  # prod: a, b and c (old code) from 6 rows
    assert warehouse.count("features.c") == 6
    warehouse.write("c", C_NEW)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert_refused_for_b(warehouse, text)
    assert warehouse.count("features.c") == 6
    code, text = warehouse.toolkit("promote", "dev", "prod", "--force")
    assert code == 0, text


def test_dev_built_on_the_upstream_data_prod_has_promotes(warehouse):
    dev_builds_new_c(warehouse)
    ok(warehouse, "run", "--full-refresh")  # prod: new tables of the same rows
    ok(warehouse, "run", "--select", "a b")  # and a no-op
    ok(warehouse, "promote", "dev", "prod")
    assert warehouse.rows("select max(v3) from features.c") == [(85,)]


def test_prod_rebuilding_upstream_of_a_step_dev_reused_from_prod_changes_nothing(warehouse):
    """dev's c is prod's table (nothing changed it in dev): the promote leaves prod's c alone,
    however stale it is in prod, and is not refused for it."""
    ok(warehouse, "run")
    ok(warehouse, "run", "--env", "dev", "--select", "c")
    warehouse.sql("insert into app.events values (9, 90)")
    ok(warehouse, "run", "--select", "a b")
    ok(warehouse, "promote", "dev", "prod")
    assert warehouse.count("features.c") == 5


# -- run --select X: the views left reading X's old table ------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402

from _projects import cli_args, env, rows, write  # noqa: E402
from test_repoint_small import BY_USER, SETUP, SOURCES as VIEW_SOURCES  # noqa: E402

VIEW_STEPS = {
    "warehouse/sources.toml": VIEW_SOURCES,
    "features/by_user.sql": BY_USER.format(""),
    "features/v_user.sql": "{{ config(materialized='view') }}\nselect user_id, amt from {{ ref('by_user') }}",
    "features/vv_user.sql": "{{ config(materialized='view') }}\nselect user_id, amt from {{ ref('v_user') }}",
    "features/v_daily.sql": "{{ config(materialized='view', cron='0 6 * * *') }}\nselect user_id, amt from {{ ref('by_user') }}",
}
BUILT, LATER = "2024-05-01T07:00:00", "2024-05-01T08:00:00"  # v_daily is not due again before 05-02 06:00


def toolkit_at(root, now: str, *args: str) -> tuple[int, str]:
    done = subprocess.run(cli_args(*args, "-p", str(root)), capture_output=True, text=True, env=env({"TOOLKIT_NOW": now}), timeout=120)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def views(tmp_path):
    root = make_project(tmp_path / "views", VIEW_STEPS, SETUP)
    code, text = toolkit_at(root, BUILT, "run")
    assert code == 0, text
    write(root, {"features/by_user.sql": BY_USER.format(" * 2")})
    return root


def amounts(root, relation: str) -> list[tuple]:
    return rows(root, f"(select user_id, amt from {relation})")


def test_a_view_exclude_leaves_reading_the_old_table_is_named_in_the_plan_and_the_run(views):
    args = ("--select", "by_user", "--exclude", "v_user")
    code, text = toolkit_at(views, LATER, "plan", *args)
    assert code == 0, text
    for view in ("v_user", "vv_user"):
        assert f"warning: {view} is left stale: a view still reading by_user's old table" in text, text
    code, out = toolkit_at(views, LATER, "plan", *args, "--log-format", "json")
    warned = {e["step"]: e["stale_upstream"] for e in map(json.loads, out.splitlines()) if e.get("event") == "warning"}
    assert warned == {"v_user": "by_user", "vv_user": "by_user"}, out
    code, text = toolkit_at(views, LATER, "run", *args)
    assert code == 0, text
    assert "warning: v_user is left stale" in text and "warning: vv_user is left stale" in text, text
    assert amounts(views, "features.v_user") != amounts(views, "features.by_user")  # what the warning says
    # Nothing excluded: nothing left stale, nothing said.
    code, text = toolkit_at(views, LATER, "run")
    assert code == 0 and "left stale" not in text, text
    assert amounts(views, "features.vv_user") == amounts(views, "features.by_user")


def test_a_view_whose_schedule_is_not_due_is_re_pointed_at_its_upstreams_new_table(views):
    code, text = toolkit_at(views, LATER, "plan")
    assert code == 0, text
    line = next(line for line in text.splitlines() if line.startswith("v_daily"))
    assert line.split()[1] == "rebuild" and "upstream by_user rebuilt" in line, text
    for args in ((), ("--select", "by_user+")):
        write(views, {"features/by_user.sql": BY_USER.format(" * 3" if args else " * 2")})
        code, text = toolkit_at(views, LATER, "run", *args)
        assert code == 0, text
        assert amounts(views, "features.v_daily") == amounts(views, "features.by_user"), args
    # A view whose upstream kept its table is not due: its schedule holds.
    code, text = toolkit_at(views, LATER, "plan")
    assert code == 0 and next(line for line in text.splitlines() if line.startswith("v_daily")).split()[1] == "reuse", text


# -- the sources of the views a --select run re-points ------------------------------------------

TESTED_SOURCES = VIEW_SOURCES + """
[app.tables.limits]
columns = { user_id = "bigint", cap = "double" }
tests = { cap = [{ between = { max = 100 } }] }
"""
LIMITS = "create table app.limits as select i as user_id, 50.0::double as cap from range(5) t(i);"


def test_a_source_only_a_re_pointed_view_reads_is_tested_first_like_a_selected_steps(tmp_path):
    root = make_project(tmp_path / "tested", {
        "warehouse/sources.toml": TESTED_SOURCES,
        "features/by_user.sql": BY_USER.format(""),
        "features/v_capped.sql": "{{ config(materialized='view') }}\nselect b.user_id, least(b.amt, l.cap) as amt "
                                 "from {{ ref('by_user') }} b join {{ source('app', 'limits') }} l using (user_id)",
    }, SETUP + LIMITS)
    code, text = toolkit_at(root, LATER, "run")
    assert code == 0, text
    write(root, {"features/by_user.sql": BY_USER.format(" * 2")})
    from _projects import execute
    execute(root, "update app.limits set cap = 500 where user_id = 1")  # fails the source's test
    code, text = toolkit_at(root, LATER, "plan", "--select", "by_user")
    assert code == 0, text
    assert text.splitlines()[0].split()[:2] == ["app.limits", "test"] and "a failure fails v_capped" in text, text
    code, text = toolkit_at(root, LATER, "run", "--select", "by_user")
    assert code == 1, text
    assert "source app.limits failed its tests" in text, text
    assert amounts(root, "features.by_user")[0][1] == 60  # by_user reads no failed source: published
