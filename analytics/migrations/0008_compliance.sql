-- Compliance (#17): the audit log of what was done to the data itself. One row per action (today `erase`: a
-- GDPR erasure of one user's rows), written by `sightline audit erase` after the deletion was waited for, with the
-- counts before and after that prove it. The erased user's id is kept here on purpose: it is the record that the
-- request was honoured. Never expires and is never erased (erase skips this table: its column is subject_user_id).
-- organization_id '' = the erase covered every organisation; a scoped caller sees only its own organisation's rows.
-- Per-organisation retention is not a migration of its own: migrate() ALTERs the TTLs of sightline.requests from
-- config (retention.organizations), see analytics/migrate.ts.
CREATE TABLE IF NOT EXISTS sightline.audit_log
(
    at                DateTime64(3, 'UTC') DEFAULT now64(3),
    action            LowCardinality(String),
    organization_id   LowCardinality(String),
    subject_user_id   String,
    -- Who did it: the admin key's id, or `cli` for the operator's own ClickHouse credentials.
    actor             String,
    rows_before       UInt64,
    rows_after        UInt64,
    -- JSON: per table, the rows before and after.
    detail            String CODEC(ZSTD(1))
)
ENGINE = MergeTree
ORDER BY (organization_id, at);
