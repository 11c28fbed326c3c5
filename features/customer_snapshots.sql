-- Population spine: one row per (customer, snapshot date) for customers who signed up before the snapshot date.
{{ config(
    materialized="table",
    tags=["spine"],
    description="Customer x snapshot spine with static customer attributes and tenure as of the snapshot.",
    tests={"customer_id": ["not_null"], "snapshot_date": ["not_null"]},
) }}

select
    c.customer_id,
    s.snapshot_date,
    c.country,
    coalesce(r.region, 'other') as region,
    c.acquisition_channel,
    c.marketing_opt_in,
    {{ days_between("c.signed_up_at", "s.snapshot_date") }} as tenure_days
from {{ source("shop", "customers") }} as c
join {{ ref("snapshot_dates") }} as s
    on c.signed_up_at < s.snapshot_date
left join {{ ref("country_regions") }} as r
    on r.country = c.country
