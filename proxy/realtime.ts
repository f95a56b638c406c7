// WebSocket sessions on the provider routes: the OpenAI Realtime API (`GET /openai/v1/realtime?model=…`, the bare
// `/v1/realtime`, or an OpenAI-compatible realtime server named by Sightline-Target-Url), passed through by
// http-proxy-middleware. Before the handshake goes upstream, a session gets what an HTTP call gets: opt-in headers
// (also read from query parameters, since browsers cannot set headers on a WebSocket), auth, the SSRF rules; bad
// input is refused in the handshake with a 4xx in OpenAI's error shape. After it, http-proxy-middleware pipes the
// raw sockets, so the frames are read off a tee of their bytes (ws-frames.ts): counted, and only the few server
// messages the ledger needs are parsed, picked out by a substring check first. A session is ONE event, an exchange
// written when it ends; there is no write-ahead wait, since no last byte of a session can be held back.
import http from 'node:http';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { RequestHandler } from 'http-proxy-middleware';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Config } from '../config/index.ts';
import { REALTIME_CONTENT_TYPE } from '../contracts/exchange.ts';
import type { EventSink } from '../contracts/sink.ts';
import { customAdapter } from '../providers/index.ts';
import { openaiAdapter } from '../providers/openai.ts';
import type { RealtimeProtocol } from '../providers/types.ts';
import type { Authenticator } from './auth.ts';
import { authRequired, createAuthenticator } from './auth.ts';
import type { Outcome, RequestCtx } from './context.ts';
import { logUnavailable, SightlineError } from './errors.ts';
import { guardedLookup, TargetNotAllowedError } from './forwarder.ts';
import { isOptInHeader, parseOptInHeaders } from './headers.ts';
import { toExchange } from './record.ts';
import { attemptError, callerNamedBase, channels, loggedPathOf, newCtx, routeTo } from './server.ts';
import { captureChunk } from './tee.ts';
import { createTraceStarter, traceparentOf } from './trace.ts';
import type { TargetGuard } from './targets.ts';
import { createTargetGuard } from './targets.ts';
import { CLOSE_ABNORMAL, createFrameReader, piecesInclude } from './ws-frames.ts';

export interface RealtimeDeps {
  config: Config;
  sink: EventSink;
  /** Overrides for tests. */
  authenticator?: Authenticator;
  targetGuard?: TargetGuard;
}

/** The realtime routes; every other upgrade request goes back to the HTTP routes. */
const REALTIME_PATH = /^(?:\/openai)?\/v1\/realtime$/;
/** The most of one server message held for its substring check and parse; a larger one is only counted. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

interface Session {
  ctx: RequestCtx;
  /** ws:// or wss:// origin of the upstream. */
  upstream: string;
  protocol: RealtimeProtocol | undefined;
  markers: Buffer[];
  /** The handshake request sent upstream, until it is answered. */
  handshake: ClientRequest | undefined;
  upgraded: boolean;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** First close frame's code, either way (0 while none was seen). */
  closeCode: number;
}

/** Serves WebSocket upgrades of `server`: realtime sessions through http-proxy-middleware, the rest as HTTP. */
export interface RealtimeSessions {
  /** Ends every open session with 1001 (going away) both ways, as a server that shuts down should. */
  closeAll(): void;
}

/** Close frames for 1001: unmasked to the client, masked (as a client must) to the upstream. */
const GOING_AWAY = { toClient: Buffer.from([0x88, 0x02, 0x03, 0xe9]), toUpstream: maskedClose(1001) };

function maskedClose(code: number): Buffer {
  const mask = [0x5c, 0x2e, 0x91, 0x07];
  const payload = [code >> 8, code & 0xff];
  return Buffer.from([0x88, 0x80 | payload.length, ...mask, ...payload.map((b, i) => b ^ mask[i % 4]!)]);
}

export function attachRealtime(server: http.Server, deps: RealtimeDeps): RealtimeSessions {
  const { config, sink } = deps;
  const auth = deps.authenticator ?? createAuthenticator(config.keys, authRequired(config.server.host, config.server.require_auth));
  const guard = deps.targetGuard ?? createTargetGuard(config.allowed_targets);
  // Kept messages travel in the exchange, which must stay within what ingest takes.
  const maxKeptBytes = Math.floor(config.ingest.max_event_bytes / 2);
  const timeoutMs = config.limits.upstream_timeout_ms;
  const rejectUnlogged = config.logging.on_failure === 'reject';
  const startTrace = createTraceStarter(config.tracing);
  const sessions = new WeakMap<IncomingMessage, Session>();
  /** Sessions past the handshake, with their two sockets, until they close. */
  const open = new Map<Session, { client: Socket; upstream: Socket }>();
  /** Upgraded upstream sockets until http-proxy has piped them: the tee starts then. */
  const opening = new WeakMap<Socket, () => void>();

  // Targets named by the caller connect through agents whose DNS lookup refuses private addresses on every
  // connect (DNS rebinding), as the HTTP forwarder's do; one middleware per agent, since its options are fixed.
  const lookup = guardedLookup((host) => guard.privateAllowed(host));
  const proxies = {
    trusted: wsProxy(undefined),
    'ws:': wsProxy(new http.Agent({ lookup })),
    'wss:': wsProxy(new https.Agent({ lookup })),
  };

  function wsProxy(agent: http.Agent | undefined): RequestHandler {
    return createProxyMiddleware<IncomingMessage, ServerResponse>({
      router: (req) => sessions.get(req)?.upstream,
      changeOrigin: true,
      ...(agent ? { agent } : {}),
      on: { proxyReqWs: sendingHandshake, open: piped, error: failedHandshake },
    });
  }

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (req.method !== 'GET' || req.headers.upgrade?.toLowerCase() !== 'websocket' || !REALTIME_PATH.test(pathname)) {
      fallBackToHttp(server, req, socket, head);
      return;
    }
    const s = newSession(req);
    // Nobody else listens before http-proxy does: a reset client must end the session through 'close', not crash.
    socket.on('error', () => {});
    socket.once('close', () => finish(s, s.upgraded || s.ctx.ttfbAt !== undefined ? 'completed' : 'client_cancelled'));
    // The server's sockets allow half-open connections: a client gone before the upstream answered only ends its
    // side, and nothing is piped yet to end ours.
    socket.once('end', () => {
      if (s.ctx.ttfbAt === undefined) socket.destroy();
    });
    if (channels.start.hasSubscribers) channels.start.publish({ ctx: s.ctx, req });
    try {
      await prepare(s, req, pathname, q === -1 ? '' : url.slice(q + 1));
    } catch (err) {
      refuse(s, socket, err instanceof SightlineError ? err : new SightlineError('sightline_internal', 500, 'Internal error in Sightline; the session was not forwarded.', { cause: err }));
      return;
    }
    if (s.ctx.outcome !== undefined) return; // the client left during the checks
    sessions.set(req, s);
    const proxy = s.ctx.callerNamedTarget ? proxies[s.upstream.startsWith('wss:') ? 'wss:' : 'ws:'] : proxies.trusted;
    proxy.upgrade(req, socket as Socket, head);
  }

  async function prepare(s: Session, req: IncomingMessage, pathname: string, query: string): Promise<void> {
    const ctx = s.ctx;
    const { optIn: fromQuery, rest: upstreamQuery } = splitOptInQuery(query);
    // Set before anything can be refused, so that a refusal is logged as the session it was to be.
    ctx.endpoint = 'realtime';
    ctx.stream = true;
    ctx.adapter = openaiAdapter;
    ctx.model = new URLSearchParams(upstreamQuery).get('model') ?? '';
    ctx.trace = startTrace(req.headers);
    // A header wins over a query parameter of the same name.
    const optIn = parseOptInHeaders({ ...fromQuery, ...req.headers });
    ctx.optIn = optIn;
    if (optIn.requestId) ctx.requestId = optIn.requestId;

    // A server named by the caller gets the path as sent (as on the HTTP routes); OpenAI's, without the prefix.
    const named = optIn.targetUrl;
    if (named !== undefined) ctx.adapter = customAdapter;
    const rest = named !== undefined ? pathname : pathname.replace(/^\/openai(?=\/)/, '');
    ctx.loggedPath = loggedPathOf(rest, upstreamQuery);
    const base = named !== undefined ? await callerNamedBase(ctx, guard, named) : config.upstreams.openai;
    ctx.principal = auth.authenticate(optIn.authKey);
    if (rejectUnlogged && !sink.accepting()) throw logUnavailable();

    routeTo(ctx, ctx.adapter, rest, upstreamQuery, base);
    const targetUrl = ctx.targetUrl!;
    s.upstream = `${targetUrl.protocol === 'https:' ? 'wss:' : 'ws:'}//${targetUrl.host}`;
    s.protocol = ctx.adapter.realtime;
    s.markers = s.protocol?.markers.map((m) => Buffer.from(m)) ?? [];

    // What goes upstream: the target's path and query, the caller's headers (credentials and subprotocols
    // included) without Sightline's own. No compression is offered: its frames could not be read on the way.
    req.url = targetUrl.pathname + targetUrl.search;
    for (const name of Object.keys(req.headers)) {
      if (isOptInHeader(name) || name === 'sec-websocket-extensions') delete req.headers[name];
    }
    // The session is a span of the caller's trace: the upstream's handshake names it as the parent.
    if (ctx.trace !== undefined) {
      req.headers.traceparent = traceparentOf(ctx.trace);
      // As on the HTTP routes: a trace the proxy started carries no tracestate of the caller's.
      if (ctx.trace.parentSpanId === '') delete req.headers.tracestate;
    }
  }

  function sendingHandshake(proxyReq: ClientRequest, req: IncomingMessage, socket: Socket): void {
    const s = sessions.get(req);
    if (s === undefined) return;
    s.handshake = proxyReq;
    proxyReq.setTimeout(timeoutMs, () => proxyReq.destroy(new HandshakeTimeout()));
    proxyReq.once('response', (res: IncomingMessage) => refusedUpstream(s, res));
    proxyReq.once('upgrade', (res: IncomingMessage, upstream: Socket) => opened(s, res, upstream, socket));
  }

  /** The upstream answered the handshake with something else than 101: http-proxy passes it to the client as is. */
  function refusedUpstream(s: Session, res: IncomingMessage): void {
    const ctx = s.ctx;
    answered(s, res);
    ctx.contentType = headerString(res.headers['content-type']);
    ctx.contentEncoding = headerString(res.headers['content-encoding']).toLowerCase();
    // http-proxy writes the upstream's headers as they came but pipes the body de-chunked: without its chunked
    // framing, the body is delimited by the connection closing, as HTTP/1.1 allows.
    if (res.headers['transfer-encoding'] !== undefined) {
      delete res.headers['transfer-encoding'];
      res.headers.connection = 'close';
    }
    res.on('data', (chunk: Buffer) => captureChunk(ctx.capture, chunk, maxKeptBytes));
    res.once('end', () => finish(s, 'completed'));
  }

  function opened(s: Session, res: IncomingMessage, upstream: Socket, client: Socket): void {
    answered(s, res);
    s.upgraded = true;
    s.ctx.contentType = REALTIME_CONTENT_TYPE;
    open.set(s, { client, upstream });
    upstream.once('close', () => {
      open.delete(s);
      finish(s, 'completed');
    });
    opening.set(upstream, () => tee(s, upstream, client));
  }

  /** http-proxy has piped the sockets both ways. */
  function piped(upstream: Socket): void {
    opening.get(upstream)?.();
    opening.delete(upstream);
  }

  /**
   * Counts the frames each way, keeping the server messages the protocol needs. Started only once http-proxy has
   * piped the sockets: bytes the upstream sent with its 101 are put back on its socket before, and a listener
   * already there would take them alone.
   */
  function tee(s: Session, upstream: Socket, client: Socket): void {
    const closed = (code: number) => {
      if (s.closeCode === 0) s.closeCode = code;
    };
    const fromClient = createFrameReader({
      message(_opcode, bytes) {
        s.messagesIn++;
        s.bytesIn += bytes;
      },
      close: closed,
    }, { retainText: false, maxRetainedBytes: 0 });
    const fromUpstream = createFrameReader({
      message(_opcode, bytes, payload) {
        s.messagesOut++;
        s.bytesOut += bytes;
        if (payload !== undefined) keep(s, payload);
      },
      close: closed,
    }, { retainText: s.protocol !== undefined, maxRetainedBytes: MAX_MESSAGE_BYTES });
    client.on('data', (chunk: Buffer) => fromClient.push(chunk));
    upstream.on('data', (chunk: Buffer) => fromUpstream.push(chunk));
  }

  function answered(s: Session, res: IncomingMessage): void {
    s.handshake = undefined;
    s.ctx.ttfbAt = performance.now();
    s.ctx.status = s.ctx.upstreamStatus = res.statusCode ?? 0;
    res.headers['sightline-id'] = s.ctx.requestId;
  }

  /** A server text message with one of the protocol's markers: kept whole when it fits, else its brief form. */
  function keep(s: Session, payload: readonly Buffer[]): void {
    const protocol = s.protocol!;
    if (!s.markers.some((m) => piecesInclude(payload, m))) return;
    const raw = (payload.length === 1 ? payload[0]! : Buffer.concat(payload)).toString('utf8');
    let message: unknown;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    // Sightline-Omit-Response: nothing of the conversation leaves the proxy, only what the ledger counts with.
    const omit = s.ctx.optIn?.omitResponse === true;
    const kept = protocol.keep(message, omit);
    if (kept === undefined) return;
    // JSON has raw newlines only between tokens: text without any is one line as it came.
    let line = kept === message && !raw.includes('\n') ? raw : JSON.stringify(kept);
    const capture = s.ctx.capture;
    if (!omit && capture.bytes + Buffer.byteLength(line) + 1 > maxKeptBytes) line = JSON.stringify(protocol.keep(message, true));
    captureChunk(capture, Buffer.from(`${line}\n`), maxKeptBytes);
  }

  function failedHandshake(err: Error, req: IncomingMessage): void {
    const s = sessions.get(req);
    // Once the upstream answered, the session ends when its sockets close (1006 when no close frame came).
    if (s === undefined || s.ctx.outcome !== undefined || s.ctx.ttfbAt !== undefined) return;
    s.handshake = undefined;
    const kind = err instanceof HandshakeTimeout ? 'timeout' : err instanceof TargetNotAllowedError ? 'target_not_allowed' : 'unreachable';
    refuse(s, req.socket, attemptError(kind, err, timeoutMs, s.ctx.targetHost));
  }

  /** Refuses the handshake with Sightline's own error, after logging it. */
  function refuse(s: Session, socket: Duplex, err: SightlineError): void {
    const ctx = s.ctx;
    ctx.errorCode = err.code;
    ctx.errorType = err.type;
    ctx.status = err.status;
    finish(s, 'rejected');
    if (socket.destroyed) return;
    const body = JSON.stringify((ctx.adapter ?? openaiAdapter).renderError(err.toRender()));
    // As ws refuses a handshake: the response, then the connection closed once the response has left.
    socket.once('finish', () => socket.destroy());
    socket.end(`HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status] ?? ''}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nsightline-id: ${ctx.requestId}\r\nconnection: close\r\n\r\n${body}`);
  }

  /** The session's one event. Counters are message payloads; the close code is 1006 for a session that got none. */
  function finish(s: Session, outcome: Outcome): void {
    const ctx = s.ctx;
    if (ctx.outcome !== undefined) return;
    ctx.outcome = outcome;
    ctx.endedAt = performance.now();
    s.handshake?.destroy(); // the client left before the upstream answered
    const event = toExchange(ctx);
    if (s.upgraded) event.response.bytes = s.bytesOut;
    event.realtime = {
      messages_in: s.messagesIn,
      messages_out: s.messagesOut,
      bytes_in: s.bytesIn,
      close_code: s.upgraded ? s.closeCode || CLOSE_ABNORMAL : 0,
    };
    if (channels.end.hasSubscribers) channels.end.publish({ ctx, event });
    sink.write(event);
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(req, socket, head).catch(() => socket.destroy());
  });

  return {
    closeAll() {
      for (const [s, { client, upstream }] of open) {
        if (s.closeCode === 0) s.closeCode = 1001;
        client.end(GOING_AWAY.toClient);
        upstream.end(GOING_AWAY.toUpstream);
        // Peers that do not answer the close in time are cut: shutting down must not wait on them.
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, 2000).unref();
      }
    },
  };
}

function newSession(req: IncomingMessage): Session {
  return {
    ctx: newCtx(req),
    upstream: '',
    protocol: undefined,
    markers: [],
    handshake: undefined,
    upgraded: false,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    closeCode: 0,
  };
}

class HandshakeTimeout extends Error {
  constructor() {
    super('the upstream did not answer the WebSocket handshake in time');
  }
}

/**
 * Splits the opt-in parameters (named as the headers are: `sightline-*`, `helicone-*`, any case) off a raw query
 * string, decoded; the other parameters stay exactly as sent.
 */
export function splitOptInQuery(query: string): { optIn: Record<string, string | string[]>; rest: string } {
  const optIn: Record<string, string | string[]> = {};
  const kept: string[] = [];
  for (const pair of query.split('&')) {
    const [entry] = new URLSearchParams(pair);
    if (entry === undefined) continue;
    const name = entry[0].toLowerCase();
    if (!isOptInHeader(name)) {
      kept.push(pair);
      continue;
    }
    const seen = optIn[name];
    optIn[name] = seen === undefined ? entry[1] : [...(Array.isArray(seen) ? seen : [seen]), entry[1]];
  }
  return { optIn, rest: kept.join('&') };
}

/**
 * Hands an upgrade request that is not a realtime session back to the HTTP routes. Once any 'upgrade' listener
 * exists, Node gives it every request with an Upgrade header, parser detached. A server may ignore an upgrade
 * (e.g. the h2c one of `curl --http2`), so the request is put back in front of its unread bytes without its
 * Upgrade header, and the socket starts over as a new connection of the server.
 */
function fallBackToHttp(server: http.Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== 'upgrade') text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
  }
  // Node decodes the request line and headers as latin1: encoding them back so restores the bytes sent.
  socket.unshift(Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]));
  server.emit('connection', socket);
}

function headerString(v: string | string[] | undefined): string {
  return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
}
