-- Sessions (agent runs, Sightline-Session-Id): cost, calls, duration and the path tree (Sightline-Session-Path).
-- Keyed by day so a time range prunes; a session that crosses midnight UTC has a row per day, which a query merges
-- by session_id (min start, max end, sums). ended_at = a call's start + its latency. Calls without a session are
-- not here. Dedup of redelivered events: as in 0009.
CREATE TABLE IF NOT EXISTS sightline.sessions_daily
(
    day                Date,
    organization_id    LowCardinality(String),
    session_id         String,
    session_name       SimpleAggregateFunction(anyLast, String),
    user_id            SimpleAggregateFunction(anyLast, String),
    team               SimpleAggregateFunction(anyLast, String),
    started_at         SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    ended_at           SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    calls              SimpleAggregateFunction(sum, UInt64),
    errors             SimpleAggregateFunction(sum, UInt64),
    cost_usd           SimpleAggregateFunction(sum, Float64),
    prompt_tokens      SimpleAggregateFunction(sum, UInt64),
    completion_tokens  SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (organization_id, day, session_id)
SETTINGS non_replicated_deduplication_window = 1000;
CREATE MATERIALIZED VIEW IF NOT EXISTS sightline.sessions_daily_mv TO sightline.sessions_daily AS
SELECT
    toDate(created_at) AS day,
    organization_id, session_id,
    anyLast(session_name) AS session_name,
    anyLast(user_id) AS user_id,
    anyLast(team) AS team,
    min(created_at) AS started_at,
    max(created_at + toIntervalMillisecond(toInt64(latency_ms))) AS ended_at,
    count() AS calls,
    countIf(NOT (status BETWEEN 200 AND 299 OR status = 101)) AS errors,
    sum(cost_usd) AS cost_usd,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens
FROM sightline.requests
WHERE session_id != ''
GROUP BY day, organization_id, session_id;
CREATE TABLE IF NOT EXISTS sightline.session_paths_daily
(
    day                Date,
    organization_id    LowCardinality(String),
    session_id         String,
    session_path       String,
    started_at         SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    ended_at           SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    calls              SimpleAggregateFunction(sum, UInt64),
    errors             SimpleAggregateFunction(sum, UInt64),
    cost_usd           SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (organization_id, session_id, session_path, day)
SETTINGS non_replicated_deduplication_window = 1000;
CREATE MATERIALIZED VIEW IF NOT EXISTS sightline.session_paths_daily_mv TO sightline.session_paths_daily AS
SELECT
    toDate(created_at) AS day,
    organization_id, session_id, session_path,
    min(created_at) AS started_at,
    max(created_at + toIntervalMillisecond(toInt64(latency_ms))) AS ended_at,
    count() AS calls,
    countIf(NOT (status BETWEEN 200 AND 299 OR status = 101)) AS errors,
    sum(cost_usd) AS cost_usd
FROM sightline.requests
WHERE session_id != ''
GROUP BY day, organization_id, session_id, session_path;
