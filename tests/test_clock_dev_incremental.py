"""Steps whose SQL reads the clock or randomness run again every run; a dev run of an
incremental step dev did not change starts from prod's rows; a step a --select run does
not select keeps what it published even when it is disabled or deleted. On DuckDB and
on PostgreSQL (skipped, saying why, without TOOLKIT_TEST_POSTGRES_URL)."""

from __future__ import annotations

import json

import pytest

from _projects import cli, write
from postgres_support import pg_url  # noqa: F401 (a fixture)
from test_env_reuse import Warehouse, make_warehouse  # noqa: F401 (a fixture)
from test_environments import STEPS

pytestmark = pytest.mark.slow

VOLATILE = {
    **STEPS,
    "features/stamp.sql": "select order_id, random() as r from {{ ref('base') }}",
    "features/total.sql": "select sum(r) as s from {{ ref('stamp') }}",
    "features/clock.sql": "select now() as t",  # reads nothing else
}


def plan_events(root, *args) -> dict[str, dict]:
    done = cli("plan", "-p", str(root), "--log-format", "json", *args)
    assert done.code == 0, done
    return {e["step"]: e for e in map(json.loads, done.out.splitlines()) if e.get("event") == "plan"}


def run_ok(warehouse: Warehouse, *args) -> dict[str, tuple[str, str]]:
    done = cli("run", "-p", str(warehouse.root), "--log-format", "json", *args)
    assert done.code == 0, done
    return warehouse.steps()


def test_a_step_reading_the_clock_runs_again_every_run_and_its_readers_follow(make_warehouse):
    """A step calling random() (or now(), current_date) was reused while its inputs stayed:
    'reuse unchanged', exit 0, its values never moved again."""
    warehouse = make_warehouse(VOLATILE)
    planned = plan_events(warehouse.root)
    assert planned["stamp"]["action"] == "rebuild" and planned["stamp"]["reason_kind"] == "volatile", planned["stamp"]
    assert planned["stamp"]["reason"] == "reads the clock or randomness (rand()): run again every run"
    assert planned["base"]["action"] == "reuse"
    assert planned["clock"]["action"] == "rebuild" and planned["clock"]["reason_kind"] == "volatile", planned["clock"]
    before = warehouse.read("select s from features.total")
    done = run_ok(warehouse)
    assert done["stamp"][0] == "rebuild" and done["base"][0] == "reuse", done
    assert done["total"][0] == "rebuild", done  # it reads values that moved
    assert warehouse.read("select s from features.total") != before


def test_an_unchanged_reader_of_a_clock_step_is_not_itself_volatile(make_warehouse):
    """Only what reads the clock (directly or through an ephemeral step it inlines) is."""
    files = {**VOLATILE, "features/eph.sql": "{{ config(materialized='ephemeral') }}\nselect current_date as d",
             "features/dated.sql": "select d from {{ ref('eph') }}"}
    warehouse = make_warehouse(files)
    planned = plan_events(warehouse.root)
    assert planned["dated"]["reason_kind"] == "volatile" and "current_date()" in planned["dated"]["reason"], planned["dated"]
    assert planned["other"]["action"] == "reuse" and planned["doubled"]["action"] == "reuse"


def test_a_clock_step_not_due_keeps_its_table(make_warehouse, monkeypatch):
    """A cron schedule still limits it: not due, it is reused."""
    monkeypatch.setenv("TOOLKIT_NOW", "2030-01-01T06:00")
    files = {**VOLATILE, "features/stamp.sql": "{{ config(cron='@daily') }}\n" + VOLATILE["features/stamp.sql"]}
    warehouse = make_warehouse(files)
    planned = plan_events(warehouse.root)
    assert planned["stamp"]["action"] == "reuse" and "not due until 2030-01-02 00:00" in planned["stamp"]["reason"], planned
    assert planned["total"]["action"] == "reuse"
    monkeypatch.setenv("TOOLKIT_NOW", "2030-01-02T06:00")
    done = run_ok(warehouse)
    assert done["stamp"][0] == "rebuild" and "schedule due" in done["stamp"][1], done


INCREMENTAL_NOW = {
    **STEPS,
    "features/recent.sql": "{{ config(materialized='incremental', unique_key='order_id') }}\n"
                           "select order_id, amount from {{ ref('base') }}\n"
                           "{% if is_incremental() %} where now() > timestamp '2000-01-01' {% endif %}",
}


def test_an_incremental_step_filtering_on_the_clock_updates_every_run(make_warehouse):
    """Its is_incremental() filter reads now(): the rows it brings in move with the clock,
    so it runs its update every run instead of 'unchanged (no new input data)'."""
    warehouse = make_warehouse(INCREMENTAL_NOW)
    planned = plan_events(warehouse.root)
    assert planned["recent"]["action"] == "incremental" and planned["recent"]["reason_kind"] == "volatile", planned["recent"]
    done = run_ok(warehouse)
    assert done["recent"][0] == "incremental", done
    assert warehouse.read("select order_id from features.recent order by 1") == [(1,), (2,)]


HISTORY = {
    **STEPS,
    "features/hist.sql": "{{ config(materialized='incremental', unique_key='order_id') }}\n"
                         "select order_id, amount from {{ source('app', 'orders') }}",
}


def rolled_window(warehouse: Warehouse) -> None:
    """prod's hist holds order 1, which the source (a rolling window) no longer does."""
    warehouse.write("delete from app.orders where order_id = 1")
    warehouse.write("insert into app.orders values (3, 3.0)")
    assert run_ok(warehouse)["hist"][0] == "incremental"
    assert warehouse.read("select order_id from features.hist order by 1") == [(1,), (2,), (3,)]


def test_dev_starts_an_unchanged_incremental_step_from_prods_rows(make_warehouse):
    """Every dev run rebuilt every incremental step from scratch ('dev gets its own copy'),
    and `promote dev prod` then replaced prod's history with it: order 1 was lost, exit 0."""
    warehouse = make_warehouse(HISTORY)
    rolled_window(warehouse)
    warehouse.write("insert into app.orders values (4, 4.0)")
    done = run_ok(warehouse, "--env", "dev")
    assert done["hist"][0] == "incremental", done
    assert warehouse.read("select order_id from features__dev.hist order by 1") == [(1,), (2,), (3,), (4,)]
    assert warehouse.read("select order_id from features.hist order by 1") == [(1,), (2,), (3,)]  # copied on write
    promoted = cli("promote", "dev", "prod", "-p", str(warehouse.root))
    assert promoted.code == 0 and "history" not in promoted.out, promoted
    assert warehouse.read("select order_id from features.hist order by 1") == [(1,), (2,), (3,), (4,)]


def test_promote_says_when_devs_rebuild_replaces_prods_incremental_history(make_warehouse):
    """dev changed the step's code: it rebuilds from what the source holds now, and the
    promote says loudly that prod's accumulated rows go."""
    warehouse = make_warehouse(HISTORY)
    rolled_window(warehouse)
    write(warehouse.root, {"features/hist.sql": HISTORY["features/hist.sql"].replace("amount from", "amount * 1 as amount from")})
    assert run_ok(warehouse, "--env", "dev")["hist"][0] == "rebuild"
    promoted = cli("promote", "dev", "prod", "-p", str(warehouse.root))
    assert promoted.code == 0, promoted
    assert ("warning: prod's incremental history of hist is replaced by dev's rebuild from scratch: rows prod accumulated "
            "that its sources no longer hold are gone") in promoted.out + promoted.err, promoted
    assert warehouse.read("select order_id from features.hist order by 1") == [(2,), (3,)]


def published_steps(warehouse: Warehouse, env: str = "prod") -> set[str]:
    return {step for (step,) in warehouse.read(f"select step from toolkit.published where env = '{env}'")}


def test_a_disabled_step_not_selected_keeps_what_it_published(make_warehouse):
    """config(enabled=false) unpublished the step even in `run --select other`, which does not
    select it: a disabled incremental's history was gone when it was enabled again."""
    warehouse = make_warehouse(HISTORY)
    rolled_window(warehouse)
    disabled = HISTORY["features/hist.sql"].replace("unique_key='order_id'", "unique_key='order_id', enabled=false")
    write(warehouse.root, {"features/hist.sql": disabled})
    planned = cli("plan", "-p", str(warehouse.root), "--select", "other")
    assert planned.code == 0 and "unpublish" not in planned.out, planned
    assert "hist" not in run_ok(warehouse, "--select", "other")
    assert "hist" in published_steps(warehouse)
    assert warehouse.read("select order_id from features.hist order by 1") == [(1,), (2,), (3,)]
    write(warehouse.root, HISTORY)  # enabled again: its history is still there
    assert run_ok(warehouse)["hist"][0] == "reuse"
    assert warehouse.read("select order_id from features.hist order by 1") == [(1,), (2,), (3,)]


def test_a_run_selecting_a_disabled_step_unpublishes_it(make_warehouse):
    """--select naming the disabled step (exit 2 before: no step is named so) unpublishes it."""
    warehouse = make_warehouse(HISTORY)
    disabled = HISTORY["features/hist.sql"].replace("unique_key='order_id'", "unique_key='order_id', enabled=false")
    write(warehouse.root, {"features/hist.sql": disabled})
    done = run_ok(warehouse, "--select", "hist")
    assert done["hist"][0] == "unpublish", done
    assert "hist" not in published_steps(warehouse)


def test_a_deleted_step_not_selected_keeps_what_it_published(make_warehouse):
    """A deleted step file: `run --select other` leaves it published; a run of the whole project
    unpublishes it."""
    warehouse = make_warehouse(HISTORY)
    (warehouse.root / "features/hist.sql").unlink()
    assert "hist" not in run_ok(warehouse, "--select", "other")
    assert "hist" in published_steps(warehouse)
    assert warehouse.read("select order_id from features.hist order by 1") == [(1,), (2,)]
    assert run_ok(warehouse)["hist"][0] == "unpublish"
    assert "hist" not in published_steps(warehouse)
