/* Site and app engagement before each snapshot date: sessions in 30/90 days, time on site, pages, mobile share, days since last visit. */
SELECT
  `s`.`customer_id` AS `customer_id`,
  `s`.`snapshot_date` AS `snapshot_date`,
  COUNT(
    CASE
      WHEN (
        `w`.`started_at` < `s`.`snapshot_date`
        AND `w`.`started_at` >= CAST(`s`.`snapshot_date` AS TIMESTAMP) - INTERVAL '30' DAYS
      )
      THEN `w`.`session_id`
    END
  ) AS `sessions_30d`,
  COUNT(
    CASE
      WHEN (
        `w`.`started_at` < `s`.`snapshot_date`
        AND `w`.`started_at` >= CAST(`s`.`snapshot_date` AS TIMESTAMP) - INTERVAL '90' DAYS
      )
      THEN `w`.`session_id`
    END
  ) AS `sessions_90d`,
  COALESCE(
    AVG(
      CASE
        WHEN (
          `w`.`started_at` < `s`.`snapshot_date`
          AND `w`.`started_at` >= CAST(`s`.`snapshot_date` AS TIMESTAMP) - INTERVAL '30' DAYS
        )
        THEN `w`.`duration_seconds`
      END
    ),
    0
  ) AS `avg_session_seconds_30d`,
  COALESCE(
    AVG(
      CASE
        WHEN (
          `w`.`started_at` < `s`.`snapshot_date`
          AND `w`.`started_at` >= CAST(`s`.`snapshot_date` AS TIMESTAMP) - INTERVAL '30' DAYS
        )
        THEN `w`.`pages_viewed`
      END
    ),
    0
  ) AS `avg_pages_30d`,
  COALESCE(
    (
      CAST(COUNT(
        CASE
          WHEN `w`.`device` = 'mobile'
          AND (
            `w`.`started_at` < `s`.`snapshot_date`
            AND `w`.`started_at` >= CAST(`s`.`snapshot_date` AS TIMESTAMP) - INTERVAL '30' DAYS
          )
          THEN `w`.`session_id`
        END
      ) AS DOUBLE) / NULLIF(
        COUNT(
          CASE
            WHEN (
              `w`.`started_at` < `s`.`snapshot_date`
              AND `w`.`started_at` >= CAST(`s`.`snapshot_date` AS TIMESTAMP) - INTERVAL '30' DAYS
            )
            THEN `w`.`session_id`
          END
        ),
        0
      )
    ),
    0
  ) AS `mobile_share_30d`,
  COALESCE(
    DATEDIFF(DAY, CAST(MAX(`w`.`started_at`) AS DATE), CAST(`s`.`snapshot_date` AS DATE)),
    91
  ) AS `days_since_last_session` /* only the last 90 days are scanned: 91 means "no visit in the last 90 days" */
FROM `features`.`customer_snapshots` AS `s`
LEFT JOIN `shop`.`web_sessions` AS `w`
  ON `w`.`customer_id` = `s`.`customer_id`
  AND (
    `w`.`started_at` < `s`.`snapshot_date`
    AND `w`.`started_at` >= CAST(`s`.`snapshot_date` AS TIMESTAMP) - INTERVAL '90' DAYS
  )
GROUP BY
  `s`.`customer_id`,
  `s`.`snapshot_date`
