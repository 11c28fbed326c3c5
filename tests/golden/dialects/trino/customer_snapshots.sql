/* Population spine: one row per (customer, snapshot date) for customers who signed up before the snapshot date. */
SELECT
  "c"."customer_id" AS "customer_id",
  "s"."snapshot_date" AS "snapshot_date",
  "c"."country" AS "country",
  COALESCE("r"."region", 'other') AS "region",
  "c"."acquisition_channel" AS "acquisition_channel",
  "c"."marketing_opt_in" AS "marketing_opt_in",
  DATE_DIFF(
    'DAY',
    DATE_TRUNC('DAY', CAST("c"."signed_up_at" AS DATE)),
    DATE_TRUNC('DAY', CAST("s"."snapshot_date" AS DATE))
  ) AS "tenure_days"
FROM "shop"."customers" AS "c"
JOIN "features"."snapshot_dates" AS "s"
  ON "c"."signed_up_at" < "s"."snapshot_date"
LEFT JOIN "raw"."country_regions" AS "r"
  ON "r"."country" = "c"."country"
