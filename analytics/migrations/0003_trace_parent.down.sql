ALTER TABLE sightline.requests
    DROP COLUMN IF EXISTS trace_sampled,
    DROP COLUMN IF EXISTS parent_span_id;
