DROP VIEW IF EXISTS sightline.provider_health_5m_mv SYNC;
DROP TABLE IF EXISTS sightline.provider_health_5m SYNC;
