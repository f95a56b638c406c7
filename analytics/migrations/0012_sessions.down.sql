DROP VIEW IF EXISTS sightline.session_paths_daily_mv SYNC;
DROP TABLE IF EXISTS sightline.session_paths_daily SYNC;
DROP VIEW IF EXISTS sightline.sessions_daily_mv SYNC;
DROP TABLE IF EXISTS sightline.sessions_daily SYNC;
