// The one event of a call, built when it ends and before its last bytes are released (write-ahead). Normally an
// exchange (v2): what the proxy saw, nothing parsed, assembled into a row by ingest. When a body must not leave
// the process (Sightline-Omit-*) or is too large to carry, the proxy assembles the row itself (v1) with the same
// code ingest runs, loaded on first need so the tokenizers and price tables stay out of the proxy otherwise.
import type { Attempt, RequestEvent } from '../contracts/event.ts';
import { STATUS_CLIENT_CANCELLED, STATUS_STREAM_CUT } from '../contracts/event.ts';
import type { Exchange } from '../contracts/exchange.ts';
import { EXCHANGE_SCHEMA_VERSION } from '../contracts/exchange.ts';
import type { BusEvent } from '../contracts/sink.ts';
import type { Config } from '../config/index.ts';
import type { AssembleDeps } from '../ledger/assemble.ts';
import type { RequestCtx } from './context.ts';
import { capturedBytes, chunkTimes } from './tee.ts';

const EMPTY = Buffer.alloc(0);
const NO_PROPERTIES: Readonly<Record<string, string>> = Object.freeze({});

export function toExchange(ctx: RequestCtx): Exchange {
  const cap = ctx.capture;
  const sse = ctx.contentType.includes('text/event-stream');
  const end = ctx.endedAt ?? ctx.startedAt;
  const p = ctx.principal;
  const o = ctx.optIn;
  const t = ctx.trace;
  return {
    schema_version: EXCHANGE_SCHEMA_VERSION,
    request_id: ctx.requestId,
    created_at: new Date(ctx.createdAtMs).toISOString(),
    organization_id: p?.organization_id ?? '',
    team: p?.team ?? '',
    key_id: p?.key_id ?? '',
    user_id: o?.userId ?? '',
    session_id: o?.sessionId ?? '',
    session_path: o?.sessionPath ?? '',
    session_name: o?.sessionName ?? '',
    properties: o?.properties ?? NO_PROPERTIES,
    provider: ctx.adapter?.id ?? 'custom',
    model: ctx.model,
    endpoint: ctx.endpoint,
    path: ctx.loggedPath,
    method: ctx.method,
    target_host: ctx.targetHost,
    stream: ctx.stream,
    status: finalStatus(ctx),
    upstream_status: ctx.upstreamStatus,
    latency_ms: ms(end - ctx.startedAt),
    ttfb_ms: ctx.ttfbAt === undefined ? null : ms(ctx.ttfbAt - ctx.startedAt),
    error_type: ctx.errorType,
    error_code: ctx.errorCode,
    cache_status: ctx.cacheStatus,
    ...gatewayFields(ctx, end),
    trace_id: t?.traceId ?? '',
    span_id: t?.spanId ?? '',
    // Undefined when untraced: JSON.stringify leaves them out, so an untraced exchange is as it was.
    parent_span_id: t?.parentSpanId,
    trace_sampled: t?.sampled,
    request_bytes: ctx.requestBody.length,
    request_body: ctx.requestBody,
    response_body: cap.bytes === 0 ? EMPTY : capturedBytes(cap),
    response: {
      content_type: ctx.contentType,
      content_encoding: ctx.contentEncoding,
      captured: cap.bytes,
      bytes: cap.bytes + cap.droppedBytes,
      complete: cap.droppedBytes === 0,
      chunk_times: sse ? chunkTimes(cap, ctx.startedAt) : [],
    },
  };
}

/** The gateway's record of the call: nothing for a pass-through call (one attempt, no alias). */
function gatewayFields(ctx: RequestCtx, end: number): Pick<Exchange, 'attempts' | 'model_alias' | 'deployment' | 'attempt_log'> {
  const g = ctx.gateway;
  if (g === undefined) return { attempts: 1 };
  const log: Attempt[] = [...g.attempts];
  const c = g.current;
  if (c !== undefined) {
    log.push({ alias: c.alias, deployment: c.deployment, provider: c.provider, model: c.model, status: finalStatus(ctx), start_ms: ms(c.startedAt - ctx.startedAt), latency_ms: ms(end - c.startedAt), error_code: ctx.errorCode, error: '' });
  }
  return { attempts: Math.max(1, log.length), model_alias: g.alias, deployment: g.deployment, attempt_log: log };
}

function finalStatus(ctx: RequestCtx): number {
  if (ctx.outcome === 'client_cancelled') return STATUS_CLIENT_CANCELLED;
  if (ctx.outcome === 'upstream_cut') return STATUS_STREAM_CUT;
  return ctx.status;
}

function ms(v: number): number {
  return Math.max(0, Math.round(v * 1000) / 1000);
}

/** True when this call's event must be assembled here rather than carry its bodies on the bus. */
export function assembleInProxy(ctx: RequestCtx, maxCarriedBytes: number): boolean {
  const o = ctx.optIn;
  return (o !== undefined && (o.omitRequest || o.omitResponse)) || ctx.capture.droppedBytes > 0 || ctx.capture.bytes + ctx.requestBody.length > maxCarriedBytes;
}

/** If assembling here ever fails, the call is still logged, without the bodies that were not to leave the process. */
export function withoutBodies(ex: Exchange): Exchange {
  return { ...ex, request_body: EMPTY, response_body: EMPTY, request_bytes: 0, response: { ...ex.response, captured: 0, complete: false } };
}

type Assembler = (ex: Exchange) => RequestEvent;
let assembler: Promise<Assembler> | undefined;

function loadAssembler(config: Config): Promise<Assembler> {
  assembler ??= Promise.all([import('../ledger/assemble.ts'), import('../ledger/prices.ts')]).then(([a, p]) => {
    const deps: AssembleDeps = { cost: p.costerFromConfig(config), maxLoggedBodyBytes: config.limits.max_logged_body_bytes };
    return (ex: Exchange) => a.assembleEvent(ex, deps);
  });
  return assembler;
}

/** The v1 event of a call assembled in the proxy, with omitted bodies blanked after they served the ledger. */
export async function assembleHere(ctx: RequestCtx, config: Config): Promise<BusEvent> {
  const assemble = await loadAssembler(config);
  const event = assemble(toExchange(ctx));
  if (ctx.optIn?.omitRequest) event.request_body = '';
  if (ctx.optIn?.omitResponse) event.response_body = '';
  return event;
}
