"""`materialized="ephemeral"`: never built or published, inlined as a CTE into every
step that reads it (DuckDB and PostgreSQL), its readers' fingerprints include it, and
data tests on it are a project error (exit 2).

    app.orders ─► paid (ephemeral) ─► big (ephemeral) ─► totals (table)
                                 └──────────────────────► top (view)
"""

from __future__ import annotations

import pytest

from _projects import cli, make_project, published, query, rows, run, statuses, step_runs, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SOURCES = """
[app]
schema = "app"

[app.tables.orders]
columns = { order_id = "bigint", customer_id = "bigint", amount = "double", status = "varchar" }
"""

PAID = """
{{ config(materialized="ephemeral") }}
select order_id, customer_id, amount from {{ source("app", "orders") }} where status = 'paid'
"""

STEPS = {
    "warehouse/sources.toml": SOURCES,
    "features/paid.sql": PAID,
    "features/big.sql": "{{ config(materialized='ephemeral') }}\nselect * from {{ ref('paid') }} where amount > 1",
    "features/totals.sql": """
        with per as (select customer_id, sum(amount) as revenue from {{ ref('big') }} group by customer_id)
        select customer_id, revenue from per
    """,
    "features/top.sql": "{{ config(materialized='view') }}\nselect customer_id, count(*) as n from {{ ref('paid') }} group by customer_id",
}

SETUP = """
create schema app;
create table app.orders as select * from (values (1, 10, 5.0, 'paid'), (2, 10, 7.0, 'paid'), (3, 11, 20.0, 'paid'),
    (4, 12, 1.0, 'paid'), (5, 12, 9.0, 'cancelled')) t(order_id, customer_id, amount, status);
"""


def plan(root, *args) -> dict[str, dict]:
    result = cli("plan", "-p", str(root), "--log-format", "json", *args)
    assert result.code == 0, result
    return {e["step"]: e for e in result.events() if e["event"] == "plan"}


@pytest.fixture
def project(tmp_path):
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    result = run(root)
    assert result.code == 0, result
    return root


def test_ephemeral_steps_are_inlined_never_built_or_published(project):
    assert rows(project, "features.totals") == [(10, 12.0), (11, 20.0)]
    assert rows(project, "features.top") == [(10, 2), (11, 1), (12, 1)]
    names = {name for (name,) in query(project, "select table_name from information_schema.tables where table_schema in ('features', 'toolkit_physical')")}
    assert not any(name.startswith(("paid", "big")) for name in names), names
    assert set(published(project)) == {"totals", "top"}
    assert statuses(project) == {"paid": "inlined", "big": "inlined", "totals": "success", "top": "success"}
    assert step_runs(project)["paid"]["action"] == "inline"


def test_plan_says_why_and_keys_json_on_the_reason_kind(project):
    planned = plan(project)
    assert (planned["paid"]["action"], planned["paid"]["reason_kind"]) == ("inline", "ephemeral")
    assert planned["paid"]["reason"] == "ephemeral: inlined into its readers"
    assert (planned["totals"]["action"], planned["totals"]["reason_kind"]) == ("reuse", "unchanged")


def test_editing_an_ephemeral_step_rebuilds_its_readers(project):
    write(project, {"features/paid.sql": PAID.replace("status = 'paid'", "status <> 'paid'")})
    planned = plan(project)
    assert planned["totals"]["action"] == "rebuild" and planned["totals"]["reason_kind"] == "upstream_changed", planned["totals"]
    assert planned["top"]["action"] == "rebuild", planned["top"]
    result = run(project)
    assert result.code == 0, result
    assert rows(project, "features.totals") == [(12, 9.0)]
    assert {k: v["action"] for k, v in plan(project).items()} == {"paid": "inline", "big": "inline", "totals": "reuse", "top": "reuse"}


def test_a_reader_selected_alone_still_inlines_its_ephemeral_upstream(project):
    write(project, {"features/totals.sql": "select customer_id, count(*) as n from {{ ref('big') }} group by customer_id"})
    result = run(project, "--select", "totals")
    assert result.code == 0, result
    assert rows(project, "features.totals") == [(10, 2), (11, 1)]


def test_data_tests_on_an_ephemeral_step_are_exit_2(tmp_path):
    root = make_project(tmp_path / "proj", {**STEPS, "features/paid.sql": "{{ config(materialized='ephemeral', tests={'order_id': ['unique']}) }}\nselect 1 as order_id"}, SETUP)
    result = run(root)
    assert result.code == 2, result
    assert "features/paid.sql:1" in result.err and "ephemeral" in result.err and "Traceback" not in result.err, result


def test_a_custom_test_owned_by_an_ephemeral_step_is_exit_2(tmp_path):
    files = {"warehouse/sources.toml": SOURCES, "features/paid.sql": PAID,
             "features/tests/no_negative.sql": "select * from {{ ref('paid') }} where amount < 0"}
    root = make_project(tmp_path / "proj", files, SETUP)
    result = run(root)
    assert result.code == 2, result
    assert "features/tests/no_negative.sql" in result.err and "ephemeral" in result.err, result


PG_CONFIG = """\
name = "proj"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "{url}"
"""


def test_ephemeral_on_postgres(tmp_path, pg_url):
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.orders (order_id bigint, customer_id bigint, amount double precision, status varchar)")
    pg_query(pg_url, "insert into app.orders values (1, 10, 5.0, 'paid'), (2, 10, 7.0, 'paid'), (3, 11, 20.0, 'paid'), (4, 12, 1.0, 'paid'), (5, 12, 9.0, 'cancelled')")
    root = make_project(tmp_path / "proj", STEPS)
    write(root, {"toolkit.toml": PG_CONFIG.format(url=pg_url)})
    result = run(root)
    assert result.code == 0, result
    assert pg_query(pg_url, "select customer_id, revenue from features.totals order by 1") == [(10, 12.0), (11, 20.0)]
    assert pg_query(pg_url, "select customer_id, n from features.top order by 1") == [(10, 2), (11, 1), (12, 1)]
    names = [n for (n,) in pg_query(pg_url, "select table_name from information_schema.tables where table_schema in ('features', 'toolkit_physical')")]
    assert not any(n.startswith(("paid", "big")) for n in names), names
    assert sorted(s for (s,) in pg_query(pg_url, "select step from toolkit.published")) == ["top", "totals"]
    write(root, {"features/paid.sql": PAID.replace("status = 'paid'", "status <> 'paid'")})
    result = run(root)
    assert result.code == 0, result
    assert pg_query(pg_url, "select customer_id, revenue from features.totals order by 1") == [(12, 9.0)]


def test_lineage_docs_and_compile_never_name_a_table_an_ephemeral_step_does_not_have(project, tmp_path):
    # features.paid and features.big do not exist: lineage and docs name them as steps,
    # marked ephemeral, and compile shows the CTE a build inlines them as.
    lineage = cli("lineage", "totals.revenue", "-p", str(project))
    assert lineage.code == 0, lineage
    assert "features.paid" not in lineage.out and "features.big" not in lineage.out
    assert "paid.amount  (ephemeral: inlined into its readers, no table)" in lineage.out
    asked = cli("lineage", "features.paid.amount", "-p", str(project))
    assert asked.code == 2 and "step paid is ephemeral" in asked.err and "lineage paid.amount" in asked.err, asked
    compiled = cli("compile", "-s", "totals", "-p", str(project))
    assert compiled.code == 0 and '"features"."big"' not in compiled.out and "toolkit_ephemeral__big" in compiled.out, compiled
    site = cli("docs", "--out", str(tmp_path / "site"), "-p", str(project))
    assert site.code == 0, site
    document = (tmp_path / "site" / "data.js").read_text(encoding="utf-8")
    assert "features.paid" not in document and '\\"features\\".\\"big\\"' not in document
    assert '"paid":{"name":"paid"' in document and '"inlined":true' in document


PRINTED = {
    "warehouse/sources.toml": SOURCES,
    "features/paid.sql": "{{ config(materialized='ephemeral') }}\n"
                         "select order_id, customer_id, amount from {{ source('app', 'orders') }} where status like '%{{ var(\"pat\") }}%'",
    "features/keyed.sql": "select {{ var('id_col') }} as k, customer_id, amount from {{ ref('paid') }}",
    "features/summed.py": "from toolkit import feature\n\n\n@feature()\ndef summed(ref):\n    paid = ref('paid')\n"
                          "    return paid.group_by('customer_id').aggregate(total=paid.amount.sum())\n",
}


@pytest.mark.parametrize("step", ["keyed", "summed"])  # a SQL and an ibis step reading an ephemeral one
def test_compile_prints_the_sql_a_run_executes(tmp_path, step):
    root = make_project(tmp_path / "proj", PRINTED, SETUP)
    with open(root / "toolkit.toml", "a") as config:
        config.write('\n[vars]\npat = "ai"\nid_col = "order_id"\n')
    assert run(root).code == 0
    result = cli("compile", step, "-p", str(root))
    assert result.code == 0, result
    assert "__toolkit_var_" not in result.out and '"features"."paid"' not in result.out, result.out
    printed = result.out.strip().rstrip(";")
    assert sorted(query(root, printed)) == sorted(query(root, f"select * from features.{step}")) != []


UNCHECKED = {
    "warehouse/sources.toml": SOURCES + "\n[app.tables.raw]\n",  # raw declares no columns: its readers compile unchecked
    "features/wide.sql": "select * from (pivot {{ source('app', 'orders') }} on status using sum(amount) group by customer_id)",
    "features/from_raw.sql": "select {{ var('id_col') }} as k, status from {{ source('app', 'raw') }} where status like '%{{ var(\"pat\") }}%'",
    "features/from_wide.sql": "select {{ var('id_col') }} as k, customer_id from {{ ref('wide') }} where '{{ var(\"pat\") }}' = 'ai'",
}


def test_a_step_compiled_unchecked_keeps_its_var_values(tmp_path):
    """A step whose input columns are unknown is parsed again from its text; var() values
    must be bound again (the placeholders were printed, and run as a name and as text)."""
    root = make_project(tmp_path / "proj", UNCHECKED, SETUP + "create table app.raw as select 'paid' as status;")
    with open(root / "toolkit.toml", "a") as config:
        config.write('\n[vars]\npat = "ai"\nid_col = "order_id"\n')
    result = cli("compile", "from_raw", "from_wide", "-p", str(root))
    assert result.code == 0, result
    assert "__toolkit_var_" not in result.out and result.out.count("'order_id' AS \"k\"") == 2, result.out
    assert run(root).code == 0
    assert sorted(query(root, "select * from features.from_wide")) == [("order_id", 10), ("order_id", 11), ("order_id", 12)]


def test_lineage_json_marks_the_columns_of_an_ephemeral_step(project):
    # JSON consumers tell an ephemeral step (no table to query) from a table, as the text does.
    import json

    result = cli("lineage", "totals.revenue", "--json", "-p", str(project))
    assert result.code == 0, result
    document = json.loads(result.out)
    assert document["ephemeral"] is False
    marked = {c["column"]: c["ephemeral"] for c in document["columns"]}
    assert marked["paid.amount"] is True and marked["big.amount"] is True and marked["app.orders.amount"] is False, marked
    tree = document["tree"]
    assert tree["ephemeral"] is False and tree["children"][0]["column"] == "big.amount" and tree["children"][0]["ephemeral"] is True
    top = json.loads(cli("lineage", "paid.amount", "--json", "-p", str(project)).out)
    assert top["ephemeral"] is True
