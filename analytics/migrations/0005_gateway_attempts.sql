-- Gateway layer I: which configured alias a call named, which deployment served it, and every upstream attempt
-- the gateway made for it (retries and fallbacks), in order, the serving one last. `attempts` (0001) counts them.
-- attempt_log.status is the upstream's HTTP status, or the event.ts sentinels (-1 no response) for attempts that
-- got none; start_ms is when the attempt began, in ms after the call arrived (its span's start in a trace);
-- error_code is the stable sightline_* code or the upstream's error type, error a short message.
-- Rows written before read '' and [] (the event's zod defaults), so views work on old and new rows alike.
ALTER TABLE sightline.requests
    ADD COLUMN IF NOT EXISTS model_alias LowCardinality(String) DEFAULT '' AFTER model,
    ADD COLUMN IF NOT EXISTS deployment LowCardinality(String) DEFAULT '' AFTER model_alias,
    ADD COLUMN IF NOT EXISTS attempt_log Array(Tuple(
        alias LowCardinality(String),
        deployment LowCardinality(String),
        provider LowCardinality(String),
        model LowCardinality(String),
        status Int32,
        start_ms Float64,
        latency_ms Float64,
        error_code LowCardinality(String),
        error String)) DEFAULT [] CODEC(ZSTD(1)) AFTER attempts;
