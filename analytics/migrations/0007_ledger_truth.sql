-- Ledger truth (#19): every priced dimension a response reports, each a part of a total stored since 0001
-- (cache_write_1h ⊆ cache_write: Anthropic's 1-hour cache writes; input_audio and input_image ⊆ prompt;
-- cache_audio_read ⊆ cache_read; output_audio and output_image ⊆ completion), the tier the provider says served
-- the call, and the price data that priced cost_usd (`genai-prices@0.1.8`, a price-data file's version, or
-- `override:<digest>`), so `sightline reprice` can recompute cost from stored usage and say what changed.
-- Rows written before read 0 and '' (the event's zod defaults).
ALTER TABLE sightline.requests
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER reasoning_tokens,
    ADD COLUMN IF NOT EXISTS input_audio_tokens UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER cache_write_1h_tokens,
    ADD COLUMN IF NOT EXISTS cache_audio_read_tokens UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER input_audio_tokens,
    ADD COLUMN IF NOT EXISTS input_image_tokens UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER cache_audio_read_tokens,
    ADD COLUMN IF NOT EXISTS output_audio_tokens UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER input_image_tokens,
    ADD COLUMN IF NOT EXISTS output_image_tokens UInt64 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER output_audio_tokens,
    ADD COLUMN IF NOT EXISTS service_tier LowCardinality(String) DEFAULT '' AFTER output_image_tokens,
    ADD COLUMN IF NOT EXISTS price_version LowCardinality(String) DEFAULT '' AFTER cost_known;
