// The response cache (issue #16 §4): one step in front of a call's upstream attempts — before fallbacks for an
// alias call (gateway/index.ts), around forward() for a pass-through call (server.ts). A hit answers from the
// store without any upstream call: the bytes the client received the first time, in their original framing (an
// event stream replays as the same SSE), logged before they leave like any answer (write-ahead) and billed 0 by
// the ledger, which records what the answer cost when it was made as cache_saved_usd. A miss runs the call and
// keeps a copy of what the client was sent (AttemptTap, ../attempt.ts); only a whole 2xx answer is stored.
// A store that cannot answer within its deadline (Redis down) means a bypass: the call goes upstream, uncached.
//
// Opt-in: Sightline-Cache-Enabled / Helicone-Cache-Enabled, else the alias (`cache: true`), the key
// (Principal.cache) or `cache.all_calls`. Cache-Control max-age sets the TTL; -Cache-Seed, -Bucket-Max-Size and
// -Ignore-Keys mean what they mean in Helicone. The semantic cache (opt-in) looks up by the embedding of the last
// user message within everything else of the call (cache-key.ts semanticParts), through semantic-index.ts.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { MAX_CACHE_TTL_S } from '../../config/cache.ts';
import type { Config } from '../../config/index.ts';
import { ProviderId } from '../../contracts/event.ts';
import type { RedactionPolicy } from '../../ledger/pii/redact.ts';
import { findPii } from '../../ledger/pii/redact.ts';
import { adapterById } from '../../providers/index.ts';
import type { AttemptIO, AttemptResult, AttemptTap } from '../attempt.ts';
import { headerString } from '../attempt.ts';
import type { RequestCtx } from '../context.ts';
import { answerHead } from '../context.ts';
import { CREDENTIAL_HEADERS } from '../upstream-headers.ts';
import { logUnavailable } from '../errors.ts';
import { captureChunk, capturedBytes, newCapture } from '../tee.ts';
import { cacheKey, credentialDigest, KEYED_HEADERS, semanticParts } from './cache-key.ts';
import type { CacheStore } from './cache-store.ts';
import { createMemoryStore, createRedisStore, liveEntries } from './cache-store.ts';
import type { SharedRedis } from './redis.ts';
import type { SemanticIndex } from './semantic-index.ts';
import type { Alias } from './table.ts';
import { createSemanticIndex } from './semantic-index.ts';

/** Where a call goes, as far as the cache is concerned. */
export interface CacheRoute {
  /** Part of the key: `openai https://api.openai.com/v1/chat/completions`, or the alias and the models it resolves to (made only for a call that uses the cache). */
  readonly route: () => string;
  /** The alias's config says `cache: true`. */
  readonly aliasOptIn: boolean;
  /** The caller's own provider key pays for the answer: it is part of the key, so only its holder is served it. */
  readonly callerPays: boolean;
}

/** What the cache will do for one call, decided before any lookup. */
export interface CachePlan {
  readonly key: string;
  readonly bucket: number;
  readonly ttlMs: number;
  /** Set when the call must not read or write the cache (a prompt with PII under skip_if_pii). */
  readonly bypass: string | undefined;
  /** False for Sightline-Omit-* calls: their bodies are kept nowhere, the cache included. */
  readonly store: boolean;
  /** The semantic lookup: the last user message and the scope it is compared within. */
  readonly semantic: { text: string; scope: string } | undefined;
  /** Headers the embeddings call is made with (the caller's Sightline-Auth and provider key). */
  readonly embedHeaders: Readonly<Record<string, string>>;
}

export interface ResponseCache {
  /** The plan for a call that opted in, else undefined. Never throws: a call the cache cannot read goes uncached. */
  plan(ctx: RequestCtx, req: IncomingMessage, route: CacheRoute): CachePlan | undefined;
  /** Answers a hit from the store, or runs `next` with a tap recording a miss (or nothing, for a bypass). */
  serve(plan: CachePlan, ctx: RequestCtx, res: ServerResponse, next: (tap: AttemptTap) => Promise<AttemptResult>): Promise<AttemptResult>;
  /** True when an alias's config opts its calls in. */
  aliasOptIn(alias: string): boolean;
  /** A reloaded config's models (the aliases that opt in). */
  reload(config: Config): void;
  metrics(): Record<string, number>;
}

export interface CacheDeps {
  config: Config;
  io: AttemptIO;
  /** The shared Redis (gateway/redis.ts), or undefined for the in-memory store. */
  redis: SharedRedis | undefined;
  /** This proxy's own base URL: the semantic cache's embeddings are a call through the gateway itself. */
  selfUrl: () => string;
}

const SERVED: AttemptResult = Object.freeze({ served: true });
const KEY_QUERY = /(?:^|[?&])key=([^&]*)/;
const MAX_AGE = /(?:^|[,\s])max-age\s*=\s*(\d+)/i;
/** Response headers not replayed: per-call, per-connection, or never to be shared between callers. */
const NOT_REPLAYED = new Set(['sightline-id', 'sightline-cache', 'helicone-cache', 'sightline-cache-bucket-idx', 'helicone-cache-bucket-idx', 'sightline-attempts',
  'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date', 'set-cookie']);
const HIT = 'HIT';
const MISS = 'MISS';

const EntryMeta = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
  bytes: z.number().int().nonnegative(),
  /** The serving provider's own answer, for the ledger (it may differ from what the client got: translated, usage frame hidden). */
  ledger: z.object({
    provider: ProviderId,
    model: z.string(),
    content_type: z.string(),
    content_encoding: z.string(),
    /** Bytes after the client's; -1 when the ledger reads the client's bytes. */
    bytes: z.number().int(),
  }),
});
type EntryMeta = z.infer<typeof EntryMeta>;

interface Entry {
  meta: EntryMeta;
  body: Buffer;
  ledgerBody: Buffer;
}

const Embeddings = z.object({ data: z.array(z.object({ embedding: z.array(z.number()) })).min(1) });

export function createResponseCache({ config, io, redis, selfUrl }: CacheDeps): ResponseCache {
  const c = config.cache;
  const store: CacheStore = redis === undefined ? createMemoryStore(c.memory_max_bytes) : createRedisStore(redis, config.redis.prefix);
  const semantic: SemanticIndex | undefined = c.semantic.embeddings_model === undefined ? undefined : createSemanticIndex(c.semantic.max_entries);
  let optedInAliases = aliasesOptingIn(config);
  const piiPolicies = piiPoliciesOf(config.redaction);
  const counts = { hit: 0, semantic_hit: 0, miss: 0, bypass: 0, stored: 0, store_errors: 0, too_large: 0 };

  function plan(ctx: RequestCtx, req: IncomingMessage, route: CacheRoute): CachePlan | undefined {
    const ask = ctx.optIn?.cache;
    const on = ask?.enabled ?? (c.all_calls || route.aliasOptIn || ctx.principal?.cache === true);
    const body = ctx.parsedBody;
    if (!on || ask === undefined || ctx.method !== 'POST' || typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
    try {
      const organization = ctx.principal?.organization_id ?? '';
      const credential = route.callerPays ? credentialDigest(callerCredentials(req)) : '';
      const headers = KEYED_HEADERS.map((h) => headerString(req.headers[h]));
      const parts = { organization, seed: ask.seed, route: route.route(), headers, credential, ignoreKeys: ask.ignoreKeys };
      const pii = c.skip_if_pii && findPii(ctx.requestBody.toString('utf8'), piiPolicies.get(organization) ?? piiPolicies.get('')).length > 0;
      const wantSemantic = semantic !== undefined && (ask.semantic ?? c.semantic.enabled);
      const chat = wantSemantic ? semanticParts(body) : undefined;
      return {
        key: cacheKey({ ...parts, body }),
        bucket: ask.bucketMaxSize,
        ttlMs: ttlOf(req.headers, c.ttl_s) * 1000,
        bypass: pii ? 'pii' : undefined,
        store: !(ctx.optIn?.omitRequest || ctx.optIn?.omitResponse),
        semantic: chat === undefined ? undefined : { text: chat.text, scope: cacheKey({ ...parts, body: chat.rest }) },
        embedHeaders: chat === undefined ? NO_HEADERS : embedHeadersOf(req.headers),
      };
    } catch {
      // A body the key cannot be made of (a cycle cannot come from JSON; this is defence): the call goes uncached.
      return undefined;
    }
  }

  async function serve(p: CachePlan, ctx: RequestCtx, res: ServerResponse, next: (tap: AttemptTap) => Promise<AttemptResult>): Promise<AttemptResult> {
    if (p.bypass !== undefined) return bypass(ctx, next);
    let found: Buffer[];
    try {
      found = liveEntries(await store.get(p.key));
    } catch {
      counts.store_errors++;
      return bypass(ctx, next);
    }
    if (ctx.outcome !== undefined) return SERVED; // the client left while we looked
    if (found.length >= p.bucket) {
      const i = Math.floor(Math.random() * p.bucket);
      const entry = readEntry(found[i]!);
      if (entry !== undefined) {
        counts.hit++;
        replay(ctx, res, entry, i);
        return SERVED;
      }
    }
    let vector: number[] | undefined;
    if (p.semantic !== undefined && p.bucket === 1) {
      vector = await embed(p.semantic.text, p.embedHeaders);
      const match = vector === undefined ? undefined : semantic!.search(p.semantic.scope, vector, c.semantic.threshold);
      const entry = match === undefined ? undefined : await firstEntry(match.key);
      if (ctx.outcome !== undefined) return SERVED;
      if (entry !== undefined) {
        counts.semantic_hit++;
        replay(ctx, res, entry, 0);
        return SERVED;
      }
    }
    counts.miss++;
    ctx.cacheStatus = 'miss';
    return next(p.store ? recorder(p, ctx, vector) : LABEL_ONLY);
  }

  function bypass(ctx: RequestCtx, next: (tap: AttemptTap) => Promise<AttemptResult>): Promise<AttemptResult> {
    counts.bypass++;
    ctx.cacheStatus = 'bypass';
    return next(LABEL_ONLY);
  }

  async function firstEntry(key: string): Promise<Entry | undefined> {
    try {
      const live = liveEntries(await store.get(key));
      return live.length === 0 ? undefined : readEntry(live[0]!);
    } catch {
      counts.store_errors++;
      return undefined;
    }
  }

  /** The embedding of `text` from the configured alias, through this gateway (logged and costed as its own call). */
  async function embed(text: string, headers: Readonly<Record<string, string>>): Promise<number[] | undefined> {
    try {
      const r = await fetch(`${selfUrl()}/v1/embeddings`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ model: c.semantic.embeddings_model, input: text, ...(c.semantic.dimensions !== undefined ? { dimensions: c.semantic.dimensions } : {}) }),
        signal: AbortSignal.timeout(c.semantic.timeout_ms),
      });
      if (!r.ok) return undefined;
      return Embeddings.parse(await r.json()).data[0]!.embedding;
    } catch {
      // No embedding, no semantic lookup: the exact cache still served what it could.
      return undefined;
    }
  }

  /** A hit: the stored answer, logged like any call (status hit, the ledger reading the provider's own bytes) before it leaves. */
  function replay(ctx: RequestCtx, res: ServerResponse, entry: Entry, index: number): void {
    const now = performance.now();
    const { meta, body, ledgerBody } = entry;
    ctx.cacheStatus = 'hit';
    ctx.status = ctx.upstreamStatus = meta.status;
    ctx.ttfbAt = ctx.endedAt = now;
    ctx.adapter = adapterById(meta.ledger.provider);
    ctx.model = meta.ledger.model;
    ctx.contentType = meta.ledger.content_type;
    ctx.contentEncoding = meta.ledger.content_encoding;
    ctx.capture = newCapture();
    captureChunk(ctx.capture, ledgerBody, Number.POSITIVE_INFINITY);
    // No deployment served it: the row says so (attempt_log empty).
    if (ctx.gateway !== undefined) {
      ctx.gateway.current = undefined;
      ctx.gateway.deployment = '';
    }
    const idx = String(index);
    io.complete(ctx, 'completed', (logged) => {
      if (!logged) return io.sendError(ctx, res, logUnavailable());
      res.writeHead(meta.status, answerHead(ctx, {
        ...meta.headers,
        'content-length': body.length,
        'sightline-id': ctx.requestId,
        'sightline-cache': HIT,
        'helicone-cache': HIT,
        'sightline-cache-bucket-idx': idx,
        'helicone-cache-bucket-idx': idx,
      }));
      io.onHeaders(ctx);
      res.end(body);
    });
  }

  /** A miss: copies what the client is sent; once it has all of it, a whole 2xx answer is stored (off the request path). */
  function recorder(p: CachePlan, ctx: RequestCtx, vector: number[] | undefined): AttemptTap {
    let status = 0;
    let headers: Record<string, string | string[]> = {};
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    return {
      headers: MISS_HEADERS,
      head(s, h) {
        status = s;
        headers = replayable(h);
      },
      data(chunk) {
        if (tooLarge) return;
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        bytes += b.length;
        if (bytes > c.max_entry_bytes) {
          tooLarge = true;
          chunks.length = 0;
          counts.too_large++;
          return;
        }
        chunks.push(b);
      },
      end() {
        if (tooLarge || status < 200 || status >= 300 || ctx.outcome !== 'completed' || ctx.capture.droppedBytes > 0 || ctx.adapter === undefined) return;
        const body = Buffer.concat(chunks, bytes);
        const upstream = capturedBytes(ctx.capture);
        const same = upstream.equals(body);
        const meta: EntryMeta = {
          status,
          headers,
          bytes: body.length,
          ledger: { provider: ctx.adapter.id, model: ctx.model, content_type: ctx.contentType, content_encoding: ctx.contentEncoding, bytes: same ? -1 : upstream.length },
        };
        const payload = Buffer.concat([Buffer.from(`${JSON.stringify(meta)}\n`), body, same ? EMPTY : upstream]);
        store.add(p.key, payload, Date.now() + p.ttlMs).then(() => {
          counts.stored++;
          if (vector !== undefined && p.semantic !== undefined) semantic!.add(p.semantic.scope, vector, p.key);
        }, () => {
          counts.store_errors++;
        });
      },
    };
  }

  return {
    plan,
    serve,
    aliasOptIn: (alias) => optedInAliases.has(alias),
    reload(next) {
      optedInAliases = aliasesOptingIn(next);
    },
    metrics() {
      const s = store.stats();
      const out: Record<string, number> = {
        'sightline_cache_lookups_total{result="hit"}': counts.hit,
        'sightline_cache_lookups_total{result="semantic_hit"}': counts.semantic_hit,
        'sightline_cache_lookups_total{result="miss"}': counts.miss,
        'sightline_cache_lookups_total{result="bypass"}': counts.bypass,
        sightline_cache_stored_total: counts.stored,
        sightline_cache_too_large_total: counts.too_large,
        sightline_cache_store_errors_total: counts.store_errors,
      };
      if (!store.shared) {
        out.sightline_cache_memory_bytes = s.bytes;
        out.sightline_cache_memory_keys = s.keys;
        out.sightline_cache_memory_evictions_total = s.evictions;
      }
      if (semantic !== undefined) out.sightline_cache_semantic_entries = semantic.size;
      return out;
    },
  };
}

const EMPTY = Buffer.alloc(0);
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const MISS_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'sightline-cache': MISS, 'helicone-cache': MISS });

/** A tap that only labels the response: a bypass, or a miss that must not be stored. */
const LABEL_ONLY: AttemptTap = Object.freeze({ headers: MISS_HEADERS, head() {}, data() {}, end() {} });

/** Entries read before, by the stored bytes: the memory store hands back the same Buffer, so it is parsed once. */
const READ = new WeakMap<Buffer, Entry>();

function readEntry(payload: Buffer): Entry | undefined {
  const known = READ.get(payload);
  if (known !== undefined) return known;
  const entry = parseEntry(payload);
  if (entry !== undefined) READ.set(payload, entry);
  return entry;
}

function parseEntry(payload: Buffer): Entry | undefined {
  const nl = payload.indexOf(0x0a);
  if (nl === -1) return undefined;
  const parsed = EntryMeta.safeParse(safeJson(payload.toString('utf8', 0, nl)));
  if (!parsed.success) return undefined;
  const meta = parsed.data;
  const from = nl + 1;
  const body = payload.subarray(from, from + meta.bytes);
  if (body.length !== meta.bytes) return undefined;
  const ledgerBody = meta.ledger.bytes === -1 ? body : payload.subarray(from + meta.bytes);
  return { meta, body, ledgerBody };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function replayable(h: OutgoingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, v] of Object.entries(h)) {
    const lower = name.toLowerCase();
    if (v === undefined || NOT_REPLAYED.has(lower)) continue;
    out[lower] = Array.isArray(v) ? v.map(String) : String(v);
  }
  return out;
}

/** Cache-Control: max-age=N (Helicone's reading, spaces allowed), capped at 365 days; else the configured default. */
export function ttlOf(headers: IncomingHttpHeaders, defaultS: number): number {
  const m = MAX_AGE.exec(headerString(headers['cache-control']));
  if (m === null) return defaultS;
  return Math.min(Number(m[1]), MAX_CACHE_TTL_S);
}

function callerCredentials(req: IncomingMessage): string[] {
  const out: string[] = [];
  for (const h of CREDENTIAL_HEADERS) {
    const v = headerString(req.headers[h]);
    if (v !== '') out.push(`${h}:${v}`);
  }
  const key = KEY_QUERY.exec(req.url ?? '');
  if (key !== null) out.push(`key:${key[1]}`);
  return out;
}

/** The caller's identity for the embeddings call: its Sightline key and provider key, nothing else. */
function embedHeadersOf(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of ['sightline-auth', 'helicone-auth', ...CREDENTIAL_HEADERS]) {
    const v = headerString(headers[h]);
    if (v !== '') out[h] = v;
  }
  return out;
}

/** An alias call's route: the façade endpoint, the alias and the models it resolves to (a changed alias keys anew). */
export function aliasCacheRoute(cache: ResponseCache, endpoint: string, alias: Alias): CacheRoute {
  return {
    route: () => `alias:${endpoint} ${alias.name} -> ${alias.deployments.map((d) => `${d.adapter.id}/${d.model}`).join(',')}`,
    aliasOptIn: cache.aliasOptIn(alias.name),
    // A deployment without its own key passes the caller's: then the caller's key pays, and keys the entry.
    callerPays: alias.deployments.some((d) => d.credential === undefined),
  };
}

/** Where this proxy listens, as a URL it can call itself on (the semantic cache's embeddings). */
export function loopbackUrl(server: Server, host: string): string {
  const port = (server.address() as AddressInfo | null)?.port ?? 0;
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

function aliasesOptingIn(config: Config): ReadonlySet<string> {
  return new Set(config.models.filter((m) => m.cache === true).map((m) => m.name));
}

/** The `redaction` policy per organisation ('' = the default), built once: findPii compiles each policy once by identity. */
function piiPoliciesOf(r: Config['redaction']): ReadonlyMap<string, Partial<RedactionPolicy>> {
  // skip_if_pii asks for detection even where storing redacted bodies is switched off (enabled: false).
  const base: Partial<RedactionPolicy> = { enabled: true, disabledTypes: r.disabled_types, custom: r.custom, allowlist: r.allowlist };
  const out = new Map<string, Partial<RedactionPolicy>>([['', base]]);
  for (const [org, o] of Object.entries(r.organizations)) {
    out.set(org, { enabled: true, disabledTypes: o.disabled_types ?? r.disabled_types, custom: { ...r.custom, ...o.custom }, allowlist: o.allowlist ?? r.allowlist });
  }
  return out;
}

