// Sightline's own forwarder: every upstream attempt goes through here, on undici (one connection pool per
// origin, keep-alive, bodies streamed both ways). An attempt is owned by its caller: the request body is a
// Buffer the caller keeps (so another attempt can resend it), nothing reaches the client until the caller's
// handler writes it, and an attempt can be abandoned at any point. Redirects are never followed.
//
// SSRF: targets named by the caller (Sightline-Target-Url) go through their own agent whose DNS lookup
// checks the address it is about to connect to, so a name that resolved to a public address when the
// allowlist was checked cannot connect to a private one (DNS rebinding).
import { lookup as dnsLookup } from 'node:dns';
import type { IncomingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import { isPrivateAddress } from './targets.ts';

export interface ForwarderOptions {
  /** No response headers within this, or no body bytes for this long: the attempt fails with a timeout. */
  timeoutMs: number;
  connectTimeoutMs: number;
  /** Hosts a caller-named target may resolve to a private address for (allowlist entries naming them exactly). */
  privateAllowed: (host: string) => boolean;
  /** The resolver behind the guarded lookup (node's dns.lookup; tests substitute one). */
  resolve?: typeof dnsLookup;
}

/** One upstream attempt. The body is sent as is; `headers` is a flat [name, value, …] list. */
export interface AttemptRequest {
  origin: string;
  path: string;
  method: string;
  headers: string[];
  body: Buffer;
  /** The target was named by the caller: connect only to addresses the SSRF rules allow. */
  callerNamed: boolean;
  /** This attempt's own headers and body-idle timeout (a deployment's, or what is left of a call's deadline). */
  timeoutMs?: number;
}

export type AttemptFailure = 'timeout' | 'unreachable' | 'target_not_allowed' | 'aborted';

export interface AttemptHandler {
  onStart(status: number, headers: IncomingHttpHeaders, statusMessage: string): void;
  /** Returns false to pause the upstream until `resume()` (the client is not keeping up). */
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  /** `started` = the response had begun (headers received) when it failed. */
  onError(kind: AttemptFailure, err: Error, started: boolean): void;
}

export interface AttemptControl {
  abort(): void;
  resume(): void;
}

export interface Forwarder {
  send(req: AttemptRequest, handler: AttemptHandler): AttemptControl;
  close(): Promise<void>;
}

export class TargetNotAllowedError extends Error {
  readonly code = 'SIGHTLINE_TARGET_NOT_ALLOWED';
  constructor(readonly host: string, readonly address: string) {
    super(`${host} resolved to the private address ${address}`);
  }
}

/** A lookup that refuses private addresses unless the host is allowed them, checked on every connect. */
export function guardedLookup(privateAllowed: (host: string) => boolean, resolve: typeof dnsLookup = dnsLookup): LookupFunction {
  return ((hostname: string, options: object, callback: (err: Error | null, address: unknown, family?: number) => void) => {
    resolve(hostname, options, (err: NodeJS.ErrnoException | null, address: unknown, family?: number) => {
      if (err) return callback(err, address, family);
      if (!privateAllowed(hostname.toLowerCase())) {
        const list = Array.isArray(address) ? (address as { address: string }[]).map((a) => a.address) : [address as string];
        const bad = list.find(isPrivateAddress);
        if (bad !== undefined) return callback(new TargetNotAllowedError(hostname, bad), address, family);
      }
      callback(null, address, family);
    });
  }) as LookupFunction;
}

export function createForwarder(opts: ForwarderOptions): Forwarder {
  // No redirect interceptor: a 3xx is the caller's answer, passed through, never followed.
  const common = {
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 600_000,
  };
  const trusted = new Agent({ ...common, connect: { timeout: opts.connectTimeoutMs } });
  const guarded = new Agent({ ...common, connect: { timeout: opts.connectTimeoutMs, lookup: guardedLookup(opts.privateAllowed, opts.resolve) } });

  return {
    send(req, handler) {
      return dispatch(req.callerNamed ? guarded : trusted, req, handler);
    },
    async close() {
      await Promise.all([trusted.close(), guarded.close()]);
    },
  };
}

function classify(err: Error): AttemptFailure {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'SIGHTLINE_TARGET_NOT_ALLOWED' || err instanceof TargetNotAllowedError || err.cause instanceof TargetNotAllowedError) return 'target_not_allowed';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (code === 'UND_ERR_ABORTED') return 'aborted';
  return 'unreachable';
}

function dispatch(agent: Dispatcher, req: AttemptRequest, handler: AttemptHandler): AttemptControl {
  let controller: Dispatcher.DispatchController | undefined;
  let abortedEarly = false;
  let started = false;
  const undiciHandler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (abortedEarly) c.abort(new AbortedError());
    },
    onResponseStart(_c, status, headers, statusMessage) {
      // 1xx are informational; undici reports the final response only.
      started = true;
      handler.onStart(status, headers, statusMessage ?? '');
    },
    onResponseData(c, chunk) {
      if (!handler.onData(chunk)) c.pause();
    },
    onResponseEnd() {
      handler.onEnd();
    },
    onResponseError(_c, err) {
      handler.onError(classify(err), err, started);
    },
  };
  agent.dispatch({
    origin: req.origin,
    path: req.path,
    method: req.method as Dispatcher.HttpMethod,
    headers: req.headers,
    body: req.body.length > 0 ? req.body : null,
    ...(req.timeoutMs !== undefined ? { headersTimeout: req.timeoutMs, bodyTimeout: req.timeoutMs } : {}),
  }, undiciHandler);
  return {
    abort() {
      if (controller) controller.abort(new AbortedError());
      else abortedEarly = true;
    },
    resume() {
      controller?.resume();
    },
  };
}

class AbortedError extends Error {
  readonly code = 'UND_ERR_ABORTED';
  constructor() {
    super('attempt abandoned');
  }
}
