// Turns an exchange (request event v2, what the proxy saw) into its `sightline.requests` row. Runs in ingest,
// off the proxy: SSE framing, usage extraction, TTFT, token estimation and costing all happen here. The proxy
// runs it itself only for the calls whose bodies must not leave it (Sightline-Omit-*) or are too large to carry.
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Exchange, ExchangeRealtime } from '../contracts/exchange.ts';
import { REALTIME_CONTENT_TYPE } from '../contracts/exchange.ts';
import type { RequestEvent } from '../contracts/event.ts';
import { SCHEMA_VERSION } from '../contracts/event.ts';
import { adapterById } from '../providers/index.ts';
import { createSseParser } from '../providers/sse.ts';
import type { Extracted, ProviderAdapter, Usage } from '../providers/types.ts';
import { EMPTY_EXTRACTED, ZERO_USAGE } from '../providers/types.ts';
import type { Coster } from './cost.ts';
import { estimateCompletionTokens, estimatePromptTokens } from './tokens.ts';

export interface AssembleDeps {
  cost: Coster;
  maxLoggedBodyBytes: number;
}

/** error_type of a 2xx answer that is not the provider's JSON or SSE (an intermediary's HTML page, an empty body): not billed. */
export const INVALID_UPSTREAM_RESPONSE = 'invalid_upstream_response';

const ESTIMABLE = new Set(['chat', 'responses', 'messages', 'generate']);
/** The counters of anything that is not a WebSocket session. */
const NOT_A_SESSION: ExchangeRealtime = Object.freeze({ messages_in: 0, messages_out: 0, bytes_in: 0, close_code: 0 });

export function assembleEvent(ex: Exchange, deps: AssembleDeps): RequestEvent {
  const adapter = adapterById(ex.provider);
  const { extracted, ttftMs, bodyText, invalid } = readResponse(adapter, ex);
  const requestText = ex.request_body.toString('utf8');
  // A realtime session that named no model in its URL says it in its session events.
  const model = ex.model || (ex.realtime !== undefined ? extracted.response_model : '');
  // Only a response that started successfully consumed tokens: one cut or cancelled part-way was still billed.
  const generated = ex.ttfb_ms !== null && ex.upstream_status >= 200 && ex.upstream_status < 300 && !invalid;
  const { usage, estimated } = usageOf(extracted, generated && ESTIMABLE.has(ex.endpoint), model, requestText);
  const createdAt = Date.parse(ex.created_at);
  const answered = usage === null ? { cost_usd: 0, cost_known: true, price_version: '' } : deps.cost(ex.provider, extracted.response_model || model, usage, createdAt, ex.organization_id, extracted.service_tier);
  // A gateway cache hit replayed a stored answer: no tokens were consumed and nothing is billed; what the answer
  // cost when it was made (its usage, at today's prices) is what the hit saved.
  const hit = ex.cache_status === 'hit';
  const tokens = hit ? ZERO_USAGE : usage ?? ZERO_USAGE;
  const priced = hit ? { ...answered, cost_usd: 0 } : answered;
  const session = ex.realtime ?? NOT_A_SESSION;

  return {
    schema_version: SCHEMA_VERSION,
    request_id: ex.request_id,
    created_at: ex.created_at,
    organization_id: ex.organization_id,
    team: ex.team,
    key_id: ex.key_id,
    user_id: ex.user_id,
    session_id: ex.session_id,
    session_path: ex.session_path,
    session_name: ex.session_name,
    properties: ex.properties,
    provider: ex.provider,
    model,
    model_alias: ex.model_alias ?? '',
    deployment: ex.deployment ?? '',
    response_model: extracted.response_model,
    response_id: extracted.response_id ?? '',
    endpoint: ex.endpoint,
    path: ex.path,
    method: ex.method,
    target_host: ex.target_host,
    stream: ex.stream,
    status: ex.status,
    latency_ms: ex.latency_ms,
    ttfb_ms: ex.ttfb_ms,
    ttft_ms: ttftMs,
    finish_reason: extracted.finish_reason,
    error_type: ex.error_type || extracted.error_type,
    error_code: ex.error_code,
    prompt_tokens: tokens.prompt_tokens,
    completion_tokens: tokens.completion_tokens,
    cache_read_tokens: tokens.cache_read_tokens,
    cache_write_tokens: tokens.cache_write_tokens,
    reasoning_tokens: tokens.reasoning_tokens,
    cache_write_1h_tokens: tokens.cache_write_1h_tokens ?? 0,
    input_audio_tokens: tokens.input_audio_tokens ?? 0,
    cache_audio_read_tokens: tokens.cache_audio_read_tokens ?? 0,
    input_image_tokens: tokens.input_image_tokens ?? 0,
    output_audio_tokens: tokens.output_audio_tokens ?? 0,
    output_image_tokens: tokens.output_image_tokens ?? 0,
    service_tier: extracted.service_tier ?? '',
    tokens_estimated: estimated,
    cost_usd: priced.cost_usd,
    cost_known: priced.cost_known,
    price_version: priced.price_version,
    cache_saved_usd: hit ? answered.cost_usd : 0,
    cache_status: ex.cache_status,
    attempts: ex.attempts,
    attempt_log: ex.attempt_log ?? [],
    trace_id: ex.trace_id,
    span_id: ex.span_id,
    parent_span_id: ex.parent_span_id ?? '',
    trace_sampled: ex.trace_sampled ?? false,
    request_body: truncate(requestText, deps.maxLoggedBodyBytes),
    response_body: truncate(bodyText, deps.maxLoggedBodyBytes),
    request_bytes: ex.realtime?.bytes_in ?? ex.request_bytes,
    response_bytes: ex.response.bytes,
    messages_in: session.messages_in,
    messages_out: session.messages_out,
    close_code: session.close_code,
  };
}

/**
 * The row's usage. As reported when the provider's final count arrived. When it never did (a stream cut,
 * cancelled, ended by an error event, or missing its terminator), and the call consumed tokens (`estimable`):
 * the completion is estimated from the text actually delivered, the prompt side is what the provider did
 * report (Anthropic's message_start, Gemini's running usageMetadata), else estimated from the request too.
 */
function usageOf(extracted: Extracted, estimable: boolean, model: string, requestText: string): { usage: Usage | null; estimated: boolean } {
  const reported = extracted.usage;
  if (reported !== null && extracted.usage_final !== false) return { usage: reported, estimated: false };
  if (!estimable) return { usage: reported, estimated: false };
  const completion = estimateCompletionTokens(model, extracted.text);
  if (reported !== null) {
    // Only the input side of a partial report is kept: its output counts are a placeholder or a count so far.
    const { output_audio_tokens: _audio, output_image_tokens: _image, ...input } = reported;
    return { usage: { ...input, completion_tokens: completion, reasoning_tokens: 0 }, estimated: true };
  }
  return {
    usage: {
      prompt_tokens: estimatePromptTokens(model, parseRequest(requestText)),
      completion_tokens: completion,
      cache_read_tokens: 0,
      cache_write_tokens: 0,
      reasoning_tokens: 0,
    },
    estimated: true,
  };
}

function parseRequest(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

interface ResponseReading {
  extracted: Extracted;
  ttftMs: number | null;
  /** What to log as the response body: the raw body, or for streams the reassembled text. */
  bodyText: string;
  /** A 2xx answer that was not the provider's JSON or SSE: nothing is billed for it. */
  invalid: boolean;
}

const NOTHING: ResponseReading = { extracted: EMPTY_EXTRACTED, ttftMs: null, bodyText: '', invalid: false };

function readResponse(adapter: ProviderAdapter, ex: Exchange): ResponseReading {
  const reading = readBody(adapter, ex);
  // Only an answer that came whole can be judged: one cut or cancelled part-way was cut, not malformed. Other
  // endpoints may answer with anything (audio, files, 204s), so only the model-call endpoints are judged.
  const whole = ex.status >= 0 && ex.upstream_status >= 200 && ex.upstream_status < 300 && ex.response.captured === ex.response.bytes;
  const judged = whole && ESTIMABLE.has(ex.endpoint) && ex.realtime === undefined && reading.extracted.error_type === '';
  if (!judged || !looksEmpty(reading, ex)) return { ...reading, invalid: false };
  return { ...reading, extracted: { ...reading.extracted, error_type: INVALID_UPSTREAM_RESPONSE }, invalid: true };
}

/**
 * Nothing of the provider's answer in it: an empty body, a body that is not JSON, an event stream without one
 * JSON frame, or JSON with none of what a model call always answers with (usage, model, output, finish, id).
 */
function looksEmpty(reading: ResponseReading, ex: Exchange): boolean {
  if (reading.invalid) return true;
  if (ex.response_body.length === 0) return true;
  const e = reading.extracted;
  return e.usage === null && e.response_model === '' && e.text === '' && e.finish_reason === '' && (e.response_id ?? '') === '';
}

function readBody(adapter: ProviderAdapter, ex: Exchange): ResponseReading {
  const r = ex.response;
  const wire = ex.response_body;
  if (wire.length === 0) return NOTHING;
  if (r.content_type === REALTIME_CONTENT_TYPE) return readRealtime(adapter, wire.toString('utf8'));
  const isSse = r.content_type.includes('text/event-stream');
  if (isSse && r.content_encoding === '') return readStream(adapter, wire, r.chunk_times);
  const raw = decode(wire, r.content_encoding);
  // A compressed stream can only be framed once inflated; its TTFT is then the last chunk's time at best.
  if (isSse) return readStream(adapter, raw, [0, r.chunk_times.at(-1) ?? 0]);
  const text = raw.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // A Batch API's results file is JSON Lines: each line one answered request, priced at the batch discount.
    const batch = adapter.readBatchResults === undefined ? null : safeBatch(() => adapter.readBatchResults!(text));
    if (batch !== null) return { extracted: batch, ttftMs: null, bodyText: text, invalid: false };
    // Not JSON (or cut short): the client got the bytes, the row records what came; readResponse judges it.
    return { extracted: EMPTY_EXTRACTED, ttftMs: null, bodyText: text, invalid: true };
  }
  return { extracted: safeExtract(() => adapter.fromBody(json)), ttftMs: null, bodyText: text, invalid: false };
}

/** Frames the stream chunk by chunk as it arrived (chunkTimes = [offset, ms, …]), so TTFT is the first content's chunk time. */
function readStream(adapter: ProviderAdapter, wire: Buffer, chunkTimes: readonly number[]): ResponseReading {
  const acc = adapter.newStream();
  let ttftMs: number | null = null;
  let currentMs = 0;
  let jsonFrames = 0;
  const parser = createSseParser((frame) => {
    if (frame.json !== undefined) jsonFrames++;
    let content = false;
    try {
      content = acc.onFrame(frame);
    } catch {
      // A frame the adapter cannot read is skipped: the stream itself already reached the client.
    }
    if (content && ttftMs === null) ttftMs = currentMs;
  });
  const pairs = chunkTimes.length >= 2 ? chunkTimes : [0, 0];
  for (let i = 0; i < pairs.length; i += 2) {
    const from = pairs[i]!;
    const to = i + 2 < pairs.length ? pairs[i + 2]! : wire.length;
    currentMs = pairs[i + 1]!;
    if (to > from) parser.push(wire.subarray(from, to));
  }
  parser.end();
  const extracted = safeExtract(() => acc.result());
  // The row says the stream could not be read to its end (a line past the framing cap), not only what it held.
  if (parser.unframed && extracted.error_type === '') return { extracted: { ...extracted, error_type: 'unframed_stream' }, ttftMs, bodyText: extracted.text, invalid: false };
  return { extracted, ttftMs, bodyText: extracted.text, invalid: jsonFrames === 0 };
}

/** A WebSocket session's kept server messages, one JSON object per line (a line that does not parse is skipped). */
function readRealtime(adapter: ProviderAdapter, body: string): ResponseReading {
  const protocol = adapter.realtime;
  if (protocol === undefined) return NOTHING;
  const messages: unknown[] = [];
  for (const line of body.split('\n')) {
    if (line === '') continue;
    try {
      messages.push(JSON.parse(line));
    } catch {
      // A line cut short cannot say anything; the others still can.
    }
  }
  const extracted = safeExtract(() => protocol.read(messages));
  return { extracted, ttftMs: null, bodyText: extracted.text, invalid: false };
}

function safeBatch(f: () => Extracted | null): Extracted | null {
  try {
    return f();
  } catch {
    return null;
  }
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

