// Request event v2, "the exchange": what the proxy saw of one call, recorded before the call's last bytes
// leave (write-ahead), with nothing parsed that only the ledger needs. The bodies are kept as the bytes that
// came (the response with the arrival time of each chunk); ingest turns it into a `sightline.requests` row
// (ledger/assemble.ts): SSE framing, usage, TTFT, token estimates and cost happen there, off the proxy.
//
// On the bus an exchange is one line of JSON (the metadata, validated by ExchangeMetaSchema) followed by the raw
// request and response bytes, their lengths in the metadata: the bodies are never escaped, decoded or re-encoded
// on the request path, which measured as the largest cost of a call with a 16 KiB body when they were JSON strings.
// Version 1 (an already assembled RequestEvent) stays valid on the bus: the proxy still writes it when a body
// must not leave the process (Sightline-Omit-*) or is too large to carry.
import { z } from 'zod';
import { AttemptSchema, CACHE_STATUSES, CALL_ATTRIBUTION, CALL_TARGET, ProviderId } from './event.ts';

export const EXCHANGE_SCHEMA_VERSION = 2;

/**
 * response.content_type of a WebSocket session: its body is the server messages the ledger needs (the provider's
 * end-of-response and session events), one JSON object per line, not the session's traffic.
 */
export const REALTIME_CONTENT_TYPE = 'application/vnd.sightline.realtime+jsonl';

const count = z.number().int().nonnegative();

export const ExchangeResponseSchema = z.object({
  content_type: z.string(),
  content_encoding: z.string(),
  /** Bytes of the response body carried (the beginning, when it exceeded the capture limit). */
  captured: count,
  /** Every byte the client was sent, captured or not. */
  bytes: count,
  /** False when the body exceeded the capture limit: only its beginning is carried. */
  complete: z.boolean(),
  /**
   * Stream chunk arrivals as flat pairs [byte offset, ms since the request arrived, …], for TTFT; empty for
   * bodies that are not event streams.
   */
  chunk_times: z.array(z.number().nonnegative()),
});
export type ExchangeResponse = z.infer<typeof ExchangeResponseSchema>;

/** What a WebSocket session's frames said, counted by the proxy (response.bytes: upstream → client payload bytes). */
export const ExchangeRealtimeSchema = z.object({
  /** Data messages client → upstream and upstream → client (ping/pong/close not counted). */
  messages_in: count,
  messages_out: count,
  /** Payload bytes of the client's messages (the row's request_bytes; a session carries no request body). */
  bytes_in: count,
  /** The first close frame's status code; 1005 when it had none, 1006 when the session ended without one. */
  close_code: z.number().int().min(0).max(4999),
});
export type ExchangeRealtime = z.infer<typeof ExchangeRealtimeSchema>;

export const ExchangeMetaSchema = z.object({
  schema_version: z.literal(EXCHANGE_SCHEMA_VERSION),
  ...CALL_ATTRIBUTION,

  provider: ProviderId,
  /** Model the caller asked for (body, else path; a realtime session's `model` query parameter). */
  model: z.string(),
  ...CALL_TARGET,

  /** Final status, with the sentinels of event.ts for cut (-2), cancelled (-3) and no response (-1). */
  status: z.number().int(),
  /** The upstream's own status when its response began (0 when none did): a cut 200 stream is still billed. */
  upstream_status: z.number().int().nonnegative(),
  latency_ms: z.number().nonnegative(),
  ttfb_ms: z.number().nonnegative().nullable(),
  error_type: z.string(),
  error_code: z.string(),

  cache_status: z.enum(CACHE_STATUSES),
  attempts: z.number().int().positive(),
  /**
   * Gateway routing (absent for a call that named no alias, and in exchanges written before it): the alias, the
   * deployment that served, and every attempt in order.
   */
  model_alias: z.string().optional(),
  deployment: z.string().optional(),
  attempt_log: z.array(AttemptSchema).optional(),
  /** W3C trace of the call ('' when untraced): its trace, and the proxy's span named upstream in traceparent. */
  trace_id: z.string(),
  span_id: z.string(),
  /**
   * The caller's span the proxy's is a child of ('' or absent when the proxy started the trace), and whether the
   * trace is sampled (ingest exports the span only then). Optional rather than defaulted: an untraced call's
   * metadata carries neither, and exchanges written before tracing parse as they are.
   */
  parent_span_id: z.string().regex(/^([0-9a-f]{16})?$/, 'expected 16 lowercase hex digits').optional(),
  trace_sampled: z.boolean().optional(),

  /** Length of the caller's request body, carried whole. */
  request_bytes: count,
  response: ExchangeResponseSchema,
  /** Present for WebSocket sessions (endpoint 'realtime') only. */
  realtime: ExchangeRealtimeSchema.optional(),
});
export type ExchangeMeta = z.infer<typeof ExchangeMetaSchema>;

/** An exchange in memory: its metadata and both bodies as bytes. */
export interface Exchange extends ExchangeMeta {
  request_body: Buffer;
  /** The captured response bytes, as received (still compressed when content_encoding says so). */
  response_body: Buffer;
}

const NEWLINE = 0x0a;

/** The bus form: the metadata as one JSON line (JSON.stringify never emits a raw newline), then the two bodies. */
export function encodeExchange(ex: Exchange): Buffer {
  const { request_body, response_body, ...meta } = ex;
  const head = JSON.stringify(meta);
  const headBytes = Buffer.byteLength(head);
  const out = Buffer.allocUnsafe(headBytes + 1 + request_body.length + response_body.length);
  out.write(head, 0, 'utf8');
  out[headBytes] = NEWLINE;
  request_body.copy(out, headBytes + 1);
  response_body.copy(out, headBytes + 1 + request_body.length);
  return out;
}

/** Where the JSON metadata of a bus message ends: -1 for a message that is JSON only (an assembled v1 event). */
export function metaEnd(raw: Buffer): number {
  return raw.indexOf(NEWLINE);
}

/**
 * The exchange in a bus message whose metadata (the JSON before `end`) has been parsed and validated; throws when
 * the bodies' lengths do not add up. `meta` is taken over: the exchange returned is that object.
 */
export function exchangeFromParts(meta: ExchangeMeta, raw: Buffer, end: number): Exchange {
  const from = end + 1;
  const requestEnd = from + meta.request_bytes;
  if (requestEnd + meta.response.captured !== raw.length) {
    throw new Error(`bodies are ${raw.length - from} bytes; the metadata says ${meta.request_bytes} + ${meta.response.captured}`);
  }
  // In place: a spread of the metadata's ~40 fields was 6 % of ingest's decoding.
  const exchange = meta as ExchangeMeta & Partial<Pick<Exchange, 'request_body' | 'response_body'>>;
  exchange.request_body = raw.subarray(from, requestEnd);
  exchange.response_body = raw.subarray(requestEnd);
  return exchange as Exchange;
}
