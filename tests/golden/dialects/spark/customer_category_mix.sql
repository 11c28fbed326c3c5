/* Share of each customer's spend by category group (category_groups seed) in the 90 days before each snapshot date. */
WITH `lines` AS (
  SELECT
    `o`.`customer_id` AS `customer_id`,
    `o`.`ordered_at` AS `ordered_at`,
    `p`.`category` AS `category`,
    COALESCE(`g`.`category_group`, 'other') AS `category_group`,
    `i`.`quantity` * `i`.`unit_price` AS `line_value`
  FROM `features`.`customer_orders` AS `o`
  JOIN `shop`.`order_items` AS `i`
    ON `i`.`order_id` = `o`.`order_id`
  JOIN `shop`.`products` AS `p`
    ON `p`.`product_id` = `i`.`product_id`
  LEFT JOIN `raw`.`category_groups` AS `g`
    ON `g`.`category` = `p`.`category`
  WHERE
    `o`.`status` <> 'cancelled'
), `spend` AS (
  SELECT
    `s`.`customer_id` AS `customer_id`,
    `s`.`snapshot_date` AS `snapshot_date`,
    SUM(`l`.`line_value`) AS `spend_total`,
    SUM(CASE WHEN `l`.`category_group` = 'essentials' THEN `l`.`line_value` END) AS `spend_essentials`,
    SUM(CASE WHEN `l`.`category_group` = 'fashion_beauty' THEN `l`.`line_value` END) AS `spend_fashion_beauty`,
    SUM(CASE WHEN `l`.`category_group` = 'home_tech' THEN `l`.`line_value` END) AS `spend_home_tech`,
    SUM(CASE WHEN `l`.`category_group` = 'leisure' THEN `l`.`line_value` END) AS `spend_leisure`,
    COUNT(DISTINCT `l`.`category`) AS `categories_90d`
  FROM `features`.`customer_snapshots` AS `s`
  LEFT JOIN `lines` AS `l`
    ON `l`.`customer_id` = `s`.`customer_id`
    AND (
      `l`.`ordered_at` < `s`.`snapshot_date`
      AND `l`.`ordered_at` >= CAST(`s`.`snapshot_date` AS TIMESTAMP) - INTERVAL '90' DAYS
    )
  GROUP BY
    `s`.`customer_id`,
    `s`.`snapshot_date`
)
SELECT
  `spend`.`customer_id` AS `customer_id`,
  `spend`.`snapshot_date` AS `snapshot_date`,
  COALESCE(
    (
      CAST(`spend`.`spend_essentials` AS DOUBLE) / NULLIF(`spend`.`spend_total`, 0)
    ),
    0
  ) AS `share_essentials_90d`,
  COALESCE(
    (
      CAST(`spend`.`spend_fashion_beauty` AS DOUBLE) / NULLIF(`spend`.`spend_total`, 0)
    ),
    0
  ) AS `share_fashion_beauty_90d`,
  COALESCE(
    (
      CAST(`spend`.`spend_home_tech` AS DOUBLE) / NULLIF(`spend`.`spend_total`, 0)
    ),
    0
  ) AS `share_home_tech_90d`,
  COALESCE(
    (
      CAST(`spend`.`spend_leisure` AS DOUBLE) / NULLIF(`spend`.`spend_total`, 0)
    ),
    0
  ) AS `share_leisure_90d`,
  `spend`.`categories_90d` AS `categories_90d`
FROM `spend` AS `spend`
