-- Spend training table: all features plus completed spend in the next 30 days, for customers with at least one earlier order.
{{ config(
    materialized="table",
    tags=["training"],
    description="One row per (customer_id, snapshot_date) of customers who have ordered before; label next_30d_spend (0 when they bought nothing).",
    tests={"customer_id": ["not_null"], "next_30d_spend": ["not_null"]},
) }}

select
    f.*,
    l.next_30d_spend
from {{ ref("customer_features") }} as f
join {{ ref("customer_labels") }} as l
    on l.customer_id = f.customer_id and l.snapshot_date = f.snapshot_date
where f.orders_lifetime > 0
