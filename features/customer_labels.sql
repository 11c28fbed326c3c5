-- Labels, the only step that looks after the snapshot date: churned (no completed order within churn_horizon_days) and next-30-day completed spend.
{% set horizon = var("churn_horizon_days") | int %}
{% set spend_days = 30 %}
{{ config(
    materialized="table",
    tags=["labels"],
    description="churned: no completed order in the " ~ horizon ~ " days from snapshot_date; next_30d_spend: completed spend in the 30 days from it.",
    tests={"churned": ["not_null", {"accepted_values": [0, 1]}], "next_30d_spend": ["not_null"]},
) }}

select
    s.customer_id,
    s.snapshot_date,
    case
        when count(case when {{ after_snapshot("o.ordered_at", "s.snapshot_date", horizon) }} then o.order_id end) = 0 then 1
        else 0
    end as churned,
    round(coalesce(sum(case when {{ after_snapshot("o.ordered_at", "s.snapshot_date", spend_days) }} then o.order_value end), 0), 2)
        as next_30d_spend,
    count(case when {{ after_snapshot("o.ordered_at", "s.snapshot_date", spend_days) }} then o.order_id end) as next_30d_orders
from {{ ref("customer_snapshots") }} as s
left join {{ ref("customer_orders") }} as o
    on o.customer_id = s.customer_id
    and o.status = 'completed'
    and {{ after_snapshot("o.ordered_at", "s.snapshot_date", [horizon, spend_days] | max) }}
-- only snapshots whose whole label window lies inside the data
where s.snapshot_date + interval '{{ [horizon, spend_days] | max }} days' <= (select max(ordered_at) from {{ ref("customer_orders") }})
group by s.customer_id, s.snapshot_date
