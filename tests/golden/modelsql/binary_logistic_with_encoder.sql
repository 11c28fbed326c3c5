WITH "__input12" AS (
  SELECT
    "id",
    NULLIF(CAST("n3" AS DOUBLE), CAST('NaN' AS DOUBLE)) AS "__x0",
    "c1" AS "__x1"
  FROM "features"."rows"
  OFFSET 0
), "__step13" AS (
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
  FROM "__input12"
  OFFSET 0
), "__step14" AS (
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
  FROM "__step13"
  OFFSET 0
), "__step15" AS (
  SELECT
    "id",
    "__simpleimputer_2",
    "__onehotencoder_4",
    "__onehotencoder_5",
    "__onehotencoder_6",
    "__onehotencoder_7",
    GREATEST(
      ABS(
        CASE
          WHEN ABS("__simpleimputer_2") < CAST('2.5e-323' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__simpleimputer_2" * CAST('0.125' AS DOUBLE)
        END
      ),
      ABS(
        CASE
          WHEN ABS("__onehotencoder_4") < CAST('1e-323' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__onehotencoder_4" * CAST('0.5' AS DOUBLE)
        END
      ),
      ABS("__onehotencoder_5" * CAST('-0.75' AS DOUBLE)),
      ABS("__onehotencoder_6" * CAST('1.0' AS DOUBLE)),
      ABS(
        CASE
          WHEN ABS("__onehotencoder_7") < CAST('1.5e-323' AS DOUBLE)
          THEN CAST('0.0' AS DOUBLE)
          ELSE "__onehotencoder_7" * CAST('0.25' AS DOUBLE)
        END
      )
    ) >= CAST('1.1235582092889474e+307' AS DOUBLE) AS "__big_8"
  FROM "__step14"
  OFFSET 0
), "__step16" AS (
  SELECT
    "id",
    "__simpleimputer_2",
    "__onehotencoder_4",
    "__onehotencoder_5",
    "__onehotencoder_6",
    "__onehotencoder_7",
    "__big_8",
    CASE
      WHEN "__big_8"
      THEN (
        (
          CASE
            WHEN ABS("__simpleimputer_2") < CAST('7.466108948025751e-301' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE CASE
              WHEN ABS("__simpleimputer_2") < CAST('2.5e-323' AS DOUBLE)
              THEN CAST('0.0' AS DOUBLE)
              ELSE "__simpleimputer_2" * CAST('0.125' AS DOUBLE)
            END * CAST('5.421010862427522e-20' AS DOUBLE)
          END + CASE
            WHEN ABS("__onehotencoder_4") < CAST('1.8665272370064378e-301' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE CASE
              WHEN ABS("__onehotencoder_4") < CAST('1e-323' AS DOUBLE)
              THEN CAST('0.0' AS DOUBLE)
              ELSE "__onehotencoder_4" * CAST('0.5' AS DOUBLE)
            END * CAST('5.421010862427522e-20' AS DOUBLE)
          END
        ) + (
          CASE
            WHEN ABS("__onehotencoder_5") < CAST('1.244351491337625e-301' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE (
              "__onehotencoder_5" * CAST('-0.75' AS DOUBLE)
            ) * CAST('5.421010862427522e-20' AS DOUBLE)
          END + (
            CASE
              WHEN ABS("__onehotencoder_6") < CAST('9.332636185032189e-302' AS DOUBLE)
              THEN CAST('0.0' AS DOUBLE)
              ELSE (
                "__onehotencoder_6" * CAST('1.0' AS DOUBLE)
              ) * CAST('5.421010862427522e-20' AS DOUBLE)
            END + CASE
              WHEN ABS("__onehotencoder_7") < CAST('3.7330544740128755e-301' AS DOUBLE)
              THEN CAST('0.0' AS DOUBLE)
              ELSE CASE
                WHEN ABS("__onehotencoder_7") < CAST('1.5e-323' AS DOUBLE)
                THEN CAST('0.0' AS DOUBLE)
                ELSE "__onehotencoder_7" * CAST('0.25' AS DOUBLE)
              END * CAST('5.421010862427522e-20' AS DOUBLE)
            END
          )
        )
      ) + CAST('-2.710505431213761e-20' AS DOUBLE)
    END AS "__scaled_9"
  FROM "__step15"
  OFFSET 0
), "__step17" AS (
  SELECT
    "id",
    CASE
      WHEN "__big_8"
      THEN CASE
        WHEN ABS("__scaled_9") > CAST('9.745314011399998e+288' AS DOUBLE)
        THEN "__scaled_9" * CAST('Infinity' AS DOUBLE)
        ELSE "__scaled_9" * CAST('1.8446744073709552e+19' AS DOUBLE)
      END
      ELSE (
        (
          CASE
            WHEN ABS("__simpleimputer_2") < CAST('2.5e-323' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE "__simpleimputer_2" * CAST('0.125' AS DOUBLE)
          END + CASE
            WHEN ABS("__onehotencoder_4") < CAST('1e-323' AS DOUBLE)
            THEN CAST('0.0' AS DOUBLE)
            ELSE "__onehotencoder_4" * CAST('0.5' AS DOUBLE)
          END
        ) + (
          (
            "__onehotencoder_5" * CAST('-0.75' AS DOUBLE)
          ) + (
            (
              "__onehotencoder_6" * CAST('1.0' AS DOUBLE)
            ) + CASE
              WHEN ABS("__onehotencoder_7") < CAST('1.5e-323' AS DOUBLE)
              THEN CAST('0.0' AS DOUBLE)
              ELSE "__onehotencoder_7" * CAST('0.25' AS DOUBLE)
            END
          )
        )
      ) + CAST('-0.5' AS DOUBLE)
    END AS "__decision_10"
  FROM "__step16"
  OFFSET 0
), "__step18" AS (
  SELECT
    "id",
    "__decision_10",
    CAST('1.0' AS DOUBLE) / (
      CAST('1.0' AS DOUBLE) + CASE
        WHEN -(
          "__decision_10"
        ) > CAST('709.782712893384' AS DOUBLE)
        THEN CAST('Infinity' AS DOUBLE)
        WHEN -(
          "__decision_10"
        ) < CAST('-745.0' AS DOUBLE)
        THEN CAST('0.0' AS DOUBLE)
        ELSE EXP(-(
          "__decision_10"
        ))
      END
    ) AS "__expit_11"
  FROM "__step17"
  OFFSET 0
)
SELECT
  "id",
  CASE
    WHEN "__decision_10" = CAST('NaN' AS DOUBLE)
    THEN 'no'
    WHEN "__decision_10" > CAST('0.0' AS DOUBLE)
    THEN 'yes'
    WHEN "__decision_10" <= CAST('0.0' AS DOUBLE)
    THEN 'no'
  END AS "prediction",
  CAST('1.0' AS DOUBLE) - "__expit_11" AS "proba_no",
  "__expit_11" AS "proba_yes"
FROM "__step18"
