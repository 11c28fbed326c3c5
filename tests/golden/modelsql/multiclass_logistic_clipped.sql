WITH "__input26" AS (
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
), "__step27" AS (
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
  FROM "__input26"
  OFFSET 0
), "__step28" AS (
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
  FROM "__step27"
  OFFSET 0
), "__step29" AS (
  SELECT
    "id",
    "__minmaxscaler_4",
    "__minmaxscaler_5",
    "__minmaxscaler_4" * CAST('1.0' AS DOUBLE) AS "__term_6",
    CASE
      WHEN "__minmaxscaler_5" >= CAST('8.98846567431158e+307' AS DOUBLE)
      THEN CAST('-Infinity' AS DOUBLE)
      WHEN "__minmaxscaler_5" <= CAST('-8.98846567431158e+307' AS DOUBLE)
      THEN CAST('Infinity' AS DOUBLE)
      ELSE "__minmaxscaler_5" * CAST('-2.0' AS DOUBLE)
    END AS "__term_7",
    CASE
      WHEN ABS("__minmaxscaler_4") < CAST('1e-323' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      ELSE "__minmaxscaler_4" * CAST('0.5' AS DOUBLE)
    END AS "__term_8",
    CASE
      WHEN ABS("__minmaxscaler_5") < CAST('1e-323' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      ELSE "__minmaxscaler_5" * CAST('0.5' AS DOUBLE)
    END AS "__term_9",
    CASE
      WHEN "__minmaxscaler_4" >= CAST('1.1984620899082105e+308' AS DOUBLE)
      THEN CAST('-Infinity' AS DOUBLE)
      WHEN "__minmaxscaler_4" <= CAST('-1.1984620899082105e+308' AS DOUBLE)
      THEN CAST('Infinity' AS DOUBLE)
      ELSE "__minmaxscaler_4" * CAST('-1.5' AS DOUBLE)
    END AS "__term_10",
    CASE
      WHEN "__minmaxscaler_5" >= CAST('8.98846567431158e+307' AS DOUBLE)
      THEN CAST('Infinity' AS DOUBLE)
      WHEN "__minmaxscaler_5" <= CAST('-8.98846567431158e+307' AS DOUBLE)
      THEN CAST('-Infinity' AS DOUBLE)
      ELSE "__minmaxscaler_5" * CAST('2.0' AS DOUBLE)
    END AS "__term_11"
  FROM "__step28"
  OFFSET 0
), "__step30" AS (
  SELECT
    "id",
    "__minmaxscaler_4",
    "__minmaxscaler_5",
    "__term_6",
    "__term_7",
    "__term_8",
    "__term_9",
    "__term_10",
    "__term_11",
    GREATEST(ABS("__term_6"), ABS("__term_7")) >= CAST('2.247116418577895e+307' AS DOUBLE) AS "__big_12",
    GREATEST(ABS("__term_8"), ABS("__term_9")) >= CAST('2.247116418577895e+307' AS DOUBLE) AS "__big_13",
    GREATEST(ABS("__term_10"), ABS("__term_11")) >= CAST('2.247116418577895e+307' AS DOUBLE) AS "__big_14"
  FROM "__step29"
  OFFSET 0
), "__step31" AS (
  SELECT
    "id",
    "__term_6",
    "__term_7",
    "__term_8",
    "__term_9",
    "__term_10",
    "__term_11",
    "__big_12",
    "__big_13",
    "__big_14",
    CASE
      WHEN "__big_12"
      THEN (
        CASE
          WHEN ABS("__minmaxscaler_4") < CAST('9.332636185032189e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__term_6" * CAST('5.421010862427522e-20' AS DOUBLE)
        END + CASE
          WHEN ABS("__minmaxscaler_5") < CAST('4.6663180925160944e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__term_7" * CAST('5.421010862427522e-20' AS DOUBLE)
        END
      ) + CAST('1.3552527156068805e-20' AS DOUBLE)
    END AS "__scaled_15",
    CASE
      WHEN "__big_13"
      THEN (
        CASE
          WHEN ABS("__minmaxscaler_4") < CAST('1.8665272370064378e-301' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__term_8" * CAST('5.421010862427522e-20' AS DOUBLE)
        END + CASE
          WHEN ABS("__minmaxscaler_5") < CAST('1.8665272370064378e-301' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__term_9" * CAST('5.421010862427522e-20' AS DOUBLE)
        END
      ) + CAST('0.0' AS DOUBLE)
    END AS "__scaled_16",
    CASE
      WHEN "__big_14"
      THEN (
        CASE
          WHEN ABS("__minmaxscaler_4") < CAST('6.221757456688126e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__term_10" * CAST('5.421010862427522e-20' AS DOUBLE)
        END + CASE
          WHEN ABS("__minmaxscaler_5") < CAST('4.6663180925160944e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__term_11" * CAST('5.421010862427522e-20' AS DOUBLE)
        END
      ) + CAST('-1.3552527156068805e-20' AS DOUBLE)
    END AS "__scaled_17"
  FROM "__step30"
  OFFSET 0
), "__step32" AS (
  SELECT
    "id",
    CASE
      WHEN "__big_12"
      THEN CASE
        WHEN ABS("__scaled_15") > CAST('9.745314011399998e+288' AS DOUBLE)
        THEN "__scaled_15" * CAST('Infinity' AS DOUBLE)
        ELSE "__scaled_15" * CAST('1.8446744073709552e+19' AS DOUBLE)
      END
      ELSE (
        "__term_6" + "__term_7"
      ) + CAST('0.25' AS DOUBLE)
    END AS "__decision_18",
    CASE
      WHEN "__big_13"
      THEN CASE
        WHEN ABS("__scaled_16") > CAST('9.745314011399998e+288' AS DOUBLE)
        THEN "__scaled_16" * CAST('Infinity' AS DOUBLE)
        ELSE "__scaled_16" * CAST('1.8446744073709552e+19' AS DOUBLE)
      END
      ELSE (
        "__term_8" + "__term_9"
      ) + CAST('0.0' AS DOUBLE)
    END AS "__decision_19",
    CASE
      WHEN "__big_14"
      THEN CASE
        WHEN ABS("__scaled_17") > CAST('9.745314011399998e+288' AS DOUBLE)
        THEN "__scaled_17" * CAST('Infinity' AS DOUBLE)
        ELSE "__scaled_17" * CAST('1.8446744073709552e+19' AS DOUBLE)
      END
      ELSE (
        "__term_10" + "__term_11"
      ) + CAST('-0.25' AS DOUBLE)
    END AS "__decision_20"
  FROM "__step31"
  OFFSET 0
), "__step33" AS (
  SELECT
    "id",
    "__decision_18",
    "__decision_19",
    "__decision_20",
    GREATEST("__decision_18", "__decision_19", "__decision_20") AS "__max_21"
  FROM "__step32"
  OFFSET 0
), "__step34" AS (
  SELECT
    "id",
    "__decision_18",
    "__decision_19",
    "__decision_20",
    "__max_21",
    CASE
      WHEN "__decision_18" < (
        "__max_21" + CAST('-700.0' AS DOUBLE)
      )
      THEN CAST('0.0' AS DOUBLE)
      ELSE EXP("__decision_18" - "__max_21")
    END AS "__exp_22",
    CASE
      WHEN "__decision_19" < (
        "__max_21" + CAST('-700.0' AS DOUBLE)
      )
      THEN CAST('0.0' AS DOUBLE)
      ELSE EXP("__decision_19" - "__max_21")
    END AS "__exp_23",
    CASE
      WHEN "__decision_20" < (
        "__max_21" + CAST('-700.0' AS DOUBLE)
      )
      THEN CAST('0.0' AS DOUBLE)
      ELSE EXP("__decision_20" - "__max_21")
    END AS "__exp_24"
  FROM "__step33"
  OFFSET 0
), "__step35" AS (
  SELECT
    "id",
    "__decision_18",
    "__decision_19",
    "__decision_20",
    "__max_21",
    "__exp_22",
    "__exp_23",
    "__exp_24",
    "__exp_22" + "__exp_23" + "__exp_24" AS "__sum_25"
  FROM "__step34"
  OFFSET 0
)
SELECT
  "id",
  CASE
    WHEN "__decision_18" = "__max_21"
    THEN 'high'
    WHEN "__decision_19" = "__max_21"
    THEN 'low'
    WHEN "__decision_20" = "__max_21"
    THEN 'mid'
  END AS "prediction",
  "__exp_22" / "__sum_25" AS "proba_high",
  "__exp_23" / "__sum_25" AS "proba_low",
  "__exp_24" / "__sum_25" AS "proba_mid"
FROM "__step35"
