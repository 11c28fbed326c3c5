-- Share of each customer's spend by category group (category_groups seed) in the 90 days before each snapshot date.
{% set groups = ["essentials", "fashion_beauty", "home_tech", "leisure"] %}
{% set days = 90 %}
{{ config(
    materialized="table",
    tags=["features"],
    description="What customers buy: spend share per category group and distinct categories, last " ~ days ~ " days.",
) }}

with lines as (
    select
        o.customer_id,
        o.ordered_at,
        p.category,
        coalesce(g.category_group, 'other') as category_group,
        i.quantity * i.unit_price as line_value
    from {{ ref("customer_orders") }} as o
    join {{ source("shop", "order_items") }} as i
        on i.order_id = o.order_id
    join {{ source("shop", "products") }} as p
        on p.product_id = i.product_id
    left join {{ ref("category_groups") }} as g
        on g.category = p.category
    where o.status <> 'cancelled'
),

spend as (
    select
        s.customer_id,
        s.snapshot_date,
        sum(l.line_value) as spend_total,
        {%- for group in groups %}
        sum(case when l.category_group = '{{ group }}' then l.line_value end) as spend_{{ group }},
        {%- endfor %}
        count(distinct l.category) as categories_{{ days }}d
    from {{ ref("customer_snapshots") }} as s
    left join lines as l
        on l.customer_id = s.customer_id
        and {{ before_snapshot("l.ordered_at", "s.snapshot_date", days) }}
    group by s.customer_id, s.snapshot_date
)

select
    customer_id,
    snapshot_date,
    {%- for group in groups %}
    coalesce({{ safe_divide("spend_" ~ group, "spend_total") }}, 0) as share_{{ group }}_{{ days }}d,
    {%- endfor %}
    categories_{{ days }}d
from spend
