ALTER TABLE sightline.requests
    DROP COLUMN IF EXISTS attempt_log,
    DROP COLUMN IF EXISTS deployment,
    DROP COLUMN IF EXISTS model_alias;
