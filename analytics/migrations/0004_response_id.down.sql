ALTER TABLE sightline.requests
    DROP COLUMN IF EXISTS response_id;
