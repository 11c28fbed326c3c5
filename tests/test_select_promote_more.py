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
