-- Shop-wide daily KPIs by order date (orders, buyers, gross revenue, cancellations), appended incrementally.
{% set lookback = "3 days" %}
{{ config(
    materialized="incremental",
    time_column="order_date",
    lookback=lookback,
    tags=["reporting"],
    description="Daily order KPIs for dashboards. Each run recomputes the last " ~ lookback ~ " to pick up late-arriving orders.",
    tests={"order_date": ["not_null", "unique"]},
) }}

select
    order_date,
    count(*) as orders,
    count(distinct customer_id) as buyers,
    count(case when status = 'cancelled' then order_id end) as cancelled_orders,
    round(coalesce(sum(case when status <> 'cancelled' then order_value end), 0), 2) as gross_revenue,
    coalesce({{ safe_divide("sum(case when status <> 'cancelled' then order_value end)", "count(case when status <> 'cancelled' then order_id end)") }}, 0)
        as avg_order_value,
    cast(sum(case when status <> 'cancelled' then units else 0 end) as bigint) as units_sold
from {{ ref("customer_orders") }}
{# no is_incremental() filter: toolkit narrows the query to the lookback window itself #}
group by order_date
