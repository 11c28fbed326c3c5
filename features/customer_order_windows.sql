-- Rolling 30- and 90-day order counts, spend and units before each snapshot date, and the recent spend trend.
{% set windows = [30, 90] %}
{{ config(
    materialized="table",
    tags=["features"],
    description="Orders, spend and units in the " ~ windows | join(" and ") ~ " days before each snapshot.",
) }}

with windowed as (
    select
        s.customer_id,
        s.snapshot_date,
        {%- for days in windows %}
        count(case when {{ before_snapshot("o.ordered_at", "s.snapshot_date", days) }} then o.order_id end) as orders_{{ days }}d,
        round(coalesce(sum(case when {{ before_snapshot("o.ordered_at", "s.snapshot_date", days) }} then o.order_value end), 0), 2) as spend_{{ days }}d,
        cast(coalesce(sum(case when {{ before_snapshot("o.ordered_at", "s.snapshot_date", days) }} then o.units end), 0) as bigint) as units_{{ days }}d
        {{- "," if not loop.last }}
        {%- endfor %}
    from {{ ref("customer_snapshots") }} as s
    left join {{ ref("customer_orders") }} as o
        on o.customer_id = s.customer_id
        and o.status <> 'cancelled'
        and {{ before_snapshot("o.ordered_at", "s.snapshot_date", windows | max) }}
    group by s.customer_id, s.snapshot_date
)

select
    customer_id,
    snapshot_date,
    {%- for days in windows %}
    orders_{{ days }}d,
    spend_{{ days }}d,
    units_{{ days }}d,
    {%- endfor %}
    -- > 1: the last 30 days ran above the 90-day pace; 0 when nothing was bought in 90 days
    coalesce({{ safe_divide("3 * spend_30d", "spend_90d") }}, 0) as spend_trend
from windowed
