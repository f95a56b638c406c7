-- Gateway layer II (#16): what a gateway cache hit saved. A hit is billed 0 (cost_usd) and cache_saved_usd holds
-- the cost of the call whose answer it replayed, priced by the ledger from that answer's usage; misses, bypasses
-- and calls that did not use the cache read 0. Migration 0009's rollups sum it as gateway_cache_saved_usd (0009 adds
-- the column too, IF NOT EXISTS, for stores that applied this number while it was a retired stub).
ALTER TABLE sightline.requests
    ADD COLUMN IF NOT EXISTS cache_saved_usd Float64 DEFAULT 0 CODEC(ZSTD(1)) AFTER cost_known;
