-- Churn training table: all features plus the churn label, for customers active (an order in the 90 days) before the snapshot.
{{ config(
    materialized="table",
    tags=["training"],
    description="One row per (customer_id, snapshot_date) of active customers; label churned (1 = no completed order within churn_horizon_days).",
    tests={"customer_id": ["not_null", {"relationships": {"to": "shop.customers", "field": "customer_id"}}],
           "churned": ["not_null", {"accepted_values": [0, 1]}]},
    table_tests=[{"unique": ["customer_id", "snapshot_date"]}],
) }}

select
    f.*,
    l.churned
from {{ ref("customer_features") }} as f
join {{ ref("customer_labels") }} as l
    on l.customer_id = f.customer_id and l.snapshot_date = f.snapshot_date
where f.orders_90d > 0
