// The request path: route → opt-in headers → auth → body → upstream → tee → one event.
// It does the minimum per request; assembling and shipping the event happen after the response ends.
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { Express, NextFunction, Request, Response } from 'express';
import express from 'express';
import { createProxyMiddleware, proxyEventsPlugin } from 'http-proxy-middleware';
import type { Config } from '../config/index.ts';
import { adapterForBarePath, adapterForPrefix, adapters, customAdapter } from './adapters/index.ts';
import type { ProviderAdapter } from './adapters/types.ts';
import type { AssembleDeps } from './assemble.ts';
import { assembleEvent } from './assemble.ts';
import type { Authenticator } from './auth.ts';
import { authRequired, createAuthenticator } from './auth.ts';
import type { Outcome, RequestCtx } from './context.ts';
import { createCoster } from './cost.ts';
import { bodyTooLarge, invalidJson, SightlineError, unknownProvider, upstreamTimeout, upstreamUnreachable } from './errors.ts';
import { isOptInHeader, parseOptInHeaders } from './headers.ts';
import type { EventSink } from './sink.ts';
import { createUsageFrameFilter } from './strip-usage.ts';
import { captureChunk, newCapture } from './tee.ts';
import type { TargetGuard } from './targets.ts';
import { createTargetGuard } from './targets.ts';

/** Published for subscribers such as otel/; free when nobody listens. */
export const channels = {
  start: diagnostics.channel('sightline:request:start'),
  headers: diagnostics.channel('sightline:request:headers'),
  end: diagnostics.channel('sightline:request:end'),
};

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const CREDENTIAL_QUERY = /(^|&)(key|api[-_]key)=[^&]*/gi;

declare module 'node:http' {
  interface IncomingMessage {
    sl?: RequestCtx;
  }
}

export interface ProxyDeps {
  config: Config;
  sink: EventSink;
  /** Overrides for tests. */
  authenticator?: Authenticator;
  targetGuard?: TargetGuard;
  /** Extra gauges and counters for /_sightline/metrics (spool, forwarder), read when scraped. */
  metrics?: () => Readonly<Record<string, number>>;
}

/** Sightline's own endpoints; no provider prefix can start with an underscore. */
export const ADMIN_PREFIX = '/_sightline';

export function createProxyApp({ config, sink, authenticator, targetGuard, metrics }: ProxyDeps): Express {
  const auth = authenticator ?? createAuthenticator(config.keys, authRequired(config.server.host, config.server.require_auth));
  const guard = targetGuard ?? createTargetGuard(config.allowed_targets);
  const assembleDeps: AssembleDeps = { cost: createCoster({ overrides: config.prices }), maxLoggedBodyBytes: config.limits.max_logged_body_bytes };
  const bases: Record<string, string> = config.upstreams;
  const limit = config.limits.max_body_bytes;
  // /custom/ needs Sightline-Target-Url, which the message names separately.
  const knownPrefixes = adapters.filter((a) => a.defaultBaseUrl !== '').map((a) => a.prefix);
  const forward = createForwarders(config, limit);

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  function emit(ctx: RequestCtx): void {
    // Off the request path: the client already has its response.
    setImmediate(() => {
      const event = assembleEvent(ctx, assembleDeps);
      sink.write(event);
      if (channels.end.hasSubscribers) channels.end.publish({ ctx, event });
    });
  }

  const outcomes: Record<Outcome, number> = { completed: 0, upstream_cut: 0, client_cancelled: 0, rejected: 0 };
  app.get(`${ADMIN_PREFIX}/health`, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(`${ADMIN_PREFIX}/metrics`, (_req, res) => {
    const values: Record<string, number> = {
      sightline_events_written_total: sink.stats.written,
      sightline_events_refused_total: sink.stats.refused,
      ...metrics?.(),
    };
    let text = '';
    for (const [outcome, n] of Object.entries(outcomes)) text += `sightline_requests_total{outcome="${outcome}"} ${n}\n`;
    for (const [name, value] of Object.entries(values)) text += `# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}\n${name} ${value}\n`;
    res.type('text/plain; version=0.0.4').send(`# TYPE sightline_requests_total counter\n${text}`);
  });

  app.use(async function sightlineRequest(req: Request, res: Response, next: NextFunction) {
    const ctx = newCtx(req);
    req.sl = ctx;
    res.on('close', () => {
      finish(ctx, res, emit);
      outcomes[ctx.outcome!]++;
    });
    if (channels.start.hasSubscribers) channels.start.publish({ ctx, req });
    try {
      await prepare(ctx, req);
      forward(ctx, req, res, next);
    } catch (err) {
      answerWithError(ctx, res, err instanceof SightlineError ? err : new SightlineError('sightline_internal', 500, 'Internal error in Sightline; the request was not forwarded.', { cause: err }));
    }
  });

  async function prepare(ctx: RequestCtx, req: Request): Promise<void> {
    const url = req.originalUrl;
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    const optIn = parseOptInHeaders(req.headers);
    ctx.optIn = optIn;
    if (optIn.requestId) ctx.requestId = optIn.requestId;

    let adapter: ProviderAdapter;
    let rest: string;
    let base: string;
    if (optIn.targetUrl !== undefined) {
      adapter = customAdapter;
      rest = pathname;
      ctx.adapter = adapter;
      const target = await guard.check(optIn.targetUrl);
      base = target.origin + target.pathname.replace(/\/$/, '');
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
    ctx.principal = auth.authenticate(optIn.authKey);

    const target = adapter.target(rest, query, base);
    if (typeof target === 'string') throw new SightlineError('sightline_invalid_path', 404, target, { type: 'not_found_error' });
    ctx.target = target;
    ctx.targetUrl = new URL(target.url);
    ctx.targetHost = ctx.targetUrl.host;
    ctx.endpoint = adapter.endpoint(rest);
    ctx.loggedPath = query === '' ? rest : `${rest}?${query.replace(CREDENTIAL_QUERY, '').replace(/^&/, '')}`.replace(/\?$/, '');

    ctx.requestBody = await readBody(req, limit);
    if (ctx.requestBody.length > 0 && isJson(req.headers['content-type'])) {
      try {
        ctx.requestText = ctx.requestBody.toString('utf8');
        ctx.parsedBody = JSON.parse(ctx.requestText);
      } catch (err) {
        throw invalidJson(`Request body is not valid JSON (${(err as Error).message}); send a JSON object.`);
      }
    }
    ctx.model = adapter.requestModel(ctx.parsedBody, target);
    ctx.stream = adapter.isStreamRequest(ctx.parsedBody, rest, query);
    if (isRecord(ctx.parsedBody) && adapter.rewriteRequest && config.stream_usage.inject) {
      const rewritten = adapter.rewriteRequest(ctx.parsedBody, ctx.endpoint);
      if (rewritten) {
        ctx.hideUsageFrame = rewritten.hideUsageFrame;
        ctx.forwardBody = Buffer.from(JSON.stringify(rewritten.body));
      }
    }
  }

  return app;
}

function newCtx(req: Request): RequestCtx {
  return {
    requestId: randomUUID(),
    createdAtMs: Date.now(),
    startedAt: performance.now(),
    method: req.method,
    loggedPath: '',
    adapter: undefined,
    target: undefined,
    targetUrl: undefined,
    targetHost: '',
    endpoint: 'other',
    optIn: undefined,
    principal: undefined,
    requestBody: EMPTY,
    requestText: undefined,
    forwardBody: undefined,
    parsedBody: undefined,
    model: '',
    stream: false,
    hideUsageFrame: false,
    status: 0,
    ttfbAt: undefined,
    endedAt: undefined,
    contentType: '',
    contentEncoding: '',
    capture: newCapture(),
    upstreamCut: false,
    outcome: undefined,
    errorCode: '',
    errorType: '',
  };
}

const EMPTY = Buffer.alloc(0);

/** Answers with an error Sightline originated, in the caller's provider shape, and records it on the exchange. */
function answerWithError(ctx: RequestCtx, res: http.ServerResponse, err: SightlineError): void {
  ctx.errorCode = err.code;
  ctx.errorType = err.type;
  ctx.status = err.status;
  ctx.outcome = 'rejected';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify((ctx.adapter ?? customAdapter).renderError(err.toRender()));
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'sightline-id': ctx.requestId });
  res.end(body);
}

/** Decides the outcome exactly once, when the client response closes for whatever reason. */
function finish(ctx: RequestCtx, res: Response, emit: (ctx: RequestCtx) => void): void {
  ctx.endedAt = performance.now();
  if (ctx.outcome === undefined) {
    if (ctx.upstreamCut) ctx.outcome = 'upstream_cut';
    else if (res.writableFinished) ctx.outcome = 'completed';
    else ctx.outcome = 'client_cancelled';
  }
  if (ctx.outcome === 'client_cancelled') ctx.abortUpstream?.();
  emit(ctx);
}

function createForwarders(config: Config, captureLimit: number) {
  const timeoutMs = config.limits.upstream_timeout_ms;
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 1024 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 1024 }),
  };
  const make = (agent: http.Agent) => createProxyMiddleware<http.IncomingMessage, http.ServerResponse>({
    router: (req) => req.sl!.targetUrl!.origin,
    changeOrigin: true,
    selfHandleResponse: true,
    // Only the plugin that wires `on` handlers: errors are answered here, in the caller's provider shape.
    ejectPlugins: true,
    plugins: [proxyEventsPlugin],
    agent,
    on: {
      proxyReq(proxyReq, req) {
        const ctx = req.sl!;
        ctx.abortUpstream = () => proxyReq.destroy();
        for (const name of proxyReq.getHeaderNames()) if (isOptInHeader(name)) proxyReq.removeHeader(name);
        const body = ctx.forwardBody ?? ctx.requestBody;
        proxyReq.setHeader('content-length', body.length);
        // The injected usage frame can only be cut from a stream Sightline can read: ask for it uncompressed.
        if (ctx.hideUsageFrame) proxyReq.setHeader('accept-encoding', 'identity');
        proxyReq.removeHeader('transfer-encoding');
        proxyReq.setTimeout(timeoutMs, () => {
          ctx.timedOut = true;
          proxyReq.destroy(new Error('upstream timeout'));
        });
        if (body.length > 0) proxyReq.write(body);
      },
      proxyRes(proxyRes, req, res) {
        const ctx = req.sl!;
        ctx.ttfbAt = performance.now();
        ctx.status = proxyRes.statusCode ?? 502;
        ctx.contentType = String(proxyRes.headers['content-type'] ?? '');
        ctx.contentEncoding = String(proxyRes.headers['content-encoding'] ?? '').toLowerCase();
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(proxyRes.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
        }
        headers['sightline-id'] = ctx.requestId;
        const filter = ctx.hideUsageFrame && ctx.contentType.includes('text/event-stream') && ctx.adapter ? createUsageFrameFilter(ctx.adapter) : undefined;
        if (filter) delete headers['content-length'];
        res.writeHead(ctx.status, proxyRes.statusMessage, headers);
        if (channels.headers.hasSubscribers) channels.headers.publish({ ctx });
        proxyRes.on('data', (chunk: Buffer) => captureChunk(ctx.capture, chunk, captureLimit));
        proxyRes.on('error', () => {
          ctx.upstreamCut = true;
          if (ctx.timedOut) ctx.errorCode = 'sightline_upstream_timeout';
          res.destroy();
        });
        proxyRes.on('aborted', () => {
          ctx.upstreamCut = true;
        });
        if (filter) proxyRes.pipe(filter).pipe(res);
        else proxyRes.pipe(res);
      },
      error(err, req, res) {
        const ctx = req.sl!;
        const response = res as http.ServerResponse;
        if (response.headersSent) {
          ctx.upstreamCut = true;
          response.destroy();
          return;
        }
        if (ctx.outcome !== undefined || response.destroyed) return; // the client already left
        answerWithError(ctx, response, ctx.timedOut ? upstreamTimeout(timeoutMs) : upstreamUnreachable((err as NodeJS.ErrnoException).code ?? err.message));
      },
    },
  });
  const httpProxy = make(agents.http);
  const httpsProxy = make(agents.https);
  return (ctx: RequestCtx, req: Request, res: Response, next: NextFunction) => {
    const url = ctx.targetUrl!;
    req.url = url.pathname + url.search;
    void (url.protocol === 'https:' ? httpsProxy : httpProxy)(req, res, next);
  };
}

/** Reads the request body up to `limit` bytes; over it, answers 413 without reading the rest. */
function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(bodyTooLarge(limit));
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
