"""Custom data tests: features/tests/*.sql selects the rows that break a rule."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SOURCES = """\
    [app]
    [app.tables.orders]
    columns = { id = "bigint", customer_id = "bigint", amount = "double" }
    [app.tables.customers]
    columns = { customer_id = "bigint" }
    """

ROWS = {
    "app.orders": "select * from (values (1, 1, 10.0), (2, 2, 20.0), (3, 3, 5.0)) as t(id, customer_id, amount)",
    "app.customers": "select * from (values (1), (2), (3)) as t(customer_id)",
}

FILES = {
    "warehouse/sources.toml": SOURCES,
    "features/customers.sql": "select customer_id from {{ source('app', 'customers') }}\n",
    "features/orders.sql": "select id, customer_id, amount from {{ source('app', 'orders') }}\n",
    "features/report.sql": "select o.customer_id, sum(o.amount) as spend\nfrom {{ ref('orders') }} as o\ngroup by o.customer_id\n",
    "features/tests/orders_have_customers.sql": """\
        -- orders whose customer does not exist
        select o.id
        from {{ ref("orders") }} as o
        left join {{ ref("customers") }} as c on c.customer_id = o.customer_id
        where c.customer_id is null
        """,
}


def database(root):
    return duckdb.connect(str(root / "warehouse" / "test.duckdb"), read_only=True)


def test_a_passing_custom_test_is_recorded(make_project, run_cli):
    root = make_project(FILES, ROWS)

    code, out, err = run_cli("run", cwd=root)

    assert code == 0, out + err
    with database(root) as connection:
        rows = connection.execute("select step, test, status, failing_rows from toolkit.test_results").fetchall()
    assert rows == [("orders", "custom(orders_have_customers)", "pass", 0)]


def test_a_failing_custom_test_blocks_the_step_it_runs_with(make_project, run_cli):
    root = make_project(FILES, ROWS)
    assert run_cli("run", cwd=root)[0] == 0
    with duckdb.connect(str(root / "warehouse" / "test.duckdb")) as connection:
        connection.execute("insert into app.orders values (4, 99, 1.0)")

    code, out, err = run_cli("run", cwd=root)

    assert code == 1
    assert "custom(orders_have_customers): 1 failing row (e.g. id=4)" in out
    # The failing SQL is in the test's file (line 2, after its comment), not in features/orders.sql.
    assert "failed   orders (rebuild" in out and "features/orders.sql" not in out, out
    assert "features/tests/orders_have_customers.sql:2: data tests failed on orders, not published" in out, out
    with database(root) as connection:
        assert connection.execute("select count(*) from features.orders").fetchone() == (3,)
        statuses = dict(connection.execute("select step, status from toolkit.step_runs where run_id = 2").fetchall())
    assert statuses["orders"] == "failed" and statuses["report"] == "skipped"


def test_warn_severity_records_without_blocking(make_project, run_cli):
    files = {**FILES, "features/tests/orders_have_customers.sql": "{{ config(severity='warn') }}\n" + FILES["features/tests/orders_have_customers.sql"]}
    root = make_project(files, {**ROWS, "app.orders": ROWS["app.orders"].replace("(3, 3, 5.0)", "(3, 7, 5.0)")})

    code, out, err = run_cli("run", cwd=root)

    assert code == 0, out + err
    assert "warning orders: custom(orders_have_customers) (features/tests/orders_have_customers.sql:3): 1 failing row" in out  # after its config and comment


def test_a_custom_test_reading_nothing_is_a_project_error(make_project, run_cli):
    root = make_project({**FILES, "features/tests/nothing.sql": "select 1 as x\n"}, ROWS)

    code, out, err = run_cli("run", cwd=root)

    assert code == 2
    assert "features/tests/nothing.sql:1" in err and "must read at least one step" in err
    assert "Traceback" not in out + err


def test_a_custom_test_is_not_a_step(make_project, run_cli):
    root = make_project(FILES, ROWS)

    code, out, err = run_cli("ls", cwd=root)

    assert code == 0
    assert "orders_have_customers" not in out
