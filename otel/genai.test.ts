// A stored row as the GenAI semantic conventions describe it (otel/genai.ts), attribute for attribute.
import { describe, expect, it } from 'vitest';
import { STATUS_CLIENT_CANCELLED, STATUS_NO_RESPONSE, STATUS_STREAM_CUT } from '../contracts/event.ts';
import { makeEvent } from '../test/helpers/events.ts';
import { errorType, providerName, requestParams, serverOf, spanData } from './genai.ts';

const NO_CONTENT = { captureContent: false };

describe('spanData', () => {
  it('names a chat call `{operation} {model}` and carries the request, response, usage and Sightline attributes', () => {
    const row = makeEvent({
      stream: false,
      request_body: JSON.stringify({ model: 'gpt-4o-mini', max_completion_tokens: 300, temperature: 0.2, top_p: 0.9, stop: 'END', seed: 7, n: 2, response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'hi' }] }),
      response_id: 'chatcmpl-1',
      properties: { feature: 'search' },
      user_id: 'u1', session_id: 's1', target_host: 'api.openai.com',
    });
    const s = spanData(row, NO_CONTENT);
    expect(s.name).toBe('chat gpt-4o-mini');
    expect(s.error).toBeUndefined();
    expect(s.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': 300,
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.top_p': 0.9,
      'gen_ai.request.stop_sequences': ['END'],
      'gen_ai.request.seed': 7,
      'gen_ai.request.choice.count': 2,
      'gen_ai.output.type': 'json',
      'gen_ai.response.id': 'chatcmpl-1',
      'gen_ai.response.model': row.response_model,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': row.prompt_tokens,
      'gen_ai.usage.output_tokens': row.completion_tokens,
      'gen_ai.usage.cache_read.input_tokens': row.cache_read_tokens,
      'gen_ai.usage.reasoning.output_tokens': row.reasoning_tokens,
      'gen_ai.conversation.id': 's1',
      'server.address': 'api.openai.com',
      'server.port': 443,
      'sightline.request_id': row.request_id,
      'sightline.cost_usd': row.cost_usd,
      'sightline.property.feature': 'search',
      'user.id': 'u1',
      'session.id': 's1',
    });
    expect(s.attributes).not.toHaveProperty('gen_ai.request.stream');
    expect(s.attributes).not.toHaveProperty('gen_ai.input.messages');
    expect(s.startMs).toBe(Date.parse(row.created_at));
    expect(s.endMs).toBe(Date.parse(row.created_at) + row.latency_ms);
  });

  it('streams: gen_ai.request.stream and the time to the first chunk in seconds', () => {
    const s = spanData(makeEvent({ stream: true, ttft_ms: 180.75 }), NO_CONTENT);
    expect(s.attributes['gen_ai.request.stream']).toBe(true);
    expect(s.attributes['gen_ai.response.time_to_first_chunk']).toBeCloseTo(0.18075);
    expect(s.attributes).not.toHaveProperty('gen_ai.response.id');
  });

  it('maps each provider and endpoint to the conventions\' values', () => {
    expect(spanData(makeEvent({ provider: 'anthropic', endpoint: 'messages', model: 'claude-sonnet-4' }), NO_CONTENT).name).toBe('chat claude-sonnet-4');
    expect(providerName(makeEvent({ provider: 'anthropic' }))).toBe('anthropic');
    expect(providerName(makeEvent({ provider: 'gemini' }))).toBe('gcp.gemini');
    expect(providerName(makeEvent({ provider: 'azure' }))).toBe('azure.ai.openai');
    expect(providerName(makeEvent({ provider: 'custom', target_host: 'api.groq.com' }))).toBe('groq');
    expect(providerName(makeEvent({ provider: 'custom', target_host: 'vllm.internal:8000' }))).toBe('openai');
    expect(spanData(makeEvent({ provider: 'gemini', endpoint: 'generate', model: 'gemini-2.5-flash' }), NO_CONTENT).name).toBe('generate_content gemini-2.5-flash');
    expect(spanData(makeEvent({ endpoint: 'embeddings', model: 'text-embedding-3-small' }), NO_CONTENT).attributes['gen_ai.operation.name']).toBe('embeddings');
    expect(spanData(makeEvent({ endpoint: 'other', path: '/v1/completions', model: 'gpt-3.5-turbo-instruct' }), NO_CONTENT).name).toBe('text_completion gpt-3.5-turbo-instruct');
    // Not a GenAI operation: an HTTP-style name, no gen_ai.operation.name.
    const list = spanData(makeEvent({ endpoint: 'other', path: '/v1/models', method: 'GET', model: '' }), NO_CONTENT);
    expect(list.name).toBe('GET');
    expect(list.attributes).not.toHaveProperty('gen_ai.operation.name');
    expect(serverOf(makeEvent({ target_host: '127.0.0.1:8080' }))).toEqual({ address: '127.0.0.1', port: 8080 });
    expect(serverOf(makeEvent({ target_host: '[::1]:9000' }))).toEqual({ address: '::1', port: 9000 });
  });

  it('reads Anthropic\'s and Gemini\'s request parameters where they keep them', () => {
    expect(requestParams({ max_tokens: 1024, temperature: 1, top_k: 40, stop_sequences: ['\n\nHuman:'] })).toEqual({
      'gen_ai.request.max_tokens': 1024, 'gen_ai.request.temperature': 1, 'gen_ai.request.top_k': 40, 'gen_ai.request.stop_sequences': ['\n\nHuman:'],
    });
    expect(requestParams({ generationConfig: { maxOutputTokens: 256, temperature: 0.5, topP: 0.8, candidateCount: 1, responseMimeType: 'application/json' } })).toEqual({
      'gen_ai.request.max_tokens': 256, 'gen_ai.request.temperature': 0.5, 'gen_ai.request.top_p': 0.8, 'gen_ai.output.type': 'json',
    });
    expect(requestParams({ max_output_tokens: 99 })).toEqual({ 'gen_ai.request.max_tokens': 99 });
    // A truncated or omitted body yields nothing rather than failing.
    expect(spanData(makeEvent({ request_body: '{"model":"gpt-4o-mini","max_tok' }), NO_CONTENT).attributes).not.toHaveProperty('gen_ai.request.max_tokens');
  });

  it('marks failures with error.type: the provider\'s error type, Sightline\'s code, cut and cancelled calls', () => {
    expect(errorType(makeEvent({ status: 429, error_type: 'rate_limit_exceeded' }))).toBe('rate_limit_exceeded');
    expect(errorType(makeEvent({ status: 500, error_type: '' }))).toBe('500');
    expect(errorType(makeEvent({ status: STATUS_NO_RESPONSE, error_code: 'sightline_upstream_unreachable' }))).toBe('sightline_upstream_unreachable');
    expect(errorType(makeEvent({ status: 401, error_type: 'authentication_error', error_code: 'sightline_unauthorized' }))).toBe('authentication_error');
    expect(errorType(makeEvent({ status: STATUS_STREAM_CUT }))).toBe('stream_cut');
    expect(errorType(makeEvent({ status: STATUS_CLIENT_CANCELLED }))).toBe('client_cancelled');
    expect(errorType(makeEvent({ status: 200 }))).toBeUndefined();
    const s = spanData(makeEvent({ status: 429, error_type: 'rate_limit_exceeded', prompt_tokens: 0, completion_tokens: 0 }), NO_CONTENT);
    expect(s.error).toBe('rate_limit_exceeded');
    expect(s.attributes).toMatchObject({ 'error.type': 'rate_limit_exceeded', 'http.response.status_code': 429 });
    expect(s.attributes).not.toHaveProperty('gen_ai.usage.input_tokens');
  });

  it('records content only when asked, in the conventions\' message shapes', () => {
    const row = makeEvent({
      stream: false,
      request_body: JSON.stringify({ system: 'Be brief.', messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] }] }),
      response_body: JSON.stringify({ id: 'msg_1', role: 'assistant', content: [{ type: 'text', text: 'Rainy.' }, { type: 'tool_use', id: 't1', name: 'get_weather', input: { city: 'Paris' } }], stop_reason: 'tool_use' }),
    });
    const a = spanData(row, { captureContent: true }).attributes;
    expect(JSON.parse(String(a['gen_ai.input.messages']))).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'Weather in Paris?' }] }]);
    expect(JSON.parse(String(a['gen_ai.system_instructions']))).toEqual([{ type: 'text', content: 'Be brief.' }]);
    expect(JSON.parse(String(a['gen_ai.output.messages']))).toEqual([{
      role: 'assistant',
      parts: [{ type: 'text', content: 'Rainy.' }, { type: 'tool_call', id: 't1', name: 'get_weather', arguments: { city: 'Paris' } }],
      finish_reason: 'tool_use',
    }]);
    const gemini = spanData(makeEvent({
      stream: false, provider: 'gemini', endpoint: 'generate',
      request_body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }], systemInstruction: { parts: [{ text: 'sys' }] } }),
      response_body: JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'hello' }] }, finishReason: 'STOP' }], responseId: 'r1' }),
      response_id: 'r1',
    }), { captureContent: true }).attributes;
    expect(JSON.parse(String(gemini['gen_ai.output.messages']))).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'hello' }], finish_reason: 'STOP' }]);
    expect(gemini['gen_ai.response.id']).toBe('r1');
    const stream = spanData(makeEvent({ stream: true, response_body: 'Bonjour', finish_reason: 'stop' }), { captureContent: true }).attributes;
    expect(JSON.parse(String(stream['gen_ai.output.messages']))).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'Bonjour' }], finish_reason: 'stop' }]);
  });
});
