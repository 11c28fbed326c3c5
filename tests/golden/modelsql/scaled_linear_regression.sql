WITH "__input8" AS (
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
), "__step9" AS (
  SELECT
    "id",
    CASE
      WHEN ABS("__x0" - CAST('1000.0' AS DOUBLE)) < CAST('6.23e-322' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      ELSE (
        "__x0" - CAST('1000.0' AS DOUBLE)
      ) / CAST('250.0' AS DOUBLE)
    END AS "__standardscaler_2",
    CASE
      WHEN (
        "__x1" - CAST('0.4' AS DOUBLE)
      ) >= CAST('8.98846567431158e+307' AS DOUBLE)
      THEN CAST('Infinity' AS DOUBLE)
      WHEN (
        "__x1" - CAST('0.4' AS DOUBLE)
      ) <= CAST('-8.98846567431158e+307' AS DOUBLE)
      THEN CAST('-Infinity' AS DOUBLE)
      ELSE (
        "__x1" - CAST('0.4' AS DOUBLE)
      ) / CAST('0.5' AS DOUBLE)
    END AS "__standardscaler_3"
  FROM "__input8"
  OFFSET 0
), "__step10" AS (
  SELECT
    "id",
    "__standardscaler_2",
    "__standardscaler_3",
    CASE
      WHEN "__standardscaler_2" >= CAST('1.1984620899082105e+308' AS DOUBLE)
      THEN CAST('Infinity' AS DOUBLE)
      WHEN "__standardscaler_2" <= CAST('-1.1984620899082105e+308' AS DOUBLE)
      THEN CAST('-Infinity' AS DOUBLE)
      ELSE "__standardscaler_2" * CAST('1.5' AS DOUBLE)
    END AS "__term_4",
    CASE
      WHEN ABS("__standardscaler_3") < CAST('1.5e-323' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      ELSE "__standardscaler_3" * CAST('-0.25' AS DOUBLE)
    END AS "__term_5"
  FROM "__step9"
  OFFSET 0
), "__step11" AS (
  SELECT
    "id",
    "__standardscaler_2",
    "__standardscaler_3",
    "__term_4",
    "__term_5",
    GREATEST(ABS("__term_4"), ABS("__term_5")) >= CAST('2.247116418577895e+307' AS DOUBLE) AS "__big_6"
  FROM "__step10"
  OFFSET 0
), "__step12" AS (
  SELECT
    "id",
    "__term_4",
    "__term_5",
    "__big_6",
    CASE
      WHEN "__big_6"
      THEN (
        CASE
          WHEN ABS("__standardscaler_2") < CAST('6.221757456688126e-302' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__term_4" * CAST('5.421010862427522e-20' AS DOUBLE)
        END + CASE
          WHEN ABS("__standardscaler_3") < CAST('3.7330544740128755e-301' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__term_5" * CAST('5.421010862427522e-20' AS DOUBLE)
        END
      ) + CAST('1.6263032587282567e-19' AS DOUBLE)
    END AS "__scaled_7"
  FROM "__step11"
  OFFSET 0
)
SELECT
  "id",
  CASE
    WHEN "__big_6"
    THEN CASE
      WHEN ABS("__scaled_7") > CAST('9.745314011399998e+288' AS DOUBLE)
      THEN "__scaled_7" * CAST('Infinity' AS DOUBLE)
      ELSE "__scaled_7" * CAST('1.8446744073709552e+19' AS DOUBLE)
    END
    ELSE (
      "__term_4" + "__term_5"
    ) + CAST('3.0' AS DOUBLE)
  END AS "prediction"
FROM "__step12"
