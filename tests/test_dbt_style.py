"""A dbt project's models run unchanged once moved into features/.

The models are written the way dbt's own example project (jaffle_shop) writes them:
CTE chains, `ref()` to seeds and models, `{% set %}`, Jinja for-loops with
whitespace control, `config()` in the model. Only the files moved: models/*.sql ->
features/, seeds/*.csv -> warehouse/seeds/.
"""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

SEEDS = {
    "warehouse/seeds/raw_customers.csv": """\
        id,first_name,last_name
        1,Michael,P.
        2,Shawn,M.
        3,Kathleen,P.
        """,
    "warehouse/seeds/raw_orders.csv": """\
        id,user_id,order_date,status
        1,1,2018-01-01,returned
        2,3,2018-01-02,completed
        3,1,2018-01-04,completed
        4,2,2018-01-05,completed
        """,
    "warehouse/seeds/raw_payments.csv": """\
        id,order_id,payment_method,amount
        1,1,credit_card,1000
        2,2,credit_card,2000
        3,3,coupon,100
        4,3,credit_card,300
        5,4,bank_transfer,2500
        """,
}

MODELS = {
    "features/staging/stg_customers.sql": """\
        with source as (

            {#-
            Normally we would select from the table here, but we are using seeds to load
            our data in this project
            #}
            select * from {{ ref('raw_customers') }}

        ),

        renamed as (

            select
                id as customer_id,
                first_name,
                last_name

            from source

        )

        select * from renamed
        """,
    "features/staging/stg_orders.sql": """\
        with source as (
            select * from {{ ref('raw_orders') }}
        ),

        renamed as (
            select
                id as order_id,
                user_id as customer_id,
                order_date,
                status
            from source
        )

        select * from renamed
        """,
    "features/staging/stg_payments.sql": """\
        with source as (
            select * from {{ ref('raw_payments') }}
        ),

        renamed as (
            select
                id as payment_id,
                order_id,
                payment_method,
                -- `amount` is currently stored in cents, so we convert it to dollars
                amount / 100 as amount
            from source
        )

        select * from renamed
        """,
    "features/orders.sql": """\
        {{ config(materialized='table') }}
        {% set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}

        with orders as (
            select * from {{ ref('stg_orders') }}
        ),

        payments as (
            select * from {{ ref('stg_payments') }}
        ),

        order_payments as (
            select
                order_id,
                {% for payment_method in payment_methods -%}
                sum(case when payment_method = '{{ payment_method }}' then amount else 0 end) as {{ payment_method }}_amount,
                {% endfor -%}
                sum(amount) as total_amount
            from payments
            group by order_id
        ),

        final as (
            select
                orders.order_id,
                orders.customer_id,
                orders.order_date,
                orders.status,
                {% for payment_method in payment_methods -%}
                order_payments.{{ payment_method }}_amount,
                {% endfor -%}
                order_payments.total_amount as amount
            from orders
            left join order_payments
                on orders.order_id = order_payments.order_id
        )

        select * from final
        """,
    "features/customers.sql": """\
        with customers as (
            select * from {{ ref('stg_customers') }}
        ),

        orders as (
            select * from {{ ref('stg_orders') }}
        ),

        payments as (
            select * from {{ ref('stg_payments') }}
        ),

        customer_orders as (
            select
                customer_id,
                min(order_date) as first_order,
                max(order_date) as most_recent_order,
                count(order_id) as number_of_orders
            from orders
            group by customer_id
        ),

        customer_payments as (
            select
                orders.customer_id,
                sum(amount) as total_amount
            from payments
            left join orders on
                 payments.order_id = orders.order_id
            group by orders.customer_id
        ),

        final as (
            select
                customers.customer_id,
                customers.first_name,
                customers.last_name,
                customer_orders.first_order,
                customer_orders.most_recent_order,
                customer_orders.number_of_orders,
                customer_payments.total_amount as customer_lifetime_value
            from customers
            left join customer_orders
                on customers.customer_id = customer_orders.customer_id
            left join customer_payments
                on  customers.customer_id = customer_payments.customer_id
        )

        select * from final
        """,
}


def test_jaffle_shop_models_run_unchanged(make_project, run_cli):
    root = make_project({**SEEDS, **MODELS})

    code, out, err = run_cli("run", cwd=root)

    assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse" / "test.duckdb"), read_only=True) as connection:
        customers = connection.execute(
            "select customer_id, number_of_orders, customer_lifetime_value from features.customers order by 1"
        ).fetchall()
        orders = connection.execute(
            "select order_id, credit_card_amount, coupon_amount, gift_card_amount, amount from features.orders order by 1"
        ).fetchall()
    assert customers == [(1, 2, 14.0), (2, 1, 25.0), (3, 1, 20.0)]
    assert orders == [(1, 10.0, 0.0, 0.0, 10.0), (2, 20.0, 0.0, 0.0, 20.0), (3, 3.0, 1.0, 0.0, 4.0), (4, 0.0, 0.0, 0.0, 25.0)]

