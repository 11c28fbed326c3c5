/* Monthly snapshot dates: the first of each month from var snapshot_start to var snapshot_end. */
SELECT
  CAST("months"."month_start" AS DATE) AS "snapshot_date"
FROM GENERATE_SERIES(
  CAST(CAST(CAST(DATE_TRUNC('MONTH', CAST('2024-07-01' AS DATE)) AS TIMESTAMP) AS DATE) AS TIMESTAMP),
  CAST(CAST('2025-11-01' AS DATE) AS TIMESTAMP),
  INTERVAL '1 MONTH'
) AS "months"("month_start")
