"""Issue 18: nothing lost, nothing leaked (names, dropped relations, deleted steps,
tests as metadata, what a failed run guarantees). Each test failed before its fix."""

from __future__ import annotations

import pytest

from _projects import cli, make_project, published, query, rows, run, statuses, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

PG_CONFIG = """\
name = "proj"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "{url}"
"""

SOURCES = """
[app]
schema = "app"

[app.tables.orders]
columns = { order_id = "bigint", customer_id = "bigint", amount = "double" }
"""

SETUP = """
create schema app;
create table app.orders as select * from (values (1, 10, 5.0), (2, 10, 7.0), (3, 11, 20.0)) t(order_id, customer_id, amount);
"""


def _pg_project(tmp_path, url, files):
    pg_query(url, "create schema app")
    pg_query(url, "create table app.orders (order_id bigint, customer_id bigint, amount double precision)")
    pg_query(url, "insert into app.orders values (1, 10, 5.0), (2, 10, 7.0), (3, 11, 20.0)")
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": SOURCES, **files})
    write(root, {"toolkit.toml": PG_CONFIG.format(url=url)})
    return root


# -- item 2: identifiers fit the engine's limit ----------------------------------------

LONG = "customer_lifetime_value_by_acquisition_channel_v20"  # 50 characters


def test_a_50_character_step_name_runs_again_and_again_on_postgres(tmp_path, pg_url):
    assert len(LONG) == 50
    root = _pg_project(tmp_path, pg_url, {
        f"features/{LONG}.sql": "select customer_id, sum(amount) as revenue from {{ source('app', 'orders') }} group by 1",
        "features/reader.sql": f"select customer_id from {{{{ ref('{LONG}') }}}} where revenue > 10",
    })
    for factor in ("1", "2", "3"):  # every run rebuilds it and drops the previous physical table
        write(root, {f"features/{LONG}.sql": f"select customer_id, sum(amount) * {factor} as revenue from {{{{ source('app', 'orders') }}}} group by 1"})
        result = run(root)
        assert result.code == 0, result
    assert pg_query(pg_url, f"select customer_id, revenue from features.{LONG} order by 1") == [(10, 36.0), (11, 60.0)]
    physical = pg_query(pg_url, f"select physical_name from toolkit.published where step = '{LONG}'")[0][0]
    assert len(physical.encode()) <= 63
    assert pg_query(pg_url, f"select count(*) from information_schema.tables where table_schema = 'toolkit_physical' and table_name = '{physical}'") == [(1,)]


def test_two_names_sharing_a_63_byte_prefix_are_exit_2_naming_the_file(tmp_path, pg_url):
    prefix = "x" * 63
    root = _pg_project(tmp_path, pg_url, {
        f"features/{prefix}_a.sql": "select 1 as a",
        f"features/{prefix}_b.sql": "select 2 as a",
    })
    result = run(root)
    assert result.code == 2, result
    assert f"features/{prefix}_" in result.err and "63 bytes" in result.err and "Traceback" not in result.err, result
    assert pg_query(pg_url, "select count(*) from information_schema.schemata where schema_name = 'features'") == [(0,)]


def test_two_columns_sharing_a_63_byte_prefix_are_exit_2_naming_the_line(tmp_path, pg_url):
    # PostgreSQL cuts both to one name: the build would fail mid-run ("specified more than once")
    prefix = "c" * 63
    root = _pg_project(tmp_path, pg_url, {"features/wide.sql": f"select\n  1 as {prefix}_a,\n  2 as {prefix}_b\n"})
    result = run(root)
    assert result.code == 2, result
    assert f"features/wide.sql:3: output columns '{prefix}_a' and '{prefix}_b' are one name on postgres" in result.err, result
    assert "Traceback" not in result.err
    assert pg_query(pg_url, "select count(*) from information_schema.schemata where schema_name = 'features'") == [(0,)]


# -- item 4: a published relation dropped by hand is republished --------------------------

STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/totals.sql": "select customer_id, sum(amount) as revenue from {{ source('app', 'orders') }} group by 1",
    "features/top.sql": "{{ config(materialized='view') }}\nselect customer_id from {{ ref('totals') }} where revenue > 10",
}


def _plan(root) -> dict[str, dict]:
    result = cli("plan", "-p", str(root), "--log-format", "json")
    assert result.code == 0, result
    return {e["step"]: e for e in result.events() if e["event"] == "plan"}


def test_a_published_view_dropped_by_hand_is_republished(tmp_path):
    from _projects import execute

    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    before = published(root)["totals"]["physical_name"]
    execute(root, "drop view features.totals")
    planned = _plan(root)
    assert (planned["totals"]["action"], planned["totals"]["reason_kind"]) == ("reuse", "published_missing"), planned["totals"]
    assert planned["totals"]["reason"] == "published relation features.totals missing"
    assert planned["top"]["action"] == "reuse"
    result = run(root)
    assert result.code == 0, result
    assert rows(root, "features.totals") == [(10, 12.0), (11, 20.0)]
    assert published(root)["totals"]["physical_name"] == before  # republished, not rebuilt
    assert {e["action"] for e in _plan(root).values()} == {"reuse"}
    assert {e["reason_kind"] for e in _plan(root).values()} == {"unchanged"}


# -- a deleted step is unpublished ------------------------------------------------------


def test_a_deleted_step_is_unpublished_by_the_next_run_with_a_plan_line(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    (root / "features" / "top.sql").unlink()
    planned = _plan(root)
    assert (planned["top"]["action"], planned["top"]["reason_kind"]) == ("unpublish", "deleted"), planned
    text = cli("plan", "-p", str(root))
    assert any(line.split()[:2] == ["top", "unpublish"] for line in text.out.splitlines()), text
    assert text.out.splitlines()[-1] == "plan for env prod: 1 reuse, 1 unpublish", text
    result = run(root)
    assert result.code == 0, result
    assert "top" not in published(root)
    assert query(root, "select table_name from information_schema.tables where table_schema in ('features', 'toolkit_physical') and table_name like 'top%'") == []
    assert statuses(root)["top"] == "success"
    assert "top" not in _plan(root)


# -- data tests are metadata -------------------------------------------------------------

TOTALS = "select customer_id, sum(amount) as revenue from {{ source('app', 'orders') }} group by 1"


def test_editing_a_data_test_reruns_it_on_the_published_table_and_rebuilds_nothing(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    before = published(root)["totals"]
    write(root, {"features/totals.sql": "{{ config(tests={'customer_id': ['not_null', 'unique']}) }}\n" + TOTALS})
    planned = _plan(root)
    assert (planned["totals"]["action"], planned["totals"]["reason_kind"]) == ("test", "tests_changed"), planned["totals"]
    assert planned["totals"]["fingerprint"] == before["fingerprint"][:12]  # the data fingerprint is unchanged
    assert planned["top"]["action"] == "reuse"
    result = run(root)
    assert result.code == 0, result
    after = published(root)["totals"]
    assert (after["physical_name"], after["fingerprint"]) == (before["physical_name"], before["fingerprint"])
    assert query(root, "select test, status from toolkit.test_results where step = 'totals' order by test") == [
        ("not_null(customer_id)", "pass"), ("unique(customer_id)", "pass")]
    assert {e["action"] for e in _plan(root).values()} == {"reuse"}


def test_a_changed_test_that_fails_is_exit_1_and_unpublishes_nothing(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    before = published(root)
    write(root, {"features/totals.sql": "{{ config(tests={'revenue': [{'accepted_values': {'values': [12.0]}}]}) }}\n" + TOTALS})
    result = run(root)
    assert result.code == 1, result
    assert statuses(root)["totals"] == "failed"
    # it said "not published" of a table readers see, and go on seeing
    assert "data tests failed, on the published table (it stays as it is)" in result.out, result
    assert published(root) == before
    assert rows(root, "features.totals") == [(10, 12.0), (11, 20.0)]
    assert _plan(root)["totals"]["action"] == "test"  # still to be passed: the next run tries again


def test_a_new_failing_custom_test_on_an_unchanged_step_is_run(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    write(root, {"features/tests/no_big_spenders.sql": "select * from {{ ref('totals') }} where revenue > 15"})
    result = run(root)
    assert result.code == 1, result
    assert query(root, "select test, status, failing_rows from toolkit.test_results where step = 'totals'") == [
        ("custom(no_big_spenders)", "fail", 1)]
    assert rows(root, "features.totals") == [(10, 12.0), (11, 20.0)]


# -- item 3: what a failed run guarantees (README, "Safe publishing") -----------------------


def test_a_failed_run_publishes_what_passed_and_keeps_the_rest_as_it_was(tmp_path):
    files = {**STEPS, "features/labels.sql": "select customer_id, revenue > 10 as big from {{ ref('totals') }}",
             "features/training.sql": "select customer_id, big from {{ ref('labels') }}"}
    root = make_project(tmp_path / "proj", files, SETUP)
    assert run(root).code == 0
    before = published(root)
    write(root, {
        "features/labels.sql": "select customer_id, revenue > 15 as big from {{ ref('totals') }}",
        "features/training.sql": "{{ config(tests={'big': [{'accepted_values': {'values': [true]}}]}) }}\n"
                                 "select customer_id, big from {{ ref('labels') }}",
    })
    result = run(root)
    assert result.code == 1, result
    after = published(root)
    # upstream of the failure and passing: published, from this run
    assert after["labels"]["run_id"] == 2 and rows(root, "features.labels") == [(10, False), (11, True)]
    # the failing step keeps its previously published build; untouched steps too
    assert after["training"] == before["training"] and rows(root, "features.training") == [(10, True), (11, True)]
    assert after["totals"] == before["totals"]
    assert query(root, "select status from toolkit.runs where run_id = 2") == [("failed",)]


def test_state_written_before_the_tests_column_is_read_and_upgraded(tmp_path):
    from _projects import execute

    root = make_project(tmp_path / "proj", {**STEPS, "features/totals.sql": "{{ config(tests={'customer_id': ['unique']}) }}\n" + TOTALS}, SETUP)
    assert run(root).code == 0
    execute(root, "alter table toolkit.published drop column tests; alter table toolkit.published_history drop column tests")
    planned = _plan(root)  # read-only: the column is not there yet
    assert planned["totals"]["action"] == "test" and planned["top"]["action"] == "reuse", planned
    result = run(root)
    assert result.code == 0, result
    assert {e["action"] for e in _plan(root).values()} == {"reuse"}
