/* Shop-wide daily KPIs by order date (orders, buyers, gross revenue, cancellations), appended incrementally. */
SELECT
  `customer_orders`.`order_date` AS `order_date`,
  COUNT(*) AS `orders`,
  COUNT(DISTINCT `customer_orders`.`customer_id`) AS `buyers`,
  COUNT(
    CASE
      WHEN `customer_orders`.`status` = 'cancelled'
      THEN `customer_orders`.`order_id`
    END
  ) AS `cancelled_orders`,
  ROUND(
    COALESCE(
      SUM(
        CASE
          WHEN `customer_orders`.`status` <> 'cancelled'
          THEN `customer_orders`.`order_value`
        END
      ),
      0
    ),
    2
  ) AS `gross_revenue`,
  COALESCE(
    (
      CAST(SUM(
        CASE
          WHEN `customer_orders`.`status` <> 'cancelled'
          THEN `customer_orders`.`order_value`
        END
      ) AS DOUBLE) / NULLIF(
        COUNT(
          CASE
            WHEN `customer_orders`.`status` <> 'cancelled'
            THEN `customer_orders`.`order_id`
          END
        ),
        0
      )
    ),
    0
  ) AS `avg_order_value`,
  CAST(SUM(
    CAST(CASE
      WHEN `customer_orders`.`status` <> 'cancelled'
      THEN `customer_orders`.`units`
      ELSE 0
    END AS DECIMAL(38, 0))
  ) AS BIGINT) AS `units_sold`
FROM `features`.`customer_orders` AS `customer_orders`
GROUP BY
  `customer_orders`.`order_date`
