// Anthropic Messages API: `/anthropic/v1/messages` → https://api.anthropic.com/v1/messages.
//
// Usage: `input_tokens` EXCLUDES cache reads and writes, which Anthropic reports beside it as
// `cache_read_input_tokens` and `cache_creation_input_tokens`; we add all three so prompt_tokens is
// every input token. `output_tokens` already includes extended-thinking tokens (not reported apart,
// so reasoning_tokens stays 0). `cache_creation.ephemeral_1h_input_tokens` is the part of the cache writes made with
// the 1-hour TTL, priced at its own rate (cache_write_1h_tokens).
//
// Streams: message_start carries the prompt's counts and a placeholder `output_tokens` (1 or a few); the real
// output count comes only in message_delta. A stream that never got its message_delta (cut, ended by an
// `event: error`, cancelled) reports its usage as not final, so the ledger estimates the completion instead.
import type { Endpoint } from '../contracts/event.ts';
import { anthropicRoute } from './gateway-routes.ts';
import { asArray, asCount, asObject, asString, emptyExtracted, hasNumber, joinTarget, makeUsage, pathOf, readBatchLines, StreamResponse, TextSlots, withDetail } from './shared.ts';
import type { JsonObject } from './shared.ts';
import type { ErrorRender, Extracted, ProviderAdapter, SseFrame, StreamAccumulator, Usage } from './types.ts';

const USAGE_FIELDS = ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'output_tokens'] as const;
type RawUsage = Record<(typeof USAGE_FIELDS)[number] | 'cache_write_1h', number>;

const emptyRaw = (): RawUsage => ({ input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0, cache_write_1h: 0 });

function toUsage(raw: RawUsage): Usage {
  const cacheWrite = raw.cache_creation_input_tokens;
  const cacheRead = raw.cache_read_input_tokens;
  return withDetail(makeUsage(raw.input_tokens + cacheWrite + cacheRead, raw.output_tokens, cacheRead, cacheWrite, 0), { cache_write_1h_tokens: raw.cache_write_1h });
}

/** Overwrites the fields present in `value` (message_delta carries cumulative counts, possibly only output_tokens). */
function mergeUsage(into: RawUsage, value: JsonObject): void {
  for (const field of USAGE_FIELDS) if (hasNumber(value, field)) into[field] = asCount(value[field]);
  const ttl = asObject(value.cache_creation);
  if (ttl && hasNumber(ttl, 'ephemeral_1h_input_tokens')) into.cache_write_1h = asCount(ttl.ephemeral_1h_input_tokens);
}

export function anthropicUsage(value: unknown): Usage | null {
  const u = asObject(value);
  if (!u || !USAGE_FIELDS.some((f) => hasNumber(u, f))) return null;
  const raw = emptyRaw();
  mergeUsage(raw, u);
  return toUsage(raw);
}

/** `usage.service_tier` (`standard`, `priority`, `batch`); undefined when absent. */
function tierOf(usage: unknown): string | undefined {
  return asString(asObject(usage)?.service_tier) || undefined;
}

function blockText(block: JsonObject): string {
  if (block.type === 'text') return asString(block.text);
  if (block.type === 'tool_use' || block.type === 'server_tool_use') return JSON.stringify(block.input ?? {});
  return '';
}

function fromAnthropicBody(body: unknown): Extracted {
  const b = asObject(body);
  if (!b) return emptyExtracted();
  if (b.type === 'error') return { ...emptyExtracted(), error_type: asString(asObject(b.error)?.type) || 'error' };
  const slots = new TextSlots();
  asArray(b.content).forEach((raw, i) => {
    const block = asObject(raw);
    if (block) slots.append(String(i), blockText(block));
  });
  return { usage: anthropicUsage(b.usage), service_tier: tierOf(b.usage), response_model: asString(b.model), response_id: asString(b.id) || undefined, finish_reason: asString(b.stop_reason), error_type: '', text: slots.toString() };
}

/** Message Batches results (`GET /v1/messages/batches/{id}/results`): `{custom_id, result: {type, message}}` per line. */
function fromAnthropicBatchResults(jsonl: string): Extracted | null {
  return readBatchLines(jsonl, (o) => {
    const result = asObject(o.result);
    const message = result?.type === 'succeeded' ? asObject(result.message) : undefined;
    return { usage: anthropicUsage(message?.usage), model: asString(message?.model) };
  });
}

class AnthropicStream extends StreamResponse implements StreamAccumulator {
  private readonly raw: RawUsage = emptyRaw();
  private sawUsage = false;
  /** message_delta's usage arrived: the output count is the real one, not message_start's placeholder. */
  private sawFinalUsage = false;

  onFrame(frame: SseFrame): boolean {
    const j = asObject(frame.json);
    if (!j) return false;
    switch (j.type) {
      case 'message_start': {
        const message = asObject(j.message);
        if (!message) return false;
        this.model = asString(message.model) || this.model;
        this.id = asString(message.id) || this.id;
        this.takeUsage(message.usage);
        return false;
      }
      case 'content_block_start': {
        const block = asObject(j.content_block);
        // tool_use starts with `input: {}` and streams its JSON as deltas: only a text block's initial text counts here.
        const text = block?.type === 'text' ? asString(block.text) : '';
        this.slots.append(String(j.index), text);
        return text !== '';
      }
      case 'content_block_delta':
        return this.delta(String(j.index), asObject(j.delta));
      case 'message_delta': {
        this.finish = asString(asObject(j.delta)?.stop_reason) || this.finish;
        if (this.takeUsage(j.usage)) this.sawFinalUsage = true;
        return false;
      }
      case 'error':
        this.errorType = asString(asObject(j.error)?.type) || 'error';
        return false;
      default:
        return false;
    }
  }

  private delta(key: string, delta: JsonObject | undefined): boolean {
    if (!delta) return false;
    switch (delta.type) {
      case 'text_delta': {
        const text = asString(delta.text);
        this.slots.append(key, text);
        return text !== '';
      }
      case 'input_json_delta': {
        const json = asString(delta.partial_json);
        this.slots.append(key, json);
        return json !== '';
      }
      case 'thinking_delta':
        // Thinking is model output for time-to-first-token, but not part of the answer text.
        return asString(delta.thinking) !== '';
      default:
        return false;
    }
  }

  private takeUsage(value: unknown): boolean {
    const u = asObject(value);
    if (!u) return false;
    this.sawUsage = true;
    this.tier = tierOf(u) ?? this.tier;
    mergeUsage(this.raw, u);
    return true;
  }

  result(): Extracted {
    return { usage: this.sawUsage ? toUsage(this.raw) : null, usage_final: this.sawFinalUsage, ...this.response() };
  }
}

function anthropicErrorType(status: number): string {
  switch (status) {
    case 400: return 'invalid_request_error';
    case 401: return 'authentication_error';
    case 402: return 'billing_error';
    case 403: return 'permission_error';
    case 404: return 'not_found_error';
    case 413: return 'request_too_large';
    case 429: return 'rate_limit_error';
    case 504: return 'timeout_error';
    case 529: return 'overloaded_error';
    default: return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** Anthropic's own error shape (`{type:'error', error:{type, message}}`), with our stable code added inside `error`. */
function renderAnthropicError(err: ErrorRender): unknown {
  return { type: 'error', error: { type: anthropicErrorType(err.status), message: err.message, code: err.code } };
}

export const anthropicAdapter: ProviderAdapter = {
  id: 'anthropic',
  prefix: 'anthropic',
  defaultBaseUrl: 'https://api.anthropic.com',
  target: (rest, query, baseUrl) => joinTarget(baseUrl, rest, query, ''),
  endpoint(rest: string): Endpoint {
    return pathOf(rest).replace(/\/+$/, '').endsWith('/v1/messages') ? 'messages' : 'other';
  },
  requestModel: (body, target) => asString(asObject(body)?.model) || target.modelFromPath,
  isStreamRequest: (body) => asObject(body)?.stream === true,
  fromBody: fromAnthropicBody,
  newStream: () => new AnthropicStream(),
  readBatchResults: fromAnthropicBatchResults,
  renderError: renderAnthropicError,
  gateway: anthropicRoute,
};
