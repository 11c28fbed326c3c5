/* All customer features per (customer_id, snapshot_date), one wide row: the input to training and to scoring the latest snapshot. */
SELECT
  "s"."customer_id" AS "customer_id",
  "s"."snapshot_date" AS "snapshot_date",
  "s"."country" AS "country", /* who they are */
  "s"."region" AS "region",
  "s"."acquisition_channel" AS "acquisition_channel",
  "s"."marketing_opt_in" AS "marketing_opt_in",
  "s"."tenure_days" AS "tenure_days",
  "r"."orders_lifetime" AS "orders_lifetime", /* lifetime history */
  "r"."spend_lifetime" AS "spend_lifetime",
  "r"."avg_order_value" AS "avg_order_value",
  "r"."orders_per_30d" AS "orders_per_30d",
  "r"."days_since_last_order" AS "days_since_last_order",
  "r"."returns_lifetime" AS "returns_lifetime",
  "r"."returned_value_lifetime" AS "returned_value_lifetime",
  "r"."return_rate" AS "return_rate",
  "r"."cancellations_lifetime" AS "cancellations_lifetime",
  "w"."orders_30d" AS "orders_30d", /* recent activity */
  "w"."spend_30d" AS "spend_30d",
  "w"."units_30d" AS "units_30d",
  "w"."orders_90d" AS "orders_90d",
  "w"."spend_90d" AS "spend_90d",
  "w"."units_90d" AS "units_90d",
  "w"."spend_trend" AS "spend_trend",
  "m"."share_essentials_90d" AS "share_essentials_90d", /* what they buy */
  "m"."share_fashion_beauty_90d" AS "share_fashion_beauty_90d",
  "m"."share_home_tech_90d" AS "share_home_tech_90d",
  "m"."share_leisure_90d" AS "share_leisure_90d",
  "m"."categories_90d" AS "categories_90d",
  "e"."sessions_30d" AS "sessions_30d", /* how they browse */
  "e"."sessions_90d" AS "sessions_90d",
  "e"."avg_session_seconds_30d" AS "avg_session_seconds_30d",
  "e"."avg_pages_30d" AS "avg_pages_30d",
  "e"."mobile_share_30d" AS "mobile_share_30d",
  "e"."days_since_last_session" AS "days_since_last_session"
FROM "features"."customer_snapshots" AS "s"
JOIN "features"."customer_rfm" AS "r"
  ON "r"."customer_id" = "s"."customer_id"
  AND "r"."snapshot_date" = "s"."snapshot_date"
JOIN "features"."customer_order_windows" AS "w"
  ON "w"."customer_id" = "s"."customer_id"
  AND "w"."snapshot_date" = "s"."snapshot_date"
JOIN "features"."customer_category_mix" AS "m"
  ON "m"."customer_id" = "s"."customer_id"
  AND "m"."snapshot_date" = "s"."snapshot_date"
JOIN "features"."customer_engagement" AS "e"
  ON "e"."customer_id" = "s"."customer_id"
  AND "e"."snapshot_date" = "s"."snapshot_date"
