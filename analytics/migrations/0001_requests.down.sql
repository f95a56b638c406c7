DROP TABLE IF EXISTS sightline.requests SYNC;
