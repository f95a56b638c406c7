// The request event: the only contract between the proxy and every stage downstream
// (bus, ingest, ClickHouse). Field names are the ClickHouse column names of
// `sightline.requests`. Any change ships a migration, and bumps SCHEMA_VERSION unless it only
// adds fields with defaults (events written before still parse).
import { z } from 'zod';

export const SCHEMA_VERSION = 1;

export const PROVIDERS = ['openai', 'anthropic', 'gemini', 'azure', 'custom'] as const;
export const ProviderId = z.enum(PROVIDERS);
export type ProviderId = z.infer<typeof ProviderId>;

export const ENDPOINTS = ['chat', 'responses', 'embeddings', 'messages', 'generate', 'realtime', 'other'] as const;
export const Endpoint = z.enum(ENDPOINTS);
export type Endpoint = z.infer<typeof Endpoint>;

/** Status sentinels for calls that never got a complete upstream response. */
export const STATUS_STREAM_CUT = -2; // upstream closed or reset the stream mid-way
export const STATUS_CLIENT_CANCELLED = -3; // the caller went away before the last byte
export const STATUS_NO_RESPONSE = -1; // upstream unreachable / timed out before headers (error_code says which)

export const CACHE_STATUSES = ['none', 'hit', 'miss', 'bypass'] as const;
export type CacheStatus = (typeof CACHE_STATUSES)[number];

/** One upstream attempt the gateway made for a call (a retry or a fallback), as the row's attempt_log holds it. */
export const AttemptSchema = z.object({
  /** The configured alias the attempt served ('' for a call that named no alias). */
  alias: z.string(),
  /** The deployment's id within the alias (`smart#0`, or its configured `id`). */
  deployment: z.string(),
  provider: z.string(),
  /** The upstream model the attempt asked for. */
  model: z.string(),
  /** The upstream's HTTP status, or STATUS_NO_RESPONSE when none came. */
  status: z.number().int(),
  /** When the attempt began, ms after the call arrived. */
  start_ms: z.number().nonnegative().default(0),
  latency_ms: z.number().nonnegative(),
  /** Stable sightline_* code or the upstream's error type; '' for the attempt that served. */
  error_code: z.string(),
  /** A short reason ('' for the attempt that served). */
  error: z.string(),
});
export type Attempt = z.infer<typeof AttemptSchema>;

const tokenCount = z.number().int().nonnegative();
/** Bounded to the UInt32 column it lands in. */
const messageCount = z.number().int().nonnegative().max(0xffff_ffff);

/** Who made a call and when: the same fields, in the same order, in the row and in the exchange it comes from. */
export const CALL_ATTRIBUTION = {
  request_id: z.uuid(),
  /** ISO-8601 UTC with milliseconds: when the proxy received the request. */
  created_at: z.iso.datetime({ precision: 3 }),
  organization_id: z.string(),
  team: z.string(),
  key_id: z.string(),
  user_id: z.string(),
  session_id: z.string(),
  session_path: z.string(),
  session_name: z.string(),
  properties: z.record(z.string(), z.string()),
};

/** Where a call went. */
export const CALL_TARGET = {
  endpoint: Endpoint,
  path: z.string(),
  method: z.string(),
  target_host: z.string(),
  stream: z.boolean(),
};

export const RequestEventSchema = z.object({
  schema_version: z.literal(SCHEMA_VERSION),
  ...CALL_ATTRIBUTION,

  // what was called
  provider: ProviderId,
  model: z.string(),
  /** The configured alias the caller named ('' when the model was not an alias); migration 0005. */
  model_alias: z.string().default(''),
  /** The alias deployment that served the call (its last attempt; '' without an alias). */
  deployment: z.string().default(''),
  response_model: z.string(),
  /** The provider's id of the response ('' when it gave none; rows before migration 0004 read ''). */
  response_id: z.string().default(''),
  ...CALL_TARGET,

  // outcome
  status: z.number().int(),
  latency_ms: z.number().nonnegative(),
  /** Time to the upstream's response headers. */
  ttfb_ms: z.number().nonnegative().nullable(),
  /** Time to the first content-bearing chunk of a stream; null for non-streams. */
  ttft_ms: z.number().nonnegative().nullable(),
  finish_reason: z.string(),
  /** Upstream error type (e.g. `rate_limit_error`) or our own failure class. */
  error_type: z.string(),
  /** Stable Sightline code (`sightline_upstream_timeout`, …) when the proxy originated or classified the failure. */
  error_code: z.string(),

  // usage and cost
  prompt_tokens: tokenCount,
  completion_tokens: tokenCount,
  cache_read_tokens: tokenCount,
  cache_write_tokens: tokenCount,
  reasoning_tokens: tokenCount,
  // Priced dimensions, each part of a total above (providers/types.ts Usage); migration 0007, older rows read 0.
  cache_write_1h_tokens: tokenCount.default(0),
  input_audio_tokens: tokenCount.default(0),
  cache_audio_read_tokens: tokenCount.default(0),
  input_image_tokens: tokenCount.default(0),
  output_audio_tokens: tokenCount.default(0),
  output_image_tokens: tokenCount.default(0),
  /** The tier the provider says served the call (`flex`, `priority`, `standard`…; '' when it said none). */
  service_tier: z.string().default(''),
  tokens_estimated: z.boolean(),
  cost_usd: z.number().nonnegative(),
  /** False when no price was found for the model: cost_usd is then 0, not a guess. */
  cost_known: z.boolean(),
  /** The price data (or `override:<digest>`) that priced cost_usd; '' when unpriced or stored before migration 0007. */
  price_version: z.string().default(''),
  /** What a gateway cache hit saved: the cost of the call whose answer it replayed (cost_usd is 0); migration 0006. */
  cache_saved_usd: z.number().nonnegative().default(0),

  // gateway layer (filled by later stages of the proxy; defaults keep the contract stable)
  cache_status: z.enum(CACHE_STATUSES),
  attempts: z.number().int().positive(),
  /** Every upstream attempt in order, the serving (or last failing) one last; [] for a call made once, unrouted. */
  attempt_log: z.array(AttemptSchema).default([]),

  // tracing: the W3C trace the call belongs to ('' when untraced), the proxy's span in it, the caller's span
  // (its parent; '' for a trace the proxy started) and whether the trace was sampled (its span was exported).
  // The defaults keep v1 events written before tracing valid.
  trace_id: z.string(),
  span_id: z.string(),
  parent_span_id: z.string().default(''),
  trace_sampled: z.boolean().default(false),

  // bodies ('' when omitted by Sightline-Omit-* or not captured)
  request_body: z.string(),
  response_body: z.string(),
  request_bytes: tokenCount,
  response_bytes: tokenCount,

  // WebSocket sessions (endpoint 'realtime'), one row per session; 0 for HTTP calls. A session's request_bytes and
  // response_bytes are the payload bytes of its messages each way. The defaults keep earlier v1 events valid.
  /** Data messages client → upstream and upstream → client (ping/pong/close not counted). */
  messages_in: messageCount.default(0),
  messages_out: messageCount.default(0),
  /** The first close frame's status code; 1005 when it had none, 1006 when the session ended without one. */
  close_code: z.number().int().min(0).max(4999).default(0),
});

export type RequestEvent = z.infer<typeof RequestEventSchema>;

/** Validates foreign input (bus messages, fixtures) into a RequestEvent. */
export function parseRequestEvent(input: unknown): RequestEvent {
  return RequestEventSchema.parse(input);
}

/** One serialisation per event, as the bus and the jsonl sink write it. */
export function encodeRequestEvent(event: RequestEvent): string {
  return JSON.stringify(event);
}
