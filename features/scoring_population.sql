-- Who the models score: every customer as of the latest snapshot date, with all features.
{{ config(
    materialized="view",
    tags=["scoring"],
    description="customer_features at the latest snapshot: the rows predictions are written for.",
) }}

select f.*
from {{ ref("customer_features") }} as f
where f.snapshot_date = (select max(snapshot_date) from {{ ref("customer_features") }})
