-- Monthly snapshot dates: the first of each month from var snapshot_start to var snapshot_end.
{{ config(
    materialized="view",
    tags=["spine"],
    description="One row per snapshot date (a month start); features are computed as of these dates.",
    tests={"snapshot_date": ["not_null", "unique"]},
) }}

select cast(months.month_start as date) as snapshot_date
from generate_series(
    cast(date_trunc('month', cast('{{ var("snapshot_start") }}' as date)) as date),
    cast('{{ var("snapshot_end") }}' as date),
    interval '1 month'
) as months(month_start)
