"""`toolkit plan` and change-aware runs on a real DuckDB file (CLI in a subprocess).

    app.orders ─► clean ─┬─► totals ─► top (view)
                         ├─► ids            (reads only clean.order_id)
                         └─► everything     (select * from clean)
    app.customers ─► names
"""

from __future__ import annotations

import pytest

from _projects import cli, db_path, execute, make_project, rows, run, statuses, write

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SOURCES = """
[app]
schema = "app"

[app.tables.orders]
columns = { order_id = "bigint", customer_id = "bigint", amount = "double", status = "varchar" }

[app.tables.customers]
columns = { customer_id = "bigint", name = "varchar" }
"""

CLEAN = """
{{ config(materialized="table") }}
-- paid orders
select order_id, customer_id, amount
from {{ source("app", "orders") }}
where status <> 'cancelled'
"""

STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/clean.sql": CLEAN,
    "features/totals.sql": """
        select customer_id, sum(amount) as revenue, count(*) as n
        from {{ ref("clean") }} group by customer_id
    """,
    "features/top.sql": """
        {{ config(materialized="view") }}
        select customer_id, revenue from {{ ref("totals") }} where revenue > 10
    """,
    "features/ids.sql": "select order_id from {{ ref('clean') }}",
    "features/everything.sql": "select * from {{ ref('clean') }}",
    "features/names.sql": "select customer_id, upper(name) as name from {{ source('app', 'customers') }}",
}

SETUP = """
create schema app;
create table app.orders as select * from (values (1, 10, 5.0, 'paid'), (2, 10, 7.0, 'paid'), (3, 11, 20.0, 'paid'), (4, 12, 1.0, 'cancelled'))
    t(order_id, customer_id, amount, status);
create table app.customers as select * from (values (10, 'ann'), (11, 'bo')) t(customer_id, name);
"""

ALL = {"clean", "totals", "top", "ids", "everything", "names"}


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    result = run(root)
    assert result.code == 0, result
    return root


def plan(root, *args) -> dict[str, tuple[str, str]]:
    result = cli("plan", "-p", str(root), "--log-format", "json", *args)
    assert result.code == 0, result
    return {e["step"]: (e["action"], e["reason"]) for e in result.events() if e["event"] == "plan"}


def changing(root, *args) -> dict[str, tuple[str, str]]:
    return {step: entry for step, entry in plan(root, *args).items() if entry[0] != "reuse"}


def rebuilt(root) -> set[str]:
    return {step for step, status in statuses(root).items() if status == "success"}


def test_plan_before_any_run_builds_everything_and_writes_nothing(tmp_path, warehouse_snapshot):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    before = warehouse_snapshot(root / "warehouse" / "proj.duckdb")
    assert plan(root) == {name: ("build", "new") for name in ALL}
    assert warehouse_snapshot(root / "warehouse" / "proj.duckdb") == before  # no toolkit schema either


def test_plan_text_lists_every_step_with_action_and_reason(project):
    result = cli("plan", "-p", str(project))
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert any(line.split()[:2] == ["clean", "reuse"] and "unchanged" in line for line in lines), result
    assert lines[-1] == "plan for env prod: 6 reuse"


@pytest.mark.parametrize("edit", [
    lambda text: text.replace("-- paid orders", "-- orders that were paid, not cancelled"),
    lambda text: text.replace("select order_id, customer_id, amount", "SELECT order_id,\n       customer_id,\n   AMOUNT"),
])
def test_comment_and_formatting_edits_rebuild_nothing(project, edit, warehouse_snapshot):
    write(project, {"features/clean.sql": edit(CLEAN)})
    assert plan(project) == {name: ("reuse", "unchanged") for name in ALL}
    before = warehouse_snapshot(db_path_of(project))
    result = run(project)
    assert result.code == 0, result
    assert set(statuses(project).values()) == {"reused"}
    after = warehouse_snapshot(db_path_of(project))
    assert {k: v for k, v in after.items() if not k.startswith("toolkit.")} == {k: v for k, v in before.items() if not k.startswith("toolkit.")}


def db_path_of(root):
    from pathlib import Path

    return Path(db_path(root))


def test_changed_middle_step_rebuilds_it_and_its_downstream_only(project):
    write(project, {"features/totals.sql": STEPS["features/totals.sql"].replace("sum(amount)", "sum(amount) * 2")})
    planned = changing(project)
    assert sorted(planned) == ["top", "totals"]
    assert planned["totals"][0] == "rebuild" and planned["totals"][1].startswith("SQL changed: ~ column revenue"), planned
    assert planned["top"] == ("rebuild", "upstream changed (totals)")
    result = run(project)
    assert result.code == 0, result
    assert rebuilt(project) == {"totals", "top"}
    assert rows(project, "features.top") == [(10, 24.0), (11, 40.0)]
    assert changing(project) == {}


def test_added_unused_column_rebuilds_nothing_downstream(project):
    write(project, {"features/clean.sql": CLEAN.replace("amount\n", "amount, amount * 2 as discount\n")})
    planned = changing(project)
    # `everything` is `select * from clean`: it reads every column, the new one too
    assert sorted(planned) == ["clean", "everything"], planned
    assert "+ column discount" in planned["clean"][1]
    result = run(project)
    assert result.code == 0, result
    assert rebuilt(project) == {"clean", "everything"}
    assert rows(project, "features.top") == [(10, 12.0), (11, 20.0)]  # the view still reads a live table
    assert changing(project) == {}  # and the next run is a no-op


def test_changing_a_column_nobody_reads_rebuilds_only_its_readers(project):
    # ids reads only order_id; totals and everything read amount
    write(project, {"features/clean.sql": CLEAN.replace("amount\n", "amount + 1 as amount\n")})
    planned = changing(project)
    assert sorted(planned) == ["clean", "everything", "top", "totals"], planned
    assert planned["clean"][1].startswith("SQL changed: ~ column amount")
    result = run(project)
    assert result.code == 0, result
    assert rebuilt(project) == {"clean", "everything", "totals", "top"}
    assert statuses(project)["ids"] == "reused"


def test_a_rebuilt_step_changes_only_the_columns_computed_from_the_change(project):
    # by_customer reads totals.customer_id and totals.n, not totals.revenue
    write(project, {"features/by_customer.sql": "select t.customer_id, t.n + 1 as n1 from {{ ref('totals') }} as t"})
    assert run(project).code == 0
    # clean.amount changes: totals is rebuilt, but only its revenue is computed from amount
    write(project, {"features/clean.sql": CLEAN.replace("amount\n", "amount + 1 as amount\n")})
    assert sorted(changing(project)) == ["clean", "everything", "top", "totals"]
    result = run(project)
    assert result.code == 0, result
    assert rebuilt(project) == {"clean", "everything", "totals", "top"} and statuses(project)["by_customer"] == "reused"
    # a change of the rows (the WHERE upstream) still reaches it
    write(project, {"features/clean.sql": CLEAN.replace("status <> 'cancelled'", "status = 'paid' and amount > 6")})
    assert "by_customer" in changing(project)
    assert run(project).code == 0
    assert rows(project, "features.by_customer") == [(10, 2), (11, 2)]


def test_a_step_that_reads_no_column_upstream_is_rebuilt_when_the_rows_change(project):
    write(project, {"features/order_count.sql": "select count(*) as n, 1 as one from {{ ref('ids') }}"})
    assert run(project).code == 0
    assert rows(project, "features.order_count") == [(3, 1)]
    write(project, {"features/clean.sql": CLEAN.replace("status <> 'cancelled'", "status = 'paid' and amount > 6")})
    assert "order_count" in changing(project)
    result = run(project)
    assert result.code == 0, result
    assert rows(project, "features.order_count") == [(2, 1)]


@pytest.mark.parametrize("changed", ["select 1 as one, unnest([amount, amount]) as amount from {{ ref('clean') }}",
                                     "select 1 as one, max(amount) as amount from {{ ref('clean') }}"],
                         ids=["a-set-returning-column", "an-aggregate-without-group-by"])
def test_a_column_change_that_changes_how_many_rows_there_are_rebuilds_every_reader(project, changed):
    """counted reads only shaped.one, whose expression stays: the unnest of another column
    doubled its rows, and the plan said reuse (a stale count); an aggregate makes one row."""
    write(project, {"features/shaped.sql": "select 1 as one, amount from {{ ref('clean') }}",
                    "features/counted.sql": "select count(one) as n from {{ ref('shaped') }}"})
    assert run(project).code == 0
    write(project, {"features/shaped.sql": changed})
    assert {"shaped", "counted"} <= set(changing(project))
    assert run(project).code == 0
    assert rows(project, "features.counted") == rows(project, "(select count(*) from features.shaped)")


def test_a_set_returning_column_upstream_rebuilds_a_reader_of_another_column(project):
    write(project, {"features/ids_count.sql": "select count(order_id) as n from {{ ref('ids') }}"})
    assert run(project).code == 0
    write(project, {"features/clean.sql": CLEAN.replace("customer_id, amount", "customer_id, unnest([amount, amount]) as amount")})
    assert {"clean", "ids", "ids_count"} <= set(changing(project))
    assert run(project).code == 0
    assert rows(project, "features.ids_count") == [(6,)]


def test_filter_change_is_shown_and_rebuilds_every_reader(project):
    write(project, {"features/clean.sql": CLEAN.replace("status <> 'cancelled'", "status = 'paid' and amount > 1")})
    planned = changing(project)
    assert sorted(planned) == ["clean", "everything", "ids", "top", "totals"]
    assert "~ WHERE" in planned["clean"][1], planned


def test_source_data_change_is_detected_and_unchanged_source_is_not_rebuilt(project):
    execute(project, "insert into app.orders values (5, 11, 3.0, 'paid')")
    planned = changing(project)
    assert planned["clean"] == ("rebuild", "source data changed (app.orders)")
    assert "names" not in planned
    result = run(project)
    assert result.code == 0, result
    assert "names" not in rebuilt(project) and "clean" in rebuilt(project)


def test_config_change_and_forced(project):
    write(project, {"features/ids.sql": "{{ config(materialized='view') }}\nselect order_id from {{ ref('clean') }}"})
    assert changing(project) == {"ids": ("rebuild", "config changed")}
    # data tests are metadata (issue 18): they re-run on the published table, nothing is rebuilt
    write(project, {"features/ids.sql": "{{ config(tests={'order_id': ['unique']}) }}\nselect order_id from {{ ref('clean') }}"})
    assert changing(project) == {"ids": ("test", "data tests changed: re-run on the published table")}
    write(project, {"features/ids.sql": "{{ config(description='order ids') }}\nselect order_id from {{ ref('clean') }}"})
    assert changing(project) == {}  # a description is metadata
    forced = changing(project, "--full-refresh", "--select", "names")
    assert forced == {"names": ("rebuild", "forced (--full-refresh)")}


def test_run_executes_the_plan(project):
    write(project, {"features/totals.sql": STEPS["features/totals.sql"].replace("count(*)", "count(*) + 0")})
    planned = plan(project)
    result = run(project)
    assert result.code == 0, result
    finished = {e["step"]: e for e in result.events() if e["event"] == "step_finished"}
    assert {name: (e["action"], e["reason"]) for name, e in finished.items()} == planned


def test_a_changed_from_clause_is_named_from():
    from toolkit.sqldiff import sql_diff

    old = "select n as id from generate_series(1, 10) as t(n)"
    new = "select n as id from generate_series(1, 12) as t(n)"
    assert sql_diff(old, new, "duckdb") == "~ FROM GENERATE_SERIES(1, 12) AS t(n)"
