// The gateway's part of the config: `models` (aliases and the deployments serving them) and `router` (routing
// strategy, fallback chains, retries, health). Validated here; the proxy compiles it into its routing table
// (proxy/gateway/table.ts). LiteLLM's config.yaml is read into this same shape by config/litellm.ts.
import { z } from 'zod';

export const ROUTING_STRATEGIES = ['simple-shuffle', 'least-busy', 'latency-based', 'cost-based', 'usage-based'] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

/** Providers a deployment can name (`anthropic/claude-…`); `custom` is any OpenAI-compatible server at `api_base`. */
export const DEPLOYMENT_PROVIDERS = ['openai', 'anthropic', 'gemini', 'azure', 'custom'] as const;

const positiveInt = z.coerce.number().int().positive();

export const DeploymentSchema = z.strictObject({
  /** The alias callers send as `model` (`smart`), or a wildcard (`*`, `openai/*`) passing matching models through. */
  name: z.string().min(1),
  /** The upstream model, LiteLLM's way: `anthropic/claude-sonnet-4-6`, or a bare well-known name (`gpt-5-mini`). */
  model: z.string().min(1),
  /** Overrides the provider the model's prefix or name implies. */
  provider: z.enum(DEPLOYMENT_PROVIDERS).optional(),
  /** The provider's base URL as LiteLLM reads it (an OpenAI-compatible base includes its `/v1`). */
  api_base: z.url().optional(),
  /** The provider key (`env:NAME` / `os.environ/NAME` are resolved at load); absent → the caller's own key passes. */
  api_key: z.string().min(1).optional(),
  /** Azure's `api-version` query parameter. */
  api_version: z.string().default('2024-10-21'),
  /** Names the deployment in the row and in metrics; default `<name>#<index within the alias>`. */
  id: z.string().regex(/^[A-Za-z0-9_.:#/-]{1,128}$/, 'letters, digits and _ . : # / - only').optional(),
  /** Share of traffic under simple-shuffle (relative to the alias's other deployments). */
  weight: z.coerce.number().positive().default(1),
  /** Requests and tokens per minute this deployment may take (usage-based routing keeps under them). */
  rpm: positiveInt.optional(),
  tpm: positiveInt.optional(),
  /** Per-attempt timeout: no response headers, or no body bytes, for this long. */
  timeout_ms: positiveInt.optional(),
  /** Extra headers sent to this deployment (e.g. an OpenAI-compatible server's own). */
  headers: z.record(z.string(), z.string()).default({}),
  /** Calls to this alias use the response cache (config/cache.ts) without sending Sightline-Cache-Enabled. */
  cache: z.boolean().optional(),
});
export type DeploymentConfig = z.infer<typeof DeploymentSchema>;

/** `{smart: [smart-fallback]}` (LiteLLM's) or `{model: smart, fallbacks: [smart-fallback]}` (the article's). */
const FallbackEntry = z.union([
  z.strictObject({ model: z.string().min(1), fallbacks: z.array(z.string().min(1)) }),
  z.record(z.string(), z.array(z.string().min(1))),
]);
const FallbackList = z.array(FallbackEntry).default([]).transform((entries) => {
  const out: Record<string, string[]> = {};
  for (const e of entries) {
    if ('model' in e && 'fallbacks' in e && typeof e.model === 'string' && Array.isArray(e.fallbacks)) out[e.model] = [...(out[e.model] ?? []), ...(e.fallbacks as string[])];
    else for (const [alias, chain] of Object.entries(e as Record<string, string[]>)) out[alias] = [...(out[alias] ?? []), ...chain];
  }
  return out;
});

export const RouterSchema = z.strictObject({
  strategy: z.enum(ROUTING_STRATEGIES).default('simple-shuffle'),
  /** On a failure that may pass (5xx, 429, timeout, connection), the next alias of the chain serves. */
  fallbacks: FallbackList,
  /** Followed when the upstream says the prompt is too long for the model. */
  context_window_fallbacks: FallbackList,
  /** Followed when the upstream refuses the content (content policy / safety). */
  content_policy_fallbacks: FallbackList,
  /** Upstream statuses that count as a failure to retry or fall back on (timeouts and connection errors always do). */
  fallback_on: z.array(z.number().int().min(400).max(599)).default([408, 429, 500, 502, 503, 504, 529]),
  /** Retries of an alias before its fallbacks (each may go to another of its deployments). */
  retries: z.coerce.number().int().min(0).max(10).default(0),
  retry_backoff: z.strictObject({
    factor: z.coerce.number().min(1).default(2),
    min_ms: z.coerce.number().int().nonnegative().default(500),
    max_ms: z.coerce.number().int().positive().default(10_000),
  }).prefault({}),
  /** Every attempt of one call, retries and fallbacks included, ends within this (default: limits.upstream_timeout_ms). */
  timeout_ms: positiveInt.optional(),
  /** A deployment failing `allowed_fails` times within `window_s` seconds rests for `cooldown_s`, then is tried again. */
  cooldown: z.strictObject({
    allowed_fails: z.coerce.number().int().positive().default(3),
    window_s: z.coerce.number().positive().default(60),
    cooldown_s: z.coerce.number().positive().default(30),
  }).prefault({}),
});
export type RouterConfig = z.infer<typeof RouterSchema>;

const CREDENTIAL_REF = /^(?:env:|os\.environ\/)([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * Replaces `env:NAME` / `os.environ/NAME` in every string field of the raw deployments by the variable's value,
 * before validation (LiteLLM allows the reference in any litellm_params value). A variable that is not set leaves
 * the field out, with a warning naming it: the deployment then uses the caller's own key.
 */
export function resolveModelRefs(models: unknown, env: Readonly<Record<string, string | undefined>>, warnings: string[]): unknown {
  if (!Array.isArray(models)) return models;
  return models.map((entry, i) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return entry;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
      const ref = typeof value === 'string' ? CREDENTIAL_REF.exec(value) : null;
      if (ref === null) {
        out[key] = value;
        continue;
      }
      const resolved = env[ref[1]!];
      if (resolved === undefined || resolved === '') warnings.push(`models[${i}].${key}: ${ref[1]} is not set${key === 'api_key' ? '; the caller\'s own key will be passed' : ''}`);
      else out[key] = resolved;
    }
    return out;
  });
}

/** Every alias a fallback chain names must be configured: a typo would otherwise surface only when a provider fails. */
export function checkRouterAliases(models: readonly DeploymentConfig[], router: RouterConfig): string[] {
  const aliases = new Set(models.map((m) => m.name));
  const issues: string[] = [];
  for (const kind of ['fallbacks', 'context_window_fallbacks', 'content_policy_fallbacks'] as const) {
    for (const [alias, chain] of Object.entries(router[kind])) {
      if (!aliases.has(alias)) issues.push(`router.${kind}.${alias}: no model named "${alias}" in models`);
      for (const next of chain) if (!aliases.has(next)) issues.push(`router.${kind}.${alias}: fallback "${next}" is not a model in models`);
    }
  }
  return issues;
}

/** LiteLLM provider prefixes that mean one of Sightline's providers. */
const PREFIX_PROVIDERS: Readonly<Record<string, (typeof DEPLOYMENT_PROVIDERS)[number]>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'gemini',
  google: 'gemini',
  azure: 'azure',
  custom: 'custom',
  openai_compatible: 'custom',
  hosted_vllm: 'custom',
  ollama_chat: 'custom',
  together_ai: 'custom',
  openrouter: 'custom',
  groq: 'custom',
  deepseek: 'custom',
  mistral: 'custom',
  fireworks_ai: 'custom',
  xai: 'custom',
};

/** Bare model names whose provider is well known, as LiteLLM infers it. */
const BARE_NAMES: readonly (readonly [RegExp, (typeof DEPLOYMENT_PROVIDERS)[number]])[] = [
  [/^claude-/, 'anthropic'],
  [/^(gpt-|o\d|chatgpt-|text-embedding-|omni-|codex-|computer-use-)/, 'openai'],
  [/^(gemini-|gemma-|text-embedding-0|embedding-0)/, 'gemini'],
];

export interface ResolvedModel {
  provider: (typeof DEPLOYMENT_PROVIDERS)[number];
  /** The model name the upstream is sent (prefix removed; `*` for a wildcard). */
  model: string;
}

/**
 * The provider and upstream model of `model` (`anthropic/claude-sonnet-4-6`, `gpt-5-mini`), or a message saying what
 * to write instead. `explicit` is a deployment's `provider`; an api_base without a known provider means an
 * OpenAI-compatible server.
 */
export function resolveModel(model: string, explicit?: (typeof DEPLOYMENT_PROVIDERS)[number], hasBase = false): ResolvedModel | string {
  const slash = model.indexOf('/');
  const prefix = slash > 0 ? model.slice(0, slash) : '';
  const named = PREFIX_PROVIDERS[prefix];
  if (explicit !== undefined) return { provider: explicit, model: named !== undefined ? model.slice(slash + 1) : model };
  if (named !== undefined) return { provider: named, model: model.slice(slash + 1) };
  const bare = BARE_NAMES.find(([shape]) => shape.test(model));
  if (bare !== undefined) return { provider: bare[1], model };
  if (hasBase) return { provider: 'custom', model };
  if (prefix !== '') return `provider "${prefix}" is not one Sightline reaches; use openai/, anthropic/, gemini/, azure/ or custom/ (an OpenAI-compatible server at api_base)`;
  return `cannot tell which provider serves "${model}"; write it as openai/${model}, anthropic/${model}, gemini/${model} or azure/${model}, or set provider`;
}

/** Deployment checks zod cannot express alone: the provider is known, Azure and custom servers have an api_base. */
export function checkDeployments(models: readonly DeploymentConfig[]): string[] {
  const issues: string[] = [];
  models.forEach((d, i) => {
    if (d.model.includes('*')) {
      if (d.model !== '*' && !/^[a-z_]+\/\*$/.test(d.model)) issues.push(`models[${i}].model: a wildcard is "*" or "<provider>/*"`);
      return;
    }
    const resolved = resolveModel(d.model, d.provider, d.api_base !== undefined);
    if (typeof resolved === 'string') issues.push(`models[${i}].model: ${resolved}`);
    else if ((resolved.provider === 'azure' || resolved.provider === 'custom') && d.api_base === undefined) {
      issues.push(`models[${i}].api_base: ${resolved.provider === 'azure' ? 'an Azure deployment needs its resource URL (https://<resource>.openai.azure.com)' : 'an OpenAI-compatible server needs its base URL (https://host/v1)'}`);
    }
  });
  return issues;
}
