-- Each customer's most recent order: QUALIFY filters on a window function.
select customer_id, order_id, ordered_at, amount
from order_facts
qualify row_number() over (partition by customer_id order by ordered_at desc, order_id desc) = 1
