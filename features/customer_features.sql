-- All customer features per (customer_id, snapshot_date), one wide row: the input to training and to scoring the latest snapshot.
{{ config(
    materialized="table",
    tags=["features"],
    description="Every feature as of each snapshot date; uses only events strictly before snapshot_date.",
    tests={"customer_id": ["not_null"], "snapshot_date": ["not_null"]},
) }}

select
    s.customer_id,
    s.snapshot_date,
    -- who they are
    s.country,
    s.region,
    s.acquisition_channel,
    s.marketing_opt_in,
    s.tenure_days,
    -- lifetime history
    r.orders_lifetime,
    r.spend_lifetime,
    r.avg_order_value,
    r.orders_per_30d,
    r.days_since_last_order,
    r.returns_lifetime,
    r.returned_value_lifetime,
    r.return_rate,
    r.cancellations_lifetime,
    -- recent activity
    w.orders_30d,
    w.spend_30d,
    w.units_30d,
    w.orders_90d,
    w.spend_90d,
    w.units_90d,
    w.spend_trend,
    -- what they buy
    m.share_essentials_90d,
    m.share_fashion_beauty_90d,
    m.share_home_tech_90d,
    m.share_leisure_90d,
    m.categories_90d,
    -- how they browse
    e.sessions_30d,
    e.sessions_90d,
    e.avg_session_seconds_30d,
    e.avg_pages_30d,
    e.mobile_share_30d,
    e.days_since_last_session
from {{ ref("customer_snapshots") }} as s
join {{ ref("customer_rfm") }} as r
    on r.customer_id = s.customer_id and r.snapshot_date = s.snapshot_date
join {{ ref("customer_order_windows") }} as w
    on w.customer_id = s.customer_id and w.snapshot_date = s.snapshot_date
join {{ ref("customer_category_mix") }} as m
    on m.customer_id = s.customer_id and m.snapshot_date = s.snapshot_date
join {{ ref("customer_engagement") }} as e
    on e.customer_id = s.customer_id and e.snapshot_date = s.snapshot_date
