DROP TABLE IF EXISTS sightline.model_prices SYNC;
