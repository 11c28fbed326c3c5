WITH "__input10" AS (
  SELECT
    "id",
    NULLIF(CAST("n3" AS DOUBLE), CAST('NaN' AS DOUBLE)) AS "__x0",
    "c1" AS "__x1"
  FROM "features"."rows"
  OFFSET 0
), "__step11" AS (
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
  FROM "__input10"
  OFFSET 0
), "__step12" AS (
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
  FROM "__step11"
  OFFSET 0
), "__step13" AS (
  SELECT
    "id",
    (
      (
        (
          "__simpleimputer_2" * CAST('0.125' AS DOUBLE)
        ) + (
          "__onehotencoder_4" * CAST('0.5' AS DOUBLE)
        )
      ) + (
        (
          "__onehotencoder_5" * CAST('-0.75' AS DOUBLE)
        ) + (
          (
            "__onehotencoder_6" * CAST('1.0' AS DOUBLE)
          ) + (
            "__onehotencoder_7" * CAST('0.25' AS DOUBLE)
          )
        )
      )
    ) + CAST('-0.5' AS DOUBLE) AS "__decision_8"
  FROM "__step12"
  OFFSET 0
), "__step14" AS (
  SELECT
    "id",
    "__decision_8",
    CAST('1.0' AS DOUBLE) / (
      CAST('1.0' AS DOUBLE) + EXP(
        CASE
          WHEN -"__decision_8" < CAST('-700.0' AS DOUBLE)
          THEN CAST('-700.0' AS DOUBLE)
          WHEN -"__decision_8" > CAST('700.0' AS DOUBLE)
          THEN CAST('700.0' AS DOUBLE)
          ELSE -"__decision_8"
        END
      )
    ) AS "__expit_9"
  FROM "__step13"
  OFFSET 0
)
SELECT
  "id",
  CASE
    WHEN "__decision_8" > CAST('0.0' AS DOUBLE)
    THEN 'yes'
    WHEN "__decision_8" <= CAST('0.0' AS DOUBLE)
    THEN 'no'
  END AS "prediction",
  CAST('1.0' AS DOUBLE) - "__expit_9" AS "proba_no",
  "__expit_9" AS "proba_yes"
FROM "__step14"
