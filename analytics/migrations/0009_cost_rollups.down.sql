DROP VIEW IF EXISTS sightline.cost_properties_daily_mv SYNC;
DROP TABLE IF EXISTS sightline.cost_properties_daily SYNC;
DROP VIEW IF EXISTS sightline.cost_users_daily_mv SYNC;
DROP TABLE IF EXISTS sightline.cost_users_daily SYNC;
DROP VIEW IF EXISTS sightline.cost_hourly_mv SYNC;
DROP TABLE IF EXISTS sightline.cost_hourly SYNC;
-- requests.cache_saved_usd stays: issue #16's migration may own it (ADD COLUMN IF NOT EXISTS in the up is a no-op then).
