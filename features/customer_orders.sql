-- Order facts: one row per order with its item value, units and line count and the customer's order sequence number.
{{ config(
    materialized="table",
    tags=["orders"],
    description="Orders enriched with their order-line totals. Cancellations happen at checkout; returns happen later, at returned_at.",
    tests={
        "order_id": ["not_null", "unique"],
        "status": [{"accepted_values": ["completed", "returned", "cancelled"]}],
    },
) }}

with lines as (
    select
        order_id,
        count(*) as line_count,
        cast(sum(quantity) as bigint) as units,
        sum(quantity * unit_price) as items_value
    from {{ source("shop", "order_items") }}
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    o.ordered_at,
    cast(o.ordered_at as date) as order_date,
    o.status,
    o.channel,
    o.returned_at,
    row_number() over (partition by o.customer_id order by o.ordered_at, o.order_id) as order_number,
    coalesce(l.line_count, 0) as line_count,
    coalesce(l.units, 0) as units,
    round(coalesce(l.items_value, 0), 2) as order_value,
    o.shipping_fee
from {{ source("shop", "orders") }} as o
left join lines as l
    on l.order_id = o.order_id
