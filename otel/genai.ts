// A stored row (sightline.requests) as the OpenTelemetry GenAI semantic conventions describe the call: the span's
// name, attributes and status, and the attributes of the gen_ai.client.* metrics. Pure functions over the row, so
// the exported span says exactly what the ledger says (exact tokens, cost, redacted bodies). Request parameters
// and content come from the stored request body, read by its shape (the keys each API uses), not by provider id.
import type { Endpoint, ProviderId, RequestEvent } from '../contracts/event.ts';
import { STATUS_CLIENT_CANCELLED, STATUS_NO_RESPONSE, STATUS_STREAM_CUT } from '../contracts/event.ts';

export type AttributeValue = string | number | boolean | string[];
export type Attributes = Record<string, AttributeValue>;

/** gen_ai.operation.name by endpoint; 'other' calls (model lists, files…) are not GenAI operations. */
const OPERATIONS: Record<Endpoint, string | undefined> = {
  chat: 'chat',
  responses: 'chat',
  messages: 'chat',
  embeddings: 'embeddings',
  generate: 'generate_content',
  // A WebSocket session spans many responses: a custom value, as the conventions allow when none applies.
  realtime: 'realtime',
  other: undefined,
};

/** gen_ai.provider.name: the conventions' well-known values. */
const PROVIDER_NAMES: Record<ProviderId, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'gcp.gemini',
  azure: 'azure.ai.openai',
  // An OpenAI-compatible server speaks OpenAI's API; known hosts get their own value (CUSTOM_HOSTS).
  custom: 'openai',
};

const CUSTOM_HOSTS: readonly [RegExp, string][] = [
  [/(^|\.)groq\.com$/, 'groq'],
  [/(^|\.)deepseek\.com$/, 'deepseek'],
  [/(^|\.)mistral\.ai$/, 'mistral_ai'],
  [/(^|\.)x\.ai$/, 'x_ai'],
  [/(^|\.)perplexity\.ai$/, 'perplexity'],
  [/(^|\.)moonshot\.(ai|cn)$/, 'moonshot_ai'],
  [/(^|\.)cohere\.(ai|com)$/, 'cohere'],
];

export function operationName(row: RequestEvent): string | undefined {
  const op = OPERATIONS[row.endpoint];
  if (op !== undefined) return op;
  // The legacy completions API has no endpoint of its own in the ledger.
  return /\/completions(\?|$)/.test(row.path) && !row.path.includes('/chat/') ? 'text_completion' : undefined;
}

export function providerName(row: RequestEvent): string {
  if (row.provider !== 'custom') return PROVIDER_NAMES[row.provider];
  const host = serverOf(row).address;
  return CUSTOM_HOSTS.find(([re]) => re.test(host))?.[1] ?? PROVIDER_NAMES.custom;
}

/** target_host is host[:port] as in a URL; providers are reached over https, so no port means 443. */
export function serverOf(row: RequestEvent): { address: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(row.target_host);
  if (!m) return { address: row.target_host, port: 443 };
  return { address: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] === undefined ? 443 : Number(m[2]) };
}

/** error.type for a call that failed, undefined for one that did not. */
export function errorType(row: RequestEvent): string | undefined {
  if (row.status === STATUS_STREAM_CUT) return row.error_code || 'stream_cut';
  if (row.status === STATUS_CLIENT_CANCELLED) return 'client_cancelled';
  if (row.status === STATUS_NO_RESPONSE) return row.error_code || row.error_type || '_OTHER';
  if (row.status >= 400) return row.error_type || row.error_code || String(row.status);
  // A 2xx that still reported an error (an error event inside a stream, an unreadable body).
  return row.error_code || row.error_type || undefined;
}

/** What every gen_ai.client.* metric point of the call carries (the conventions' attribute set). */
export function metricAttributes(row: RequestEvent, op: string): Attributes {
  const server = serverOf(row);
  const out: Attributes = {
    'gen_ai.operation.name': op,
    'gen_ai.provider.name': providerName(row),
    'server.address': server.address,
    'server.port': server.port,
  };
  if (row.model !== '') out['gen_ai.request.model'] = row.model;
  if (row.response_model !== '') out['gen_ai.response.model'] = row.response_model;
  return out;
}

export interface SpanData {
  name: string;
  attributes: Attributes;
  /** Set when the call failed: span status ERROR with this message. */
  error: string | undefined;
  /** Epoch milliseconds (fractional): created_at and created_at + latency_ms. */
  startMs: number;
  endMs: number;
}

export interface SpanOptions {
  /** gen_ai.input.messages / gen_ai.output.messages / gen_ai.system_instructions (opt-in). */
  captureContent: boolean;
}

/**
 * The gateway's attempts as children of the call's span, one per upstream attempt (retries and fallbacks), each
 * named and described as the GenAI call it was: its provider, model and deployment, status and error.
 */
export function attemptSpanData(row: RequestEvent): SpanData[] {
  const start = Date.parse(row.created_at);
  const op = operationName(row);
  return row.attempt_log.map((attempt) => {
    const a: Attributes = {
      'gen_ai.provider.name': PROVIDER_NAMES[attempt.provider as keyof typeof PROVIDER_NAMES] ?? attempt.provider,
      'gen_ai.request.model': attempt.model,
      'sightline.model_alias': attempt.alias,
      'sightline.deployment': attempt.deployment,
      'sightline.request_id': row.request_id,
    };
    if (op !== undefined) a['gen_ai.operation.name'] = op;
    if (attempt.status > 0) a['http.response.status_code'] = attempt.status;
    const failed = attempt.error_code !== '';
    if (failed) a['error.type'] = attempt.error_code;
    return {
      name: `${op ?? 'call'} ${attempt.model} (${attempt.deployment})`,
      attributes: a,
      error: failed ? attempt.error || attempt.error_code : undefined,
      startMs: start + attempt.start_ms,
      endMs: start + attempt.start_ms + attempt.latency_ms,
    };
  });
}

/** The call's span, as the conventions name and describe a GenAI client call (kind CLIENT). */
export function spanData(row: RequestEvent, opts: SpanOptions): SpanData {
  const op = operationName(row);
  const server = serverOf(row);
  const a: Attributes = {};
  if (op !== undefined) a['gen_ai.operation.name'] = op;
  a['gen_ai.provider.name'] = providerName(row);
  if (row.model !== '') a['gen_ai.request.model'] = row.model;
  a['server.address'] = server.address;
  a['server.port'] = server.port;
  if (row.stream) a['gen_ai.request.stream'] = true;
  const request = op === undefined ? undefined : parseObject(row.request_body);
  if (request !== undefined) Object.assign(a, requestParams(request));
  if (row.response_model !== '') a['gen_ai.response.model'] = row.response_model;
  if (row.finish_reason !== '') a['gen_ai.response.finish_reasons'] = [row.finish_reason];
  if (row.response_id !== '') a['gen_ai.response.id'] = row.response_id;
  if (row.stream && row.ttft_ms !== null) a['gen_ai.response.time_to_first_chunk'] = row.ttft_ms / 1000;
  if (op !== undefined && (row.prompt_tokens > 0 || row.completion_tokens > 0 || row.status === 200)) {
    a['gen_ai.usage.input_tokens'] = row.prompt_tokens;
    a['gen_ai.usage.output_tokens'] = row.completion_tokens;
    if (row.cache_read_tokens > 0) a['gen_ai.usage.cache_read.input_tokens'] = row.cache_read_tokens;
    if (row.cache_write_tokens > 0) a['gen_ai.usage.cache_creation.input_tokens'] = row.cache_write_tokens;
    if (row.reasoning_tokens > 0) a['gen_ai.usage.reasoning.output_tokens'] = row.reasoning_tokens;
  }
  if (row.session_id !== '') a['gen_ai.conversation.id'] = row.session_id;
  a['http.request.method'] = row.method;
  if (row.status > 0) a['http.response.status_code'] = row.status;
  Object.assign(a, sightlineAttributes(row));
  const error = errorType(row);
  if (error !== undefined) a['error.type'] = error;
  if (opts.captureContent && op !== undefined) Object.assign(a, contentAttributes(row, request));
  const startMs = Date.parse(row.created_at);
  return {
    name: op === undefined ? row.method : row.model === '' ? op : `${op} ${row.model}`,
    attributes: a,
    error,
    startMs,
    endMs: startMs + row.latency_ms,
  };
}

function sightlineAttributes(row: RequestEvent): Attributes {
  const a: Attributes = {
    'sightline.request_id': row.request_id,
    'sightline.cost_usd': row.cost_usd,
    'sightline.cost_known': row.cost_known,
    'sightline.status': row.status,
    'sightline.endpoint': row.endpoint,
    'sightline.cache_status': row.cache_status,
    'sightline.attempts': row.attempts,
  };
  if (row.model_alias !== '') a['sightline.model_alias'] = row.model_alias;
  if (row.deployment !== '') a['sightline.deployment'] = row.deployment;
  if (row.tokens_estimated) a['sightline.tokens_estimated'] = true;
  if (row.organization_id !== '') a['sightline.organization_id'] = row.organization_id;
  if (row.team !== '') a['sightline.team'] = row.team;
  if (row.key_id !== '') a['sightline.key_id'] = row.key_id;
  if (row.user_id !== '') a['user.id'] = row.user_id;
  if (row.session_id !== '') a['session.id'] = row.session_id;
  if (row.session_path !== '') a['sightline.session.path'] = row.session_path;
  if (row.session_name !== '') a['sightline.session.name'] = row.session_name;
  if (row.error_code !== '') a['sightline.error_code'] = row.error_code;
  for (const [name, value] of Object.entries(row.properties)) a[`sightline.property.${name}`] = value;
  return a;
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A stored body as a JSON object; undefined when it is empty, truncated, or not an object. */
function parseObject(text: string): Json | undefined {
  if (text === '' || text.charCodeAt(0) !== 0x7b) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const int = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined);

/** gen_ai.request.* from the request body: OpenAI and Anthropic keep them at the top, Gemini in generationConfig. */
export function requestParams(body: Json): Attributes {
  const g = isRecord(body.generationConfig) ? body.generationConfig : {};
  const a: Attributes = {};
  const put = (key: string, v: number | undefined) => {
    if (v !== undefined) a[key] = v;
  };
  put('gen_ai.request.max_tokens', int(body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens ?? g.maxOutputTokens));
  put('gen_ai.request.temperature', num(body.temperature ?? g.temperature));
  put('gen_ai.request.top_p', num(body.top_p ?? g.topP));
  put('gen_ai.request.top_k', num(body.top_k ?? g.topK));
  put('gen_ai.request.frequency_penalty', num(body.frequency_penalty ?? g.frequencyPenalty));
  put('gen_ai.request.presence_penalty', num(body.presence_penalty ?? g.presencePenalty));
  put('gen_ai.request.seed', int(body.seed ?? g.seed));
  const n = int(body.n ?? g.candidateCount);
  if (n !== undefined && n !== 1) a['gen_ai.request.choice.count'] = n;
  const stop = body.stop ?? body.stop_sequences ?? g.stopSequences;
  if (typeof stop === 'string') a['gen_ai.request.stop_sequences'] = [stop];
  else if (Array.isArray(stop) && stop.every((s) => typeof s === 'string')) a['gen_ai.request.stop_sequences'] = stop as string[];
  const output = outputType(body, g);
  if (output !== undefined) a['gen_ai.output.type'] = output;
  put('gen_ai.embeddings.dimension.count', int(body.dimensions ?? body.outputDimensionality));
  if (typeof body.encoding_format === 'string') a['gen_ai.request.encoding_formats'] = [body.encoding_format];
  return a;
}

function outputType(body: Json, g: Json): string | undefined {
  const format = isRecord(body.response_format) ? body.response_format.type : isRecord(body.text) && isRecord(body.text.format) ? body.text.format.type : undefined;
  if (format === 'json_object' || format === 'json_schema') return 'json';
  if (format === 'text') return 'text';
  if (g.responseMimeType === 'application/json') return 'json';
  if (g.responseMimeType === 'text/plain') return 'text';
  return undefined;
}

// Content, in the conventions' message schemas (role + parts), recorded as JSON strings.
type Part = Record<string, unknown>;
interface Message { role: string; parts: Part[]; finish_reason?: string }

function contentAttributes(row: RequestEvent, request: Json | undefined): Attributes {
  const a: Attributes = {};
  if (request !== undefined) {
    const input = inputMessages(request);
    if (input.length > 0) a['gen_ai.input.messages'] = JSON.stringify(input);
    const system = systemParts(request);
    if (system.length > 0) a['gen_ai.system_instructions'] = JSON.stringify(system);
  }
  // A non-stream's stored body is the provider's JSON; a stream's is the reassembled text.
  const response = row.stream ? undefined : parseObject(row.response_body);
  const output = row.stream ? streamOutput(row) : response === undefined ? [] : outputMessages(response, row.finish_reason);
  if (output.length > 0) a['gen_ai.output.messages'] = JSON.stringify(output);
  return a;
}

/** One part of any of the APIs' content arrays (or a plain string). Binary parts keep only their type. */
function toPart(p: unknown): Part {
  if (typeof p === 'string') return { type: 'text', content: p };
  if (!isRecord(p)) return { type: 'unknown' };
  if (typeof p.text === 'string') return { type: 'text', content: p.text };
  if (p.type === 'tool_use') return { type: 'tool_call', id: p.id, name: p.name, arguments: p.input };
  if (p.type === 'tool_result') return { type: 'tool_call_response', id: p.tool_use_id, response: p.content };
  if (p.type === 'function_call') return { type: 'tool_call', id: p.call_id, name: p.name, arguments: p.arguments };
  if (p.type === 'function_call_output') return { type: 'tool_call_response', id: p.call_id, response: p.output };
  if (isRecord(p.functionCall)) return { type: 'tool_call', name: p.functionCall.name, arguments: p.functionCall.args };
  if (isRecord(p.functionResponse)) return { type: 'tool_call_response', id: p.functionResponse.name, response: p.functionResponse.response };
  return { type: typeof p.type === 'string' ? p.type : 'unknown' };
}

const toParts = (content: unknown): Part[] => (Array.isArray(content) ? content.map(toPart) : content === undefined || content === null ? [] : [toPart(content)]);

function toMessage(m: unknown): Message {
  if (!isRecord(m)) return { role: 'user', parts: [toPart(m)] };
  const role = m.role === 'model' ? 'assistant' : typeof m.role === 'string' ? m.role : 'user';
  // A Responses API item that is not a message (function_call, function_call_output) is one part.
  if (m.role === undefined && typeof m.type === 'string' && m.type !== 'message') return { role: m.type === 'function_call' ? 'assistant' : 'tool', parts: [toPart(m)] };
  const parts = toParts(m.content ?? m.parts);
  if (Array.isArray(m.tool_calls)) {
    for (const c of m.tool_calls) {
      if (isRecord(c) && isRecord(c.function)) parts.push({ type: 'tool_call', id: c.id, name: c.function.name, arguments: c.function.arguments });
    }
  }
  if (role === 'tool' && typeof m.tool_call_id === 'string') return { role, parts: [{ type: 'tool_call_response', id: m.tool_call_id, response: m.content }] };
  return { role, parts };
}

function inputMessages(body: Json): Message[] {
  const list = body.messages ?? body.contents ?? body.input;
  if (Array.isArray(list)) return list.map(toMessage);
  // Responses API and embeddings: `input` may be one string.
  return typeof list === 'string' ? [{ role: 'user', parts: [{ type: 'text', content: list }] }] : [];
}

function systemParts(body: Json): Part[] {
  if (body.system !== undefined) return toParts(body.system);
  if (isRecord(body.systemInstruction)) return toParts(body.systemInstruction.parts);
  return typeof body.instructions === 'string' ? [{ type: 'text', content: body.instructions }] : [];
}

function streamOutput(row: RequestEvent): Message[] {
  if (row.response_body === '') return [];
  return [{ role: 'assistant', parts: [{ type: 'text', content: row.response_body }], finish_reason: row.finish_reason || 'stop' }];
}

/** Chat choices, Gemini candidates, an Anthropic message, or Responses output items: one message per choice. */
function outputMessages(body: Json, finish: string): Message[] {
  if (Array.isArray(body.choices)) {
    return body.choices.filter(isRecord).map((c) => ({ ...toMessage(c.message ?? { role: 'assistant', content: c.text }), finish_reason: String(c.finish_reason ?? finish) }));
  }
  if (Array.isArray(body.candidates)) {
    return body.candidates.filter(isRecord).map((c) => ({ ...toMessage(c.content), finish_reason: String(c.finishReason ?? finish) }));
  }
  if (Array.isArray(body.content)) return [{ ...toMessage(body), finish_reason: String(body.stop_reason ?? finish) }];
  if (Array.isArray(body.output)) {
    const parts = body.output.filter(isRecord).flatMap((item) => (item.type === 'message' ? toParts(item.content) : [toPart(item)]));
    return [{ role: 'assistant', parts, finish_reason: finish || 'stop' }];
  }
  return [];
}
