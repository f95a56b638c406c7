-- The provider's id of each response (chatcmpl-…, resp_…, msg_…, Gemini's responseId), read from the body or the
-- stream by the ledger: gen_ai.response.id on the call's span, and a way to find a call from the provider's side.
-- Rows written before read '' (the event's zod default).
ALTER TABLE sightline.requests
    ADD COLUMN IF NOT EXISTS response_id String DEFAULT '' CODEC(ZSTD(1)) AFTER response_model;
