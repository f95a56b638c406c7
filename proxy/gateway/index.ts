// The gateway: a call whose `model` is a configured alias is served by the alias's deployments, whatever API they
// speak. Its steps, in the order they run (each a small function of the next, as undici's interceptors are):
//
//   cache → fallbacks → retries → route → attempt
//
// cache answers a hit without any attempt and records a miss (cache.ts); fallbacks walks the alias's chain (Sightline-Fallbacks, else router.fallbacks; a prompt too long or refused
// switches to the alias's context-window / content-policy chain); retries repeats an alias with backoff; route
// picks one of the alias's deployments by the routing strategy and keeps its health; attempt translates the call
// for that deployment and runs it on the forwarder (../attempt.ts). Gateway layer II (keys, budgets, limits, cache)
// goes in front of fallbacks.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Config } from '../../config/index.ts';
import type { RouterConfig } from '../../config/gateway.ts';
import { adapterForPrefix } from '../../providers/index.ts';
import type { CallerApi, CallTranslation } from '../../providers/translate/index.ts';
import { translateCall, translateEmbeddings, translateResponses, TranslationError } from '../../providers/translate/index.ts';
import type { AttemptFailureInfo, AttemptIO, AttemptPolicy, AttemptResult, AttemptTap } from '../attempt.ts';
import { retryAfterMs, runAttempt } from '../attempt.ts';
import type { RequestCtx } from '../context.ts';
import { answerHead } from '../context.ts';
import { invalidHeader, SightlineError } from '../errors.ts';
import { CREDENTIAL_HEADERS, providerCredential, upstreamHeaders } from '../upstream-headers.ts';
import { backoffMs, sleep } from './backoff.ts';
import type { ResponseCache } from './cache.ts';
import { aliasCacheRoute } from './cache.ts';
import { createPicker } from './route.ts';
import type { Alias, Deployment, RoutingTable } from './table.ts';
import { compileTable } from './table.ts';

/** The façade's endpoints: OpenAI's API (and Anthropic's Messages) on the gateway itself. */
export type FacadeEndpoint = 'chat' | 'embeddings' | 'responses' | 'messages';

const FACADE: ReadonlyMap<string, FacadeEndpoint> = new Map([
  ['/v1/chat/completions', 'chat'], ['/chat/completions', 'chat'],
  ['/v1/embeddings', 'embeddings'], ['/embeddings', 'embeddings'],
  ['/v1/responses', 'responses'], ['/responses', 'responses'],
  ['/v1/messages', 'messages'],
]);
/** The OpenAI-API path of each endpoint, relative to an SDK base URL. */
const OPENAI_PATHS: Readonly<Record<Exclude<FacadeEndpoint, 'messages'>, string>> = { chat: '/chat/completions', embeddings: '/embeddings', responses: '/responses' };
const OPENAI = adapterForPrefix('openai')!;
const ANTHROPIC = adapterForPrefix('anthropic')!;

export interface GatewayCall {
  readonly ctx: RequestCtx;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly caller: CallerApi;
  readonly endpoint: FacadeEndpoint;
  readonly body: Readonly<Record<string, unknown>>;
  readonly table: RoutingTable;
  readonly primary: Alias;
  /** Sightline-Fallbacks, resolved; undefined → the router's chain. */
  readonly requestedFallbacks: readonly Alias[] | undefined;
  readonly retry: { retries: number; factor: number; minMs: number; maxMs: number };
  /** performance.now() by which every attempt must have ended. */
  readonly deadline: number;
  /** The alias being tried and the deployment picked for it. */
  alias: Alias;
  deployment: Deployment | undefined;
  /** Deployments that failed in this call: a retry prefers another. */
  readonly failed: Set<string>;
  /** Translations made for this call, per deployment (a retry on the same one reuses it). */
  readonly translations: Map<string, CallTranslation | undefined>;
  /** The response cache's copy of what the client is sent, on a miss (cache.ts). */
  tap: AttemptTap | undefined;
  /** The budget is spent: a cached answer may still be served (it costs nothing), anything else gets this refusal. */
  refusal: SightlineError | undefined;
}

type Next = () => Promise<AttemptResult>;
type Step = (call: GatewayCall, next: Next) => Promise<AttemptResult>;

export interface Gateway {
  /** The façade endpoint of a path, or undefined when the path is not one. */
  facade(pathname: string): FacadeEndpoint | undefined;
  /** True when any models are configured (then bare /v1/… serves aliases, not a pass-through to OpenAI). */
  active(): boolean;
  /** Prepares a call whose model is an alias, or returns undefined when it is not one (throws for a bad one). */
  plan(ctx: RequestCtx, req: IncomingMessage, res: ServerResponse, endpoint: FacadeEndpoint, body: unknown): GatewayCall | undefined;
  /** Serves a planned call; with `refusal` (a spent budget), only from the cache. */
  serve(call: GatewayCall, refusal?: SightlineError): Promise<void>;
  /** GET /v1/models: the configured aliases, in OpenAI's list shape. */
  models(): unknown;
  aliases(): readonly string[];
  /** A new config's models and router, compiled; throws when they do not compile (the old table stays). */
  reload(config: Config): void;
  /** Per-deployment gauges and counters for /_sightline/metrics. */
  metrics(): Record<string, number>;
}

export interface GatewayDeps {
  config: Config;
  io: AttemptIO;
  /** The response cache; absent, no call is cached. */
  cache?: ResponseCache;
}

export function createGateway({ config, io, cache }: GatewayDeps): Gateway {
  let table = compileTable(config);
  let router: RouterConfig = config.router;
  const globalTimeoutMs = config.limits.upstream_timeout_ms;
  const pick = createPicker(config.prices);
  const cooldown = () => ({ allowedFails: router.cooldown.allowed_fails, windowMs: router.cooldown.window_s * 1000, cooldownMs: router.cooldown.cooldown_s * 1000 });

  const chainOf = (kind: 'fallbacks' | 'context_window_fallbacks' | 'content_policy_fallbacks', alias: Alias, t: RoutingTable): Alias[] =>
    (t.router[kind][alias.name] ?? []).map((name) => t.resolve(name)).filter((a): a is Alias => a !== undefined);

  const cached: Step = (call, next) => {
    const go: Next = call.refusal === undefined ? next : () => Promise.reject(call.refusal);
    const plan = cache?.plan(call.ctx, call.req, aliasCacheRoute(cache, call.endpoint, call.primary));
    if (plan === undefined) return go();
    return cache!.serve(plan, call.ctx, call.res, (tap) => {
      call.tap = tap;
      return go();
    });
  };

  const fallbacks: Step = async (call, next) => {
    const tried = new Set<string>();
    let queue: readonly Alias[] = [call.primary, ...(call.requestedFallbacks ?? chainOf('fallbacks', call.primary, call.table))];
    let result: AttemptResult | undefined;
    for (let i = 0; i < queue.length; i++) {
      const alias = queue[i]!;
      if (tried.has(alias.name)) continue;
      tried.add(alias.name);
      // An alias whose every deployment is resting is passed over while the chain has somewhere else to go.
      if (i < queue.length - 1 && allResting(alias)) continue;
      call.alias = alias;
      result = await next();
      if (result.served || call.ctx.outcome !== undefined || performance.now() >= call.deadline) return result;
      const kind = result.failure.kind;
      // A prompt too long (or refused) for this alias moves to the alias's own chain for that case.
      if (kind !== 'retryable') {
        queue = chainOf(kind === 'context_window' ? 'context_window_fallbacks' : 'content_policy_fallbacks', alias, call.table);
        i = -1;
      }
    }
    return result!;
  };

  const retries: Step = async (call, next) => {
    const { retries: max, factor, minMs, maxMs } = call.retry;
    for (let n = 0; ; n++) {
      const result = await next();
      if (result.served || result.failure.kind !== 'retryable' || n >= max || call.ctx.outcome !== undefined) return result;
      const wait = result.failure.retryAfterMs ?? backoffMs(n, factor, minMs, maxMs);
      if (performance.now() + wait >= call.deadline) return result;
      await sleep(wait);
      if (call.ctx.outcome !== undefined) return result;
    }
  };

  const route: Step = async (call, next) => {
    const now = Date.now();
    const d = await pick(call, router.strategy, now);
    if (d === undefined) {
      const failure: AttemptFailureInfo = {
        status: 429,
        code: 'sightline_deployment_limit',
        message: `every deployment of "${call.alias.name}" is at its rpm/tpm limit for this minute`,
        retryAfterMs: 60_000 - (now % 60_000),
        kind: 'retryable',
      };
      return { served: false, failure };
    }
    call.deployment = d;
    d.health.begin(now);
    const result = await next();
    const ctx = call.ctx;
    const ttfb = ctx.ttfbAt === undefined ? undefined : ctx.ttfbAt - ctx.startedAt;
    if (!result.served && result.failure.kind === 'retryable') {
      d.health.fail(Date.now(), cooldown());
      call.failed.add(d.id);
    } else {
      d.health.end(ttfb, performance.now() - ctx.startedAt);
    }
    return result;
  };

  const attempt = async (call: GatewayCall): Promise<AttemptResult> => {
    const d = call.deployment!;
    const ctx = call.ctx;
    const translation = translationFor(call, d);
    const started = performance.now();
    const record = ctx.gateway!;
    record.deployment = d.id;
    record.current = { alias: call.alias.name, deployment: d.id, provider: d.adapter.id, model: d.model, startedAt: started };
    ctx.adapter = d.adapter;
    ctx.model = d.model;
    const { url, body, identity } = requestFor(call, d, translation);
    ctx.targetUrl = url;
    ctx.targetHost = url.host;
    ctx.forwardBody = body;
    const headers = attemptHeaders(call, d, translation, identity);
    headers.push('content-length', String(body.length));
    const remaining = Math.max(1, Math.floor(call.deadline - started));
    const result = await runAttempt(io, ctx, call.res, {
      url,
      method: 'POST',
      headers,
      body,
      callerNamed: false,
      timeoutMs: Math.min(d.timeoutMs ?? globalTimeoutMs, remaining),
      tap: call.tap,
    }, policyFor(call, d, translation));
    if (!result.served) {
      const f = result.failure;
      record.attempts.push({ alias: call.alias.name, deployment: d.id, provider: d.adapter.id, model: d.model, status: f.status, start_ms: ms(started - ctx.startedAt), latency_ms: ms(performance.now() - started), error_code: f.code, error: f.message.slice(0, 300) });
      record.current = undefined;
    }
    return result;
  };

  const run = compose([cached, fallbacks, retries, route], attempt);

  function policyFor(call: GatewayCall, d: Deployment, translation: CallTranslation | undefined): AttemptPolicy {
    return {
      translation,
      decide(status, headers, body) {
        const text = body.toString('utf8', 0, Math.min(body.length, 16 * 1024));
        const base = { status, code: upstreamErrorCode(text, status), message: upstreamErrorMessage(text, status), retryAfterMs: retryAfterMs(headers) };
        if (router.fallback_on.includes(status)) return { ...base, kind: 'retryable' };
        const kind = d.adapter.gateway.failureKind(status, text);
        if (kind === 'context_window' && (call.table.router.context_window_fallbacks[call.alias.name]?.length ?? 0) > 0) return { ...base, kind };
        if (kind === 'content_policy' && (call.table.router.content_policy_fallbacks[call.alias.name]?.length ?? 0) > 0) return { ...base, kind };
        return undefined;
      },
      responseHeaders() {
        const record = call.ctx.gateway!;
        const headers: Record<string, string> = { 'sightline-model-alias': record.alias, 'sightline-deployment': record.deployment, 'sightline-attempts': String(record.attempts.length + 1) };
        // Never silent: fields carried over approximately are named to the caller.
        if (translation !== undefined && translation.request.approximated.length > 0) headers['sightline-approximated'] = translation.request.approximated.join(', ');
        return headers;
      },
    };
  }

  /** The answer of a call nothing served: the upstream's own when one deployment was tried, else a 503 listing each attempt. */
  function answerUnserved(call: GatewayCall, failure: AttemptFailureInfo): void {
    const ctx = call.ctx;
    const record = ctx.gateway!;
    const deployments = new Set(record.attempts.map((a) => a.deployment));
    if (deployments.size <= 1 && failure.answer !== undefined) {
      const translation = call.deployment === undefined ? undefined : call.translations.get(call.deployment.id);
      const { status, headers, body } = callerAnswer(failure.answer, translation);
      ctx.status = status;
      ctx.endedAt ??= performance.now();
      io.complete(ctx, 'completed', () => {
        call.res.writeHead(status, answerHead(ctx, { ...headers, 'content-length': body.length }));
        io.onHeaders(ctx);
        call.res.end(body);
      });
      return;
    }
    if (deployments.size <= 1 && failure.error !== undefined) return io.answerWithError(ctx, call.res, failure.error);
    const tried = record.attempts.map((a) => `${a.deployment} (${a.provider}/${a.model}): ${a.status === -1 ? '' : `${a.status} `}${a.error_code}${a.error === '' ? '' : ` ${a.error.slice(0, 120)}`}`);
    const err = record.attempts.length === 0
      ? new SightlineError(failure.code, failure.status, failure.message, { type: 'rate_limit_error', retryable: true })
      : new SightlineError('sightline_all_deployments_failed', 503, `Every deployment tried for "${record.alias}" failed (${record.attempts.length} attempt${record.attempts.length === 1 ? '' : 's'}): ${tried.join('; ')}`, { type: 'api_error', retryable: true });
    io.answerWithError(ctx, call.res, err);
  }

  return {
    facade: (pathname) => FACADE.get(pathname),
    active: () => table.active,
    plan(ctx, req, res, endpoint, body) {
      const fields = isRecord(body) ? body : undefined;
      const model = typeof fields?.model === 'string' ? fields.model : '';
      const t = table;
      const primary = t.resolve(model);
      if (primary === undefined) {
        if (!t.active) return undefined;
        throw new SightlineError('sightline_unknown_model', 404, `The model "${model}" is not configured here. Configured models: ${t.names.join(', ') || '(none)'}. Name one of them as "model", or add "${model}" to models in the config.`, { type: 'not_found_error' });
      }
      const caller: CallerApi = endpoint === 'messages' ? 'anthropic' : 'openai';
      ctx.errorShape = caller === 'anthropic' ? ANTHROPIC : OPENAI;
      const optIn = ctx.optIn!;
      let requestedFallbacks: Alias[] | undefined;
      if (optIn.fallbacks.length > 0) {
        requestedFallbacks = optIn.fallbacks.map((name) => {
          const alias = t.resolve(name);
          if (alias === undefined) throw invalidHeader(`Header Sightline-Fallbacks: "${name}" is not a configured model. Configured models: ${t.names.join(', ')}.`);
          return alias;
        });
      }
      const r = t.router;
      const retry = optIn.retry ?? { retries: r.retries, factor: r.retry_backoff.factor, minMs: r.retry_backoff.min_ms, maxMs: r.retry_backoff.max_ms };
      ctx.gateway = { alias: model, deployment: '', attempts: [], current: undefined };
      ctx.stream = fields?.stream === true;
      ctx.endpoint = endpoint;
      return {
        ctx, req, res, caller, endpoint,
        body: fields!,
        table: t,
        primary,
        requestedFallbacks,
        retry,
        deadline: ctx.startedAt + (r.timeout_ms ?? globalTimeoutMs),
        alias: primary,
        deployment: undefined,
        failed: new Set(),
        translations: new Map(),
        tap: undefined,
        refusal: undefined,
      };
    },
    async serve(call, refusal) {
      call.refusal = refusal;
      let result: AttemptResult;
      try {
        result = await run(call);
      } catch (err) {
        if (call.ctx.outcome !== undefined) return;
        if (err instanceof TranslationError) {
          call.ctx.errorCode = err.code;
          return io.answerWithError(call.ctx, call.res, new SightlineError(err.code, err.status, err.message, { type: err.toRender().type, param: err.param }));
        }
        return io.answerWithError(call.ctx, call.res, err instanceof SightlineError ? err : new SightlineError('sightline_internal', 500, 'Internal error in Sightline\'s gateway; the call was not completed.', { cause: err }));
      }
      if (!result.served && call.ctx.outcome === undefined) answerUnserved(call, result.failure);
    },
    aliases: () => table.names,
    models() {
      return { object: 'list', data: table.names.map((id) => ({ id, object: 'model', created: 0, owned_by: 'sightline' })) };
    },
    reload(next) {
      table = compileTable(next, table);
      router = next.router;
      cache?.reload(next);
    },
    metrics() {
      const out: Record<string, number> = {};
      const now = Date.now();
      for (const d of table.deployments) {
        const h = d.health;
        const labels = `{alias="${d.alias}",deployment="${d.id}",provider="${d.adapter.id}"}`;
        out[`sightline_deployment_requests_total${labels}`] = h.requests;
        out[`sightline_deployment_failures_total${labels}`] = h.failures;
        out[`sightline_deployment_cooldowns_total${labels}`] = h.cooldowns;
        out[`sightline_deployment_in_flight${labels}`] = h.inFlight;
        out[`sightline_deployment_cooling_down${labels}`] = h.coolingDown(now) ? 1 : 0;
        if (h.ttfbMs !== undefined) out[`sightline_deployment_ttfb_ms${labels}`] = Math.round(h.ttfbMs * 1000) / 1000;
        if (h.latencyMs !== undefined) out[`sightline_deployment_latency_ms${labels}`] = Math.round(h.latencyMs * 1000) / 1000;
      }
      if (cache !== undefined) Object.assign(out, cache.metrics());
      return out;
    },
  };
}

function allResting(alias: Alias): boolean {
  const now = Date.now();
  return alias.deployments.every((d) => d.health.coolingDown(now));
}

function compose(steps: readonly Step[], terminal: (call: GatewayCall) => Promise<AttemptResult>): (call: GatewayCall) => Promise<AttemptResult> {
  return steps.reduceRight<(call: GatewayCall) => Promise<AttemptResult>>((next, step) => (call) => step(call, () => next(call)), terminal);
}

/** The translation of the call for a deployment speaking another API (undefined when it speaks the caller's). */
function translationFor(call: GatewayCall, d: Deployment): CallTranslation | undefined {
  if (call.translations.has(d.id)) return call.translations.get(d.id);
  const api = d.adapter.gateway.api;
  if (call.endpoint === 'embeddings' && api === 'gemini') {
    const t = translateEmbeddings(call.body, { model: d.model });
    call.translations.set(d.id, t);
    return t;
  }
  if (call.endpoint === 'responses' && api !== 'openai') {
    const t = translateResponses(api, call.body, { model: d.model });
    call.translations.set(d.id, t);
    return t;
  }
  if (call.endpoint === 'embeddings' || call.endpoint === 'responses') {
    if (api !== 'openai') throw new TranslationError('sightline_untranslatable', 'model', `/v1/${call.endpoint} is not supported when the model is served by ${d.adapter.id} ("${call.alias.name}" → ${d.id}); ${call.endpoint === 'embeddings' ? 'OpenAI-API and Gemini deployments serve it' : 'only OpenAI-API deployments serve it'}`);
    call.translations.set(d.id, undefined);
    return undefined;
  }
  const t = translateCall(call.caller, api, call.body, { model: d.model });
  call.translations.set(d.id, t);
  return t;
}

function requestFor(call: GatewayCall, d: Deployment, translation: CallTranslation | undefined): { url: URL; body: Buffer; identity: boolean } {
  const route = d.adapter.gateway;
  if (translation !== undefined) {
    const url = new URL(route.url(d.base, d.explicitBase, translation.request.path, d.model, d.apiVersion));
    return { url, body: Buffer.from(JSON.stringify(translation.request.body)), identity: true };
  }
  const endpoint = call.endpoint === 'messages' ? '/v1/messages' : OPENAI_PATHS[call.endpoint];
  const url = new URL(route.url(d.base, d.explicitBase, endpoint, d.model, d.apiVersion));
  let body: Record<string, unknown> = { ...call.body, model: d.model };
  const ctx = call.ctx;
  ctx.hideUsageFrame = false;
  const rewritten = d.adapter.rewriteRequest?.(body, ctx.endpoint);
  if (rewritten) {
    body = rewritten.body;
    ctx.hideUsageFrame = rewritten.hideUsageFrame;
  }
  return { url, body: Buffer.from(JSON.stringify(body)), identity: ctx.hideUsageFrame };
}

/**
 * A deployment's request headers. Speaking the caller's API, the caller's headers pass (as on a pass-through
 * route); speaking another, only neutral ones do (x-… and user-agent), plus what translation adds. The
 * deployment's key replaces the caller's; without one, the caller's key goes in the header this provider reads.
 */
function attemptHeaders(call: GatewayCall, d: Deployment, translation: CallTranslation | undefined, identity: boolean): string[] {
  const raw = call.req.rawHeaders;
  // A virtual key standing in for the provider key is Sightline's, never the provider's.
  const callerKey = call.ctx.principal?.standsIn === true ? undefined : providerCredential(call.req.headers);
  const sameApi = translation === undefined;
  const keep = (name: string) => !CREDENTIAL_HEADERS.has(name) && (sameApi || (name.startsWith('x-') || name === 'user-agent') && !name.startsWith('x-stainless-helper'));
  const out = upstreamHeaders(raw, identity || !sameApi, call.ctx.trace, keep);
  if (!sameApi) {
    out.push('content-type', 'application/json');
    for (const [name, value] of Object.entries(translation.request.headers)) out.push(name, value);
  }
  out.push(...d.headers);
  const credential = d.credential ?? (callerKey === undefined ? undefined : d.adapter.gateway.credential(callerKey));
  if (credential !== undefined) out.push(credential[0], credential[1]);
  return out;
}

/** An upstream error answer in the caller's shape (status kept). */
function callerAnswer(answer: NonNullable<AttemptFailureInfo['answer']>, translation: CallTranslation | undefined): { status: number; headers: OutgoingHttpHeaders; body: Buffer } {
  if (translation === undefined) return answer;
  const text = answer.body.toString('utf8');
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: translation carries the text as the message.
  }
  const t = translation.error(answer.status, parsed);
  const headers: OutgoingHttpHeaders = { ...answer.headers, ...t.headers, 'content-type': 'application/json' };
  delete headers['content-encoding'];
  return { status: t.status, headers, body: Buffer.from(JSON.stringify(t.body)) };
}

function upstreamErrorMessage(text: string, status: number): string {
  try {
    const j = JSON.parse(text) as unknown;
    const err = isRecord(j) ? (isRecord(j.error) ? j.error : j) : undefined;
    if (err !== undefined && typeof err.message === 'string') return err.message.slice(0, 300);
  } catch {
    // Not JSON: the text itself, briefly.
  }
  return text.trim().slice(0, 200) || `HTTP ${status}`;
}

function upstreamErrorCode(text: string, status: number): string {
  try {
    const j = JSON.parse(text) as unknown;
    const err = isRecord(j) ? (isRecord(j.error) ? j.error : j) : undefined;
    if (err !== undefined) {
      for (const key of ['type', 'code', 'status'] as const) if (typeof err[key] === 'string' && err[key] !== '') return err[key];
    }
  } catch {
    // Not JSON.
  }
  return `http_${status}`;
}

function ms(v: number): number {
  return Math.max(0, Math.round(v * 1000) / 1000);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

