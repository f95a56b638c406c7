ALTER TABLE sightline.requests
    DROP COLUMN IF EXISTS close_code,
    DROP COLUMN IF EXISTS messages_out,
    DROP COLUMN IF EXISTS messages_in;
