WITH "__input14" AS (
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
), "__step15" AS (
  SELECT
    "id",
    (
      "__x0" * CAST('0.001' AS DOUBLE)
    ) + CAST('-0.5' AS DOUBLE) AS "__minmax_2",
    (
      "__x1" * CAST('1.0' AS DOUBLE)
    ) + CAST('0.0' AS DOUBLE) AS "__minmax_3"
  FROM "__input14"
  OFFSET 0
), "__step16" AS (
  SELECT
    "id",
    CASE
      WHEN "__minmax_2" < CAST('0.0' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      WHEN "__minmax_2" > CAST('1.0' AS DOUBLE)
      THEN CAST('1.0' AS DOUBLE)
      ELSE "__minmax_2"
    END AS "__minmaxscaler_4",
    CASE
      WHEN "__minmax_3" < CAST('0.0' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      WHEN "__minmax_3" > CAST('1.0' AS DOUBLE)
      THEN CAST('1.0' AS DOUBLE)
      ELSE "__minmax_3"
    END AS "__minmaxscaler_5"
  FROM "__step15"
  OFFSET 0
), "__step17" AS (
  SELECT
    "id",
    (
      (
        "__minmaxscaler_4" * CAST('1.0' AS DOUBLE)
      ) + (
        "__minmaxscaler_5" * CAST('-2.0' AS DOUBLE)
      )
    ) + CAST('0.25' AS DOUBLE) AS "__decision_6",
    (
      (
        "__minmaxscaler_4" * CAST('0.5' AS DOUBLE)
      ) + (
        "__minmaxscaler_5" * CAST('0.5' AS DOUBLE)
      )
    ) + CAST('0.0' AS DOUBLE) AS "__decision_7",
    (
      (
        "__minmaxscaler_4" * CAST('-1.5' AS DOUBLE)
      ) + (
        "__minmaxscaler_5" * CAST('2.0' AS DOUBLE)
      )
    ) + CAST('-0.25' AS DOUBLE) AS "__decision_8"
  FROM "__step16"
  OFFSET 0
), "__step18" AS (
  SELECT
    "id",
    "__decision_6",
    "__decision_7",
    "__decision_8",
    GREATEST("__decision_6", "__decision_7", "__decision_8") AS "__max_9"
  FROM "__step17"
  OFFSET 0
), "__step19" AS (
  SELECT
    "id",
    "__decision_6",
    "__decision_7",
    "__decision_8",
    "__max_9",
    EXP(
      CASE
        WHEN (
          "__decision_6" - "__max_9"
        ) < CAST('-700.0' AS DOUBLE)
        THEN CAST('-700.0' AS DOUBLE)
        WHEN (
          "__decision_6" - "__max_9"
        ) > CAST('700.0' AS DOUBLE)
        THEN CAST('700.0' AS DOUBLE)
        ELSE "__decision_6" - "__max_9"
      END
    ) AS "__exp_10",
    EXP(
      CASE
        WHEN (
          "__decision_7" - "__max_9"
        ) < CAST('-700.0' AS DOUBLE)
        THEN CAST('-700.0' AS DOUBLE)
        WHEN (
          "__decision_7" - "__max_9"
        ) > CAST('700.0' AS DOUBLE)
        THEN CAST('700.0' AS DOUBLE)
        ELSE "__decision_7" - "__max_9"
      END
    ) AS "__exp_11",
    EXP(
      CASE
        WHEN (
          "__decision_8" - "__max_9"
        ) < CAST('-700.0' AS DOUBLE)
        THEN CAST('-700.0' AS DOUBLE)
        WHEN (
          "__decision_8" - "__max_9"
        ) > CAST('700.0' AS DOUBLE)
        THEN CAST('700.0' AS DOUBLE)
        ELSE "__decision_8" - "__max_9"
      END
    ) AS "__exp_12"
  FROM "__step18"
  OFFSET 0
), "__step20" AS (
  SELECT
    "id",
    "__decision_6",
    "__decision_7",
    "__decision_8",
    "__max_9",
    "__exp_10",
    "__exp_11",
    "__exp_12",
    "__exp_10" + "__exp_11" + "__exp_12" AS "__sum_13"
  FROM "__step19"
  OFFSET 0
)
SELECT
  "id",
  CASE
    WHEN "__decision_6" = "__max_9"
    THEN 'high'
    WHEN "__decision_7" = "__max_9"
    THEN 'low'
    WHEN "__decision_8" = "__max_9"
    THEN 'mid'
  END AS "prediction",
  "__exp_10" / "__sum_13" AS "proba_high",
  "__exp_11" / "__sum_13" AS "proba_low",
  "__exp_12" / "__sum_13" AS "proba_mid"
FROM "__step20"
