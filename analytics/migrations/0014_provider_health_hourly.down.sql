DROP VIEW IF EXISTS sightline.provider_health_1h_mv SYNC;
DROP TABLE IF EXISTS sightline.provider_health_1h SYNC;
