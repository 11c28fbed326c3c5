WITH "__input4" AS (
  SELECT
    "id",
    NULLIF(CAST("x2" AS DOUBLE), CAST('NaN' AS DOUBLE)) AS "__x0",
    CASE
      WHEN "b5"
      THEN CAST('1.0' AS DOUBLE)
      WHEN NOT "b5"
      THEN CAST('0.0' AS DOUBLE)
    END AS "__x1"
  FROM "features"."rows"
  OFFSET 0
), "__step5" AS (
  SELECT
    "id",
    (
      "__x0" - CAST('1000.0' AS DOUBLE)
    ) / CAST('250.0' AS DOUBLE) AS "__standardscaler_2",
    (
      "__x1" - CAST('0.4' AS DOUBLE)
    ) / CAST('0.5' AS DOUBLE) AS "__standardscaler_3"
  FROM "__input4"
  OFFSET 0
)
SELECT
  "id",
  (
    (
      "__standardscaler_2" * CAST('1.5' AS DOUBLE)
    ) + (
      "__standardscaler_3" * CAST('-0.25' AS DOUBLE)
    )
  ) + CAST('3.0' AS DOUBLE) AS "prediction"
FROM "__step5"
