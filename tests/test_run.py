"""End-to-end `toolkit run` on a small DAG, through the CLI in a subprocess.

The DAG (two independent branches):

    raw.regions (seed) ─────────────┐
    app.orders ─► clean_orders ─┬─► country_revenue (view)
                                └─► customer_totals ─► top_customers (view)
    app.customers ─► customer_dim
"""

from __future__ import annotations

import json
import shutil
import subprocess

import duckdb
import pytest

from _projects import (
    checksum,
    cli,
    execute,
    make_project,
    orphans,
    physical_relations,
    popen_run,
    published,
    query,
    rows,
    run,
    runs,
    scalar,
    statuses,
    step_runs,
    write,
)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SOURCES = """
[app]
schema = "app"

[app.tables.orders]
columns = { order_id = "bigint", customer_id = "bigint", country = "varchar", amount = "double", status = "varchar" }

[app.tables.customers]
columns = { customer_id = "bigint", name = "varchar" }
"""

CLEAN_ORDERS = """
{{ config(materialized="table", tags=["orders"], tests={"order_id": ["not_null", "unique"]}) }}
-- paid orders only
select order_id, customer_id, country, amount
from {{ source("app", "orders") }}
where status <> 'cancelled'
"""

CUSTOMER_TOTALS = """
{{ config(materialized="table", tags=["orders", "daily"], tests={"customer_id": ["unique"]}) }}
select customer_id, count(*) as n_orders, sum(amount) as revenue
from {{ ref("clean_orders") }}
group by customer_id
"""

FILES = {
    "warehouse/sources.toml": SOURCES,
    "warehouse/seeds/regions.csv": "country,region\nDE,Europe\nFR,Europe\nUS,Americas\n",
    "features/orders/clean_orders.sql": CLEAN_ORDERS,
    "features/orders/customer_totals.sql": CUSTOMER_TOTALS,
    "features/orders/country_revenue.sql": """
        {{ config(materialized="view") }}
        select o.country, r.region, sum(o.amount) as revenue
        from {{ ref("clean_orders") }} as o
        join {{ ref("regions") }} as r on r.country = o.country
        group by o.country, r.region
    """,
    "features/orders/top_customers.sql": """
        {{ config(materialized="view", tags=["daily"]) }}
        select customer_id, revenue from {{ ref("customer_totals") }} where revenue > 100
    """,
    "features/customers/customer_dim.sql": """
        {{ config(materialized="table", tags=["customers"]) }}
        select customer_id, upper(name) as name from {{ source("app", "customers") }}
    """,
}

SETUP = """
create schema app;
create table app.orders (order_id bigint, customer_id bigint, country varchar, amount double, status varchar);
insert into app.orders values
    (1, 10, 'DE', 50, 'paid'), (2, 10, 'DE', 70, 'paid'), (3, 11, 'FR', 20, 'paid'),
    (4, 12, 'US', 200, 'paid'), (5, 12, 'US', 5, 'cancelled'), (6, 13, 'DE', 30, 'paid');
create table app.customers (customer_id bigint, name varchar);
insert into app.customers values (10, 'ann'), (11, 'bob'), (12, 'cy'), (13, 'di');
"""

STEPS = ["regions", "clean_orders", "customer_totals", "country_revenue", "top_customers", "customer_dim"]
RELATIONS = {
    "regions": "raw.regions",
    "clean_orders": "features.clean_orders",
    "customer_totals": "features.customer_totals",
    "country_revenue": "features.country_revenue",
    "top_customers": "features.top_customers",
    "customer_dim": "features.customer_dim",
}
EXPECTED = {
    "regions": [("DE", "Europe"), ("FR", "Europe"), ("US", "Americas")],
    "clean_orders": [(1, 10, "DE", 50.0), (2, 10, "DE", 70.0), (3, 11, "FR", 20.0), (4, 12, "US", 200.0), (6, 13, "DE", 30.0)],
    "customer_totals": [(10, 2, 120.0), (11, 1, 20.0), (12, 1, 200.0), (13, 1, 30.0)],
    "country_revenue": [("DE", "Europe", 150.0), ("FR", "Europe", 20.0), ("US", "Americas", 200.0)],
    "top_customers": [(10, 120.0), (12, 200.0)],
    "customer_dim": [(10, "ANN"), (11, "BOB"), (12, "CY"), (13, "DI")],
}


def new_project(root):
    return make_project(root, FILES, SETUP)


@pytest.fixture(scope="module")
def built_template(tmp_path_factory):
    """The DAG built once (run 1); tests get their own copy."""
    root = new_project(tmp_path_factory.mktemp("template") / "proj")
    result = run(root)
    assert result.code == 0, result
    return root


@pytest.fixture
def project(built_template, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(built_template, root)
    return root


def snapshot(root) -> dict[str, tuple]:
    return {step: checksum(root, relation) for step, relation in RELATIONS.items()}


def rebuilt(root, run_id=None) -> set[str]:
    return {step for step, status in statuses(root, run_id).items() if status == "success"}


# -- build, records, reuse -----------------------------------------------------------


def test_first_run_builds_publishes_and_records(tmp_path):
    root = new_project(tmp_path / "proj")
    result = run(root)
    assert result.code == 0, result

    for step, relation in RELATIONS.items():
        assert rows(root, relation) == EXPECTED[step], step
    kinds = dict(query(root, "select table_schema || '.' || table_name, table_type from information_schema.tables "
                             "where table_schema in ('features', 'raw')"))
    assert kinds == {relation: "VIEW" for relation in RELATIONS.values()}

    assert runs(root) == [(1, "success")]
    records = step_runs(root, 1)
    assert set(records) == set(STEPS)
    for step, record in records.items():
        assert (record["status"], record["action"], record["reason"]) == ("success", "build", "new"), step
        assert record["error"] is None
        assert record["finished_at"] >= record["started_at"]
    assert {s: r["rows_written"] for s, r in records.items()} == {
        "regions": 3, "clean_orders": 5, "customer_totals": 4, "customer_dim": 4,
        "country_revenue": 3, "top_customers": 2,
    }
    assert {s: r["materialized"] for s, r in records.items()} == {
        "regions": "seed", "clean_orders": "table", "customer_totals": "table", "customer_dim": "table",
        "country_revenue": "view", "top_customers": "view",
    }

    state = published(root)
    assert set(state) == set(STEPS)
    physical = physical_relations(root)
    for step, row in state.items():
        assert row["run_id"] == 1
        assert row["relation"] == RELATIONS[step]
        assert row["physical_name"] == records[step]["physical_name"]
        expected_kind = "VIEW" if step in ("country_revenue", "top_customers") else "BASE TABLE"
        assert physical[row["physical_name"]] == expected_kind

    events = result.events()
    assert events[0] == {**events[0], "event": "run_started", "run_id": 1, "steps": 6}
    assert events[-1] == {**events[-1], "event": "run_finished", "run_id": 1, "ok": True}


def test_noop_rerun_reuses_everything(project):
    before_physical = physical_relations(project)
    before_data = snapshot(project)

    result = run(project)
    assert result.code == 0, result
    assert runs(project) == [(1, "success"), (2, "success")]
    records = step_runs(project, 2)
    assert {s: (r["status"], r["action"]) for s, r in records.items()} == {s: ("reused", "reuse") for s in STEPS}
    assert {s: r["physical_name"] for s, r in records.items()} == {s: p["physical_name"] for s, p in published(project).items()}
    assert physical_relations(project) == before_physical
    assert snapshot(project) == before_data
    assert {p["run_id"] for p in published(project).values()} == {1}


def test_comment_whitespace_and_case_edits_are_reused(project):
    write(project, {"features/orders/clean_orders.sql": """
        {{ config(materialized="table", tags=["orders"], tests={"order_id": ["not_null", "unique"]}) }}
        -- a different comment
        /* and a block comment */
        SELECT   order_id,
                 customer_id,   country, amount   -- trailing comment
        FROM {{ source("app", "orders") }}
        WHERE status <> 'cancelled'


    """})
    before = physical_relations(project)
    result = run(project)
    assert result.code == 0, result
    assert statuses(project) == {s: "reused" for s in STEPS}
    assert physical_relations(project) == before


def test_editing_a_step_rebuilds_it_and_its_downstream_only(project):
    old = published(project)
    write(project, {"features/orders/customer_totals.sql": CUSTOMER_TOTALS.replace("sum(amount)", "sum(amount) + 1")})
    result = run(project)
    assert result.code == 0, result
    records = step_runs(project)
    assert rebuilt(project) == {"customer_totals", "top_customers"}
    assert records["customer_totals"]["reason"].startswith("SQL changed: ~ column"), records["customer_totals"]["reason"]
    for step in ("regions", "clean_orders", "country_revenue", "customer_dim"):
        assert records[step]["status"] == "reused", step
        assert published(project)[step]["physical_name"] == old[step]["physical_name"]
    assert rows(project, "features.customer_totals") == [(10, 2, 121.0), (11, 1, 21.0), (12, 1, 201.0), (13, 1, 31.0)]
    assert rows(project, "features.top_customers") == [(10, 121.0), (12, 201.0)]
    assert published(project)["customer_totals"]["run_id"] == 2
    assert orphans(project) == set()


# -- failures ------------------------------------------------------------------------


def test_failing_step_skips_downstream_and_keeps_published_data(project):
    before = snapshot(project)
    old = published(project)
    # a runtime error (the cast fails on the data, not at compile time) ...
    write(project, {"features/orders/customer_totals.sql": CUSTOMER_TOTALS.replace(
        "sum(amount) as revenue", "sum(amount) as revenue, cast(max(country) || 'x' as integer) as broken"
    )})
    # ... and a change on the independent branch, so it has real work to do
    execute(project, "insert into app.customers values (14, 'eve')")

    result = run(project)
    assert result.code == 1, result
    assert "Traceback" not in result.err
    records = step_runs(project)
    assert records["customer_totals"]["status"] == "failed"
    assert "Conversion" in records["customer_totals"]["error"] or "convert" in records["customer_totals"]["error"].lower()
    assert records["top_customers"]["status"] == "skipped"
    assert "customer_totals" in records["top_customers"]["error"]
    assert records["customer_dim"]["status"] == "success"
    for step in ("regions", "clean_orders", "country_revenue"):
        assert records[step]["status"] == "reused", step
    assert runs(project)[-1] == (2, "failed")

    # the failed step's published data and state are untouched; downstream still reads
    after = snapshot(project)
    for step in ("customer_totals", "top_customers", "clean_orders", "country_revenue", "regions"):
        assert after[step] == before[step], step
        assert published(project)[step] == old[step], step
    assert rows(project, "features.customer_totals") == EXPECTED["customer_totals"]
    assert rows(project, "features.customer_dim") == EXPECTED["customer_dim"] + [(14, "EVE")]
    assert published(project)["customer_dim"]["run_id"] == 2
    assert orphans(project) == set()

    events = {e["step"]: e for e in result.events() if e["event"] == "step_finished"}
    assert events["customer_totals"]["status"] == "failed"
    assert result.events()[-1]["ok"] is False

    # reverting the step: what is published is that very definition, so nothing rebuilds
    write(project, {"features/orders/customer_totals.sql": CUSTOMER_TOTALS})
    result = run(project)
    assert result.code == 0, result
    assert set(statuses(project).values()) == {"reused"}


def test_failing_view_step_keeps_the_published_view(project):
    before = rows(project, "features.top_customers")
    old = published(project)["top_customers"]
    write(project, {"features/orders/top_customers.sql": """
        {{ config(materialized="view", tags=["daily"]) }}
        select customer_id, revenue, cast('x' || customer_id as integer) as broken
        from {{ ref("customer_totals") }} where revenue > 100
    """})
    result = run(project)
    assert result.code == 1, result
    assert statuses(project)["top_customers"] == "failed"
    assert published(project)["top_customers"] == old
    assert rows(project, "features.top_customers") == before


@pytest.mark.parametrize(
    "broken, test_name",
    [
        (CLEAN_ORDERS + 'union all\nselect order_id, customer_id, country, amount from {{ source("app", "orders") }} where order_id = 1\n',
         "unique(order_id)"),
        (CLEAN_ORDERS.replace("select order_id,", "select case when order_id = 3 then null else order_id end as order_id,"),
         "not_null(order_id)"),
    ],
    ids=["unique", "not_null"],
)
def test_blocking_test_failure_is_not_published(project, broken, test_name):
    before = snapshot(project)
    old = published(project)
    before_physical = physical_relations(project)
    write(project, {"features/orders/clean_orders.sql": broken})

    result = run(project)
    assert result.code == 1, result
    records = step_runs(project)
    assert records["clean_orders"]["status"] == "failed"
    assert test_name in records["clean_orders"]["error"]
    assert {records[s]["status"] for s in ("customer_totals", "country_revenue", "top_customers")} == {"skipped"}
    assert records["customer_dim"]["status"] == "reused"
    assert snapshot(project) == before
    assert published(project) == old
    assert physical_relations(project) == before_physical  # the failed build was dropped


# -- selection -----------------------------------------------------------------------


def ls_names(root, *args) -> set[str]:
    """`toolkit ls` in this process (click's runner): selection needs no subprocess."""
    from click.testing import CliRunner

    from toolkit.cli import cli as toolkit_cli

    result = CliRunner().invoke(toolkit_cli, ["ls", "-p", str(root), "--log-format", "json", *args])
    assert result.exit_code == 0, result.output
    return {json.loads(line)["name"] for line in result.output.splitlines()}


@pytest.mark.parametrize(
    "args, expected",
    [
        ((), set(STEPS)),
        (("--select", "customer_totals"), {"customer_totals"}),
        (("--select", "+customer_totals"), {"clean_orders", "customer_totals"}),
        (("--select", "+country_revenue"), {"regions", "clean_orders", "country_revenue"}),
        (("--select", "clean_orders+"), {"clean_orders", "customer_totals", "country_revenue", "top_customers"}),
        (("--select", "tag:orders"), {"clean_orders", "customer_totals"}),
        (("--select", "tag:daily"), {"customer_totals", "top_customers"}),
        (("--select", "customer_dim regions"), {"customer_dim", "regions"}),
        (("--select", "tag:daily,clean_orders+"), {"customer_totals", "top_customers"}),
        (("--exclude", "clean_orders+"), {"regions", "customer_dim"}),
        (("--select", "clean_orders+", "--exclude", "tag:orders"), {"country_revenue", "top_customers"}),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_ls_selectors(tmp_path, args, expected):
    root = make_project(tmp_path / "proj", FILES)  # ls needs no warehouse
    assert ls_names(root, *args) == expected


def test_run_select_and_exclude(project):
    execute(project, "insert into app.orders values (7, 11, 'FR', 500, 'paid'); insert into app.customers values (14, 'eve')")

    result = run(project, "--select", "clean_orders+", "--exclude", "top_customers")
    assert result.code == 0, result
    assert {s: r["status"] for s, r in step_runs(project).items()} == {
        "clean_orders": "success", "customer_totals": "success", "country_revenue": "success",
    }
    assert rows(project, "features.customer_dim") == EXPECTED["customer_dim"]  # not selected: not rebuilt
    assert rows(project, "features.top_customers") == [(10, 120.0), (12, 200.0)]  # still the old relation
    assert scalar(project, "select revenue from features.customer_totals where customer_id = 11") == 520.0

    result = run(project, "--select", "tag:customers")
    assert result.code == 0, result
    assert statuses(project) == {"customer_dim": "success"}

    result = run(project, "--select", "+top_customers")
    assert result.code == 0, result
    assert statuses(project) == {
        "clean_orders": "reused", "customer_totals": "reused", "top_customers": "success",
    }
    assert rows(project, "features.top_customers") == [(10, 120.0), (11, 520.0), (12, 200.0)]
    assert orphans(project) == set()


def test_select_without_built_upstream_is_a_usage_error(tmp_path):
    root = new_project(tmp_path / "proj")
    result = run(root, "--select", "customer_totals")
    assert result.code == 2, result
    assert "clean_orders" in result.err and "Traceback" not in result.err
    result = run(root, "--select", "+customer_totals")
    assert result.code == 0, result
    assert set(statuses(root)) == {"clean_orders", "customer_totals"}


def test_unknown_selector_is_a_usage_error(project):
    result = run(project, "--select", "custmer_totals")
    assert result.code == 2, result
    assert "customer_totals" in result.err  # did you mean
    assert "Traceback" not in result.err


# -- threads, compile, ls, logs ------------------------------------------------------


def test_threads_do_not_change_results(tmp_path):
    results = {}
    for threads in (1, 4):
        root = new_project(tmp_path / f"t{threads}")
        result = run(root, "--threads", str(threads))
        assert result.code == 0, result
        results[threads] = (
            snapshot(root),
            {s: (r["status"], r["rows_written"], r["fingerprint"]) for s, r in step_runs(root).items()},
            {s: p["fingerprint"] for s, p in published(root).items()},
        )
    assert results[1] == results[4]


def test_compile_prints_sql_duckdb_can_execute(project):
    for step in ("country_revenue", "customer_totals", "customer_dim"):
        result = cli("compile", step, "-p", str(project))
        assert result.code == 0, result
        text = result.out.strip()
        assert text.endswith(";") and "{{" not in text
        with duckdb.connect(str(project / "warehouse" / "proj.duckdb"), read_only=True) as con:
            got = sorted(con.execute(text.rstrip(";")).fetchall())
        assert got == sorted(EXPECTED[step]), step


def test_ls_lists_steps(project):
    result = cli("ls", "-p", str(project))
    assert result.code == 0, result
    lines = {line.split()[0]: line for line in result.out.splitlines() if line.strip()}
    assert set(lines) == set(STEPS)
    assert "view" in lines["country_revenue"].split() and "features.country_revenue" in lines["country_revenue"]
    assert "table" in lines["clean_orders"].split()
    assert "seed" in lines["regions"].split() and "raw.regions" in lines["regions"]
    assert "clean_orders" in lines["customer_totals"]  # what it reads

    rows_ = [json.loads(line) for line in cli("ls", "-p", str(project), "--log-format", "json").out.splitlines()]
    by_name = {row["name"]: row for row in rows_}
    assert by_name["customer_totals"]["upstream"] == ["clean_orders"]
    assert by_name["clean_orders"]["sources"] == ["app.orders"]
    assert by_name["top_customers"]["tags"] == ["daily"]


def test_json_logs_are_one_object_per_line(tmp_path):
    root = new_project(tmp_path / "proj")
    result = cli("run", "-p", str(root), "--log-format", "json")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines
    events = [json.loads(line) for line in lines]  # every line is JSON
    assert all(isinstance(e, dict) and "event" in e for e in events)
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_finished"
    finished = [e for e in events if e["event"] == "step_finished"]
    started = [e for e in events if e["event"] == "step_started"]
    assert sorted(e["step"] for e in finished) == sorted(STEPS)
    assert sorted(e["step"] for e in started) == sorted(STEPS)


# -- source changes and cleanup ------------------------------------------------------


def test_changed_source_rebuilds_its_readers(project):
    execute(project, "insert into app.orders values (7, 13, 'FR', 100, 'paid')")
    result = run(project)
    assert result.code == 0, result
    assert rebuilt(project) == {"clean_orders", "customer_totals", "country_revenue", "top_customers"}
    assert statuses(project)["customer_dim"] == "reused" and statuses(project)["regions"] == "reused"
    assert ("FR", "Europe", 120.0) in rows(project, "features.country_revenue")
    assert rows(project, "features.top_customers") == [(10, 120.0), (12, 200.0), (13, 130.0)]

    execute(project, "update app.customers set name = 'bobby' where customer_id = 11")
    result = run(project)
    assert result.code == 0, result
    assert rebuilt(project) == {"customer_dim"}
    assert (11, "BOBBY") in rows(project, "features.customer_dim")


def test_superseded_physical_relations_are_dropped(project):
    count = len(physical_relations(project))
    assert count == len(STEPS)
    seen = set(physical_relations(project))
    for i in range(5):
        execute(project, f"insert into app.orders values ({100 + i}, 10, 'US', 1, 'paid')")
        result = run(project)
        assert result.code == 0, result
        current = physical_relations(project)
        assert len(current) == count, current
        assert len(set(current) - seen) == 4  # the four steps reading app.orders got new relations
        seen |= set(current)
        assert orphans(project) == set()
    assert scalar(project, "select count(*) from features.clean_orders") == 10


def test_view_keeps_its_physical_upstream_while_it_reads_it(project):
    old_clean = published(project)["clean_orders"]["physical_name"]
    execute(project, "insert into app.orders values (7, 11, 'FR', 5, 'paid')")

    # rebuild clean_orders but not the view reading it
    result = run(project, "--exclude", "country_revenue")
    assert result.code == 0, result
    assert published(project)["clean_orders"]["physical_name"] != old_clean
    assert old_clean in physical_relations(project)  # still read by the published view
    assert rows(project, "features.country_revenue") == EXPECTED["country_revenue"]
    assert orphans(project) == set()

    # once the view is rebuilt, the old table goes
    result = run(project)
    assert result.code == 0, result
    assert statuses(project)["country_revenue"] == "success"
    assert old_clean not in physical_relations(project)
    assert ("FR", "Europe", 25.0) in rows(project, "features.country_revenue")
    assert orphans(project) == set()


def test_view_on_view_keeps_the_table_it_reads_through_a_superseded_view(tmp_path):
    root = make_project(tmp_path / "proj", {
        "warehouse/seeds/nums.csv": "n\n1\n2\n3\n",
        "features/base.sql": 'select n from {{ ref("nums") }}',
        "features/middle.sql": '{{ config(materialized="view") }}\nselect n from {{ ref("base") }}',
        "features/outer.sql": '{{ config(materialized="view") }}\nselect n from {{ ref("middle") }}',
    })
    assert run(root).code == 0
    write(root, {"features/base.sql": 'select n * 10 as n from {{ ref("nums") }}'})
    result = run(root, "--exclude", "outer")  # base and middle rebuild; outer keeps reading the old middle
    assert result.code == 0, result
    assert rows(root, "features.middle") == [(10,), (20,), (30,)]
    assert rows(root, "features.outer") == [(1,), (2,), (3,)]  # CatalogException: old base was dropped


# -- concurrency ---------------------------------------------------------------------


def wait_for_event(process: subprocess.Popen, event: str) -> dict:
    for line in process.stdout:
        data = json.loads(line)
        if data["event"] == event:
            return data
    raise AssertionError(f"no {event} event; stderr: {process.stderr.read()}")


SLOW_STEPS = {
    # about 2 s of work in one statement: the holder keeps the file while a second run starts
    "features/slow.sql": "select sum(hash(i)) as h from range(400000000) as t(i)",
    "features/after_slow.sql": 'select h % 7 as r from {{ ref("slow") }}',
}


def test_two_runs_at_once_do_not_interleave(tmp_path):
    root = make_project(tmp_path / "slow", SLOW_STEPS)
    processes = [popen_run(root, "--lock-timeout", "60") for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, (out, err)
        assert "Traceback" not in err
    records = query(root, "select run_id, status, pid, started_at, finished_at from toolkit.runs order by run_id")
    assert [(r[0], r[1]) for r in records] == [(1, "success"), (2, "success")]
    assert {r[2] for r in records} == {p.pid for p in processes}
    assert records[1][3] >= records[0][4]  # the second run started after the first had finished
    assert statuses(root, 1) == {"slow": "success", "after_slow": "success"}
    assert statuses(root, 2) == {"slow": "reused", "after_slow": "reused"}
    assert len(rows(root, "features.after_slow")) == 1
    assert orphans(root) == set()


def test_busy_target_exits_3_naming_the_holder(tmp_path):
    # a step that outlasts the second run however loaded the machine; killed after
    root = make_project(tmp_path / "slow", {"features/slow.sql": "select sum(hash(i)) as h from range(100000000000) as t(i)"})
    holder = popen_run(root)
    try:
        wait_for_event(holder, "step_started")  # it holds the file
        result = run(root, "--lock-timeout", "0.2")
        holder_was_running = holder.poll() is None
    finally:
        holder.kill()
        holder.communicate(timeout=120)
    assert holder_was_running, "the holder finished before the second run tried"
    assert result.code == 3, result
    assert str(holder.pid) in result.err
    assert "busy" in result.err and "--lock-timeout" in result.err
    assert "Traceback" not in result.err
    assert [e["event"] for e in result.events()] in ([], ["waiting"])  # at most: who it waited for
    assert runs(root) == [(1, "running")]  # the refused run recorded nothing (the killed holder: still "running")

    (root / "features" / "slow.sql").write_text("select 1 as h")
    result = run(root)  # once the holder is gone, a retry works
    assert result.code == 0, result
    assert runs(root) == [(1, "abandoned"), (2, "success")]


def test_waiting_run_succeeds_after_the_holder_finishes(tmp_path):
    root = make_project(tmp_path / "slow", SLOW_STEPS)
    holder = popen_run(root)
    try:
        wait_for_event(holder, "step_started")
        waiter = run(root, "--lock-timeout", "60")
        holder_exit = holder.wait(timeout=120)
    finally:
        out, err = holder.communicate(timeout=120)
    assert holder_exit == 0, err
    assert waiter.code == 0, waiter
    assert [e for e in waiter.events() if e["event"] == "run_started"][0]["run_id"] == 2
    assert statuses(root, 2) == {"slow": "reused", "after_slow": "reused"}
    records = query(root, "select run_id, status, pid, started_at, finished_at from toolkit.runs order by run_id")
    assert [(r[0], r[1]) for r in records] == [(1, "success"), (2, "success")]
    assert records[0][2] == holder.pid
    assert records[1][3] >= records[0][4]  # the waiter started after the holder finished


@pytest.mark.parametrize("dialect, quote", [("snowflake", '"'), ("bigquery", "`"), ("spark", "`"), ("trino", '"')])
def test_compile_for_any_dialect_sqlglot_writes(project, dialect, quote):
    """No adapter is installed for these: --dialect only needs sqlglot."""
    import sqlglot

    result = cli("compile", "customer_totals", "--dialect", dialect, "-p", str(project))
    assert result.code == 0, result
    text = result.out.strip().rstrip(";")
    assert f"{quote}customer_totals{quote}" in text or f"{quote}customer_id{quote}" in text
    assert isinstance(sqlglot.parse_one(text, read=dialect), sqlglot.exp.Query)


def test_compile_for_an_unknown_dialect(project):
    result = cli("compile", "customer_totals", "--dialect", "nope", "-p", str(project))
    assert result.code == 2 and "sqlglot writes no dialect 'nope'" in result.err, result
