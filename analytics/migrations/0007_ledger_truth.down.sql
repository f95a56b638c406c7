ALTER TABLE sightline.requests
    DROP COLUMN IF EXISTS cache_write_1h_tokens,
    DROP COLUMN IF EXISTS input_audio_tokens,
    DROP COLUMN IF EXISTS cache_audio_read_tokens,
    DROP COLUMN IF EXISTS input_image_tokens,
    DROP COLUMN IF EXISTS output_audio_tokens,
    DROP COLUMN IF EXISTS output_image_tokens,
    DROP COLUMN IF EXISTS service_tier,
    DROP COLUMN IF EXISTS price_version;
