-- Every training row belongs to a snapshot date of the spine: a row without one
-- would be a label computed for a date that features were never computed for.
select t.customer_id, t.snapshot_date
from {{ ref("churn_training") }} as t
left join {{ ref("snapshot_dates") }} as s on s.snapshot_date = t.snapshot_date
where s.snapshot_date is null
