-- WebSocket sessions (endpoint 'realtime', one row per session, written when it ends): data messages each way and
-- the first close frame's status code (1005 none given, 1006 ended without one). HTTP calls have 0 in all three,
-- which is also what every row written before this migration reads as (the event's zod defaults say the same).
-- UInt32 / UInt16: contracts/event.ts bounds the fields to them, so no valid event can overflow on insert.
ALTER TABLE sightline.requests
    ADD COLUMN IF NOT EXISTS messages_in  UInt32 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER response_bytes,
    ADD COLUMN IF NOT EXISTS messages_out UInt32 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER messages_in,
    ADD COLUMN IF NOT EXISTS close_code   UInt16 DEFAULT 0 CODEC(T64, ZSTD(1)) AFTER messages_out;
