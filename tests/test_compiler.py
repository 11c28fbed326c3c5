"""compiler.py: a dbt-style project compiles into canonical trees, lineage and columns,
without touching the warehouse."""

from __future__ import annotations

import pytest

from toolkit import sql
from toolkit.compiler import compile_project
from toolkit.errors import ProjectError

SOURCES = """\
[shop]
schema = "shop_raw"
description = "The shop's operational tables."

[shop.tables.orders]
columns = { order_id = "bigint", customer_id = "bigint", status = "varchar", amount = "double", country = "varchar" }

[shop.tables.customers]
columns = { customer_id = "bigint", name = "varchar" }
"""

PROJECT = {
    "toolkit.toml": """\
        name = "shop"
        dialect = "duckdb"

        [targets.dev]
        engine = "duckdb"
        path = "warehouse/shop.duckdb"

        [vars]
        min_amount = 0
        statuses = ["paid", "shipped", "returned"]
        """,
    "warehouse/sources.toml": SOURCES,
    "warehouse/seeds/countries.csv": "country,region\nDE,Europe\nUS,Americas\n",
    "features/macros/money.sql": "{% macro cents(column) %}cast(round({{ column }} * 100) as bigint){% endmacro %}\n",
    "features/staging/stg_orders.sql": """\
        {{ config(materialized="view", tags=["staging"], description="Orders, cleaned.") }}
        with source as (
            select * from {{ source("shop", "orders") }}
        ),
        renamed as (
            select order_id, customer_id, lower(status) as status, amount, country
            from source
            where amount >= {{ var("min_amount") }}
        )
        select * from renamed
        """,
    "features/customer_orders.sql": """\
        {{ config(materialized="table", tags=["daily"], tests={"customer_id": ["not_null", "unique"]}) }}
        {% set statuses = var("statuses") %}
        with orders as (
            select * from {{ ref("stg_orders") }}
        )
        select
            o.customer_id,
            c.name,
            {% for status in statuses %}
            sum(case when o.status = '{{ status }}' then {{ cents("o.amount") }} else 0 end) as {{ status }}_cents,
            {% endfor %}
            count(*) as orders
        from orders as o
        join shop_raw.customers as c on c.customer_id = o.customer_id
        group by all
        """,
    "features/region_orders.sql": """\
        -- plain names: features.customer_orders and raw.countries are found by parsing
        select r.region, sum(co.orders) as orders
        from features.customer_orders as co
        join {{ ref("stg_orders") }} as o on o.customer_id = co.customer_id
        join raw.countries as r on r.country = o.country
        group by r.region
        """,
    "features/bare.sql": "select region from countries\n",
}


@pytest.fixture
def compiled(make_project):
    return compile_project(make_project(PROJECT))


def test_steps_and_order(compiled):
    assert set(compiled.steps) == {"countries", "stg_orders", "customer_orders", "region_orders", "bare"}
    order = compiled.dag.order()
    assert order.index("stg_orders") < order.index("customer_orders") < order.index("region_orders")
    assert order.index("countries") < order.index("region_orders")


def test_lineage(compiled):
    steps = compiled.steps
    assert (steps["stg_orders"].upstream, steps["stg_orders"].sources) == ([], ["shop.orders"])
    assert (steps["customer_orders"].upstream, steps["customer_orders"].sources) == (["stg_orders"], ["shop.customers"])
    assert steps["region_orders"].upstream == ["countries", "customer_orders", "stg_orders"]
    assert steps["bare"].upstream == ["countries"]  # a bare seed name is found too
    assert steps["countries"].kind == "seed" and steps["countries"].upstream == []


def test_columns(compiled):
    steps = compiled.steps
    assert steps["countries"].columns == ["country", "region"]
    assert steps["stg_orders"].columns == ["order_id", "customer_id", "status", "amount", "country"]
    assert steps["customer_orders"].columns == ["customer_id", "name", "paid_cents", "shipped_cents", "returned_cents", "orders"]
    assert steps["region_orders"].columns == ["region", "orders"]


def test_config(compiled):
    step = compiled.steps["customer_orders"]
    assert step.materialized == "table"
    assert step.tags == {"daily"}
    assert step.config["tests"] == {"customer_id": ["not_null", "unique"]}
    assert compiled.steps["stg_orders"].materialized == "view"
    assert compiled.dag.select(("tag:daily+",)) == {"customer_orders", "region_orders"}


def test_trees_use_canonical_names(compiled):
    def tables(name):
        return sorted(t.sql() for t in sql.table_refs(compiled.steps[name].tree))

    assert tables("stg_orders") == ["shop_raw.orders AS orders"]
    assert tables("customer_orders") == ["features.stg_orders AS stg_orders", "shop_raw.customers AS c"]
    assert tables("region_orders") == ["features.customer_orders AS co", "features.stg_orders AS o", "raw.countries AS r"]
    assert tables("bare") == ["raw.countries AS countries"]


def test_the_rendered_loop_and_macro(compiled):
    # The loop runs over a list var: its items reach SQL as bound values (a literal, or a
    # quoted name when pasted into one), never as SQL text (issue 18 item 5).
    rendered = compiled.steps["customer_orders"].rendered
    assert "then cast(round(o.amount * 100) as bigint) else 0 end) as __toolkit_var_" in rendered
    assert "returned" not in rendered
    final = compiled.steps["customer_orders"].tree.sql("duckdb")
    expected = 'SUM(CASE WHEN o.status = \'returned\' THEN CAST(ROUND(o.amount * 100) AS BIGINT) ELSE 0 END) AS "returned_cents"'
    assert expected in final, final


def test_compiling_touches_no_warehouse(compiled):
    assert not (compiled.project.root / "warehouse" / "shop.duckdb").exists()


def test_content_hash_ignores_formatting_and_metadata(make_project):
    first = compile_project(make_project(PROJECT, name="first")).steps
    edited = dict(PROJECT)
    edited["features/staging/stg_orders.sql"] = (
        PROJECT["features/staging/stg_orders.sql"]
        .replace('description="Orders, cleaned."', 'description="Orders, cleaned up."')
        .replace('tags=["staging"]', 'tags=["staging", "new"]')
        .replace("select order_id", "-- a comment\n    SELECT   order_id")
    )
    second = compile_project(make_project(edited, name="second")).steps
    assert first["stg_orders"].content_hash == second["stg_orders"].content_hash


@pytest.mark.parametrize(
    "old, new",
    [("lower(status)", "upper(status)"), ('materialized="view"', 'materialized="table"'), (">= {{", "> {{")],
)
def test_content_hash_sees_real_changes(make_project, old, new):
    first = compile_project(make_project(PROJECT, name="first")).steps
    edited = {**PROJECT, "features/staging/stg_orders.sql": PROJECT["features/staging/stg_orders.sql"].replace(old, new)}
    second = compile_project(make_project(edited, name="second")).steps
    assert first["stg_orders"].content_hash != second["stg_orders"].content_hash


def test_vars_override_changes_the_loop(make_project):
    from toolkit.compiler import compile_project as compile_

    compiled = compile_(make_project(PROJECT), {"statuses": ["paid"]})
    assert compiled.steps["customer_orders"].columns == ["customer_id", "name", "paid_cents", "orders"]


def compile_error(make_project, files: dict[str, str]) -> ProjectError:
    with pytest.raises(ProjectError) as caught:
        compile_project(make_project({**PROJECT, **files}))
    return caught.value


def test_unknown_column_of_an_upstream_step(make_project):
    error = compile_error(make_project, {"features/x.sql": "select\n  customer_id,\n  nmae\nfrom {{ ref('customer_orders') }}\n"})
    assert (error.file, error.line, error.col) == ("features/x.sql", 3, 3)
    assert error.hint == "did you mean 'name'?"


def test_unknown_column_of_a_source(make_project):
    error = compile_error(make_project, {"features/x.sql": "select amount, stauts\nfrom shop_raw.orders\n"})
    assert (error.file, error.line, error.col) == ("features/x.sql", 1, 16)
    assert error.hint == "did you mean 'status'?"


def test_test_on_a_column_the_step_does_not_output(make_project):
    text = "{{ config(tests={'customer': ['not_null']}) }}\nselect customer_id from {{ ref('stg_orders') }}\n"
    error = compile_error(make_project, {"features/x.sql": text})
    assert "reads 'customer', which is not an output column of x" in error.message
    assert error.hint == "did you mean 'customer_id'?"


def test_undeclared_table(make_project):
    error = compile_error(make_project, {"features/x.sql": "select 1 as y\nfrom shop_raw.payments\n"})
    assert (error.file, error.line) == ("features/x.sql", 2)
    assert "unknown table 'shop_raw.payments'" in error.message


def test_cycle_through_plain_names(make_project):
    error = compile_error(make_project, {
        "features/a.sql": "{{ config(materialized='table') }}\nselect * from features.b\n",
        "features/b.sql": "select * from a\n",
    })
    assert error.message == "dependency cycle: a -> b -> a"
    assert (error.file, error.line) == ("features/a.sql", 2)  # not line 1, where 'b' is a letter of 'table'


def test_seed_and_step_with_one_name(make_project):
    error = compile_error(make_project, {"features/countries.sql": "select 1 as x\n"})
    assert "both a seed" in error.message


def test_malformed_seed_fails_at_compile_time(make_project):
    error = compile_error(make_project, {"warehouse/seeds/countries.csv": "country,region\nDE,Europe\nUS\n"})
    assert (error.file, error.line) == ("warehouse/seeds/countries.csv", 3)


@pytest.mark.parametrize(
    "config, message",
    [
        ("materialized='incremental', incremental_strategy='merge'", "needs a unique_key"),
        ("materialized='incremental', incremental_strategy='upsert'", "unknown incremental_strategy 'upsert'"),
        ("materialized='table', lookback='three days'", "not an interval"),
        ("tags=3", "has the wrong type"),
        ("tests={'x': 'not_null'}", "must be a list"),
        ("tests={'x': ['accepted_values']}", "accepted_values needs values"),
    ],
)
def test_bad_step_config(make_project, config, message):
    error = compile_error(make_project, {"features/x.sql": f"-- x\n{{{{ config({config}) }}}}\nselect 1 as x\n"})
    assert message in error.message
    assert (error.file, error.line) == ("features/x.sql", 2)
