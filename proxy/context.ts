// Per-request state, typed once. Each step of the request path fills the fields it owns.
import type { OutgoingHttpHeaders } from 'node:http';
import type { Attempt, CacheStatus, Endpoint } from '../contracts/event.ts';
import type { ProviderAdapter, UpstreamTarget } from '../providers/types.ts';
import type { Principal } from './auth.ts';
import type { AttemptControl } from './forwarder.ts';
import type { OptInHeaders } from './headers.ts';
import type { Capture } from './tee.ts';
import type { TraceContext } from './trace.ts';

/** The gateway's part of a call's record (the row's model_alias, deployment and attempt_log). */
export interface GatewayRecord {
  /** The alias the caller named. */
  alias: string;
  /** The deployment of the latest attempt. */
  deployment: string;
  /** Attempts that failed, in order. */
  attempts: Attempt[];
  /** The attempt under way (it serves the call if nothing fails); its status and latency are read when the call ends. */
  current: { alias: string; deployment: string; provider: string; model: string; startedAt: number } | undefined;
}

/** How the exchange ended, decided exactly once. */
export type Outcome =
  | 'completed' // the client received the whole response
  | 'upstream_cut' // the upstream closed/reset mid-response
  | 'client_cancelled' // the client went away first
  | 'rejected'; // Sightline answered itself (bad input, auth, unreachable upstream…)

export interface RequestCtx {
  requestId: string;
  /** Wall clock at arrival (ms since epoch) and the monotonic clock for durations. */
  createdAtMs: number;
  startedAt: number;
  method: string;
  /** Path logged in the event: no credential query parameters. */
  loggedPath: string;

  /** The provider that serves the call (its id is the row's provider). */
  adapter: ProviderAdapter | undefined;
  /** The adapter whose error shape the caller reads, when it is not the serving provider's (a translated call). */
  errorShape: ProviderAdapter | undefined;
  /** Set when the call's model is a gateway alias: what served it, and every attempt. */
  gateway: GatewayRecord | undefined;
  target: UpstreamTarget | undefined;
  /** target.url parsed once: origin for the forwarder, path for the request line. */
  targetUrl: URL | undefined;
  targetHost: string;
  /** The caller named the target (Sightline-Target-Url): connect under the SSRF rules. */
  callerNamedTarget: boolean;
  endpoint: Endpoint;
  optIn: OptInHeaders | undefined;
  principal: Principal | undefined;

  requestBody: Buffer;
  /** The body actually sent upstream when an adapter rewrote it; the caller's original is what gets logged. */
  forwardBody: Buffer | undefined;
  parsedBody: unknown;
  model: string;
  stream: boolean;
  /** The upstream was asked for a usage frame the caller did not request: hide it from the client. */
  hideUsageFrame: boolean;

  /** Status of the upstream response, or of Sightline's own answer. */
  status: number;
  upstreamStatus: number;
  ttfbAt: number | undefined;
  endedAt: number | undefined;
  contentType: string;
  contentEncoding: string;
  capture: Capture;
  attempt: AttemptControl | undefined;
  outcome: Outcome | undefined;
  errorCode: string;
  errorType: string;
  /** The call's W3C trace (trace.ts); undefined when untraced (tracing off and no traceparent came). */
  trace: TraceContext | undefined;
  /** The response cache's verdict (gateway/cache.ts): 'none' when the call did not use it. */
  cacheStatus: CacheStatus;
  /**
   * Sightline's own headers for whatever answer this call gets (rate limits, budget warnings, retry-after), added
   * where the head is written: res.setHeader would put every later writeHead on node's slow path.
   */
  answerHeaders: Record<string, string> | undefined;
}

/**
 * The head an answer goes out with: the call's answerHeaders added to it in place (a copy of a head of upstream
 * headers costs more than the headers do). Called as it is written, after the cache took its own copy: they are this
 * call's, never replayed to another.
 */
export function answerHead(ctx: RequestCtx, head: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const extra = ctx.answerHeaders;
  if (extra !== undefined) for (const name in extra) head[name] = extra[name];
  return head;
}
