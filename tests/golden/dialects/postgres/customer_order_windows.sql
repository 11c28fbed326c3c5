/* Rolling 30- and 90-day order counts, spend and units before each snapshot date, and the recent spend trend. */
WITH "windowed" AS (
  SELECT
    "s"."customer_id" AS "customer_id",
    "s"."snapshot_date" AS "snapshot_date",
    COUNT(
      CASE
        WHEN (
          "o"."ordered_at" < "s"."snapshot_date"
          AND "o"."ordered_at" >= "s"."snapshot_date" - INTERVAL '30 DAYS'
        )
        THEN "o"."order_id"
      END
    ) AS "orders_30d",
    (
      SELECT
        (
          (
            TRUNC((
              "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
            )) + CASE
              WHEN ABS(
                (
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ) - TRUNC((
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ))
              ) > CAST(0.5 AS DOUBLE PRECISION)
              THEN SIGN((
                "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
              ))
              WHEN ABS(
                (
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ) - TRUNC((
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ))
              ) < CAST(0.5 AS DOUBLE PRECISION)
              THEN CAST(0 AS DOUBLE PRECISION)
              ELSE CASE
                WHEN SIGN((
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                )) * (
                  (
                    (
                      (
                        CAST(134217729 AS DOUBLE PRECISION) * "toolkit_round"."v"
                      ) - (
                        (
                          CAST(134217729 AS DOUBLE PRECISION) * "toolkit_round"."v"
                        ) - "toolkit_round"."v"
                      )
                    ) * CAST(100 AS DOUBLE PRECISION) - (
                      "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                    )
                  ) + (
                    "toolkit_round"."v" - (
                      (
                        CAST(134217729 AS DOUBLE PRECISION) * "toolkit_round"."v"
                      ) - (
                        (
                          CAST(134217729 AS DOUBLE PRECISION) * "toolkit_round"."v"
                        ) - "toolkit_round"."v"
                      )
                    )
                  ) * CAST(100 AS DOUBLE PRECISION)
                ) >= CAST(0 AS DOUBLE PRECISION)
                THEN SIGN((
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ))
                ELSE CAST(0 AS DOUBLE PRECISION)
              END
            END
          ) / CAST(100 AS DOUBLE PRECISION)
        )
      FROM (
        SELECT
          CAST(COALESCE(
            SUM(
              CASE
                WHEN (
                  "o"."ordered_at" < "s"."snapshot_date"
                  AND "o"."ordered_at" >= "s"."snapshot_date" - INTERVAL '30 DAYS'
                )
                THEN "o"."order_value"
              END
            ),
            0
          ) AS DOUBLE PRECISION) AS "v"
      ) AS "toolkit_round"
    ) AS "spend_30d",
    CAST(COALESCE(
      CAST(SUM(
        CASE
          WHEN (
            "o"."ordered_at" < "s"."snapshot_date"
            AND "o"."ordered_at" >= "s"."snapshot_date" - INTERVAL '30 DAYS'
          )
          THEN "o"."units"
        END
      ) AS DECIMAL(38, 0)),
      0
    ) AS BIGINT) AS "units_30d",
    COUNT(
      CASE
        WHEN (
          "o"."ordered_at" < "s"."snapshot_date"
          AND "o"."ordered_at" >= "s"."snapshot_date" - INTERVAL '90 DAYS'
        )
        THEN "o"."order_id"
      END
    ) AS "orders_90d",
    (
      SELECT
        (
          (
            TRUNC((
              "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
            )) + CASE
              WHEN ABS(
                (
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ) - TRUNC((
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ))
              ) > CAST(0.5 AS DOUBLE PRECISION)
              THEN SIGN((
                "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
              ))
              WHEN ABS(
                (
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ) - TRUNC((
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ))
              ) < CAST(0.5 AS DOUBLE PRECISION)
              THEN CAST(0 AS DOUBLE PRECISION)
              ELSE CASE
                WHEN SIGN((
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                )) * (
                  (
                    (
                      (
                        CAST(134217729 AS DOUBLE PRECISION) * "toolkit_round"."v"
                      ) - (
                        (
                          CAST(134217729 AS DOUBLE PRECISION) * "toolkit_round"."v"
                        ) - "toolkit_round"."v"
                      )
                    ) * CAST(100 AS DOUBLE PRECISION) - (
                      "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                    )
                  ) + (
                    "toolkit_round"."v" - (
                      (
                        CAST(134217729 AS DOUBLE PRECISION) * "toolkit_round"."v"
                      ) - (
                        (
                          CAST(134217729 AS DOUBLE PRECISION) * "toolkit_round"."v"
                        ) - "toolkit_round"."v"
                      )
                    )
                  ) * CAST(100 AS DOUBLE PRECISION)
                ) >= CAST(0 AS DOUBLE PRECISION)
                THEN SIGN((
                  "toolkit_round"."v" * CAST(100 AS DOUBLE PRECISION)
                ))
                ELSE CAST(0 AS DOUBLE PRECISION)
              END
            END
          ) / CAST(100 AS DOUBLE PRECISION)
        )
      FROM (
        SELECT
          CAST(COALESCE(
            SUM(
              CASE
                WHEN (
                  "o"."ordered_at" < "s"."snapshot_date"
                  AND "o"."ordered_at" >= "s"."snapshot_date" - INTERVAL '90 DAYS'
                )
                THEN "o"."order_value"
              END
            ),
            0
          ) AS DOUBLE PRECISION) AS "v"
      ) AS "toolkit_round"
    ) AS "spend_90d",
    CAST(COALESCE(
      CAST(SUM(
        CASE
          WHEN (
            "o"."ordered_at" < "s"."snapshot_date"
            AND "o"."ordered_at" >= "s"."snapshot_date" - INTERVAL '90 DAYS'
          )
          THEN "o"."units"
        END
      ) AS DECIMAL(38, 0)),
      0
    ) AS BIGINT) AS "units_90d"
  FROM "features"."customer_snapshots" AS "s"
  LEFT JOIN "features"."customer_orders" AS "o"
    ON "o"."customer_id" = "s"."customer_id"
    AND "o"."status" <> 'cancelled'
    AND (
      "o"."ordered_at" < "s"."snapshot_date"
      AND "o"."ordered_at" >= "s"."snapshot_date" - INTERVAL '90 DAYS'
    )
  GROUP BY
    "s"."customer_id",
    "s"."snapshot_date"
)
SELECT
  "windowed"."customer_id" AS "customer_id",
  "windowed"."snapshot_date" AS "snapshot_date",
  "windowed"."orders_30d" AS "orders_30d",
  "windowed"."spend_30d" AS "spend_30d",
  "windowed"."units_30d" AS "units_30d",
  "windowed"."orders_90d" AS "orders_90d",
  "windowed"."spend_90d" AS "spend_90d",
  "windowed"."units_90d" AS "units_90d",
  COALESCE(
    (
      CAST(3 * "windowed"."spend_30d" AS DOUBLE PRECISION) / NULLIF("windowed"."spend_90d", 0)
    ),
    0
  ) AS "spend_trend" /* > 1: the last 30 days ran above the 90-day pace; 0 when nothing was bought in 90 days */
FROM "windowed" AS "windowed"
