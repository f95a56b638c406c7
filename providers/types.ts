// The one shape every provider adapter fills in. Provider differences are data:
// nothing outside providers/ may branch on a provider id.
import type { Endpoint, ProviderId } from '../contracts/event.ts';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  // Priced dimensions some responses report beside the five above (absent = 0). Each is a subset of a field above,
  // so the five stay the totals every report sums: cache_write_1h ⊆ cache_write (Anthropic's 1-hour TTL writes);
  // input_audio and input_image ⊆ prompt, cache_audio_read ⊆ cache_read and ⊆ input_audio; output_audio and
  // output_image ⊆ completion.
  cache_write_1h_tokens?: number;
  input_audio_tokens?: number;
  cache_audio_read_tokens?: number;
  input_image_tokens?: number;
  output_audio_tokens?: number;
  output_image_tokens?: number;
}

/** What a response (whole body, or a stream once finished) told us. */
export interface Extracted {
  /** null when the response carried no usage at all (then tokens may be estimated). */
  usage: Usage | null;
  /**
   * False when usage came only from a frame the provider sends before the answer (Anthropic's message_start, a
   * Gemini chunk before the one carrying finishReason) and the final count never arrived: its prompt side is the
   * provider's, its completion side a placeholder or a count so far. Absent = the usage is final.
   */
  usage_final?: boolean;
  /** The service tier the provider says served the call (`default`, `flex`, `priority`, `standard`, `batch`…); absent when none. */
  service_tier?: string;
  response_model: string;
  /** The provider's id of the response (`chatcmpl-…`, `resp_…`, `msg_…`, Gemini's responseId); absent when none. */
  response_id?: string;
  finish_reason: string;
  /** Provider error type when the body or a stream event was an error (`rate_limit_error`, …). */
  error_type: string;
  /** The text the model produced, reassembled for streams; used for the logged body and estimation. */
  text: string;
}

/** One SSE frame after framing: `event:` name ('' when absent) and `data:` parsed as JSON (undefined if not JSON, e.g. `[DONE]`). */
export interface SseFrame {
  event: string;
  json: unknown;
}

export interface StreamAccumulator {
  /** Feed one frame in arrival order. Returns true when the frame carried model output (used for TTFT). */
  onFrame(frame: SseFrame): boolean;
  /** Called once after the last frame. */
  result(): Extracted;
}

/**
 * A WebSocket realtime API as Sightline reads it: the proxy keeps the few server messages the ledger needs (told
 * apart by a substring check before anything is parsed), and the ledger reads the session from them.
 */
export interface RealtimeProtocol {
  /** Every server text message the ledger needs contains one of these; the proxy parses no other message. */
  readonly markers: readonly string[];
  /**
   * What to keep of a parsed server message, or undefined when the ledger needs nothing of it. `brief`: only what
   * the ledger counts with (usage, status, model) and no content, for omitted responses or when space runs short.
   */
  keep(message: unknown, brief: boolean): unknown;
  /** What a session's kept messages (in arrival order) say, usage summed over the session's responses. */
  read(messages: readonly unknown[]): Extracted;
}

export interface UpstreamTarget {
  /** Absolute URL to send the request to (path and query included). */
  url: string;
  /** Extra information the route carries (e.g. Azure deployment) used as the model when the body has none. */
  modelFromPath: string;
}

/** Renders an error Sightline originates, in the caller's provider shape. */
export interface ErrorRender {
  status: number;
  /** Stable machine code, e.g. `sightline_invalid_header`. */
  code: string;
  message: string;
  /** OpenAI-style type (`invalid_request_error`, `authentication_error`, `api_error`, …). */
  type: string;
  /** The request field at fault (OpenAI's `param`), when one is. */
  param?: string;
}

/** A 4xx that a different model may not get: the prompt is too long for this one, or its content was refused. */
export type FailureKind = 'context_window' | 'content_policy';

/** The API a provider speaks, as translation names them (Azure and OpenAI-compatible servers speak `openai`). */
export type ProviderApi = 'openai' | 'anthropic' | 'gemini';

/** How the gateway reaches a provider's deployment (providers/gateway-routes.ts). */
export interface GatewayRoute {
  readonly api: ProviderApi;
  /** The request header carrying the provider key, and its value. */
  credential(key: string): readonly [string, string];
  /**
   * The URL of an endpoint on a deployment: `base` is its api_base (`explicit`) or the provider's configured base;
   * `endpoint` is translation's path (`/v1/messages`) or, for the OpenAI API, the SDK-relative path (`/chat/completions`).
   */
  url(base: string, explicit: boolean, endpoint: string, model: string, apiVersion: string): string;
  failureKind(status: number, body: string): FailureKind | undefined;
}

export interface ProviderAdapter {
  readonly id: ProviderId;
  /** URL prefix this adapter serves (`openai` for `/openai/...`). */
  readonly prefix: string;
  /** Default upstream base; `SIGHTLINE_UPSTREAM_<ID>` overrides it. */
  readonly defaultBaseUrl: string;
  /**
   * Builds the upstream URL from the path after the prefix (leading `/` kept) and the raw query string
   * (without `?`, '' when none). Returns a string error message when the path cannot be routed.
   */
  target(rest: string, query: string, baseUrl: string): UpstreamTarget | string;
  /** Classifies the endpoint from the path after the prefix. */
  endpoint(rest: string): Endpoint;
  /** Model requested: from the JSON body, else from the path. */
  requestModel(body: unknown, target: UpstreamTarget): string;
  /** Whether the caller asked for a stream (body flag, or path such as Gemini's streamGenerateContent). */
  isStreamRequest(body: unknown, rest: string, query: string): boolean;
  /**
   * Optional request-body rewrite applied before forwarding (e.g. OpenAI `stream_options.include_usage`).
   * Returns null when the body is left untouched; otherwise the new body and whether the injected
   * usage frame must be hidden from the client.
   */
  rewriteRequest?(body: Record<string, unknown>, endpoint: Endpoint): { body: Record<string, unknown>; hideUsageFrame: boolean } | null;
  /** Extracts usage etc. from a complete non-stream response body (already JSON-parsed). */
  fromBody(body: unknown): Extracted;
  /** A fresh accumulator for one SSE response. */
  newStream(): StreamAccumulator;
  /**
   * A Batch API's results file (JSON Lines, one answered request per line) downloaded through the proxy; null when
   * the text is not one. Usage is summed over its lines, and the service tier is `batch` (priced at the batch discount).
   */
  readBatchResults?(jsonl: string): Extracted | null;
  /** The provider's WebSocket realtime API, for providers that have one. */
  readonly realtime?: RealtimeProtocol;
  /** True when this SSE frame is the usage-only frame injected by rewriteRequest (hidden from the client when asked). */
  isInjectedUsageFrame?(frame: SseFrame): boolean;
  /** Error body in this provider's JSON shape. */
  renderError(err: ErrorRender): unknown;
  /** How the gateway reaches this provider when an alias's deployment names it. */
  readonly gateway: GatewayRoute;
}

export const ZERO_USAGE: Usage = Object.freeze({
  prompt_tokens: 0,
  completion_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  reasoning_tokens: 0,
});

export const EMPTY_EXTRACTED: Extracted = Object.freeze({
  usage: null,
  response_model: '',
  finish_reason: '',
  error_type: '',
  text: '',
});
