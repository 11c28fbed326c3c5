/* Order facts: one row per order with its item value, units and line count and the customer's order sequence number. */
WITH `lines` AS (
  SELECT
    `order_items`.`order_id` AS `order_id`,
    COUNT(*) AS `line_count`,
    CAST(SUM(CAST(`order_items`.`quantity` AS DECIMAL(38, 0))) AS BIGINT) AS `units`,
    SUM(`order_items`.`quantity` * `order_items`.`unit_price`) AS `items_value`
  FROM `shop`.`order_items` AS `order_items`
  GROUP BY
    `order_items`.`order_id`
)
SELECT
  `o`.`order_id` AS `order_id`,
  `o`.`customer_id` AS `customer_id`,
  `o`.`ordered_at` AS `ordered_at`,
  CAST(`o`.`ordered_at` AS DATE) AS `order_date`,
  `o`.`status` AS `status`,
  `o`.`channel` AS `channel`,
  `o`.`returned_at` AS `returned_at`,
  ROW_NUMBER() OVER (
    PARTITION BY `o`.`customer_id`
    ORDER BY `o`.`ordered_at` NULLS LAST, `o`.`order_id` NULLS LAST
  ) AS `order_number`,
  COALESCE(`l`.`line_count`, 0) AS `line_count`,
  COALESCE(`l`.`units`, 0) AS `units`,
  ROUND(COALESCE(`l`.`items_value`, 0), 2) AS `order_value`,
  `o`.`shipping_fee` AS `shipping_fee`
FROM `shop`.`orders` AS `o`
LEFT JOIN `lines` AS `l`
  ON `l`.`order_id` = `o`.`order_id`
