// Fills sightline.model_prices (migration 0010) for the models the rollups have seen, from the ledger's own rates,
// so the Cache panels value a provider's prompt-cache reads with the price data that costed the rows.
// The saving per cached million tokens is measured through the coster rather than read from its tables: the cost
// of 1M input tokens minus the cost of the same 1M with all of them read from cache (a per-call fee cancels out).
// Flat rates: a tiered model is valued at its base tier, as a saving estimate should be.
import type { ClickHouseClient } from '@clickhouse/client';
import { ProviderId } from '../contracts/event.ts';
import type { PriceOverride } from '../config/index.ts';
import { createCoster } from '../ledger/cost.ts';

const MTOK = 1_000_000;
const NONE = { prompt_tokens: 0, completion_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };

export interface ModelPrice {
  provider: string;
  model: string;
  input_usd_per_mtok: number;
  cache_read_saving_usd_per_mtok: number;
}

/** The rates of each (provider, model) the coster knows; unknown providers and unpriced models are left out. */
export function modelPrices(models: readonly { provider: string; model: string }[], overrides: Readonly<Record<string, PriceOverride>> = {}): ModelPrice[] {
  const cost = createCoster({ overrides });
  const out: ModelPrice[] = [];
  for (const { provider, model } of models) {
    const id = ProviderId.safeParse(provider);
    if (!id.success) continue;
    const base = cost(id.data, model, NONE);
    const full = cost(id.data, model, { ...NONE, prompt_tokens: MTOK });
    const cached = cost(id.data, model, { ...NONE, prompt_tokens: MTOK, cache_read_tokens: MTOK });
    if (!full.cost_known || !cached.cost_known) continue;
    out.push({
      provider,
      model,
      input_usd_per_mtok: full.cost_usd - base.cost_usd,
      cache_read_saving_usd_per_mtok: full.cost_usd - cached.cost_usd,
    });
  }
  return out;
}

/** Prices every (provider, model) in sightline.cost_hourly that model_prices lacks; returns how many it wrote. */
export async function refreshModelPrices(client: ClickHouseClient, overrides: Readonly<Record<string, PriceOverride>> = {}): Promise<number> {
  const rs = await client.query({
    query: `SELECT DISTINCT provider, model FROM sightline.cost_hourly
            WHERE (provider, model) NOT IN (SELECT provider, model FROM sightline.model_prices)`,
    format: 'JSONEachRow',
  });
  const prices = modelPrices(await rs.json<{ provider: string; model: string }>(), overrides);
  if (prices.length > 0) await client.insert({ table: 'sightline.model_prices', values: prices, format: 'JSONEachRow' });
  return prices.length;
}
