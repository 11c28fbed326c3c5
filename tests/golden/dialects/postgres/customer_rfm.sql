/* Recency, frequency, monetary value and return behaviour from each customer's orders placed strictly before the snapshot date. */
SELECT
  "s"."customer_id" AS "customer_id",
  "s"."snapshot_date" AS "snapshot_date",
  COUNT(CASE WHEN "o"."status" <> 'cancelled' THEN "o"."order_id" END) AS "orders_lifetime", /* frequency and monetary value: orders that were not cancelled at checkout */
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
        CAST(COALESCE(SUM(CASE WHEN "o"."status" <> 'cancelled' THEN "o"."order_value" END), 0) AS DOUBLE PRECISION) AS "v"
    ) AS "toolkit_round"
  ) AS "spend_lifetime",
  COALESCE(
    (
      CAST(SUM(CASE WHEN "o"."status" <> 'cancelled' THEN "o"."order_value" END) AS DOUBLE PRECISION) / NULLIF(COUNT(CASE WHEN "o"."status" <> 'cancelled' THEN "o"."order_id" END), 0)
    ),
    0
  ) AS "avg_order_value",
  COALESCE(
    (
      CAST(30 * COUNT(CASE WHEN "o"."status" <> 'cancelled' THEN "o"."order_id" END) AS DOUBLE PRECISION) / NULLIF(GREATEST("s"."tenure_days", 1), 0)
    ),
    0
  ) AS "orders_per_30d",
  COALESCE(
    (
      CAST("s"."snapshot_date" AS DATE) - CAST(MAX(CASE WHEN "o"."status" <> 'cancelled' THEN "o"."ordered_at" END) AS DATE)
    ),
    "s"."tenure_days"
  ) AS "days_since_last_order", /* recency: days since the last order, or since signing up for customers who never ordered */
  COUNT(CASE WHEN (
    "o"."returned_at" < "s"."snapshot_date"
  ) THEN "o"."order_id" END) AS "returns_lifetime", /* returns count only once they have happened (returned_at), never by today's status */
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
            CASE WHEN (
              "o"."returned_at" < "s"."snapshot_date"
            ) THEN "o"."order_value" END
          ),
          0
        ) AS DOUBLE PRECISION) AS "v"
    ) AS "toolkit_round"
  ) AS "returned_value_lifetime",
  COALESCE(
    (
      CAST(COUNT(CASE WHEN (
        "o"."returned_at" < "s"."snapshot_date"
      ) THEN "o"."order_id" END) AS DOUBLE PRECISION) / NULLIF(COUNT(CASE WHEN "o"."status" <> 'cancelled' THEN "o"."order_id" END), 0)
    ),
    0
  ) AS "return_rate",
  COUNT(CASE WHEN "o"."status" = 'cancelled' THEN "o"."order_id" END) AS "cancellations_lifetime"
FROM "features"."customer_snapshots" AS "s"
LEFT JOIN "features"."customer_orders" AS "o"
  ON "o"."customer_id" = "s"."customer_id"
  AND (
    "o"."ordered_at" < "s"."snapshot_date"
  )
GROUP BY
  "s"."customer_id",
  "s"."snapshot_date",
  "s"."tenure_days"
