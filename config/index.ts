// Configuration is parsed once, by zod, at start: an optional sightline.yaml (SIGHTLINE_CONFIG)
// with environment overrides on top. Nothing else in the codebase reads process.env.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BudgetSchema, BudgetsSchema, RatePolicySchema } from './budgets.ts';
import { checkDeployments, checkRouterAliases, DeploymentSchema, resolveModelRefs, RouterSchema } from './gateway.ts';
import { fromLiteLlm, isLiteLlmConfig, LiteLlmError } from './litellm.ts';
import { AdminSchema, RetentionSchema } from './compliance.ts';
import { CacheSchema, checkCache } from './cache.ts';
import { applyTracingEnv, TracingSchema } from './tracing.ts';

const hostPort = z.string().regex(/^(\*|\*\.[a-z0-9.-]+|[a-z0-9.-]+|\[[0-9a-f:]+\])(:(\*|\d{1,5}))?$/i, 'expected host[:port] (host may be *, *.example.com; port may be *)');

const PriceOverride = z.strictObject({
  input_per_mtok: z.number().nonnegative(),
  output_per_mtok: z.number().nonnegative(),
  cache_read_per_mtok: z.number().nonnegative().optional(),
  cache_write_per_mtok: z.number().nonnegative().optional(),
  reasoning_per_mtok: z.number().nonnegative().optional(),
  // The priced dimensions beyond text (ledger/cost.ts); unset = the text rate of their side.
  cache_write_1h_per_mtok: z.number().nonnegative().optional(),
  input_audio_per_mtok: z.number().nonnegative().optional(),
  cache_audio_read_per_mtok: z.number().nonnegative().optional(),
  input_image_per_mtok: z.number().nonnegative().optional(),
  output_audio_per_mtok: z.number().nonnegative().optional(),
  output_image_per_mtok: z.number().nonnegative().optional(),
});
export type PriceOverride = z.infer<typeof PriceOverride>;

/** A key: Sightline-Auth, or a virtual key standing in for the provider key. Config-as-code and runtime keys alike. */
export const ApiKey = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'letters, digits and _ . : - only'),
  /** sha256 hex of the key; the key itself is never stored. */
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest (npx sightline keys hash <key>)'),
  organization_id: z.string().min(1),
  team: z.string().default(''),
  /** Aliases and provider models the key may call (globs: `claude-*`, `openai/*`); empty = any. */
  models: z.array(z.string().min(1)).default([]),
  /** `200/month`, `$10/day`. */
  budget: BudgetSchema.optional(),
  rpm: z.coerce.number().int().positive().optional(),
  tpm: z.coerce.number().int().positive().optional(),
  /** ISO-8601; the key is refused from then on. */
  expires_at: z.iso.datetime({ offset: true }).optional(),
  metadata: z.record(z.string(), z.string()).default({}),
  revoked: z.boolean().default(false),
  /** Cache this key's calls (as Sightline-Cache-Enabled: true does per call). */
  cache: z.boolean().optional(),
});
export type ApiKey = z.infer<typeof ApiKey>;

export const ConfigSchema = z.strictObject({
  server: z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8787),
    /** Auth is optional on loopback; on any other address it is required unless this is explicitly false. */
    require_auth: z.boolean().optional(),
  }).prefault({}),
  data_dir: z.string().default('./data'),
  /** Names this proxy process's spool (<data_dir>/spool/<instance>); each proxy process needs its own. */
  instance: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "-", "." only').default('proxy'),
  limits: z.strictObject({
    max_body_bytes: z.coerce.number().int().positive().default(32 * 1024 * 1024),
    upstream_timeout_ms: z.coerce.number().int().positive().default(600_000),
    /** Time allowed to open a connection (TCP + TLS) to an upstream. */
    upstream_connect_timeout_ms: z.coerce.number().int().positive().default(10_000),
    /** Bodies above this are logged truncated (the response itself is never touched). */
    max_logged_body_bytes: z.coerce.number().int().nonnegative().default(1024 * 1024),
  }).prefault({}),
  upstreams: z.strictObject({
    openai: z.url().default('https://api.openai.com'),
    anthropic: z.url().default('https://api.anthropic.com'),
    gemini: z.url().default('https://generativelanguage.googleapis.com'),
    /** `{resource}` is replaced by the resource named in /azure/{resource}/… */
    azure: z.string().default('https://{resource}.openai.azure.com'),
  }).prefault({}),
  /** host:port patterns Sightline-Target-Url may point at. Private addresses only when listed explicitly. */
  allowed_targets: z.array(hostPort).default([]),
  keys: z.array(ApiKey).default([]),
  /** Where request events go: `jsonl:<path>`, `spool` (embedded bus, default) or `kafka`. */
  sink: z.string().regex(/^(jsonl:.+|spool|kafka|none)$/, 'expected jsonl:<path>, spool, kafka or none').default('spool'),
  /** Write-ahead logging: a call's last bytes leave only once its event is logged. */
  logging: z.strictObject({
    /**
     * written: the event is in the OS before the call completes (survives kill -9 of the gateway); fsync: fsynced
     * too (survives power loss); async: logged just after the call completes (a crash in between loses it).
     */
    durability: z.enum(['written', 'fsync', 'async']).default('written'),
    /** When the event cannot be logged (spool at its cap, disk full): serve the call anyway (counted, warned) or reject it (503). */
    on_failure: z.enum(['serve', 'reject']).default('serve'),
  }).prefault({}),
  stream_usage: z.strictObject({
    /** Ask OpenAI-style upstreams for a usage chunk (stream_options.include_usage) and hide it from callers that did not ask. */
    inject: z.boolean().default(true),
  }).prefault({}),
  prices: z.record(z.string(), PriceOverride).default({}),
  pricing: z.strictObject({
    /**
     * A genai-prices data file used instead of the bundled data (`npx sightline prices update` writes
     * <data_dir>/prices.json, read when this is unset); its version lands in each row's price_version.
     */
    data_file: z.string().optional(),
    /** Negotiated prices per organisation, by model name; they win over `prices` for that organisation's calls. */
    organizations: z.record(z.string(), z.record(z.string(), PriceOverride)).default({}),
    /**
     * Price factors by provider and the service tier the provider says served the call (the price data has no tier
     * or batch prices). Defaults: the published Batch API discounts (OpenAI, Anthropic: half price) and OpenAI's
     * flex tier, which OpenAI prices at Batch API rates. A tier not listed is priced at standard rates.
     */
    tier_factors: z.record(z.string(), z.record(z.string(), z.number().nonnegative())).default({ openai: { batch: 0.5, flex: 0.5 }, azure: { batch: 0.5 }, anthropic: { batch: 0.5 } }),
  }).prefault({}),
  kafka: z.strictObject({
    brokers: z.array(z.string()).default([]),
    topic: z.string().default('sightline.requests'),
    dlq_topic: z.string().default('sightline.requests.dlq'),
    client_id: z.string().default('sightline'),
    group_id: z.string().default('sightline-ingest'),
    /** How long the group waits for a vanished ingest worker before handing its partitions on (broker minimum is usually 6 s). */
    session_timeout_ms: z.coerce.number().int().min(1000).default(10_000),
    ssl: z.boolean().default(false),
    sasl: z.strictObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string(),
      password: z.string(),
    }).optional(),
  }).prefault({}),
  clickhouse: z.strictObject({
    /** Unset = embedded chDB in `<data_dir>/clickhouse`. */
    url: z.url().optional(),
    user: z.string().default('default'),
    password: z.string().default(''),
    /** The embedded store's ClickHouse HTTP interface (read-only). 0 = off. */
    http_port: z.coerce.number().int().min(0).max(65535).default(8123),
    body_retention_days: z.coerce.number().int().positive().default(90),
    retention_days: z.coerce.number().int().positive().default(365),
    /**
     * Limits of the embedded engine (chDB), which shares one box with the proxy; not used with a ClickHouse server
     * (`url`). Unset, the engine would take one thread per core for every query and every insert's parsing and
     * allow 5 GiB per cache. See analytics/client.ts (EMBEDDED_DEFAULTS) for what was measured.
     */
    embedded: z.strictObject({
      /** Threads one query may use. */
      max_threads: z.coerce.number().int().positive().default(2),
      /** Threads parsing one insert (1 measured cheapest in CPU per row). */
      max_parsing_threads: z.coerce.number().int().positive().default(1),
      /** Threads running merges; at most this many merges run at once. */
      background_pool_size: z.coerce.number().int().positive().default(2),
      /** Upper bound of each engine cache (marks, primary indexes, index marks, query conditions, compiled expressions). */
      cache_bytes: z.coerce.number().int().positive().default(64 * 1024 * 1024),
    }).prefault({}),
  }).prefault({}),
  spool: z.strictObject({
    fsync: z.enum(['always', 'interval', 'never']).default('interval'),
    fsync_interval_ms: z.coerce.number().int().positive().default(50),
    max_bytes: z.coerce.number().int().positive().default(1024 * 1024 * 1024),
    segment_bytes: z.coerce.number().int().positive().default(64 * 1024 * 1024),
  }).prefault({}),
  ingest: z.strictObject({
    // A batch (one insert) closes at batch_max_rows records, batch_max_bytes of bus messages, or flush_ms after its
    // first record arrived, whichever comes first. Every insert costs the engine ~8-10 ms of CPU whatever its size,
    // so at low rates batches wait for flush_ms: an event is stored at most ~flush_ms plus one insert after it was
    // logged. The byte cap bounds the worker's memory: one batch is being stored while the next is prepared.
    batch_max_rows: z.coerce.number().int().positive().default(10_000),
    /** Unset: ingestBatchMaxBytes() picks it by store (larger for the embedded one). */
    batch_max_bytes: z.coerce.number().int().positive().optional(),
    flush_ms: z.coerce.number().int().positive().default(1000),
    /** Larger bus messages go to the dead-letter sink (the proxy already truncates logged bodies). */
    max_event_bytes: z.coerce.number().int().positive().default(4 * 1024 * 1024),
    /**
     * How much nicer than the proxy `sightline start` runs its ingest worker (0: the same). Higher: calls come first
     * on a busy core and ingest stores in the gaps, at the price of a backlog (and its memory) under sustained load:
     * bench/README "npm start".
     */
    nice: z.coerce.number().int().min(0).max(19).default(0),
  }).prefault({}),
  redaction: z.strictObject({
    enabled: z.boolean().default(true),
    /** Types switched off globally (e.g. ['ip_address']). */
    disabled_types: z.array(z.string()).default([]),
    /** Built-in detectors to switch on; person_name and street_address are on by default (disabled_types turns them off). */
    optional_types: z.array(z.enum(['person_name', 'street_address'])).default([]),
    /** Extra patterns: name → regex source. */
    custom: z.record(z.string(), z.string()).default({}),
    /** Exact strings never redacted. */
    allowlist: z.array(z.string()).default([]),
    /** Per-organisation overrides of the three fields above. */
    organizations: z.record(z.string(), z.strictObject({
      enabled: z.boolean().optional(),
      disabled_types: z.array(z.string()).optional(),
      optional_types: z.array(z.enum(['person_name', 'street_address'])).optional(),
      custom: z.record(z.string(), z.string()).optional(),
      allowlist: z.array(z.string()).optional(),
    })).default({}),
  }).prefault({}),
  /** OpenTelemetry (config/tracing.ts): off unless an OTLP endpoint is set. */
  tracing: TracingSchema.prefault({}),
  /** Console and compliance (config/compliance.ts): admin keys, per-organisation retention. */
  admin: AdminSchema.prefault({}),
  retention: RetentionSchema.prefault({}),
  /**
   * Redis (REDIS_URL): what replicas share — virtual keys, budget spend, rate-limit windows, the response cache.
   * Unset: each of those lives in this process (and in files under data_dir), as the embedded default does.
   */
  redis: z.strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'expected redis://host:port or rediss://…').optional(),
    /** Every Redis command has this deadline: a slow or unreachable Redis never hangs a call. */
    command_timeout_ms: z.coerce.number().int().positive().default(250),
    /** Prefix of every key Sightline writes. */
    prefix: z.string().default('sightline:'),
    /** With Redis unreachable: rate limits let calls through (warned, counted); budgets refuse them. */
    on_unavailable: z.strictObject({
      rate_limits: z.enum(['open', 'closed']).default('open'),
      budgets: z.enum(['open', 'closed']).default('closed'),
    }).prefault({}),
  }).prefault({}),
  /** Budgets per team and organisation (keys carry their own), and when their periods turn (config/budgets.ts). */
  budgets: BudgetsSchema.prefault({}),
  /** Rate limits for every call, in Helicone's policy grammar (`1000;w=60;u=request;s=user`), beside each key's rpm/tpm. */
  rate_limits: z.array(RatePolicySchema).default([]),
  /**
   * Provider keys used when a virtual key stands in for the provider key on a provider route (`/openai/…`,
   * `/anthropic/…`): `env:NAME` / `os.environ/NAME`. Aliases use their deployments' own keys.
   */
  provider_keys: z.strictObject({
    openai: z.string().optional(),
    anthropic: z.string().optional(),
    gemini: z.string().optional(),
    azure: z.string().optional(),
  }).default({}),
  /** The response cache (config/cache.ts): exact and semantic, in Redis when redis.url is set, else in memory. */
  cache: CacheSchema.prefault({}),
  /** Gateway (config/gateway.ts): aliases callers name as `model`, each served by one or more deployments. */
  models: z.array(DeploymentSchema).default([]),
  router: RouterSchema.prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const PROVIDER_ENV = ['openai', 'anthropic', 'gemini', 'azure'] as const;

/** Applies environment overrides onto the raw (unvalidated) file object. */
function applyEnv(raw: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out = structuredClone(raw);
  const section = (name: string): Record<string, unknown> => {
    const cur = out[name];
    if (cur && typeof cur === 'object' && !Array.isArray(cur)) return cur as Record<string, unknown>;
    const fresh: Record<string, unknown> = {};
    out[name] = fresh;
    return fresh;
  };
  const set = (envName: string, apply: (v: string) => void) => {
    const v = env[envName];
    if (v !== undefined && v !== '') apply(v);
  };
  set('SIGHTLINE_PORT', (v) => { section('server').port = v; });
  set('SIGHTLINE_HOST', (v) => { section('server').host = v; });
  set('SIGHTLINE_REQUIRE_AUTH', (v) => { section('server').require_auth = v === 'true' || v === '1'; });
  set('SIGHTLINE_DATA_DIR', (v) => { out.data_dir = v; });
  set('SIGHTLINE_INSTANCE', (v) => { out.instance = v; });
  set('SIGHTLINE_SINK', (v) => { out.sink = v; });
  set('SIGHTLINE_MAX_BODY_BYTES', (v) => { section('limits').max_body_bytes = v; });
  set('SIGHTLINE_UPSTREAM_TIMEOUT_MS', (v) => { section('limits').upstream_timeout_ms = v; });
  set('SIGHTLINE_LOG_DURABILITY', (v) => { section('logging').durability = v; });
  set('SIGHTLINE_LOG_ON_FAILURE', (v) => { section('logging').on_failure = v; });
  set('SIGHTLINE_ALLOWED_TARGETS', (v) => { out.allowed_targets = v.split(',').map((s) => s.trim()).filter(Boolean); });
  set('SIGHTLINE_STREAM_USAGE_INJECT', (v) => { section('stream_usage').inject = v === 'true' || v === '1'; });
  for (const p of PROVIDER_ENV) set(`SIGHTLINE_UPSTREAM_${p.toUpperCase()}`, (v) => { section('upstreams')[p] = v; });
  set('KAFKA_BROKERS', (v) => { section('kafka').brokers = v.split(',').map((s) => s.trim()).filter(Boolean); });
  set('KAFKA_TOPIC', (v) => { section('kafka').topic = v; });
  set('KAFKA_SSL', (v) => { section('kafka').ssl = v === 'true' || v === '1'; });
  set('KAFKA_SASL_MECHANISM', (v) => {
    section('kafka').sasl = { mechanism: v, username: env.KAFKA_SASL_USERNAME ?? '', password: env.KAFKA_SASL_PASSWORD ?? '' };
  });
  set('REDIS_URL', (v) => { section('redis').url = v; });
  set('CLICKHOUSE_URL', (v) => { section('clickhouse').url = v; });
  set('CLICKHOUSE_USER', (v) => { section('clickhouse').user = v; });
  set('CLICKHOUSE_PASSWORD', (v) => { section('clickhouse').password = v; });
  set('SIGHTLINE_CLICKHOUSE_HTTP_PORT', (v) => { section('clickhouse').http_port = v; });
  applyTracingEnv(set, () => section('tracing'));
  // With Kafka configured and no explicit sink, the bus is Kafka.
  if (out.sink === undefined && Array.isArray(section('kafka').brokers) && (section('kafka').brokers as unknown[]).length > 0) out.sink = 'kafka';
  return out;
}

/**
 * ingest.batch_max_bytes as set, else by store. A ClickHouse server keeps 8 MiB. The embedded engine runs each of
 * the analytics views (0009–0014) on every insert at ~10 ms of CPU per view whatever the insert carries, so it
 * takes larger batches: at 3.4 KB events an insert of 2,400 rows cost 54 µs of engine CPU per row, one of 9,600
 * 33 µs (bench/README.md, "Ingest after the analytics views").
 */
export function ingestBatchMaxBytes(config: Config): number {
  return config.ingest.batch_max_bytes ?? (config.clickhouse.url === undefined ? EMBEDDED_BATCH_MAX_BYTES : 8 * 1024 * 1024);
}
const EMBEDDED_BATCH_MAX_BYTES = 16 * 1024 * 1024;

/** Parses file text + env into a frozen Config, or throws ConfigError listing every problem by field path. */
export function parseConfig(fileText: string | undefined, env: Env, source = 'sightline.yaml'): Config {
  let raw: unknown = {};
  if (fileText !== undefined && fileText.trim() !== '') {
    try {
      raw = parseYaml(fileText);
    } catch (err) {
      throw new ConfigError([`${source}: not valid YAML: ${(err as Error).message}`]);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError([`${source}: expected a mapping at the top level`]);
  }
  const warnings: string[] = [];
  let fileRaw = raw as Record<string, unknown>;
  if (isLiteLlmConfig(fileRaw)) {
    try {
      const mapped = fromLiteLlm(fileRaw);
      fileRaw = mapped.raw;
      warnings.push(...mapped.warnings);
    } catch (err) {
      if (err instanceof LiteLlmError) throw new ConfigError([`${source}: ${err.message}`]);
      throw err;
    }
  }
  const merged = applyEnv(fileRaw, env);
  if (merged.models !== undefined) merged.models = resolveModelRefs(merged.models, env, warnings);
  if (merged.provider_keys !== undefined) merged.provider_keys = (resolveModelRefs([merged.provider_keys], env, warnings) as unknown[])[0];
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`));
  }
  const cfg = result.data;
  const aliasIssues = [...checkDeployments(cfg.models), ...checkRouterAliases(cfg.models, cfg.router), ...checkCache(cfg.cache, cfg.models)];
  if (aliasIssues.length > 0) throw new ConfigError(aliasIssues);
  cfg.data_dir = path.resolve(cfg.data_dir);
  const frozen = deepFreeze(cfg);
  WARNINGS.set(frozen, Object.freeze(warnings));
  return frozen;
}

const WARNINGS = new WeakMap<Config, readonly string[]>();

/** What loading the config found worth saying but not refusing (a LiteLLM key Sightline ignores, an unset variable). */
export function configWarnings(config: Config): readonly string[] {
  return WARNINGS.get(config) ?? [];
}

/** The config file in use: SIGHTLINE_CONFIG, else ./sightline.yaml when it exists, else none. */
export function configFilePath(env: Env = process.env): string | undefined {
  if (env.SIGHTLINE_CONFIG) return env.SIGHTLINE_CONFIG;
  return existsSync('sightline.yaml') ? 'sightline.yaml' : undefined;
}

/** Reads SIGHTLINE_CONFIG (if set) or ./sightline.yaml (if present) and the environment. */
export function loadConfig(env: Env = process.env): Config {
  const file = env.SIGHTLINE_CONFIG;
  let text: string | undefined;
  if (file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([`SIGHTLINE_CONFIG=${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
    }
  } else {
    try {
      text = readFileSync('sightline.yaml', 'utf8');
    } catch {
      text = undefined;
    }
  }
  return parseConfig(text, env, file ?? 'sightline.yaml');
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object') {
    for (const v of Object.values(obj as Record<string, unknown>)) deepFreeze(v);
    Object.freeze(obj);
  }
  return obj;
}
