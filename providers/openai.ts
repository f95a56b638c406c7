// OpenAI wire format: Chat Completions, Responses and Embeddings, whole bodies and SSE, and the server events of
// a Realtime (WebSocket) session.
// Azure OpenAI and every OpenAI-compatible server (vLLM, Together, Ollama, OpenRouter) speak the same
// format, so they are built from this one factory and differ only in routing and usage injection.
//
// Usage: `prompt_tokens` (chat/embeddings) / `input_tokens` (Responses) already INCLUDE cached tokens
// (`*_tokens_details.cached_tokens`), and `completion_tokens` / `output_tokens` already INCLUDE
// reasoning tokens, so they map onto our convention as they are.
import type { Endpoint, ProviderId } from '../contracts/event.ts';
import { openAiRoute } from './gateway-routes.ts';
import { addUsage, asArray, asCount, asObject, asString, emptyExtracted, joinTarget, makeUsage, pathOf, readBatchLines, StreamResponse, TextSlots, withDetail } from './shared.ts';
import type { JsonObject } from './shared.ts';
import type { ErrorRender, Extracted, GatewayRoute, ProviderAdapter, RealtimeProtocol, SseFrame, StreamAccumulator, UpstreamTarget, Usage } from './types.ts';

export function openAiEndpoint(rest: string): Endpoint {
  const path = pathOf(rest);
  if (path.endsWith('/chat/completions')) return 'chat';
  if (path.endsWith('/embeddings')) return 'embeddings';
  if (path.endsWith('/responses') || path.includes('/responses/')) return 'responses';
  return 'other';
}

/** Chat/embeddings `usage` or Responses `usage`; null when absent. */
export function openAiUsage(value: unknown): Usage | null {
  const u = asObject(value);
  if (!u) return null;
  const responsesShape = typeof u.input_tokens === 'number' || typeof u.output_tokens === 'number';
  if (!responsesShape && typeof u.prompt_tokens !== 'number' && typeof u.completion_tokens !== 'number') return null;
  const inDetails = asObject(responsesShape ? u.input_tokens_details : u.prompt_tokens_details);
  const outDetails = asObject(responsesShape ? u.output_tokens_details : u.completion_tokens_details);
  const base = makeUsage(
    asCount(responsesShape ? u.input_tokens : u.prompt_tokens),
    asCount(responsesShape ? u.output_tokens : u.completion_tokens),
    asCount(inDetails?.cached_tokens),
    0,
    asCount(outDetails?.reasoning_tokens),
  );
  // Audio models (gpt-4o-audio, gpt-realtime via chat) report audio_tokens; image models (gpt-image-1) image_tokens.
  return withDetail(base, {
    input_audio_tokens: asCount(inDetails?.audio_tokens),
    input_image_tokens: asCount(inDetails?.image_tokens),
    output_audio_tokens: asCount(outDetails?.audio_tokens),
    output_image_tokens: asCount(outDetails?.image_tokens),
  });
}

/** The tier that served the call (`default`, `flex`, `priority`, `scale`); undefined when absent or `auto`. */
function tierOf(body: JsonObject): string | undefined {
  const tier = asString(body.service_tier);
  return tier === '' || tier === 'auto' ? undefined : tier;
}

/**
 * Realtime API `response.usage` (singular `*_token_details`): `input_tokens` counts text, audio and image input,
 * cached ones included (`input_token_details.cached_tokens`, split by `cached_tokens_details`); `output_tokens` is
 * all output (`output_token_details.audio_tokens` of it audio). Each audio part is priced at its own rate. Null when absent.
 */
export function openAiRealtimeUsage(value: unknown): Usage | null {
  const u = asObject(value);
  if (!u || (typeof u.input_tokens !== 'number' && typeof u.output_tokens !== 'number')) return null;
  const inDetails = asObject(u.input_token_details);
  const outDetails = asObject(u.output_token_details);
  return withDetail(makeUsage(asCount(u.input_tokens), asCount(u.output_tokens), asCount(inDetails?.cached_tokens), 0, 0), {
    input_audio_tokens: asCount(inDetails?.audio_tokens),
    cache_audio_read_tokens: asCount(asObject(inDetails?.cached_tokens_details)?.audio_tokens),
    input_image_tokens: asCount(inDetails?.image_tokens),
    output_audio_tokens: asCount(outDetails?.audio_tokens),
  });
}

function errorTypeOf(error: JsonObject): string {
  return asString(error.type) || asString(error.code) || 'error';
}

/** Message content is a string, or (some compatible servers) an array of `{type:'text', text}` parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  let out = '';
  for (const part of asArray(content)) out += asString(asObject(part)?.text);
  return out;
}

function chatChoiceIndex(choice: JsonObject, position: number): number {
  return typeof choice.index === 'number' ? choice.index : position;
}

function responsesText(output: unknown, slots: TextSlots): void {
  asArray(output).forEach((raw, i) => {
    const item = asObject(raw);
    if (!item) return;
    const id = asString(item.id) || String(i);
    if (item.type === 'message') {
      asArray(item.content).forEach((rawPart, c) => {
        const part = asObject(rawPart);
        // Realtime's response.done carries the same items; its audio parts carry their transcript ('text' and
        // 'audio' are the beta names of its parts).
        if (part?.type === 'output_text' || part?.type === 'text') slots.append(`${id}:${c}`, asString(part.text));
        else if (part?.type === 'refusal') slots.append(`${id}:${c}`, asString(part.refusal));
        else if (part?.type === 'output_audio' || part?.type === 'audio') slots.append(`${id}:${c}`, asString(part.transcript));
      });
    } else if (item.type === 'function_call' || item.type === 'custom_tool_call') {
      slots.append(id, asString(item.arguments) || asString(item.input));
    }
  });
}

function fromResponsesObject(r: JsonObject): Extracted {
  const slots = new TextSlots();
  responsesText(r.output, slots);
  const error = asObject(r.error);
  return {
    usage: openAiUsage(r.usage),
    service_tier: tierOf(r),
    response_model: asString(r.model),
    response_id: asString(r.id) || undefined,
    finish_reason: asString(r.status),
    error_type: error ? asString(error.code) || asString(error.type) || 'error' : '',
    text: slots.toString(),
  };
}

const REALTIME_SESSION_EVENTS = new Set(['session.created', 'session.updated']);

/**
 * A Realtime session's kept server events: usage summed over its `response.done` events (one per response), the
 * last response's status, the first failure, the text and transcripts produced; the model from the session events.
 */
export function fromOpenAiRealtime(messages: readonly unknown[]): Extracted {
  const slots = new TextSlots();
  let usage: Usage | null = null;
  let model = '';
  let finish = '';
  let errorType = '';
  for (const raw of messages) {
    const m = asObject(raw);
    if (!m) continue;
    if (REALTIME_SESSION_EVENTS.has(asString(m.type))) {
      model = asString(asObject(m.session)?.model) || model;
      continue;
    }
    const r = m.type === 'response.done' ? asObject(m.response) : undefined;
    if (!r) continue;
    const u = openAiRealtimeUsage(r.usage);
    if (u) usage = usage ? addUsage(usage, u) : u;
    finish = asString(r.status) || finish;
    const error = asObject(asObject(r.status_details)?.error);
    if (error && errorType === '') errorType = errorTypeOf(error);
    responsesText(r.output, slots);
  }
  return { usage, response_model: model, finish_reason: finish, error_type: errorType, text: slots.toString() };
}

/** The Realtime API: `response.done` (one per response, with its usage) and the session events (the model). */
export const openAiRealtime: RealtimeProtocol = {
  markers: ['"response.done"', '"session.'],
  keep(message, brief) {
    const m = asObject(message);
    if (!m) return undefined;
    const type = asString(m.type);
    if (type === 'response.done') {
      if (!brief) return m;
      const r = asObject(m.response);
      const error = asObject(asObject(r?.status_details)?.error);
      return { type, response: { status: r?.status, status_details: error ? { error: { type: error.type, code: error.code } } : null, usage: r?.usage } };
    }
    // Only the model: a session's instructions and tools are the caller's, not the ledger's.
    if (REALTIME_SESSION_EVENTS.has(type)) return { type, session: { model: asObject(m.session)?.model } };
    return undefined;
  },
  read: fromOpenAiRealtime,
};

export function fromOpenAiBody(body: unknown): Extracted {
  const b = asObject(body);
  if (!b) return emptyExtracted();
  if (b.object === 'response') return fromResponsesObject(b);
  const error = asObject(b.error);
  if (error) return { ...emptyExtracted(), error_type: errorTypeOf(error) };
  const slots = new TextSlots();
  let finish = '';
  asArray(b.choices).forEach((raw, position) => {
    const choice = asObject(raw);
    if (!choice) return;
    const idx = chatChoiceIndex(choice, position);
    if (finish === '') finish = asString(choice.finish_reason);
    const message = asObject(choice.message);
    if (!message) {
      slots.append(`c${idx}`, asString(choice.text)); // legacy /completions
      return;
    }
    slots.append(`c${idx}`, contentText(message.content) || asString(message.refusal));
    asArray(message.tool_calls).forEach((rawCall, t) => {
      slots.append(`t${idx}:${t}`, asString(asObject(asObject(rawCall)?.function)?.arguments));
    });
    const legacyCall = asObject(message.function_call);
    if (legacyCall) slots.append(`t${idx}:f`, asString(legacyCall.arguments));
  });
  return { usage: openAiUsage(b.usage), service_tier: tierOf(b), response_model: asString(b.model), response_id: asString(b.id) || undefined, finish_reason: finish, error_type: '', text: slots.toString() };
}

/** The Batch API's output file (`GET /v1/files/{id}/content`): `{custom_id, response: {status_code, body}}` per line. */
export function fromOpenAiBatchOutput(jsonl: string): Extracted | null {
  return readBatchLines(jsonl, (o) => {
    const body = asObject(asObject(o.response)?.body);
    return { usage: openAiUsage(body?.usage), model: asString(body?.model) };
  });
}

/** One accumulator for both Chat Completions chunks and Responses events: the frame says which. */
class OpenAiStream extends StreamResponse implements StreamAccumulator {
  private usage: Usage | null = null;
  private finalResponse: JsonObject | undefined;

  onFrame(frame: SseFrame): boolean {
    const j = asObject(frame.json);
    if (!j) return false;
    return typeof j.type === 'string' ? this.responsesEvent(j.type, j) : this.chatChunk(j);
  }

  private chatChunk(j: JsonObject): boolean {
    const error = asObject(j.error);
    if (error) {
      this.errorType = errorTypeOf(error);
      return false;
    }
    const model = asString(j.model);
    if (model !== '') this.model = model;
    if (this.id === '') this.id = asString(j.id);
    this.tier = tierOf(j) ?? this.tier;
    const usage = openAiUsage(j.usage);
    if (usage) this.usage = usage;
    let output = false;
    asArray(j.choices).forEach((raw, position) => {
      const choice = asObject(raw);
      if (!choice) return;
      const idx = chatChoiceIndex(choice, position);
      const finish = asString(choice.finish_reason);
      if (finish !== '') this.finish = finish;
      const delta = asObject(choice.delta);
      if (!delta) {
        const text = asString(choice.text); // legacy /completions stream
        this.slots.append(`c${idx}`, text);
        output ||= text !== '';
        return;
      }
      const text = contentText(delta.content) || asString(delta.refusal);
      this.slots.append(`c${idx}`, text);
      output ||= text !== '';
      asArray(delta.tool_calls).forEach((rawCall, position2) => {
        const call = asObject(rawCall);
        if (!call) return;
        const t = typeof call.index === 'number' ? call.index : position2;
        const fn = asObject(call.function);
        const args = asString(fn?.arguments);
        this.slots.append(`t${idx}:${t}`, args);
        output ||= args !== '' || asString(fn?.name) !== '';
      });
    });
    return output;
  }

  private responsesEvent(type: string, j: JsonObject): boolean {
    switch (type) {
      case 'response.output_text.delta':
      case 'response.refusal.delta': {
        const delta = asString(j.delta);
        this.slots.append(`${asString(j.item_id)}:${String(j.content_index)}`, delta);
        return delta !== '';
      }
      case 'response.function_call_arguments.delta':
      case 'response.custom_tool_call_input.delta': {
        const delta = asString(j.delta);
        this.slots.append(asString(j.item_id), delta);
        return delta !== '';
      }
      case 'response.reasoning_summary_text.delta':
      case 'response.reasoning_text.delta':
        // Reasoning is model output for time-to-first-token, but not part of the answer text.
        return asString(j.delta) !== '';
      case 'response.created':
      case 'response.in_progress':
      case 'response.queued':
        this.takeResponse(j, false);
        return false;
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed':
        this.takeResponse(j, true);
        return false;
      case 'error': {
        const nested = asObject(j.error);
        if (this.errorType === '') this.errorType = nested ? errorTypeOf(nested) : asString(j.code) || 'error';
        return false;
      }
      default:
        return false;
    }
  }

  private takeResponse(j: JsonObject, terminal: boolean): void {
    const r = asObject(j.response);
    if (!r) return;
    const model = asString(r.model);
    if (model !== '') this.model = model;
    if (this.id === '') this.id = asString(r.id);
    this.tier = tierOf(r) ?? this.tier;
    if (!terminal) return;
    this.finalResponse = r;
    this.finish = asString(r.status);
    const usage = openAiUsage(r.usage);
    if (usage) this.usage = usage;
    const error = asObject(r.error);
    if (error && this.errorType === '') this.errorType = asString(error.code) || asString(error.type) || 'error';
  }

  result(): Extracted {
    // A Responses stream whose deltas we never saw still ends with the whole output.
    const text = this.slots.size === 0 && this.finalResponse ? fromResponsesObject(this.finalResponse).text : this.slots.toString();
    // Chat's usage chunk and a Responses terminal event each carry the call's whole usage, and come last: usage
    // seen is final usage (a stream cut before it has none, and is estimated whole).
    return { usage: this.usage, ...this.response(text) };
  }
}

export function renderOpenAiError(err: ErrorRender): unknown {
  return { error: { message: err.message, type: err.type, param: err.param ?? null, code: err.code } };
}

function bodyModel(body: unknown, target: UpstreamTarget): string {
  return asString(asObject(body)?.model) || target.modelFromPath;
}

export interface OpenAiCompatibleOptions {
  id: ProviderId;
  prefix: string;
  defaultBaseUrl: string;
  target: ProviderAdapter['target'];
  /**
   * Whether streamed chat requests get `stream_options.include_usage` added. Off for Azure: its older
   * api-versions reject the field, and the api-version is the caller's choice.
   */
  injectUsage: boolean;
  gateway: GatewayRoute;
}

export function createOpenAiCompatibleAdapter(opts: OpenAiCompatibleOptions): ProviderAdapter {
  const adapter: ProviderAdapter = {
    id: opts.id,
    prefix: opts.prefix,
    defaultBaseUrl: opts.defaultBaseUrl,
    target: opts.target,
    endpoint: openAiEndpoint,
    requestModel: bodyModel,
    isStreamRequest: (body) => asObject(body)?.stream === true,
    fromBody: fromOpenAiBody,
    newStream: () => new OpenAiStream(),
    readBatchResults: fromOpenAiBatchOutput,
    realtime: openAiRealtime,
    renderError: renderOpenAiError,
    gateway: opts.gateway,
  };
  if (!opts.injectUsage) return adapter;
  return {
    ...adapter,
    rewriteRequest(body: Record<string, unknown>, endpoint: Endpoint) {
      if (endpoint !== 'chat' || body.stream !== true) return null;
      const streamOptions = asObject(body.stream_options);
      // The caller asked for usage: forward untouched and let them see it. Otherwise (absent, or an
      // explicit false) ask for it anyway and hide the extra chunk, so the caller sees what they asked for.
      if (streamOptions?.include_usage === true) return null;
      return { body: { ...body, stream_options: { ...streamOptions, include_usage: true } }, hideUsageFrame: true };
    },
    isInjectedUsageFrame(frame: SseFrame): boolean {
      const j = asObject(frame.json);
      return j !== undefined && Array.isArray(j.choices) && j.choices.length === 0 && asObject(j.usage) !== undefined;
    },
  };
}

export const openaiAdapter: ProviderAdapter = createOpenAiCompatibleAdapter({
  id: 'openai',
  prefix: 'openai',
  defaultBaseUrl: 'https://api.openai.com',
  gateway: openAiRoute,
  target: (rest, query, baseUrl) => joinTarget(baseUrl, rest, query, ''),
  injectUsage: true,
});
