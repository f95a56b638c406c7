// Valid RequestEvent fixtures: every field set to a non-default value so round-trips can tell columns apart.
// created_at defaults to now: a fixed date would eventually fall behind the table's row TTL and vanish on merge.
import { randomUUID } from 'node:crypto';
import { RequestEventSchema, SCHEMA_VERSION, type RequestEvent } from '../../contracts/event.ts';
import { EXCHANGE_SCHEMA_VERSION, type Exchange } from '../../contracts/exchange.ts';

/** Who called, the same in rows and exchanges. */
function attribution() {
  return {
    request_id: randomUUID(),
    created_at: new Date().toISOString(),
    organization_id: 'org_acme',
    team: 'research',
    key_id: 'key_1',
    user_id: 'user_42',
    session_id: 'sess_7',
    session_path: '/plan/step-1',
    session_name: 'planning',
    properties: { env: 'test', 'feature.flag': 'on' },
  };
}

export function makeEvent(overrides: Partial<RequestEvent> = {}): RequestEvent {
  return RequestEventSchema.parse({
    schema_version: SCHEMA_VERSION,
    ...attribution(),
    provider: 'openai',
    model: 'gpt-4o-mini',
    response_model: 'gpt-4o-mini-2024-07-18',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    method: 'POST',
    target_host: 'api.openai.com',
    stream: true,
    status: 200,
    latency_ms: 812.25,
    ttfb_ms: 120.5,
    ttft_ms: 180.75,
    finish_reason: 'stop',
    error_type: '',
    error_code: '',
    prompt_tokens: 1200,
    completion_tokens: 345,
    cache_read_tokens: 1024,
    cache_write_tokens: 0,
    reasoning_tokens: 64,
    input_audio_tokens: 12,
    cache_audio_read_tokens: 4,
    input_image_tokens: 30,
    output_audio_tokens: 7,
    output_image_tokens: 9,
    service_tier: 'default',
    tokens_estimated: false,
    cost_usd: 0.000123,
    cost_known: true,
    price_version: 'genai-prices@0.1.8',
    cache_status: 'miss',
    attempts: 1,
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    span_id: '00f067aa0ba902b7',
    request_body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}',
    response_body: '{"choices":[{"message":{"content":"hello"}}]}',
    request_bytes: 70,
    response_bytes: 45,
    messages_in: 3,
    messages_out: 8,
    close_code: 1000,
    ...overrides,
  });
}

/** A valid exchange (request event v2) of a chat call answered by `response` (bytes as the upstream sent them). */
export function makeExchange(response: { body: Buffer; contentType: string; contentEncoding?: string; chunkTimes?: number[] }, overrides: Partial<Exchange> = {}): Exchange {
  const request = Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}');
  return {
    schema_version: EXCHANGE_SCHEMA_VERSION,
    ...attribution(),
    provider: 'openai',
    model: 'gpt-4o-mini',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    method: 'POST',
    target_host: 'api.openai.com',
    stream: response.contentType.includes('event-stream'),
    status: 200,
    upstream_status: 200,
    latency_ms: 50,
    ttfb_ms: 10,
    error_type: '',
    error_code: '',
    cache_status: 'none',
    attempts: 1,
    trace_id: '',
    span_id: '',
    request_bytes: request.length,
    request_body: request,
    response_body: response.body,
    response: {
      content_type: response.contentType,
      content_encoding: response.contentEncoding ?? '',
      captured: response.body.length,
      bytes: response.body.length,
      complete: true,
      chunk_times: response.chunkTimes ?? [],
    },
    ...overrides,
  };
}
