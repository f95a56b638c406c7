ALTER TABLE sightline.requests
    DROP COLUMN IF EXISTS cache_saved_usd;
