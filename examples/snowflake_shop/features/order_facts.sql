-- One row per order, with Snowflake-style casts and conditionals.
{{ config(tests={"order_id": ["not_null", "unique"]}) }}
select
    order_id,
    customer_id,
    ordered_at::timestamp as ordered_at,
    ordered_at::date as order_date,
    amount::number(10, 2) as amount,
    iff(status = 'returned', 1, 0) as is_returned,
    iff(status = 'cancelled', 0, amount) as kept_amount,
    dateadd(day, 30, ordered_at::date) as return_deadline,
    datediff(day, ordered_at::date, '2025-01-01'::date) as age_days,
    nvl(coupon, 'none') as coupon,
    zeroifnull(discount::number(10, 2)) as discount
from orders
