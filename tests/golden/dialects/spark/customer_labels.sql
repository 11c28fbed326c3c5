/* Labels, the only step that looks after the snapshot date: churned (no completed order within churn_horizon_days) and next-30-day completed spend. */
SELECT
  `s`.`customer_id` AS `customer_id`,
  `s`.`snapshot_date` AS `snapshot_date`,
  CASE
    WHEN COUNT(
      CASE
        WHEN (
          `o`.`ordered_at` >= `s`.`snapshot_date`
          AND `o`.`ordered_at` < CAST(`s`.`snapshot_date` AS TIMESTAMP) + INTERVAL '30' DAYS
        )
        THEN `o`.`order_id`
      END
    ) = 0
    THEN 1
    ELSE 0
  END AS `churned`,
  ROUND(
    COALESCE(
      SUM(
        CASE
          WHEN (
            `o`.`ordered_at` >= `s`.`snapshot_date`
            AND `o`.`ordered_at` < CAST(`s`.`snapshot_date` AS TIMESTAMP) + INTERVAL '30' DAYS
          )
          THEN `o`.`order_value`
        END
      ),
      0
    ),
    2
  ) AS `next_30d_spend`,
  COUNT(
    CASE
      WHEN (
        `o`.`ordered_at` >= `s`.`snapshot_date`
        AND `o`.`ordered_at` < CAST(`s`.`snapshot_date` AS TIMESTAMP) + INTERVAL '30' DAYS
      )
      THEN `o`.`order_id`
    END
  ) AS `next_30d_orders`
FROM `features`.`customer_snapshots` AS `s`
LEFT JOIN `features`.`customer_orders` AS `o`
  ON `o`.`customer_id` = `s`.`customer_id`
  AND `o`.`status` = 'completed'
  AND (
    `o`.`ordered_at` >= `s`.`snapshot_date`
    AND `o`.`ordered_at` < CAST(`s`.`snapshot_date` AS TIMESTAMP) + INTERVAL '30' DAYS
  ) /* only snapshots whose whole label window lies inside the data */
WHERE
  CAST(`s`.`snapshot_date` AS TIMESTAMP) + INTERVAL '30' DAYS <= (
    SELECT
      MAX(`customer_orders`.`ordered_at`) AS `_col_0`
    FROM `features`.`customer_orders` AS `customer_orders`
  )
GROUP BY
  `s`.`customer_id`,
  `s`.`snapshot_date`
