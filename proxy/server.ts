// The request path: a node:http server whose provider routes run on Sightline's own forwarder. In order:
// route → opt-in headers → auth → admit (can the call be logged?) → body → forward → tee → write-ahead → release.
// It does the minimum per request: the response's bytes are copied, not parsed; the call's one event is an
// exchange that ingest assembles. Everything under /_sightline/ is the control plane (express, control.ts).
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/index.ts';
import type { BusEvent, EventSink } from '../contracts/sink.ts';
import { adapterForBarePath, adapterForPrefix, adapters, customAdapter } from '../providers/index.ts';
import type { ProviderAdapter, UpstreamTarget } from '../providers/types.ts';
import type { Authenticator } from './auth.ts';
import { authRequired, createAuthenticator } from './auth.ts';
import type { Outcome, RequestCtx } from './context.ts';
import { answerHead } from './context.ts';
import { ADMIN_PREFIX, createControlPlane } from './control.ts';
import { bodyTooLarge, invalidJson, logUnavailable, SightlineError, targetNotAllowed, unauthorized, unknownProvider, upstreamTimeout, upstreamUnreachable } from './errors.ts';
import type { AttemptIO, AttemptResult, AttemptTap } from './attempt.ts';
import { runAttempt } from './attempt.ts';
import type { AttemptFailure, Forwarder } from './forwarder.ts';
import { createForwarder } from './forwarder.ts';
import type { FacadeEndpoint, Gateway, GatewayCall } from './gateway/index.ts';
import { createGateway } from './gateway/index.ts';
import { createResponseCache, loopbackUrl } from './gateway/cache.ts';
import { connectRedis } from './gateway/redis.ts';
import { createAdminApi } from './admin-api.ts';
import { createAdmission } from './gateway/admission.ts';
import { parseOptInHeaders } from './headers.ts';
import type { KeyStore } from './keys/store.ts';
import type { SpendStore } from '../ledger/spend-store.ts';
import { memorySpendStore } from '../ledger/spend-store.ts';
import { assembleHere, assembleInProxy, toExchange, withoutBodies } from './record.ts';
import { newCapture } from './tee.ts';
import type { TargetGuard } from './targets.ts';
import { createTargetGuard } from './targets.ts';
import { createTraceStarter } from './trace.ts';
import { CREDENTIAL_HEADERS, providerCredential, upstreamHeaders } from './upstream-headers.ts';

export { ADMIN_PREFIX };

/** Published for subscribers such as otel/; free when nobody listens. */
export const channels = {
  start: diagnostics.channel('sightline:request:start'),
  headers: diagnostics.channel('sightline:request:headers'),
  end: diagnostics.channel('sightline:request:end'),
};

const CREDENTIAL_QUERY = /(^|&)(key|api[-_]key)=[^&]*/gi;
const EMPTY = Buffer.alloc(0);
/** A pass-through call's attempt, as the cache step sees it: forward() answers the call whatever happens. */
const FORWARDED: Promise<AttemptResult> = Promise.resolve({ served: true });

export interface ProxyDeps {
  config: Config;
  sink: EventSink;
  /** Overrides for tests. */
  authenticator?: Authenticator;
  targetGuard?: TargetGuard;
  forwarder?: Forwarder;
  /** Extra gauges and counters for /_sightline/metrics (spool, forwarder), read when scraped. */
  metrics?: () => Readonly<Record<string, number>>;
  /** Virtual keys (runtime and config); default: the config's keys only. */
  keys?: KeyStore;
  /** Budget spend and rate-limit windows; default: this process's memory. */
  spend?: SpendStore;
  /** True when `spend` is shared (Redis). */
  spendShared?: boolean;
  /** Resolves once spend is restored after a restart (embedded: when ingest has read it from the ledger). */
  spendRestored?: Promise<void>;
  onWarn?: (message: string) => void;
}

export interface ProxyServer {
  server: http.Server;
  /** The gateway (aliases, routing, fallbacks); reload() swaps in a new config's models and router. */
  gateway: Gateway;
  /** Resolves once every call that started has logged its event. */
  drain(): Promise<void>;
  /** The request counters /_sightline/metrics serves (also exported over OTLP when configured). */
  counters(): { outcomes: Readonly<Record<Outcome, number>>; unlogged: Readonly<Record<'served' | 'rejected', number>>; inFlight: number };
  close(): Promise<void>;
}

export function createProxyServer(deps: ProxyDeps): ProxyServer {
  const { config, sink } = deps;
  const keys = deps.keys;
  const auth = deps.authenticator ?? createAuthenticator(keys !== undefined ? (hash) => keys.byHash(hash) : config.keys, authRequired(config.server.host, config.server.require_auth));
  const spend = deps.spend ?? memorySpendStore();
  const admission = createAdmission({ config, store: spend, shared: deps.spendShared ?? false, restored: deps.spendRestored ?? Promise.resolve(), ...(deps.onWarn ? { onWarn: deps.onWarn } : {}) });
  const guard = deps.targetGuard ?? createTargetGuard(config.allowed_targets);
  const forwarder = deps.forwarder ?? createForwarder({
    timeoutMs: config.limits.upstream_timeout_ms,
    connectTimeoutMs: config.limits.upstream_connect_timeout_ms,
    privateAllowed: (host) => guard.privateAllowed(host),
  });
  const bases: Record<string, string> = config.upstreams;
  const limit = config.limits.max_body_bytes;
  const maxCarriedBytes = Math.floor(config.ingest.max_event_bytes / 2);
  const timeoutMs = config.limits.upstream_timeout_ms;
  const writeAhead = config.logging.durability !== 'async';
  const rejectUnlogged = config.logging.on_failure === 'reject';
  // /custom/ needs Sightline-Target-Url, which the message names separately.
  const knownPrefixes = adapters.filter((a) => a.defaultBaseUrl !== '').map((a) => a.prefix);
  const startTrace = createTraceStarter(config.tracing);

  const outcomes: Record<Outcome, number> = { completed: 0, upstream_cut: 0, client_cancelled: 0, rejected: 0 };
  const unlogged = { served: 0, rejected: 0 };
  let inFlight = 0;
  let drained: (() => void)[] = [];
  const control = createControlPlane({
    sink,
    config,
    counters: () => ({ outcomes, unlogged }),
    metrics: () => ({ ...deps.metrics?.(), ...gateway.metrics(), ...admission.metrics() }),
    ...(keys !== undefined ? { adminApi: createAdminApi({ config, keys, spend }) } : {}),
  });

  /**
   * Logs the call's event, then runs `release` (which sends the last bytes, or nothing if the client is gone).
   * Write-ahead: release waits until the sink has the event durable. If it cannot be logged, `logging.on_failure`
   * decides: serve (release anyway, counted) or reject (the client never gets a completed call).
   */
  function complete(ctx: RequestCtx, outcome: Outcome, release: (logged: boolean) => void): void {
    if (ctx.outcome !== undefined) return;
    ctx.outcome = outcome;
    ctx.endedAt ??= performance.now();
    outcomes[outcome]++;
    if (assembleInProxy(ctx, maxCarriedBytes)) {
      void assembleHere(ctx, config).then((event) => log(ctx, event, release), () => log(ctx, withoutBodies(toExchange(ctx)), release));
      return;
    }
    log(ctx, toExchange(ctx), release);
  }

  function log(ctx: RequestCtx, event: BusEvent, release: (logged: boolean) => void): void {
    if (channels.end.hasSubscribers) channels.end.publish({ ctx, event });
    const done = (ok: boolean) => {
      if (!ok) {
        if (rejectUnlogged) unlogged.rejected++;
        else unlogged.served++;
      }
      release(ok || !rejectUnlogged);
      if (--inFlight === 0 && drained.length > 0) {
        const waiting = drained;
        drained = [];
        for (const resolve of waiting) resolve();
      }
    };
    if (!writeAhead) {
      done(sink.write(event));
      return;
    }
    if (!sink.write(event, done)) done(false);
  }

  /** Reads and checks the call; returns the gateway's plan when its model is an alias (else it passes through). */
  async function prepare(ctx: RequestCtx, req: IncomingMessage, res: ServerResponse): Promise<GatewayCall | undefined> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    // First, so that a call refused below is still a span in the caller's trace.
    ctx.trace = startTrace(req.headers);
    const optIn = parseOptInHeaders(req.headers);
    ctx.optIn = optIn;
    if (optIn.requestId) ctx.requestId = optIn.requestId;

    const facade = optIn.targetUrl === undefined && req.method === 'POST' ? gateway.facade(pathname) : undefined;
    if (facade !== undefined && gateway.active()) return prepareGateway(ctx, req, res, facade, pathname, query);

    let adapter: ProviderAdapter;
    let rest: string;
    let base: string;
    if (optIn.targetUrl !== undefined) {
      adapter = customAdapter;
      rest = pathname;
      ctx.adapter = adapter;
      base = await callerNamedBase(ctx, guard, optIn.targetUrl);
    } else {
      const slash = pathname.indexOf('/', 1);
      const prefix = slash === -1 ? pathname.slice(1) : pathname.slice(1, slash);
      const found = adapterForPrefix(prefix);
      const bare = found === undefined ? adapterForBarePath(pathname, req.headers) : undefined;
      if (found === undefined && bare === undefined) throw unknownProvider(prefix, knownPrefixes);
      adapter = (found ?? bare)!;
      ctx.adapter = adapter;
      rest = bare !== undefined ? pathname : slash === -1 ? '/' : pathname.slice(slash);
      base = bases[adapter.id] ?? adapter.defaultBaseUrl;
    }
    admit(ctx, req);

    const target = routeTo(ctx, adapter, rest, query, base);
    ctx.endpoint = adapter.endpoint(rest);
    ctx.loggedPath = loggedPathOf(rest, query);

    await readJsonBody(ctx, req);
    ctx.model = adapter.requestModel(ctx.parsedBody, target);
    ctx.stream = adapter.isStreamRequest(ctx.parsedBody, rest, query);
    if (isRecord(ctx.parsedBody) && adapter.rewriteRequest && config.stream_usage.inject) {
      const rewritten = adapter.rewriteRequest(ctx.parsedBody, ctx.endpoint);
      if (rewritten) {
        ctx.hideUsageFrame = rewritten.hideUsageFrame;
        ctx.forwardBody = Buffer.from(JSON.stringify(rewritten.body));
      }
    }
    return undefined;
  }

  /** Auth, and (compliance deployments) refusing a call that could not be logged before any upstream is asked. */
  function admit(ctx: RequestCtx, req: IncomingMessage): void {
    ctx.principal = auth.authenticate(ctx.optIn!.authKey, providerCredential(req.headers));
    if (rejectUnlogged && !sink.accepting()) throw logUnavailable();
  }

  async function readJsonBody(ctx: RequestCtx, req: IncomingMessage): Promise<void> {
    ctx.requestBody = await readBody(req, limit);
    if (ctx.requestBody.length > 0 && isJson(req.headers['content-type'])) {
      try {
        ctx.parsedBody = JSON.parse(ctx.requestBody.toString('utf8'));
      } catch (err) {
        throw invalidJson(`Request body is not valid JSON (${(err as Error).message}); send a JSON object.`);
      }
    }
  }

  /** A façade call (POST /v1/chat/completions, /v1/messages, …) with a model list configured: the gateway serves it. */
  async function prepareGateway(ctx: RequestCtx, req: IncomingMessage, res: ServerResponse, endpoint: FacadeEndpoint, pathname: string, query: string): Promise<GatewayCall | undefined> {
    // Until a deployment is picked, errors are in the shape of the API the caller speaks.
    ctx.adapter = ctx.errorShape = adapterForPrefix(endpoint === 'messages' ? 'anthropic' : 'openai');
    ctx.endpoint = endpoint;
    ctx.loggedPath = loggedPathOf(pathname, query);
    admit(ctx, req);
    await readJsonBody(ctx, req);
    const body = ctx.parsedBody;
    if (!isRecord(body)) throw invalidJson(`Send a JSON object with "model" naming one of the configured models (${gateway.aliases().join(', ')}).`);
    ctx.model = typeof body.model === 'string' ? body.model : '';
    return gateway.plan(ctx, req, res, endpoint, body);
  }

  /** Answers with an error Sightline originated, in the caller's provider shape, once its event is logged. */
  function answerWithError(ctx: RequestCtx, res: ServerResponse, err: SightlineError): void {
    ctx.errorCode = err.code;
    ctx.errorType = err.type;
    ctx.status = err.status;
    complete(ctx, 'rejected', () => sendError(ctx, res, err));
  }

  const io: AttemptIO = {
    forwarder,
    writeAhead,
    captureLimit: limit,
    complete,
    answerWithError,
    sendError,
    attemptError: (kind, err, ctx) => attemptError(kind, err, timeoutMs, ctx.targetHost),
    onHeaders(ctx) {
      if (channels.headers.hasSubscribers) channels.headers.publish({ ctx });
    },
  };
  // The response cache (gateway/cache.ts): in Redis when one is configured (replicas share it), else in memory.
  const cacheRedis = connectRedis(config.redis);
  const cache = createResponseCache({ config, io, redis: cacheRedis, selfUrl: () => loopbackUrl(server, config.server.host) });
  const gateway = createGateway({ config, io, cache });

  /**
   * A pass-through call through the response cache when it opted in: a hit never reaches forward(). `refusal`: the
   * budget is spent, so only a hit is served and a miss gets the refusal.
   */
  function forwardCached(ctx: RequestCtx, req: IncomingMessage, res: ServerResponse, refusal?: SightlineError): void {
    const plan = cache.plan(ctx, req, { route: () => `${ctx.adapter!.id} ${ctx.targetUrl!.origin}${ctx.loggedPath}`, aliasOptIn: false, callerPays: true });
    if (plan === undefined) return refusal === undefined ? forward(ctx, req, res) : answerWithError(ctx, res, refusal);
    void cache.serve(plan, ctx, res, (tap) => {
      if (refusal === undefined) forward(ctx, req, res, tap);
      else answerWithError(ctx, res, refusal);
      return FORWARDED;
    });
  }

  function forward(ctx: RequestCtx, req: IncomingMessage, res: ServerResponse, tap?: AttemptTap): void {
    const body = ctx.forwardBody ?? ctx.requestBody;
    const standIn = ctx.principal?.standsIn === true;
    const headers = upstreamHeaders(req.rawHeaders, ctx.hideUsageFrame, ctx.trace, standIn ? notCredential : undefined);
    if (standIn) {
      // A virtual key stood in for the provider key: the provider gets Sightline's own key for it, never the virtual one.
      const adapter = ctx.adapter!;
      const providerKey = (config.provider_keys as Record<string, string | undefined>)[adapter.id];
      if (providerKey === undefined) {
        answerWithError(ctx, res, unauthorized(`A virtual key was sent as the ${adapter.id} key, but no provider key for ${adapter.id} is configured: set provider_keys.${adapter.id} (env:NAME), or call a model alias.`));
        return;
      }
      const [name, value] = adapter.gateway.credential(providerKey);
      headers.push(name, value);
    }
    if (body.length > 0 || req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') headers.push('content-length', String(body.length));
    void runAttempt(io, ctx, res, {
      url: ctx.targetUrl!,
      method: req.method ?? 'GET',
      headers,
      body,
      callerNamed: ctx.callerNamedTarget,
      tap,
    });
  }

  async function handleProvider(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx = newCtx(req);
    inFlight++;
    res.on('close', () => {
      if (ctx.outcome !== undefined) return;
      // The client went away before the call completed. Decided before the abort, whose error is then ignored.
      complete(ctx, 'client_cancelled', () => {});
      ctx.attempt?.abort();
    });
    if (channels.start.hasSubscribers) channels.start.publish({ ctx, req });
    let call: GatewayCall | undefined;
    try {
      call = await prepare(ctx, req, res);
    } catch (err) {
      // Anything left of the request body is not ours to read any more.
      req.resume();
      answerWithError(ctx, res, err instanceof SightlineError ? err : new SightlineError('sightline_internal', 500, 'Internal error in Sightline; the request was not forwarded.', { cause: err }));
      return;
    }
    if (ctx.outcome !== undefined) return; // cancelled while the body was read
    // Gateway layer II: model allowlist, rate limits, budgets (admission.ts), before any upstream is asked.
    let refusal: SightlineError | undefined;
    try {
      const admitted = admission.admit(ctx, () => (call !== undefined ? call.primary.deployments.map((d) => ({ provider: d.adapter.id, model: d.model })) : [{ provider: ctx.adapter?.id ?? 'custom', model: ctx.model }]));
      if (admitted !== undefined) await admitted;
    } catch (err) {
      refusal = err instanceof SightlineError ? err : new SightlineError('sightline_internal', 500, 'Internal error in Sightline; the request was not forwarded.', { cause: err });
    }
    if (ctx.outcome !== undefined) return;
    // A spent budget still lets a cached answer through: a hit costs nothing. Every other refusal is answered now.
    if (refusal !== undefined && refusal.code !== 'sightline_budget_exceeded') return answerWithError(ctx, res, refusal);
    if (call !== undefined) void gateway.serve(call, refusal);
    else forwardCached(ctx, req, res, refusal);
  }

  /** GET /v1/models with a model list: the aliases, as OpenAI lists models (not a provider call, so not logged). */
  function listModels(req: IncomingMessage, res: ServerResponse): void {
    let body: string;
    let status = 200;
    try {
      auth.authenticate(parseOptInHeaders(req.headers).authKey, providerCredential(req.headers));
      body = JSON.stringify(gateway.models());
    } catch (err) {
      const e = err instanceof SightlineError ? err : new SightlineError('sightline_internal', 500, 'Internal error in Sightline.');
      status = e.status;
      body = JSON.stringify(adapterForPrefix('openai')!.renderError(e.toRender()));
    }
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith(ADMIN_PREFIX) && (url.length === ADMIN_PREFIX.length || url[ADMIN_PREFIX.length] === '/' || url[ADMIN_PREFIX.length] === '?')) {
      control(req, res);
      return;
    }
    if (req.method === 'GET' && (url === '/v1/models' || url === '/models') && gateway.active()) return listModels(req, res);
    void handleProvider(req, res);
  });

  return {
    server,
    gateway,
    drain() {
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => drained.push(resolve));
    },
    counters: () => ({ outcomes, unlogged, inFlight }),
    close: async () => {
      await forwarder.close();
      cacheRedis?.disconnect();
    },
  };
}

export function newCtx(req: IncomingMessage): RequestCtx {
  return {
    requestId: randomUUID(),
    createdAtMs: Date.now(),
    startedAt: performance.now(),
    method: req.method ?? 'GET',
    loggedPath: '',
    adapter: undefined,
    errorShape: undefined,
    gateway: undefined,
    target: undefined,
    targetUrl: undefined,
    targetHost: '',
    callerNamedTarget: false,
    endpoint: 'other',
    optIn: undefined,
    principal: undefined,
    requestBody: EMPTY,
    forwardBody: undefined,
    parsedBody: undefined,
    model: '',
    stream: false,
    hideUsageFrame: false,
    status: 0,
    upstreamStatus: 0,
    ttfbAt: undefined,
    endedAt: undefined,
    contentType: '',
    contentEncoding: '',
    capture: newCapture(),
    attempt: undefined,
    outcome: undefined,
    errorCode: '',
    errorType: '',
    trace: undefined,
    cacheStatus: 'none',
    answerHeaders: undefined,
  };
}

const notCredential = (name: string) => !CREDENTIAL_HEADERS.has(name);

/** Where a Sightline-Target-Url call goes, once the allowlist has passed it: the base its paths join onto. */
export async function callerNamedBase(ctx: RequestCtx, guard: TargetGuard, targetUrl: string): Promise<string> {
  const target = await guard.check(targetUrl);
  ctx.callerNamedTarget = true;
  return target.origin + target.pathname.replace(/\/$/, '');
}

/** The adapter's upstream for this path, set on the ctx; a path it cannot route is a 404 in the caller's shape. */
export function routeTo(ctx: RequestCtx, adapter: ProviderAdapter, rest: string, query: string, base: string): UpstreamTarget {
  const target = adapter.target(rest, query, base);
  if (typeof target === 'string') throw new SightlineError('sightline_invalid_path', 404, target, { type: 'not_found_error' });
  ctx.target = target;
  ctx.targetUrl = new URL(target.url);
  ctx.targetHost = ctx.targetUrl.host;
  return target;
}

/** The path as logged: credential query parameters (`key`, `api_key`, …) removed. */
export function loggedPathOf(rest: string, query: string): string {
  return query === '' ? rest : `${rest}?${query.replace(CREDENTIAL_QUERY, '').replace(/^&/, '')}`.replace(/\?$/, '');
}

export function attemptError(kind: AttemptFailure, err: Error, timeoutMs: number, host: string): SightlineError {
  if (kind === 'timeout') return upstreamTimeout(timeoutMs);
  if (kind === 'target_not_allowed') {
    return targetNotAllowed(`Sightline-Target-Url ${host} resolved to a private or loopback address when connecting (${err.message}); only an allowlist entry naming it exactly permits it.`);
  }
  const cause = err.cause instanceof Error ? err.cause : undefined;
  return upstreamUnreachable((err as NodeJS.ErrnoException).code ?? (cause as NodeJS.ErrnoException | undefined)?.code ?? err.message);
}

function sendError(ctx: RequestCtx, res: ServerResponse, err: SightlineError): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify((ctx.errorShape ?? ctx.adapter ?? customAdapter).renderError(err.toRender()));
  res.writeHead(err.status, answerHead(ctx, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'sightline-id': ctx.requestId }));
  res.end(body);
}

/** Reads the request body up to `limit` bytes; over it, answers 413 without reading the rest. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(bodyTooLarge(limit));
  if (declared === 0 || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)) {
    req.resume();
    return Promise.resolve(EMPTY);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function isJson(contentType: string | undefined): boolean {
  return contentType === undefined || contentType.includes('json');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
