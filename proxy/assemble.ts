// Turns a finished exchange into its one RequestEvent. Runs after the response has ended, off the
// request path: SSE framing, usage extraction, token estimation and costing all happen here.
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Extracted, ProviderAdapter } from './adapters/types.ts';
import { EMPTY_EXTRACTED } from './adapters/types.ts';
import type { RequestCtx } from './context.ts';
import type { CostResult } from './cost.ts';
import type { ProviderId, RequestEvent } from './event.ts';
import { SCHEMA_VERSION, STATUS_CLIENT_CANCELLED, STATUS_STREAM_CUT } from './event.ts';
import { createSseParser } from './sse.ts';
import { estimateCompletionTokens, estimatePromptTokens } from './tokens.ts';
import type { Usage } from './adapters/types.ts';

export interface AssembleDeps {
  cost: (provider: ProviderId, model: string, usage: Usage) => CostResult;
  maxLoggedBodyBytes: number;
  /** Ids for the event's trace columns; the OTel stage fills them, '' until then. */
  traceIds?: (ctx: RequestCtx) => { trace_id: string; span_id: string };
}

const ESTIMABLE = new Set(['chat', 'responses', 'messages', 'generate']);

export function assembleEvent(ctx: RequestCtx, deps: AssembleDeps): RequestEvent {
  const { extracted, ttftAt, bodyText } = readResponse(ctx);
  const model = ctx.model;
  let usage = extracted.usage;
  let estimated = false;
  // Only a response that started successfully consumed tokens: one cut or cancelled part-way was still billed.
  const generated = ctx.ttfbAt !== undefined && ctx.status >= 200 && ctx.status < 300;
  if (usage === null && ctx.adapter && ESTIMABLE.has(ctx.endpoint) && generated) {
    // No usage reported (stream without include_usage, or cut/cancelled before the usage frame): count with a tokenizer.
    usage = {
      prompt_tokens: estimatePromptTokens(model, ctx.parsedBody),
      completion_tokens: estimateCompletionTokens(model, extracted.text),
      cache_read_tokens: 0,
      cache_write_tokens: 0,
      reasoning_tokens: 0,
    };
    estimated = true;
  }
  const tokens = usage ?? { prompt_tokens: 0, completion_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };
  const provider = ctx.adapter?.id ?? 'custom';
  const priced = usage === null ? { cost_usd: 0, cost_known: true } : deps.cost(provider, extracted.response_model || model, tokens);
  const end = ctx.endedAt ?? ctx.startedAt;
  const omitReq = ctx.optIn?.omitRequest ?? false;
  const omitRes = ctx.optIn?.omitResponse ?? false;
  const ids = deps.traceIds?.(ctx) ?? { trace_id: '', span_id: '' };

  return {
    schema_version: SCHEMA_VERSION,
    request_id: ctx.requestId,
    created_at: new Date(ctx.createdAtMs).toISOString(),
    organization_id: ctx.principal?.organization_id ?? '',
    team: ctx.principal?.team ?? '',
    key_id: ctx.principal?.key_id ?? '',
    user_id: ctx.optIn?.userId ?? '',
    session_id: ctx.optIn?.sessionId ?? '',
    session_path: ctx.optIn?.sessionPath ?? '',
    session_name: ctx.optIn?.sessionName ?? '',
    properties: ctx.optIn?.properties ?? {},
    provider,
    model,
    response_model: extracted.response_model,
    endpoint: ctx.endpoint,
    path: ctx.loggedPath,
    method: ctx.method,
    target_host: ctx.targetHost,
    stream: ctx.stream,
    status: finalStatus(ctx),
    latency_ms: round(end - ctx.startedAt),
    ttfb_ms: ctx.ttfbAt === undefined ? null : round(ctx.ttfbAt - ctx.startedAt),
    ttft_ms: ttftAt === undefined ? null : round(ttftAt - ctx.startedAt),
    finish_reason: extracted.finish_reason,
    error_type: ctx.errorType || extracted.error_type,
    error_code: ctx.errorCode,
    prompt_tokens: tokens.prompt_tokens,
    completion_tokens: tokens.completion_tokens,
    cache_read_tokens: tokens.cache_read_tokens,
    cache_write_tokens: tokens.cache_write_tokens,
    reasoning_tokens: tokens.reasoning_tokens,
    tokens_estimated: estimated,
    cost_usd: priced.cost_usd,
    cost_known: priced.cost_known,
    cache_status: 'none',
    attempts: 1,
    trace_id: ids.trace_id,
    span_id: ids.span_id,
    request_body: omitReq ? '' : truncate(ctx.requestText ?? ctx.requestBody.toString('utf8'), deps.maxLoggedBodyBytes),
    response_body: omitRes ? '' : truncate(bodyText, deps.maxLoggedBodyBytes),
    request_bytes: ctx.requestBody.length,
    response_bytes: ctx.capture.bytes + ctx.capture.droppedBytes,
  };
}

function finalStatus(ctx: RequestCtx): number {
  if (ctx.outcome === 'client_cancelled') return STATUS_CLIENT_CANCELLED;
  if (ctx.outcome === 'upstream_cut') return STATUS_STREAM_CUT;
  return ctx.status;
}

interface ResponseReading {
  extracted: Extracted;
  ttftAt: number | undefined;
  /** What to log as the response body: the raw body, or for streams the reassembled text. */
  bodyText: string;
}

function readResponse(ctx: RequestCtx): ResponseReading {
  const adapter = ctx.adapter;
  const cap = ctx.capture;
  if (adapter === undefined || cap.chunks.length === 0) return { extracted: EMPTY_EXTRACTED, ttftAt: undefined, bodyText: '' };
  const isSse = ctx.contentType.includes('text/event-stream');
  if (isSse && ctx.contentEncoding === '') return readStream(adapter, cap.chunks, cap.times);
  const raw = decode(Buffer.concat(cap.chunks, cap.bytes), ctx.contentEncoding);
  // A compressed stream can only be framed once inflated; its TTFT is then the last chunk's time at best.
  if (isSse) return readStream(adapter, [raw], [cap.times[cap.times.length - 1]!]);
  const text = raw.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // A 200 with a non-JSON body (or a truncated one): the client got the bytes, the event records what came.
    return { extracted: { ...EMPTY_EXTRACTED, error_type: ctx.status < 400 ? 'invalid_response_body' : '' }, ttftAt: undefined, bodyText: text };
  }
  return { extracted: safeExtract(() => adapter.fromBody(json)), ttftAt: undefined, bodyText: text };
}

function readStream(adapter: ProviderAdapter, chunks: readonly Buffer[], times: readonly number[]): ResponseReading {
  const acc = adapter.newStream();
  let ttftAt: number | undefined;
  let currentTime = 0;
  const parser = createSseParser((frame) => {
    let content = false;
    try {
      content = acc.onFrame(frame);
    } catch {
      // A frame the adapter cannot read is skipped: the stream itself already reached the client.
    }
    if (content && ttftAt === undefined) ttftAt = currentTime;
  });
  for (let i = 0; i < chunks.length; i++) {
    currentTime = times[i]!;
    parser.push(chunks[i]!);
  }
  parser.end();
  const extracted = safeExtract(() => acc.result());
  return { extracted, ttftAt, bodyText: extracted.text };
}

function safeExtract(f: () => Extracted): Extracted {
  try {
    return f();
  } catch {
    return { ...EMPTY_EXTRACTED, error_type: 'unreadable_response' };
  }
}

function decode(buf: Buffer, encoding: string): Buffer {
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(buf);
    if (encoding === 'br') return brotliDecompressSync(buf);
    if (encoding === 'deflate') return inflateSync(buf);
  } catch {
    return Buffer.alloc(0);
  }
  return buf;
}

function truncate(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  // Cut on a character boundary: a dangling half of a multi-byte character would be invalid UTF-8.
  return Buffer.from(text).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
}

function round(ms: number): number {
  return Math.max(0, Math.round(ms * 1000) / 1000);
}
