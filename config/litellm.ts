// LiteLLM's proxy config.yaml, accepted as it is: its keys are mapped onto Sightline's `models` and `router`
// (config/gateway.ts) before validation, so one schema checks both forms. The README's "LiteLLM config.yaml"
// table lists the mapping key by key. A key Sightline does not implement is never ignored silently: it is named in
// a warning printed at start.

/** True when the file is in LiteLLM's form (it has LiteLLM's own top-level sections). */
export function isLiteLlmConfig(raw: Record<string, unknown>): boolean {
  return 'model_list' in raw || 'litellm_settings' in raw || 'router_settings' in raw || 'general_settings' in raw;
}

const STRATEGIES: Readonly<Record<string, string>> = {
  'simple-shuffle': 'simple-shuffle',
  'least-busy': 'least-busy',
  'latency-based-routing': 'latency-based',
  'cost-based-routing': 'cost-based',
  'usage-based-routing': 'usage-based',
  'usage-based-routing-v2': 'usage-based',
};

/** litellm_params keys and where they go in a Sightline deployment (seconds become milliseconds). */
const PARAMS: Readonly<Record<string, (v: unknown, out: Record<string, unknown>) => void>> = {
  model: (v, o) => { o.model = v; },
  api_key: (v, o) => { o.api_key = v; },
  api_base: (v, o) => { o.api_base = v; },
  base_url: (v, o) => { o.api_base = v; },
  api_version: (v, o) => { o.api_version = v; },
  rpm: (v, o) => { o.rpm = v; },
  tpm: (v, o) => { o.tpm = v; },
  weight: (v, o) => { o.weight = v; },
  timeout: (v, o) => { o.timeout_ms = seconds(v); },
  stream_timeout: (v, o) => { o.timeout_ms ??= seconds(v); },
  extra_headers: (v, o) => { o.headers = v; },
  custom_llm_provider: (v, o) => { o.provider = v === 'openai_compatible' ? 'custom' : v; },
};

const SETTINGS: Readonly<Record<string, (v: unknown, router: Record<string, unknown>) => void>> = {
  routing_strategy: (v, r) => { r.strategy = typeof v === 'string' ? (STRATEGIES[v] ?? v) : v; },
  num_retries: (v, r) => { r.retries = v; },
  timeout: (v, r) => { r.timeout_ms = seconds(v); },
  request_timeout: (v, r) => { r.timeout_ms = seconds(v); },
  fallbacks: (v, r) => { r.fallbacks = v; },
  context_window_fallbacks: (v, r) => { r.context_window_fallbacks = v; },
  content_policy_fallbacks: (v, r) => { r.content_policy_fallbacks = v; },
  allowed_fails: (v, r) => { cooldown(r).allowed_fails = v; },
  cooldown_time: (v, r) => { cooldown(r).cooldown_s = v; },
  retry_after: (v, r) => { backoff(r).min_ms = seconds(v); },
};

const CACHE_PARAMS = new Set(['type', 'ttl', 'host', 'port', 'password']);

/** litellm_settings keys that land in Sightline's `cache` section rather than the router. */
const CACHE_SETTINGS: Readonly<Record<string, (v: unknown, cache: Record<string, unknown>, warnings: string[]) => void>> = {
  cache: (v, c) => { c.all_calls = v; },
  cache_params: (v, c, warnings) => {
    if (!isRecord(v)) return;
    for (const key of Object.keys(v)) if (!CACHE_PARAMS.has(key)) warnings.push(`litellm_settings.cache_params.${key}: not implemented by Sightline; ignored`);
    if (v.type !== undefined && v.type !== 'redis' && v.type !== 'local') warnings.push(`litellm_settings.cache_params.type: ${String(v.type)} is not implemented; Sightline caches in Redis (redis.url) or in memory`);
    if (v.ttl !== undefined) c.ttl_s = v.ttl;
    // Not mapped onto redis.url: that Redis is shared with budgets and rate limits, which fail closed without it.
    for (const key of ['host', 'port', 'password']) if (key in v) warnings.push(`litellm_settings.cache_params.${key}: set redis.url (REDIS_URL) instead; the cache uses Sightline's shared Redis`);
  },
};

/** Keys LiteLLM has that change nothing Sightline does, with why (still named at start, never silently dropped). */
const NOT_IMPLEMENTED: Readonly<Record<string, string>> = {
  'litellm_settings.drop_params': 'Sightline never drops a parameter: one a provider cannot take is refused with a 400 naming it',
  'general_settings.master_key': 'admin keys are Sightline\'s own (keys in sightline.yaml)',
};

export interface LiteLlmMapping {
  /** The Sightline-form config: `models` and `router`, plus any Sightline sections the file also had. */
  raw: Record<string, unknown>;
  warnings: string[];
}

export function fromLiteLlm(input: Record<string, unknown>): LiteLlmMapping {
  const warnings: string[] = [];
  const { model_list, router_settings, litellm_settings, general_settings, environment_variables, ...sightline } = input;
  const out: Record<string, unknown> = { ...sightline };
  const router: Record<string, unknown> = isRecord(out.router) ? { ...out.router } : {};

  if (model_list !== undefined) {
    if (!Array.isArray(model_list)) throw new LiteLlmError('model_list: expected a list of models');
    out.models = model_list.map((entry, i) => deploymentOf(entry, `model_list[${i}]`, warnings));
  }
  for (const [section, value] of [['router_settings', router_settings], ['litellm_settings', litellm_settings], ['general_settings', general_settings]] as const) {
    if (value === undefined || value === null) continue;
    if (!isRecord(value)) throw new LiteLlmError(`${section}: expected a mapping`);
    for (const [key, v] of Object.entries(value)) {
      const apply = section === 'general_settings' ? undefined : SETTINGS[key];
      const toCache = section === 'litellm_settings' ? CACHE_SETTINGS[key] : undefined;
      if (apply) apply(v, router);
      else if (toCache) toCache(v, cacheSection(out), warnings);
      else warnings.push(`${section}.${key}: ${NOT_IMPLEMENTED[`${section}.${key}`] ?? 'not implemented by Sightline; ignored'}`);
    }
  }
  if (environment_variables !== undefined) warnings.push('environment_variables: not read; set them in the environment Sightline runs in');
  if (Object.keys(router).length > 0) out.router = router;
  return { raw: out, warnings };
}

export class LiteLlmError extends Error {
  override name = 'LiteLlmError';
}

function deploymentOf(entry: unknown, at: string, warnings: string[]): Record<string, unknown> {
  if (!isRecord(entry)) throw new LiteLlmError(`${at}: expected a mapping with model_name and litellm_params`);
  const out: Record<string, unknown> = { name: entry.model_name };
  const params = entry.litellm_params;
  if (!isRecord(params)) throw new LiteLlmError(`${at}.litellm_params: expected a mapping with at least model`);
  for (const [key, v] of Object.entries(params)) {
    const apply = PARAMS[key];
    if (apply) apply(v, out);
    else warnings.push(`${at}.litellm_params.${key}: not implemented by Sightline; ignored`);
  }
  const info = entry.model_info;
  if (isRecord(info)) {
    for (const [key, v] of Object.entries(info)) {
      if (key === 'id') out.id = v;
      else warnings.push(`${at}.model_info.${key}: not implemented by Sightline; ignored`);
    }
  }
  for (const key of Object.keys(entry)) {
    if (key !== 'model_name' && key !== 'litellm_params' && key !== 'model_info') warnings.push(`${at}.${key}: not implemented by Sightline; ignored`);
  }
  return out;
}

function seconds(v: unknown): unknown {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? Math.round(n * 1000) : v;
}

function cacheSection(out: Record<string, unknown>): Record<string, unknown> {
  if (!isRecord(out.cache)) out.cache = {};
  return out.cache as Record<string, unknown>;
}

function cooldown(router: Record<string, unknown>): Record<string, unknown> {
  if (!isRecord(router.cooldown)) router.cooldown = {};
  return router.cooldown as Record<string, unknown>;
}

function backoff(router: Record<string, unknown>): Record<string, unknown> {
  if (!isRecord(router.retry_backoff)) router.retry_backoff = {};
  return router.retry_backoff as Record<string, unknown>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
