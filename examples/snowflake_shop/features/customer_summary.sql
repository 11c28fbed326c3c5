select
    c.customer_id,
    c.country,
    c.signed_up::date as signed_up,
    count(o.order_id) as orders,
    count_if(o.is_returned = 1) as returns,
    zeroifnull(sum(o.kept_amount)) as spend,
    div0(sum(o.discount), count(o.order_id)) as discount_per_order,
    greatest(max(o.age_days), 0) as days_since_first_order,
    l.ordered_at as last_ordered_at,
    date_trunc('month', l.ordered_at) as last_order_month
from customers as c
left join order_facts as o on o.customer_id = c.customer_id
left join latest_order as l on l.customer_id = c.customer_id
group by c.customer_id, c.country, c.signed_up, l.ordered_at
