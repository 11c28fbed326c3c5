"""`toolkit import-dbt`: a dbt project written here is converted, built with `toolkit run`
on DuckDB, and every table equals the rows dbt would build; bad input is exit 2.

The project has models in folders with dbt_project.yml configs (view, table,
incremental with unique_key), a project macro folder and a vendored package's macros,
a docs block, seeds in subfolders with +column_types, a source with an identifier,
generic tests (dbt_utils ones too), a singular test, a unit test and vars.
"""

from __future__ import annotations

import duckdb
import pytest

from _projects import cli, write

DBT_PROJECT = {
    "dbt_project.yml": """\
        name: shop
        version: '1.0'
        config-version: 2
        profile: shop
        vars:
          min_amount: 0
          shop:
            big_order: 15
        models:
          shop:
            +materialized: view
            staging:
              +tags: ["staging"]
            marts:
              +materialized: table
              +sort: id
              orders_inc:
                +materialized: incremental
                +unique_key: order_id
        seeds:
          shop:
            raw:
              +column_types:
                amount: double
                code: varchar
        on-run-end:
          - "select 1"
        """,
    "packages.yml": """\
        packages:
          - package: dbt-labs/dbt_utils
            version: 1.1.1
          - package: acme/money
            version: 0.1.0
          - package: calogica/dbt_date
            version: 0.10.0
        """,
    "dbt_packages/money/dbt_project.yml": "name: money\nversion: '0.1.0'\n",
    "dbt_packages/money/macros/dollars.sql": "{% macro to_dollars(col) %}({{ col }} / 100.0){% endmacro %}\n",
    "dbt_packages/money/models/unused.sql": "select 1 as x\n",
    "macros/utils/cents.sql": """\
        {% macro cents(col) %}({{ col }} * 100){% endmacro %}

        {% test is_even(model, column_name) %}
        select * from {{ model }} where {{ column_name }} % 2 = 1
        {% endtest %}
        """,
    "seeds/raw/raw_payments.csv": """\
        id,order_id,amount,code
        1,1,10,007
        2,2,20,008
        3,2,5,009
        4,4,7,010
        """,
    "seeds/lookup/status_names.csv": """\
        status,label
        completed,Completed
        returned,Returned
        placed,Placed
        """,
    "models/staging/sources.yml": """\
        version: 2
        sources:
          - name: jaffle
            schema: raw_src
            tables:
              - name: orders
                identifier: raw_orders
                description: Orders as the shop writes them.
                columns:
                  - name: id
                    data_type: integer
                    tests: [not_null, unique]
                  - name: customer_id
                    data_type: integer
                  - name: status
                    data_type: varchar
        """,
    "models/staging/stg_orders.sql": """\
        select id as order_id, customer_id, status
        from {{ source('jaffle', 'orders') }}
        """,
    "models/staging/stg_payments.sql": """\
        {{ config(materialized='table') }}
        select order_id, {{ cents('amount') }} as amount_cents, code
        from {{ ref('raw_payments') }}
        where amount >= {{ var('min_amount') }}
        """,
    "models/marts/orders.sql": """\
        with payments as (
            select order_id, sum(amount_cents) as cents from {{ ref('stg_payments') }} group by order_id
        )
        select o.order_id, o.customer_id, n.label as status,
               coalesce({{ money.to_dollars('p.cents') }}, 0) as amount,
               coalesce(p.cents, 0) >= {{ var('big_order') }} * 100 as big
        from {{ ref('stg_orders') }} as o
        left join payments as p on p.order_id = o.order_id
        left join {{ ref('status_names') }} as n on n.status = o.status
        """,
    "models/marts/orders_inc.sql": """\
        select order_id, amount from {{ ref('orders') }}
        {% if is_incremental() %}
        where order_id > (select max(order_id) from {{ this }})
        {% endif %}
        """,
    "models/marts/customer_ltv.py": "def model(dbt, session):\n    return dbt.ref('orders')\n",
    "models/marts/docs.md": "{% docs orders_doc %}\nOne row per order, with what was paid.\n{% enddocs %}\n",
    "models/marts/schema.yml": """\
        version: 2
        models:
          - name: orders
            description: '{{ doc("orders_doc") }}'
            data_tests:
              - dbt_utils.expression_is_true:
                  expression: "amount >= 0"
              - dbt_utils.unique_combination_of_columns:
                  combination_of_columns: [order_id, customer_id]
            columns:
              - name: order_id
                description: The order's key.
                data_tests: [unique, not_null]
              - name: status
                tests:
                  - accepted_values:
                      values: ['Completed', 'Returned']
                      config:
                        severity: warn
              - name: amount
                tests:
                  - dbt_utils.accepted_range:
                      min_value: 0
                  - dbt_utils.not_null_proportion:
                      at_least: 0.9
              - name: customer_id
                tests:
                  - relationships:
                      to: source('jaffle', 'orders')
                      field: customer_id
                  - is_even
          - name: orders_inc
            columns:
              - name: order_id
                tests:
                  - relationships:
                      to: ref('orders')
                      field: order_id
        unit_tests:
          - name: orders_add_up_payments
            model: orders
            given:
              - input: ref('stg_orders')
                rows:
                  - {order_id: 1, customer_id: 1, status: completed}
                  - {order_id: 2, customer_id: 2, status: placed}
              - input: ref('stg_payments')
                format: csv
                rows: |
                  order_id,amount_cents,code
                  1,1000,a
                  1,500,b
              - input: ref('status_names')
                rows:
                  - {status: completed, label: Completed}
            expect:
              rows:
                - {order_id: 1, amount: 15.0, big: true}
                - {order_id: 2, amount: 0.0, big: false}
        """,
    "tests/assert_amount_not_negative.sql": "select * from {{ ref('orders') }} where amount < 0\n",
    "snapshots/orders_snapshot.sql": "{% snapshot orders_snapshot %}select 1{% endsnapshot %}\n",
}

SOURCE_ROWS = "select * from (values (1, 2, 'completed'), (2, 4, 'returned'), (3, 6, 'placed'), (4, 8, 'completed')) t(id, customer_id, status)"


def _import(tmp_path, files=DBT_PROJECT, *extra):
    write(tmp_path / "dbt", files)
    return cli("import-dbt", str(tmp_path / "dbt"), str(tmp_path / "out"), *extra)


def _rows(database, sql):
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_converted_project_builds_the_tables_dbt_would(tmp_path):
    result = _import(tmp_path)
    assert result.code == 0, result
    out = tmp_path / "out"
    assert "the converted project compiles: 4 steps, 2 seeds" in result.out
    database = out / "warehouse" / "shop.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema raw_src")
        con.execute(f"create table raw_src.raw_orders as {SOURCE_ROWS}")
    run = cli("run", "-p", str(out))
    assert run.code == 0, run

    assert _rows(database, "select * from features.stg_orders order by 1") == [
        (1, 2, "completed"), (2, 4, "returned"), (3, 6, "placed"), (4, 8, "completed")]
    assert _rows(database, "select * from features.stg_payments order by 1, 2") == [
        (1, 1000.0, "007"), (2, 500.0, "009"), (2, 2000.0, "008"), (4, 700.0, "010")]  # code stays varchar: +column_types
    assert _rows(database, "select * from features.orders order by 1") == [
        (1, 2, "Completed", 10.0, False), (2, 4, "Returned", 25.0, True), (3, 6, "Placed", 0.0, False), (4, 8, "Completed", 7.0, False)]
    assert _rows(database, "select * from features.orders_inc order by 1") == [(1, 10.0), (2, 25.0), (3, 0.0), (4, 7.0)]
    assert _rows(database, "select table_type from information_schema.tables where table_schema = 'features' and table_name = 'stg_orders'") == [("VIEW",)]
    tests = dict(_rows(database, "select test, status from toolkit.test_results"))
    assert tests["custom(assert_amount_not_negative)"] == "pass"
    assert tests["custom(orders__not_null_proportion__amount)"] == "pass"
    assert tests["custom(orders__unique_combination_of_columns)"] == "pass"
    assert tests["accepted_values(status)"] == "warn"  # 'Placed': severity warn, as in dbt
    assert tests["relationships(customer_id)"] == "pass"
    assert tests["not_null(id)"] == "pass" and tests["between(amount)"] == "pass"
    unit = cli("test", "--unit", "-p", str(out))
    assert unit.code == 0 and "1 passed" in unit.out, unit

    orders = (out / "features" / "marts" / "orders.sql").read_text()
    assert "materialized='table'" in orders and "One row per order, with what was paid." in orders
    assert "The order's key." in orders  # column descriptions: config(columns=...)
    assert "unique_key='order_id'" in (out / "features" / "marts" / "orders_inc.sql").read_text()
    assert "tags=['staging']" in (out / "features" / "staging" / "stg_orders.sql").read_text()
    assert "big_order = 15" in (out / "toolkit.toml").read_text()
    report = (out / "IMPORT_REPORT.md").read_text()
    for expected in ("on-run-end", "orders_snapshot", "customer_ltv", "is_even", "calogica/dbt_date", "sort (`orders`)", "models of money"):
        assert expected in report, expected
    assert (out / "dbt_unconverted" / "models" / "marts" / "customer_ltv.py").is_file()


def test_source_identifier_and_seed_types_are_written(tmp_path):
    assert _import(tmp_path).code == 0
    out = tmp_path / "out"
    sources = (out / "warehouse" / "sources.toml").read_text()
    assert "[jaffle.tables.raw_orders]" in sources and 'schema = "raw_src"' in sources
    assert "source('jaffle', 'raw_orders')" in (out / "features" / "staging" / "stg_orders.sql").read_text()
    assert 'code = "varchar"' in (out / "warehouse" / "seeds.toml").read_text()
    assert (out / "warehouse" / "seeds" / "status_names.csv").is_file()
    assert (out / "features" / "macros" / "money" / "dollars.sql").is_file()
    assert (out / "features" / "macros" / "utils" / "cents.sql").is_file()


@pytest.mark.parametrize("files, message", [
    ({"models/a.sql": "select 1"}, "no dbt_project.yml"),
    ({"dbt_project.yml": "name: shop\nmodels:\n  shop: [unclosed\n"}, "dbt_project.yml:4"),
    ({"dbt_project.yml": "version: 2\n"}, "dbt_project.yml: name must be a project name"),
    ({"dbt_project.yml": "name: shop\n", "models/schema.yml": "version: 2\nmodels:\n  - name: a\n    columns: [\n"},
     "models/schema.yml:5"),
    ({"dbt_project.yml": "name: shop\n", "models/schema.yml": "version: 2\nmodels:\n  name: a\n"},
     "models/schema.yml:2: 'models' must be a list"),
])
def test_bad_input_is_exit_2_at_file_and_line(tmp_path, files, message):
    result = _import(tmp_path, files)
    assert result.code == 2, result
    assert message in result.err and "Traceback" not in result.err, result
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_an_existing_non_empty_out_dir_is_refused(tmp_path):
    write(tmp_path / "out", {"keep.txt": "mine"})
    result = _import(tmp_path, {"dbt_project.yml": "name: shop\n"})
    assert result.code == 2 and "already exists and is not empty" in result.err, result
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_an_out_dir_that_cannot_be_written_is_exit_2(tmp_path):
    """Was "internal error: FileNotFoundError" (exit 1) for /proc/x; a file where the parent folder should be too."""
    write(tmp_path / "dbt", {"dbt_project.yml": "name: shop\n", "models/a.sql": "select 1 as a\n"})
    (tmp_path / "afile").write_text("not a folder")
    for out in ("/proc/x", str(tmp_path / "afile" / "out")):
        result = cli("import-dbt", str(tmp_path / "dbt"), out)
        assert result.code == 2 and f"cannot write {out}" in result.err and "internal error" not in result.err, result


def test_the_report_names_every_line_of_a_seed_that_dbt_would_read_as_null(tmp_path):
    files = {"dbt_project.yml": "name: shop\n", "seeds/countries.csv": "code,name\nde,Germany\nxx,\nyy,null\nfr,France\nzz,NULL\n"}
    assert _import(tmp_path, files).code == 0
    report = (tmp_path / "out" / "IMPORT_REPORT.md").read_text()
    assert "seeds/countries.csv:3" in report and "(and 2 more: lines 4, 6)" in report
