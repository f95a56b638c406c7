-- The raw-row path: every call, exactly once (FINAL collapses redelivered duplicates), with what an auditor asks
-- for and the redacted bodies (ingest redacts before insert; the body TTL of 0001 empties them after
-- body_retention_days). Drill-downs filter it by time range, organisation, user, key, property or request_id;
-- a filter on organization_id and created_at prunes by sightline.requests' ordering key, request_id by its
-- bloom filter index.
CREATE VIEW IF NOT EXISTS sightline.audit_trail AS
SELECT
    created_at, request_id, organization_id, team, key_id, user_id, session_id, session_path, properties,
    provider, model, model_alias, deployment, response_model, endpoint, stream, status, error_type, error_code,
    latency_ms, ttft_ms, prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    tokens_estimated, cost_usd, cost_known, cache_status, attempts, attempt_log, trace_id, span_id, response_id,
    request_body AS prompt, response_body AS response
FROM sightline.requests FINAL;
