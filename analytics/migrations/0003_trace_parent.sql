-- The rest of a call's W3C trace next to trace_id / span_id: the caller's span that the proxy's span is a child of
-- ('' when the proxy started the trace) and whether the trace was sampled, i.e. whether ingest exported its span.
-- Rows written before read '' and false, as the event's zod defaults say.
ALTER TABLE sightline.requests
    ADD COLUMN IF NOT EXISTS parent_span_id String DEFAULT '' CODEC(ZSTD(1)) AFTER span_id,
    ADD COLUMN IF NOT EXISTS trace_sampled  Bool DEFAULT false AFTER parent_span_id;
