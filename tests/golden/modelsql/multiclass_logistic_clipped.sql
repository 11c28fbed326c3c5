WITH "__input20" AS (
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
), "__step21" AS (
  SELECT
    "id",
    CASE
      WHEN ABS("__x0") < CAST('2.47e-321' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      ELSE "__x0" * CAST('0.001' AS DOUBLE)
    END + CAST('-0.5' AS DOUBLE) AS "__minmax_2",
    (
      "__x1" * CAST('1.0' AS DOUBLE)
    ) + CAST('0.0' AS DOUBLE) AS "__minmax_3"
  FROM "__input20"
  OFFSET 0
), "__step22" AS (
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
  FROM "__step21"
  OFFSET 0
), "__step23" AS (
  SELECT
    "id",
    "__minmaxscaler_4",
    "__minmaxscaler_5",
    GREATEST(
      ABS("__minmaxscaler_4" * CAST('1.0' AS DOUBLE)),
      ABS(
        CASE
          WHEN "__minmaxscaler_5" >= CAST('8.98846567431158e+307' AS DOUBLE)
          THEN CAST('-Infinity' AS DOUBLE)
          WHEN "__minmaxscaler_5" <= CAST('-8.98846567431158e+307' AS DOUBLE)
          THEN CAST('Infinity' AS DOUBLE)
          ELSE "__minmaxscaler_5" * CAST('-2.0' AS DOUBLE)
        END
      )
    ) >= CAST('2.247116418577895e+307' AS DOUBLE) AS "__big_6",
    GREATEST(
      ABS(
        CASE
          WHEN ABS("__minmaxscaler_4") < CAST('1e-323' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__minmaxscaler_4" * CAST('0.5' AS DOUBLE)
        END
      ),
      ABS(
        CASE
          WHEN ABS("__minmaxscaler_5") < CAST('1e-323' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__minmaxscaler_5" * CAST('0.5' AS DOUBLE)
        END
      )
    ) >= CAST('2.247116418577895e+307' AS DOUBLE) AS "__big_7",
    GREATEST(
      ABS(
        CASE
          WHEN "__minmaxscaler_4" >= CAST('1.1984620899082105e+308' AS DOUBLE)
          THEN CAST('-Infinity' AS DOUBLE)
          WHEN "__minmaxscaler_4" <= CAST('-1.1984620899082105e+308' AS DOUBLE)
          THEN CAST('Infinity' AS DOUBLE)
          ELSE "__minmaxscaler_4" * CAST('-1.5' AS DOUBLE)
        END
      ),
      ABS(
        CASE
          WHEN "__minmaxscaler_5" >= CAST('8.98846567431158e+307' AS DOUBLE)
          THEN CAST('Infinity' AS DOUBLE)
          WHEN "__minmaxscaler_5" <= CAST('-8.98846567431158e+307' AS DOUBLE)
          THEN CAST('-Infinity' AS DOUBLE)
          ELSE "__minmaxscaler_5" * CAST('2.0' AS DOUBLE)
        END
      )
    ) >= CAST('2.247116418577895e+307' AS DOUBLE) AS "__big_8"
  FROM "__step22"
  OFFSET 0
), "__step24" AS (
  SELECT
    "id",
    "__minmaxscaler_4",
    "__minmaxscaler_5",
    "__big_6",
    "__big_7",
    "__big_8",
    CASE
      WHEN "__big_6"
      THEN (
        CASE
          WHEN ABS("__minmaxscaler_4") < CAST('9.332636185032189e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE (
            "__minmaxscaler_4" * CAST('1.0' AS DOUBLE)
          ) * CAST('5.421010862427522e-20' AS DOUBLE)
        END + CASE
          WHEN ABS("__minmaxscaler_5") < CAST('4.6663180925160944e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE CASE
            WHEN "__minmaxscaler_5" >= CAST('8.98846567431158e+307' AS DOUBLE)
            THEN CAST('-Infinity' AS DOUBLE)
            WHEN "__minmaxscaler_5" <= CAST('-8.98846567431158e+307' AS DOUBLE)
            THEN CAST('Infinity' AS DOUBLE)
            ELSE "__minmaxscaler_5" * CAST('-2.0' AS DOUBLE)
          END * CAST('5.421010862427522e-20' AS DOUBLE)
        END
      ) + CAST('1.3552527156068805e-20' AS DOUBLE)
    END AS "__scaled_9",
    CASE
      WHEN "__big_7"
      THEN (
        CASE
          WHEN ABS("__minmaxscaler_4") < CAST('1.8665272370064378e-301' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE CASE
            WHEN ABS("__minmaxscaler_4") < CAST('1e-323' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE "__minmaxscaler_4" * CAST('0.5' AS DOUBLE)
          END * CAST('5.421010862427522e-20' AS DOUBLE)
        END + CASE
          WHEN ABS("__minmaxscaler_5") < CAST('1.8665272370064378e-301' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE CASE
            WHEN ABS("__minmaxscaler_5") < CAST('1e-323' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE "__minmaxscaler_5" * CAST('0.5' AS DOUBLE)
          END * CAST('5.421010862427522e-20' AS DOUBLE)
        END
      ) + CAST('0.0' AS DOUBLE)
    END AS "__scaled_10",
    CASE
      WHEN "__big_8"
      THEN (
        CASE
          WHEN ABS("__minmaxscaler_4") < CAST('6.221757456688126e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE CASE
            WHEN "__minmaxscaler_4" >= CAST('1.1984620899082105e+308' AS DOUBLE)
            THEN CAST('-Infinity' AS DOUBLE)
            WHEN "__minmaxscaler_4" <= CAST('-1.1984620899082105e+308' AS DOUBLE)
            THEN CAST('Infinity' AS DOUBLE)
            ELSE "__minmaxscaler_4" * CAST('-1.5' AS DOUBLE)
          END * CAST('5.421010862427522e-20' AS DOUBLE)
        END + CASE
          WHEN ABS("__minmaxscaler_5") < CAST('4.6663180925160944e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE CASE
            WHEN "__minmaxscaler_5" >= CAST('8.98846567431158e+307' AS DOUBLE)
            THEN CAST('Infinity' AS DOUBLE)
            WHEN "__minmaxscaler_5" <= CAST('-8.98846567431158e+307' AS DOUBLE)
            THEN CAST('-Infinity' AS DOUBLE)
            ELSE "__minmaxscaler_5" * CAST('2.0' AS DOUBLE)
          END * CAST('5.421010862427522e-20' AS DOUBLE)
        END
      ) + CAST('-1.3552527156068805e-20' AS DOUBLE)
    END AS "__scaled_11"
  FROM "__step23"
  OFFSET 0
), "__step25" AS (
  SELECT
    "id",
    CASE
      WHEN "__big_6"
      THEN CASE
        WHEN ABS("__scaled_9") > CAST('9.745314011399998e+288' AS DOUBLE)
        THEN "__scaled_9" * CAST('Infinity' AS DOUBLE)
        ELSE "__scaled_9" * CAST('1.8446744073709552e+19' AS DOUBLE)
      END
      ELSE (
        (
          "__minmaxscaler_4" * CAST('1.0' AS DOUBLE)
        ) + CASE
          WHEN "__minmaxscaler_5" >= CAST('8.98846567431158e+307' AS DOUBLE)
          THEN CAST('-Infinity' AS DOUBLE)
          WHEN "__minmaxscaler_5" <= CAST('-8.98846567431158e+307' AS DOUBLE)
          THEN CAST('Infinity' AS DOUBLE)
          ELSE "__minmaxscaler_5" * CAST('-2.0' AS DOUBLE)
        END
      ) + CAST('0.25' AS DOUBLE)
    END AS "__decision_12",
    CASE
      WHEN "__big_7"
      THEN CASE
        WHEN ABS("__scaled_10") > CAST('9.745314011399998e+288' AS DOUBLE)
        THEN "__scaled_10" * CAST('Infinity' AS DOUBLE)
        ELSE "__scaled_10" * CAST('1.8446744073709552e+19' AS DOUBLE)
      END
      ELSE (
        CASE
          WHEN ABS("__minmaxscaler_4") < CAST('1e-323' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__minmaxscaler_4" * CAST('0.5' AS DOUBLE)
        END + CASE
          WHEN ABS("__minmaxscaler_5") < CAST('1e-323' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__minmaxscaler_5" * CAST('0.5' AS DOUBLE)
        END
      ) + CAST('0.0' AS DOUBLE)
    END AS "__decision_13",
    CASE
      WHEN "__big_8"
      THEN CASE
        WHEN ABS("__scaled_11") > CAST('9.745314011399998e+288' AS DOUBLE)
        THEN "__scaled_11" * CAST('Infinity' AS DOUBLE)
        ELSE "__scaled_11" * CAST('1.8446744073709552e+19' AS DOUBLE)
      END
      ELSE (
        CASE
          WHEN "__minmaxscaler_4" >= CAST('1.1984620899082105e+308' AS DOUBLE)
          THEN CAST('-Infinity' AS DOUBLE)
          WHEN "__minmaxscaler_4" <= CAST('-1.1984620899082105e+308' AS DOUBLE)
          THEN CAST('Infinity' AS DOUBLE)
          ELSE "__minmaxscaler_4" * CAST('-1.5' AS DOUBLE)
        END + CASE
          WHEN "__minmaxscaler_5" >= CAST('8.98846567431158e+307' AS DOUBLE)
          THEN CAST('Infinity' AS DOUBLE)
          WHEN "__minmaxscaler_5" <= CAST('-8.98846567431158e+307' AS DOUBLE)
          THEN CAST('-Infinity' AS DOUBLE)
          ELSE "__minmaxscaler_5" * CAST('2.0' AS DOUBLE)
        END
      ) + CAST('-0.25' AS DOUBLE)
    END AS "__decision_14"
  FROM "__step24"
  OFFSET 0
), "__step26" AS (
  SELECT
    "id",
    "__decision_12",
    "__decision_13",
    "__decision_14",
    GREATEST("__decision_12", "__decision_13", "__decision_14") AS "__max_15"
  FROM "__step25"
  OFFSET 0
), "__step27" AS (
  SELECT
    "id",
    "__decision_12",
    "__decision_13",
    "__decision_14",
    "__max_15",
    CASE
      WHEN "__decision_12" < (
        "__max_15" + CAST('-700.0' AS DOUBLE)
      )
      THEN CAST('0.0' AS DOUBLE)
      ELSE EXP("__decision_12" - "__max_15")
    END AS "__exp_16",
    CASE
      WHEN "__decision_13" < (
        "__max_15" + CAST('-700.0' AS DOUBLE)
      )
      THEN CAST('0.0' AS DOUBLE)
      ELSE EXP("__decision_13" - "__max_15")
    END AS "__exp_17",
    CASE
      WHEN "__decision_14" < (
        "__max_15" + CAST('-700.0' AS DOUBLE)
      )
      THEN CAST('0.0' AS DOUBLE)
      ELSE EXP("__decision_14" - "__max_15")
    END AS "__exp_18"
  FROM "__step26"
  OFFSET 0
), "__step28" AS (
  SELECT
    "id",
    "__decision_12",
    "__decision_13",
    "__decision_14",
    "__max_15",
    "__exp_16",
    "__exp_17",
    "__exp_18",
    "__exp_16" + "__exp_17" + "__exp_18" AS "__sum_19"
  FROM "__step27"
  OFFSET 0
)
SELECT
  "id",
  CASE
    WHEN "__decision_12" = "__max_15"
    THEN 'high'
    WHEN "__decision_13" = "__max_15"
    THEN 'low'
    WHEN "__decision_14" = "__max_15"
    THEN 'mid'
  END AS "prediction",
  "__exp_16" / "__sum_19" AS "proba_high",
  "__exp_17" / "__sum_19" AS "proba_low",
  "__exp_18" / "__sum_19" AS "proba_mid"
FROM "__step28"
