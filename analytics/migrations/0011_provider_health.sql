-- Provider latency and health per 5 minutes × organisation × provider × model × deployment (issue #17).
-- Quantiles are t-digest states (quantilesTDigest), which merge across buckets: a panel at any interval ≥ 5 min
-- merges the states of its buckets, so p50/p95/p99 never read raw rows. TTFT states skip rows without one (NULL).
-- Status classes: 2xx (101 counts as 2xx: a realtime session that opened), 4xx, 429 (also in 4xx), 5xx,
-- no response (-1: unreachable / timed out before headers) and cut streams (-2: closed mid-way).
-- Output tokens per second of streams = stream_output_tokens / (stream_generation_ms / 1000): completion tokens
-- over the time from the first token to the end, for 2xx streams that had a first token.
-- Retries and fallbacks come from attempt_log (0005): an attempt after the first is a fallback when it went to
-- another (provider, model, deployment) than the attempt before it, else a retry. Rows from before 0005 have an
-- empty attempt_log: all their extra `attempts` count as retries. Dedup of redelivered events: as in 0009.
CREATE TABLE IF NOT EXISTS sightline.provider_health_5m
(
    bucket             DateTime('UTC'),
    organization_id    LowCardinality(String),
    provider           LowCardinality(String),
    model              LowCardinality(String),
    deployment         LowCardinality(String),
    calls              SimpleAggregateFunction(sum, UInt64),
    status_2xx         SimpleAggregateFunction(sum, UInt64),
    status_4xx         SimpleAggregateFunction(sum, UInt64),
    status_429         SimpleAggregateFunction(sum, UInt64),
    status_5xx         SimpleAggregateFunction(sum, UInt64),
    no_response        SimpleAggregateFunction(sum, UInt64),
    stream_cut         SimpleAggregateFunction(sum, UInt64),
    streams            SimpleAggregateFunction(sum, UInt64),
    stream_output_tokens SimpleAggregateFunction(sum, UInt64),
    stream_generation_ms SimpleAggregateFunction(sum, Float64),
    retries            SimpleAggregateFunction(sum, UInt64),
    fallbacks          SimpleAggregateFunction(sum, UInt64),
    calls_fallen_back  SimpleAggregateFunction(sum, UInt64),
    latency_ms_q       AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    ttft_ms_q          AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Nullable(Float64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (organization_id, bucket, provider, model, deployment)
SETTINGS non_replicated_deduplication_window = 1000;
CREATE MATERIALIZED VIEW IF NOT EXISTS sightline.provider_health_5m_mv TO sightline.provider_health_5m AS
SELECT
    toStartOfFiveMinutes(created_at) AS bucket,
    organization_id, provider, model, deployment,
    count() AS calls,
    countIf(status BETWEEN 200 AND 299 OR status = 101) AS status_2xx,
    countIf(status BETWEEN 400 AND 499) AS status_4xx,
    countIf(status = 429) AS status_429,
    countIf(status BETWEEN 500 AND 599) AS status_5xx,
    countIf(status = -1) AS no_response,
    countIf(status = -2) AS stream_cut,
    countIf(stream) AS streams,
    sumIf(completion_tokens, stream AND status BETWEEN 200 AND 299 AND ttft_ms IS NOT NULL AND latency_ms > ttft_ms) AS stream_output_tokens,
    sumIf(latency_ms - ifNull(ttft_ms, 0), stream AND status BETWEEN 200 AND 299 AND ttft_ms IS NOT NULL AND latency_ms > ttft_ms) AS stream_generation_ms,
    sum(toUInt64(if(empty(attempt_log), greatest(attempts, 1) - 1, length(attempt_log) - 1 - arrayCount((a, b) -> (a.provider, a.model, a.deployment) != (b.provider, b.model, b.deployment), arrayPopFront(attempt_log), arrayPopBack(attempt_log))))) AS retries,
    sum(toUInt64(if(empty(attempt_log), 0, arrayCount((a, b) -> (a.provider, a.model, a.deployment) != (b.provider, b.model, b.deployment), arrayPopFront(attempt_log), arrayPopBack(attempt_log))))) AS fallbacks,
    countIf(arrayExists((a, b) -> (a.provider, a.model, a.deployment) != (b.provider, b.model, b.deployment), arrayPopFront(attempt_log), arrayPopBack(attempt_log))) AS calls_fallen_back,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_ms) AS latency_ms_q,
    quantilesTDigestState(0.5, 0.95, 0.99)(ttft_ms) AS ttft_ms_q
FROM sightline.requests
GROUP BY bucket, organization_id, provider, model, deployment;
