-- Recency, frequency, monetary value and return behaviour from each customer's orders placed strictly before the snapshot date.
{{ config(
    materialized="table",
    tags=["features"],
    description="Lifetime order history as of each snapshot: RFM, order rate, return rate and cancellations.",
) }}

select
    s.customer_id,
    s.snapshot_date,
    -- frequency and monetary value: orders that were not cancelled at checkout
    count(case when o.status <> 'cancelled' then o.order_id end) as orders_lifetime,
    round(coalesce(sum(case when o.status <> 'cancelled' then o.order_value end), 0), 2) as spend_lifetime,
    coalesce({{ safe_divide(
        "sum(case when o.status <> 'cancelled' then o.order_value end)",
        "count(case when o.status <> 'cancelled' then o.order_id end)",
    ) }}, 0) as avg_order_value,
    coalesce({{ safe_divide(
        "30 * count(case when o.status <> 'cancelled' then o.order_id end)",
        "greatest(s.tenure_days, 1)",
    ) }}, 0) as orders_per_30d,
    -- recency: days since the last order, or since signing up for customers who never ordered
    coalesce(
        {{ days_between("max(case when o.status <> 'cancelled' then o.ordered_at end)", "s.snapshot_date") }},
        s.tenure_days
    ) as days_since_last_order,
    -- returns count only once they have happened (returned_at), never by today's status
    count(case when {{ before_snapshot("o.returned_at", "s.snapshot_date") }} then o.order_id end) as returns_lifetime,
    round(coalesce(sum(case when {{ before_snapshot("o.returned_at", "s.snapshot_date") }} then o.order_value end), 0), 2)
        as returned_value_lifetime,
    coalesce({{ safe_divide(
        "count(case when " ~ before_snapshot("o.returned_at", "s.snapshot_date") ~ " then o.order_id end)",
        "count(case when o.status <> 'cancelled' then o.order_id end)",
    ) }}, 0) as return_rate,
    count(case when o.status = 'cancelled' then o.order_id end) as cancellations_lifetime
from {{ ref("customer_snapshots") }} as s
left join {{ ref("customer_orders") }} as o
    on o.customer_id = s.customer_id
    and {{ before_snapshot("o.ordered_at", "s.snapshot_date") }}
group by s.customer_id, s.snapshot_date, s.tenure_days
