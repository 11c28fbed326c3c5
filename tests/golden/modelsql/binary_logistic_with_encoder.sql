WITH "__input17" AS (
  SELECT
    "id",
    NULLIF(CAST("n3" AS DOUBLE), CAST('NaN' AS DOUBLE)) AS "__x0",
    "c1" AS "__x1"
  FROM "features"."rows"
  OFFSET 0
), "__step18" AS (
  SELECT
    "id",
    COALESCE("__x0", CAST('19.0' AS DOUBLE)) AS "__simpleimputer_2",
    CASE
      WHEN "__x1" IS NULL
      THEN 2
      WHEN "__x1" IN ('blue')
      THEN -1
      WHEN "__x1" IN ('cyan', 'plum')
      THEN 3
      WHEN "__x1" IN ('green')
      THEN 0
      WHEN "__x1" IN ('red')
      THEN 1
      ELSE 3
    END AS "__onehot_c1_3"
  FROM "__input17"
  OFFSET 0
), "__step19" AS (
  SELECT
    "id",
    "__simpleimputer_2",
    CASE
      WHEN "__onehot_c1_3" = 0
      THEN CAST('1.0' AS DOUBLE)
      ELSE CAST('0.0' AS DOUBLE)
    END AS "__onehotencoder_4",
    CASE
      WHEN "__onehot_c1_3" = 1
      THEN CAST('1.0' AS DOUBLE)
      ELSE CAST('0.0' AS DOUBLE)
    END AS "__onehotencoder_5",
    CASE
      WHEN "__onehot_c1_3" = 2
      THEN CAST('1.0' AS DOUBLE)
      ELSE CAST('0.0' AS DOUBLE)
    END AS "__onehotencoder_6",
    CASE
      WHEN "__onehot_c1_3" = 3
      THEN CAST('1.0' AS DOUBLE)
      ELSE CAST('0.0' AS DOUBLE)
    END AS "__onehotencoder_7"
  FROM "__step18"
  OFFSET 0
), "__step20" AS (
  SELECT
    "id",
    "__simpleimputer_2",
    "__onehotencoder_4",
    "__onehotencoder_5",
    "__onehotencoder_6",
    "__onehotencoder_7",
    CASE
      WHEN ABS("__simpleimputer_2") < CAST('2.5e-323' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      ELSE "__simpleimputer_2" * CAST('0.125' AS DOUBLE)
    END AS "__term_8",
    CASE
      WHEN ABS("__onehotencoder_4") < CAST('1e-323' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      ELSE "__onehotencoder_4" * CAST('0.5' AS DOUBLE)
    END AS "__term_9",
    "__onehotencoder_5" * CAST('-0.75' AS DOUBLE) AS "__term_10",
    "__onehotencoder_6" * CAST('1.0' AS DOUBLE) AS "__term_11",
    CASE
      WHEN ABS("__onehotencoder_7") < CAST('1.5e-323' AS DOUBLE)
      THEN CAST('0.0' AS DOUBLE)
      ELSE "__onehotencoder_7" * CAST('0.25' AS DOUBLE)
    END AS "__term_12"
  FROM "__step19"
  OFFSET 0
), "__step21" AS (
  SELECT
    "id",
    "__simpleimputer_2",
    "__onehotencoder_4",
    "__onehotencoder_5",
    "__onehotencoder_6",
    "__onehotencoder_7",
    "__term_8",
    "__term_9",
    "__term_10",
    "__term_11",
    "__term_12",
    GREATEST(ABS("__term_8"), ABS("__term_9"), ABS("__term_10"), ABS("__term_11"), ABS("__term_12")) >= CAST('1.1235582092889474e+307' AS DOUBLE) AS "__big_13"
  FROM "__step20"
  OFFSET 0
), "__step22" AS (
  SELECT
    "id",
    "__term_8",
    "__term_9",
    "__term_10",
    "__term_11",
    "__term_12",
    "__big_13",
    CASE
      WHEN "__big_13"
      THEN (
        (
          CASE
            WHEN ABS("__simpleimputer_2") < CAST('7.466108948025751e-301' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE "__term_8" * CAST('5.421010862427522e-20' AS DOUBLE)
          END + CASE
            WHEN ABS("__onehotencoder_4") < CAST('1.8665272370064378e-301' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE "__term_9" * CAST('5.421010862427522e-20' AS DOUBLE)
          END
        ) + (
          CASE
            WHEN ABS("__onehotencoder_5") < CAST('1.244351491337625e-301' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE "__term_10" * CAST('5.421010862427522e-20' AS DOUBLE)
          END + (
            CASE
              WHEN ABS("__onehotencoder_6") < CAST('9.332636185032189e-302' AS DOUBLE)
              THEN CAST('0.0' AS DOUBLE)
              ELSE "__term_11" * CAST('5.421010862427522e-20' AS DOUBLE)
            END + CASE
              WHEN ABS("__onehotencoder_7") < CAST('3.7330544740128755e-301' AS DOUBLE)
              THEN CAST('0.0' AS DOUBLE)
              ELSE "__term_12" * CAST('5.421010862427522e-20' AS DOUBLE)
            END
          )
        )
      ) + CAST('-2.710505431213761e-20' AS DOUBLE)
    END AS "__scaled_14"
  FROM "__step21"
  OFFSET 0
), "__step23" AS (
  SELECT
    "id",
    CASE
      WHEN "__big_13"
      THEN CASE
        WHEN ABS("__scaled_14") > CAST('9.745314011399998e+288' AS DOUBLE)
        THEN "__scaled_14" * CAST('Infinity' AS DOUBLE)
        ELSE "__scaled_14" * CAST('1.8446744073709552e+19' AS DOUBLE)
      END
      ELSE (
        (
          "__term_8" + "__term_9"
        ) + (
          "__term_10" + (
            "__term_11" + "__term_12"
          )
        )
      ) + CAST('-0.5' AS DOUBLE)
    END AS "__decision_15"
  FROM "__step22"
  OFFSET 0
), "__step24" AS (
  SELECT
    "id",
    "__decision_15",
    CAST('1.0' AS DOUBLE) / (
      CAST('1.0' AS DOUBLE) + CASE
        WHEN -(
          "__decision_15"
        ) > CAST('709.782712893384' AS DOUBLE)
        THEN CAST('Infinity' AS DOUBLE)
        WHEN -(
          "__decision_15"
        ) < CAST('-745.0' AS DOUBLE)
        THEN CAST('0.0' AS DOUBLE)
        ELSE EXP(-(
          "__decision_15"
        ))
      END
    ) AS "__expit_16"
  FROM "__step23"
  OFFSET 0
)
SELECT
  "id",
  CASE
    WHEN "__decision_15" = CAST('NaN' AS DOUBLE)
    THEN 'no'
    WHEN "__decision_15" > CAST('0.0' AS DOUBLE)
    THEN 'yes'
    WHEN "__decision_15" <= CAST('0.0' AS DOUBLE)
    THEN 'no'
  END AS "prediction",
  CAST('1.0' AS DOUBLE) - "__expit_16" AS "proba_no",
  "__expit_16" AS "proba_yes"
FROM "__step24"
