-- Provider health per hour, for ranges longer than two days: the 5-minute rollup (0011) holds a t-digest per
-- organisation × provider × model × deployment every 5 minutes, and merging a month of them takes a second on two
-- cores (bench/README.md); hourly states are twelve times fewer. Same columns and engine as the 5-minute table, and
-- fed from it (a view on the 5-minute table's inserts, merging its states), so both always hold the same calls,
-- and a replayed insert dropped from the 5-minute table is dropped here too (same dedup window).
CREATE TABLE IF NOT EXISTS sightline.provider_health_1h AS sightline.provider_health_5m;
CREATE MATERIALIZED VIEW IF NOT EXISTS sightline.provider_health_1h_mv TO sightline.provider_health_1h AS
SELECT
    toStartOfHour(bucket) AS bucket,
    organization_id, provider, model, deployment,
    sum(calls) AS calls,
    sum(status_2xx) AS status_2xx,
    sum(status_4xx) AS status_4xx,
    sum(status_429) AS status_429,
    sum(status_5xx) AS status_5xx,
    sum(no_response) AS no_response,
    sum(stream_cut) AS stream_cut,
    sum(streams) AS streams,
    sum(stream_output_tokens) AS stream_output_tokens,
    sum(stream_generation_ms) AS stream_generation_ms,
    sum(retries) AS retries,
    sum(fallbacks) AS fallbacks,
    sum(calls_fallen_back) AS calls_fallen_back,
    quantilesTDigestMergeState(0.5, 0.95, 0.99)(latency_ms_q) AS latency_ms_q,
    quantilesTDigestMergeState(0.5, 0.95, 0.99)(ttft_ms_q) AS ttft_ms_q
FROM sightline.provider_health_5m
GROUP BY bucket, organization_id, provider, model, deployment;
