import { describe, expect, it } from 'vitest';
import { describeFixtures } from '../test/fixtures/spec.ts';
import { anthropicAdapter } from './anthropic.ts';
import type { SseFrame } from './types.ts';

describeFixtures(anthropicAdapter, 'anthropic', [
  'messages.json', 'messages-tools.json', 'messages.sse', 'messages-cache.json', 'messages-stream-error.sse', 'error-529.json', 'error-429.json',
]);

const ev = (type: string, body: Record<string, unknown> = {}): SseFrame => ({ event: type, json: { type, ...body } });

describe('anthropic routing', () => {
  it('maps /anthropic/<rest> onto api.anthropic.com', () => {
    expect(anthropicAdapter.target('/v1/messages', '', anthropicAdapter.defaultBaseUrl)).toEqual({ url: 'https://api.anthropic.com/v1/messages', modelFromPath: '' });
    expect(anthropicAdapter.target('/v1/messages', 'beta=true', 'http://127.0.0.1:4011')).toEqual({ url: 'http://127.0.0.1:4011/v1/messages?beta=true', modelFromPath: '' });
  });

  it('classifies only the Messages API as messages', () => {
    expect(anthropicAdapter.endpoint('/v1/messages')).toBe('messages');
    expect(anthropicAdapter.endpoint('/v1/messages/')).toBe('messages');
    expect(anthropicAdapter.endpoint('/v1/messages/count_tokens')).toBe('other');
    expect(anthropicAdapter.endpoint('/v1/messages/batches')).toBe('other');
    expect(anthropicAdapter.endpoint('/v1/models')).toBe('other');
  });

  it('reads model and stream flag from the body', () => {
    expect(anthropicAdapter.requestModel({ model: 'claude-sonnet-4-5' }, { url: '', modelFromPath: '' })).toBe('claude-sonnet-4-5');
    expect(anthropicAdapter.isStreamRequest({ stream: true }, '/v1/messages', '')).toBe(true);
    expect(anthropicAdapter.isStreamRequest({}, '/v1/messages', '')).toBe(false);
    expect(anthropicAdapter.rewriteRequest).toBeUndefined();
  });
});

describe('anthropic stream details', () => {
  it('keeps message_start input counts when message_delta only reports output_tokens', () => {
    const acc = anthropicAdapter.newStream();
    acc.onFrame(ev('message_start', { message: { model: 'claude-3-5-haiku-20241022', usage: { input_tokens: 100, cache_creation_input_tokens: 20, cache_read_input_tokens: 300, output_tokens: 1 } } }));
    acc.onFrame(ev('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 256 } }));
    expect(acc.result()).toEqual({
      usage: { prompt_tokens: 420, completion_tokens: 256, cache_read_tokens: 300, cache_write_tokens: 20, reasoning_tokens: 0 },
      usage_final: true,
      response_model: 'claude-3-5-haiku-20241022',
      finish_reason: 'max_tokens',
      error_type: '',
      text: '',
    });
  });

  it('counts thinking as output for TTFT but keeps it out of the answer text', () => {
    const acc = anthropicAdapter.newStream();
    const out = [
      acc.onFrame(ev('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } })),
      acc.onFrame(ev('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think' } })),
      acc.onFrame(ev('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' } })),
      acc.onFrame(ev('content_block_start', { index: 1, content_block: { type: 'text', text: '' } })),
      acc.onFrame(ev('content_block_delta', { index: 1, delta: { type: 'text_delta', text: '42' } })),
    ];
    expect(out).toEqual([false, true, false, false, true]);
    expect(acc.result().text).toBe('42');
    expect(acc.result().usage).toBeNull();
  });

  it('ignores frames that are not JSON objects', () => {
    const acc = anthropicAdapter.newStream();
    expect(acc.onFrame({ event: 'ping', json: undefined })).toBe(false);
    expect(acc.onFrame({ event: '', json: [1, 2] })).toBe(false);
    expect(acc.result()).toEqual({ usage: null, usage_final: false, response_model: '', finish_reason: '', error_type: '', text: '' });
  });
});

describe('anthropic renderError', () => {
  it('keeps Anthropic error shape with the status-matched type and our code inside error', () => {
    expect(anthropicAdapter.renderError({ status: 401, code: 'sightline_unauthorized', message: 'Missing key', type: 'authentication_error' })).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'Missing key', code: 'sightline_unauthorized' },
    });
    const typeFor = (status: number) => (anthropicAdapter.renderError({ status, code: 'c', message: 'm', type: 'api_error' }) as { error: { type: string } }).error.type;
    expect([400, 403, 404, 413, 429, 500, 502, 504, 529].map(typeFor)).toEqual([
      'invalid_request_error', 'permission_error', 'not_found_error', 'request_too_large', 'rate_limit_error', 'api_error', 'api_error', 'timeout_error', 'overloaded_error',
    ]);
  });
});
