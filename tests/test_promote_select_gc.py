"""Two ways toolkit put the user's data at risk after a partial dev run or a deleted step.

promote: `run --env dev --select c` records only c in dev (it read prod's a and b). prod
then rebuilt a, b and c from new source rows, and `promote dev prod` went through: prod's c
went back to dev's older rows while a kept the new ones. Only c's own sources were compared
(it has none); now a table built by the same definition compares the data of the steps it
reads too (environments._built_on_newer_sources), and the promote is refused, exit 2.

gc: on DuckDB a view of the user's over a physical table toolkit no longer needs (its step
deleted) lost that table at the run's drop: DuckDB tracks no dependencies, PostgreSQL refuses
the DROP. Now DuckDB keeps it too, saying so, at a run and at `toolkit gc`."""

from __future__ import annotations

import pytest

from _projects import make_project
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
import test_publish_guard_more
from test_publish_guard import _pg

SOURCES = '[app]\nschema = "app"\n[app.tables.events]\n'
STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/a.sql": 'select id, v from {{ source("app", "events") }}\n',
    "features/b.sql": '{{ config(materialized="view") }}\nselect id, v * 2 as v2 from {{ ref("a") }}\n',
    "features/c.sql": 'select id, v2 + 1 as v3 from {{ ref("b") }}\n',
}
EVENTS = "create table app.events as select * from (values (0, 0), (1, 10), (2, 20), (3, 30), (4, 40)) t(id, v)"


class Warehouse(test_publish_guard_more.Warehouse):
    def count(self, relation: str) -> int:
        return self.rows(f"select count(*) from {relation}")[0][0]


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


def edit_c_and_run_dev_on_c_only(wh: Warehouse) -> None:
    assert wh.toolkit("run")[0] == 0
    (wh.root / "features/c.sql").write_text('select id, v2 + 5 as v3 from {{ ref("b") }}\n')
    code, text = wh.toolkit("run", "--env", "dev", "--select", "c")
    assert code == 0, text
    assert wh.count("features__dev.c") == 5


def test_a_promote_of_a_step_dev_built_from_prods_older_upstream_is_refused(warehouse):
    edit_c_and_run_dev_on_c_only(warehouse)
    warehouse.sql("insert into app.events values (9, 90)")
    code, text = warehouse.toolkit("run")  # prod: a, b and c from 6 rows
    assert code == 0, text
    assert (warehouse.count("features.a"), warehouse.count("features.c")) == (6, 6)
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 2, text
    assert "prod changed since dev was last run" in text and "rebuilt c," in text and "nothing was changed" in text, text
    assert (warehouse.count("features.a"), warehouse.count("features.c")) == (6, 6)
    # Not a trap: dev run again reads prod's new b, and its c may be promoted then.
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 0, text
    assert warehouse.count("features.c") == 6


def test_prod_rebuilding_the_same_rows_is_not_newer(warehouse):
    edit_c_and_run_dev_on_c_only(warehouse)
    code, text = warehouse.toolkit("run", "--full-refresh")  # new tables, the same rows
    assert code == 0, text
    code, text = warehouse.toolkit("promote", "dev", "prod")
    assert code == 0, text
    assert warehouse.rows("select max(v3) from features.c") == [(85,)]  # dev's c: 40 * 2 + 5


def physical_of(wh: Warehouse, step: str) -> str:
    return wh.rows(f"select physical_name from toolkit.published where step = '{step}' and env = 'prod'")[0][0]


def delete_c_under_a_users_view(wh: Warehouse) -> str:
    assert wh.toolkit("run")[0] == 0
    physical = physical_of(wh, "c")
    wh.sql("drop view features.c")
    wh.sql(f"create view features.c as select * from toolkit_physical.{physical} where id > 1")
    (wh.root / "features/c.sql").unlink()
    return physical


def test_a_users_view_over_a_dropped_steps_table_keeps_the_table(warehouse):
    physical = delete_c_under_a_users_view(warehouse)
    code, text = warehouse.toolkit("run")
    assert code == 0, text
    assert "features.c was left as it is" in text, text
    assert f"kept toolkit_physical.{physical}: something outside toolkit reads it" in text, text
    assert warehouse.count("features.c") == 3
    code, text = warehouse.toolkit("gc", "--retention", "0s")
    assert code == 0, text
    assert f"kept toolkit_physical.{physical}: something outside toolkit reads it" in text, text
    assert warehouse.count("features.c") == 3
    warehouse.sql("drop view features.c")  # free: the next gc drops it
    code, text = warehouse.toolkit("gc", "--retention", "0s")
    assert code == 0 and "kept toolkit_physical" not in text, text
    assert warehouse.rows(f"select count(*) from information_schema.tables where table_name = '{physical}'") == [(0,)]


def test_duckdb_keeps_what_a_kept_view_reads_and_no_longer_name(tmp_path):
    """A view of the user's over a physical view (b) keeps that view and the table it reads
    (a); a view over a table whose name only starts with a dropped one's keeps that one alone."""
    wh = Warehouse(make_project(tmp_path / "p", STEPS))
    wh.sql(f"create schema app; {EVENTS}")
    assert wh.toolkit("run")[0] == 0
    a, b, c = (physical_of(wh, step) for step in "abc")
    wh.sql(f"create table toolkit_physical.{c}_copy as select * from toolkit_physical.{c}; "
           f"create schema mine; create view mine.copy as select * from toolkit_physical.{c}_copy; "
           f'create view mine.doubled as select v2 from "toolkit_physical"."{b}"')
    for step in "abc":
        (wh.root / f"features/{step}.sql").unlink()
    (wh.root / "features/d.sql").write_text("select 1 as one\n")
    code, text = wh.toolkit("run")
    assert code == 0, text
    kept = {line.split(":")[0].removeprefix("kept ") for line in text.splitlines() if line.startswith("kept ")}
    assert kept == {f"toolkit_physical.{name}" for name in (a, b, f"{c}_copy")}, text
    remaining = {name for (name,) in wh.rows("select table_name from information_schema.tables where table_schema = 'toolkit_physical'")}
    assert c not in remaining and {a, b, f"{c}_copy"} <= remaining
    assert wh.count("mine.copy") == 5 and wh.count("mine.doubled") == 5


def test_nothing_to_drop_asks_duckdb_nothing_more(tmp_path):
    """The views are read only when a relation is to be dropped: a no-op run's drop asks nothing."""
    from toolkit import environments
    from toolkit.engines.duckdb import DuckDBEngine

    class Counting(DuckDBEngine):
        asked = 0

        def views_reading(self, schema, names):
            Counting.asked += 1
            return super().views_reading(schema, names)

    class Target:
        name, settings, time_zone = "t", {"path": str(tmp_path / "w.duckdb")}, "UTC"

    engine = Counting(Target(), tmp_path)
    engine.open(1.0)
    try:
        engine.execute("create schema toolkit_physical")
        engine.execute("create table toolkit_physical.t__r1 as select 1 as x")
        assert environments.drop_physical(engine, []) == {} and Counting.asked == 0
        assert environments.drop_physical(engine, [("t__r1", "table")]) == {} and Counting.asked == 1
        assert engine.relations("toolkit_physical") == {}
    finally:
        engine.close()


def test_the_names_a_view_reads_are_its_tables_not_text_that_looks_like_one():
    from toolkit.engines.duckdb import _reads_of

    names = {"c__ab__r1": "c__ab__r1", "odd name__r2": "odd name__r2"}
    reads = lambda text: _reads_of(text, "toolkit_physical", names)  # noqa: E731
    assert reads("CREATE VIEW f.c AS SELECT * FROM toolkit_physical.c__ab__r1 WHERE id > 1") == {"c__ab__r1"}
    assert reads('CREATE VIEW f.c AS SELECT * FROM "Toolkit_Physical"."C__AB__R1"') == {"c__ab__r1"}
    assert reads('CREATE VIEW f.c AS SELECT * FROM toolkit_physical."odd name__r2"') == {"odd name__r2"}
    assert reads("CREATE VIEW f.c AS SELECT * FROM toolkit_physical.c__ab__r12") == set()  # a longer name
    assert reads("CREATE VIEW f.c AS SELECT * FROM other.c__ab__r1") == set()
    assert reads("CREATE VIEW f.c AS SELECT 'toolkit_physical.c__ab__r1' AS note -- toolkit_physical.c__ab__r1") == set()
    assert reads("CREATE VIEW f.c AS SELECT * FROM toolkit_physical.c__ab__r1 PIVOT ((((") == {"c__ab__r1"}  # unparsed: the pattern
