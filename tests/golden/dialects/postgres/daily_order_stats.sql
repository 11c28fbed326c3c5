/* Shop-wide daily KPIs by order date (orders, buyers, gross revenue, cancellations), appended incrementally. */
SELECT
  "customer_orders"."order_date" AS "order_date",
  COUNT(*) AS "orders",
  COUNT(DISTINCT "customer_orders"."customer_id") AS "buyers",
  COUNT(
    CASE
      WHEN "customer_orders"."status" = 'cancelled'
      THEN "customer_orders"."order_id"
    END
  ) AS "cancelled_orders",
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
              WHEN "customer_orders"."status" <> 'cancelled'
              THEN "customer_orders"."order_value"
            END
          ),
          0
        ) AS DOUBLE PRECISION) AS "v"
    ) AS "toolkit_round"
  ) AS "gross_revenue",
  COALESCE(
    (
      CAST(SUM(
        CASE
          WHEN "customer_orders"."status" <> 'cancelled'
          THEN "customer_orders"."order_value"
        END
      ) AS DOUBLE PRECISION) / NULLIF(
        COUNT(
          CASE
            WHEN "customer_orders"."status" <> 'cancelled'
            THEN "customer_orders"."order_id"
          END
        ),
        0
      )
    ),
    0
  ) AS "avg_order_value",
  CAST(SUM(
    CASE
      WHEN "customer_orders"."status" <> 'cancelled'
      THEN "customer_orders"."units"
      ELSE 0
    END
  ) AS BIGINT) AS "units_sold"
FROM "features"."customer_orders" AS "customer_orders"
GROUP BY
  "customer_orders"."order_date"
