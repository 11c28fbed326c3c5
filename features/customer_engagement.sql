-- Site and app engagement before each snapshot date: sessions in 30/90 days, time on site, pages, mobile share, days since last visit.
{% set windows = [30, 90] %}
{{ config(
    materialized="table",
    tags=["features"],
    description="Web session engagement over the 30 and 90 days before each snapshot.",
) }}

select
    s.customer_id,
    s.snapshot_date,
    {%- for days in windows %}
    count(case when {{ before_snapshot("w.started_at", "s.snapshot_date", days) }} then w.session_id end) as sessions_{{ days }}d,
    {%- endfor %}
    coalesce(avg(case when {{ before_snapshot("w.started_at", "s.snapshot_date", 30) }} then w.duration_seconds end), 0)
        as avg_session_seconds_30d,
    coalesce(avg(case when {{ before_snapshot("w.started_at", "s.snapshot_date", 30) }} then w.pages_viewed end), 0)
        as avg_pages_30d,
    coalesce({{ safe_divide(
        "count(case when w.device = 'mobile' and " ~ before_snapshot("w.started_at", "s.snapshot_date", 30) ~ " then w.session_id end)",
        "count(case when " ~ before_snapshot("w.started_at", "s.snapshot_date", 30) ~ " then w.session_id end)",
    ) }}, 0) as mobile_share_30d,
    -- only the last 90 days are scanned: 91 means "no visit in the last 90 days"
    coalesce({{ days_between("max(w.started_at)", "s.snapshot_date") }}, {{ (windows | max) + 1 }}) as days_since_last_session
from {{ ref("customer_snapshots") }} as s
left join {{ source("shop", "web_sessions") }} as w
    on w.customer_id = s.customer_id
    and {{ before_snapshot("w.started_at", "s.snapshot_date", windows | max) }}
group by s.customer_id, s.snapshot_date
