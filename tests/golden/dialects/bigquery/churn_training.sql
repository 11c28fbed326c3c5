/* Churn training table: all features plus the churn label, for customers active (an order in the 90 days) before the snapshot. */
SELECT
  `f`.`customer_id` AS `customer_id`,
  `f`.`snapshot_date` AS `snapshot_date`,
  `f`.`country` AS `country`,
  `f`.`region` AS `region`,
  `f`.`acquisition_channel` AS `acquisition_channel`,
  `f`.`marketing_opt_in` AS `marketing_opt_in`,
  `f`.`tenure_days` AS `tenure_days`,
  `f`.`orders_lifetime` AS `orders_lifetime`,
  `f`.`spend_lifetime` AS `spend_lifetime`,
  `f`.`avg_order_value` AS `avg_order_value`,
  `f`.`orders_per_30d` AS `orders_per_30d`,
  `f`.`days_since_last_order` AS `days_since_last_order`,
  `f`.`returns_lifetime` AS `returns_lifetime`,
  `f`.`returned_value_lifetime` AS `returned_value_lifetime`,
  `f`.`return_rate` AS `return_rate`,
  `f`.`cancellations_lifetime` AS `cancellations_lifetime`,
  `f`.`orders_30d` AS `orders_30d`,
  `f`.`spend_30d` AS `spend_30d`,
  `f`.`units_30d` AS `units_30d`,
  `f`.`orders_90d` AS `orders_90d`,
  `f`.`spend_90d` AS `spend_90d`,
  `f`.`units_90d` AS `units_90d`,
  `f`.`spend_trend` AS `spend_trend`,
  `f`.`share_essentials_90d` AS `share_essentials_90d`,
  `f`.`share_fashion_beauty_90d` AS `share_fashion_beauty_90d`,
  `f`.`share_home_tech_90d` AS `share_home_tech_90d`,
  `f`.`share_leisure_90d` AS `share_leisure_90d`,
  `f`.`categories_90d` AS `categories_90d`,
  `f`.`sessions_30d` AS `sessions_30d`,
  `f`.`sessions_90d` AS `sessions_90d`,
  `f`.`avg_session_seconds_30d` AS `avg_session_seconds_30d`,
  `f`.`avg_pages_30d` AS `avg_pages_30d`,
  `f`.`mobile_share_30d` AS `mobile_share_30d`,
  `f`.`days_since_last_session` AS `days_since_last_session`,
  `l`.`churned` AS `churned`
FROM `features`.`customer_features` AS `f`
JOIN `features`.`customer_labels` AS `l`
  ON `l`.`customer_id` = `f`.`customer_id`
  AND `l`.`snapshot_date` = `f`.`snapshot_date`
WHERE
  `f`.`orders_90d` > 0
