-- One row per proxied call. Column names are the RequestEvent field names (contracts/event.ts), exactly.
-- {body_retention_days} and {retention_days} are filled in by analytics/migrate.ts from config
-- (clickhouse.body_retention_days / retention_days); migrate() also re-applies them when config changes.
--
-- ReplacingMergeTree collapses rows whose whole ORDER BY key is equal, so every key column is a
-- deterministic function of the event: a redelivered event lands on the same key and collapses
-- (latest row_version wins). The key serves "one org, a time range, by model" and ends in request_id.
CREATE TABLE IF NOT EXISTS sightline.requests
(
    schema_version     UInt8,
    request_id         UUID,
    created_at         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),

    organization_id    LowCardinality(String),
    team               LowCardinality(String),
    key_id             LowCardinality(String),
    user_id            String CODEC(ZSTD(1)),
    session_id         String CODEC(ZSTD(1)),
    session_path       String CODEC(ZSTD(1)),
    session_name       String CODEC(ZSTD(1)),
    properties         Map(String, String) CODEC(ZSTD(1)),

    provider           LowCardinality(String),
    model              LowCardinality(String),
    response_model     LowCardinality(String),
    endpoint           LowCardinality(String),
    path               String CODEC(ZSTD(1)),
    method             LowCardinality(String),
    target_host        LowCardinality(String),
    stream             Bool,

    status             Int32,
    latency_ms         Float64 CODEC(ZSTD(1)),
    ttfb_ms            Nullable(Float64) CODEC(ZSTD(1)),
    ttft_ms            Nullable(Float64) CODEC(ZSTD(1)),
    finish_reason      LowCardinality(String),
    error_type         LowCardinality(String),
    error_code         LowCardinality(String),

    -- UInt64 so no valid event (zod allows any non-negative safe integer) can overflow on insert.
    prompt_tokens      UInt64 CODEC(T64, ZSTD(1)),
    completion_tokens  UInt64 CODEC(T64, ZSTD(1)),
    cache_read_tokens  UInt64 CODEC(T64, ZSTD(1)),
    cache_write_tokens UInt64 CODEC(T64, ZSTD(1)),
    reasoning_tokens   UInt64 CODEC(T64, ZSTD(1)),
    tokens_estimated   Bool,
    cost_usd           Float64 CODEC(ZSTD(1)),
    cost_known         Bool,

    cache_status       LowCardinality(String),
    attempts           UInt32 CODEC(T64, ZSTD(1)),

    trace_id           String CODEC(ZSTD(1)),
    span_id            String CODEC(ZSTD(1)),

    -- Bodies expire long before the row: column TTL resets them to '' on merge, the row stays for reporting.
    -- ZSTD(1), not higher: bodies are most of the bytes, and every insert and merge recompresses them.
    request_body       String CODEC(ZSTD(1)) TTL toDateTime(created_at) + INTERVAL {body_retention_days} DAY,
    response_body      String CODEC(ZSTD(1)) TTL toDateTime(created_at) + INTERVAL {body_retention_days} DAY,
    request_bytes      UInt64 CODEC(T64, ZSTD(1)),
    response_bytes     UInt64 CODEC(T64, ZSTD(1)),

    -- Not part of the event: when ClickHouse got the row, and the ReplacingMergeTree version (newest write wins).
    ingested_at        DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
    row_version        UInt64 DEFAULT toUnixTimestamp64Micro(now64(6)),

    INDEX idx_request_id request_id TYPE bloom_filter(0.001) GRANULARITY 4,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (organization_id, toStartOfHour(created_at), model, request_id)
TTL toDateTime(created_at) + INTERVAL {retention_days} DAY
-- Lets a retried batch carrying the same insert_deduplication_token be dropped at insert time
-- (non-replicated tables keep no block hashes otherwise).
SETTINGS non_replicated_deduplication_window = 1000;
