-- Cost attribution rollups (issue #17): incremental materialized views, so spend, calls and tokens by any of the
-- attribution dimensions are read from a few thousand pre-summed rows instead of the raw calls.
--
-- Three grains, because one table keyed by every dimension would be as large as the raw rows (user, property):
--   cost_hourly           hour × organisation × team × key × provider × model × endpoint (day and month roll up from it)
--   cost_users_daily      day × organisation × user × team × provider × model
--   cost_properties_daily day × organisation × property name × value × team × key × provider × model (one row per property)
-- Sessions have their own tables (0012). Every call lands in cost_hourly and cost_users_daily; a call with n
-- properties lands n times in cost_properties_daily, once under each name.
--
-- Redelivered events: sightline.requests is a ReplacingMergeTree, which collapses a duplicate row on merge, but a
-- materialized view sees every insert. Each target therefore sets non_replicated_deduplication_window like
-- sightline.requests: an insert replayed with the same insert_deduplication_token (ingest's crash replay) is dropped
-- from the rollups too. A duplicate delivered in a different batch is summed twice until
-- analytics/rollups.ts rebuildRollups() recomputes the affected days from `requests FINAL` (analytics/README.md).
--
-- error = no 2xx/101 answer: a 4xx or 5xx, no response (-1) or a cut stream (-2).
-- gateway_cache_saved_usd sums cache_saved_usd, the cost a gateway cache hit saved (issue #16 fills it). The first
-- statement adds the column with DEFAULT 0 unless #16's migration already has, so the views read 0 on today's rows
-- and the saving on tomorrow's. The down migration leaves it: it may be #16's.
ALTER TABLE sightline.requests
    ADD COLUMN IF NOT EXISTS cache_saved_usd Float64 DEFAULT 0 CODEC(ZSTD(1)) AFTER cost_known;
CREATE TABLE IF NOT EXISTS sightline.cost_hourly
(
    hour               DateTime('UTC'),
    organization_id    LowCardinality(String),
    team               LowCardinality(String),
    key_id             LowCardinality(String),
    provider           LowCardinality(String),
    model              LowCardinality(String),
    endpoint           LowCardinality(String),
    calls              UInt64,
    errors             UInt64,
    cost_usd           Float64,
    prompt_tokens      UInt64,
    completion_tokens  UInt64,
    cache_read_tokens  UInt64,
    cache_write_tokens UInt64,
    reasoning_tokens   UInt64,
    calls_cache_read   UInt64,
    gateway_cache_hits   UInt64,
    gateway_cache_misses UInt64,
    gateway_cache_saved_usd Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (organization_id, hour, team, key_id, provider, model, endpoint)
SETTINGS non_replicated_deduplication_window = 1000;
CREATE MATERIALIZED VIEW IF NOT EXISTS sightline.cost_hourly_mv TO sightline.cost_hourly AS
SELECT
    toStartOfHour(created_at) AS hour,
    organization_id, team, key_id, provider, model, endpoint,
    count() AS calls,
    countIf(NOT (status BETWEEN 200 AND 299 OR status = 101)) AS errors,
    sum(cost_usd) AS cost_usd,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    countIf(r.cache_read_tokens > 0) AS calls_cache_read,
    countIf(cache_status = 'hit') AS gateway_cache_hits,
    countIf(cache_status = 'miss') AS gateway_cache_misses,
    sum(cache_saved_usd) AS gateway_cache_saved_usd
FROM sightline.requests AS r
GROUP BY hour, organization_id, team, key_id, provider, model, endpoint;
CREATE TABLE IF NOT EXISTS sightline.cost_users_daily
(
    day                Date,
    organization_id    LowCardinality(String),
    user_id            String,
    team               LowCardinality(String),
    provider           LowCardinality(String),
    model              LowCardinality(String),
    calls              UInt64,
    errors             UInt64,
    cost_usd           Float64,
    prompt_tokens      UInt64,
    completion_tokens  UInt64,
    cache_read_tokens  UInt64,
    cache_write_tokens UInt64,
    reasoning_tokens   UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (organization_id, day, user_id, team, provider, model)
SETTINGS non_replicated_deduplication_window = 1000;
CREATE MATERIALIZED VIEW IF NOT EXISTS sightline.cost_users_daily_mv TO sightline.cost_users_daily AS
SELECT
    toDate(created_at) AS day,
    organization_id, user_id, team, provider, model,
    count() AS calls,
    countIf(NOT (status BETWEEN 200 AND 299 OR status = 101)) AS errors,
    sum(cost_usd) AS cost_usd,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens
FROM sightline.requests AS r
GROUP BY day, organization_id, user_id, team, provider, model;
CREATE TABLE IF NOT EXISTS sightline.cost_properties_daily
(
    day                Date,
    organization_id    LowCardinality(String),
    property           LowCardinality(String),
    value              String,
    team               LowCardinality(String),
    key_id             LowCardinality(String),
    provider           LowCardinality(String),
    model              LowCardinality(String),
    calls              UInt64,
    errors             UInt64,
    cost_usd           Float64,
    prompt_tokens      UInt64,
    completion_tokens  UInt64,
    cache_read_tokens  UInt64,
    cache_write_tokens UInt64,
    reasoning_tokens   UInt64,
    calls_cache_read   UInt64,
    gateway_cache_hits   UInt64,
    gateway_cache_misses UInt64,
    gateway_cache_saved_usd Float64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (organization_id, property, day, value, team, key_id, provider, model)
SETTINGS non_replicated_deduplication_window = 1000;
CREATE MATERIALIZED VIEW IF NOT EXISTS sightline.cost_properties_daily_mv TO sightline.cost_properties_daily AS
SELECT
    toDate(created_at) AS day,
    organization_id, property, value, team, key_id, provider, model,
    count() AS calls,
    countIf(NOT (status BETWEEN 200 AND 299 OR status = 101)) AS errors,
    sum(cost_usd) AS cost_usd,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    countIf(r.cache_read_tokens > 0) AS calls_cache_read,
    countIf(cache_status = 'hit') AS gateway_cache_hits,
    countIf(cache_status = 'miss') AS gateway_cache_misses,
    sum(cache_saved_usd) AS gateway_cache_saved_usd
FROM sightline.requests AS r
ARRAY JOIN mapKeys(properties) AS property, mapValues(properties) AS value
GROUP BY day, organization_id, property, value, team, key_id, provider, model;
