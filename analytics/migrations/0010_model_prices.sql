-- What a provider's prompt cache saved needs the model's prices: a cache read is billed at the cached rate instead
-- of the full input rate, so the saving is cache_read_tokens × (input rate − cache read rate). The rows hold tokens
-- and cost, not rates, so this table holds the difference per model, written by analytics/prices.ts
-- refreshModelPrices() from the ledger's price data (ledger/cost.ts, the same rates and overrides that priced the
-- rows). Panels join it at query time, so a price refresh re-values history without touching any rollup.
-- A model missing here saves 0 (LEFT JOIN default), never a guess.
CREATE TABLE IF NOT EXISTS sightline.model_prices
(
    provider                        LowCardinality(String),
    model                           LowCardinality(String),
    input_usd_per_mtok              Float64,
    cache_read_saving_usd_per_mtok  Float64,
    priced_at                       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(priced_at)
ORDER BY (provider, model);
