import { describe, expect, it } from 'vitest';
import { loadFixture } from '../test/fixtures/index.ts';
import { describeFixtures } from '../test/fixtures/spec.ts';
import { parseSse } from './sse.ts';
import { openaiAdapter } from './openai.ts';
import type { SseFrame } from './types.ts';

describeFixtures(openaiAdapter, 'openai', [
  'chat.json', 'chat-tools.json', 'chat.sse', 'chat-no-usage.sse', 'chat-tools.sse', 'chat-cached-reasoning.json',
  'responses.json', 'responses.sse', 'embeddings.json', 'error-429.json', 'error-500.json', 'stream-error.sse',
]);

const BASE = openaiAdapter.defaultBaseUrl;

function feed(frames: readonly SseFrame[]) {
  const acc = openaiAdapter.newStream();
  const output = frames.map((f) => acc.onFrame(f));
  return { result: acc.result(), output };
}

describe('openai routing', () => {
  it('appends the path after /openai to the upstream base, query verbatim', () => {
    expect(openaiAdapter.target('/v1/chat/completions', '', BASE)).toEqual({ url: 'https://api.openai.com/v1/chat/completions', modelFromPath: '' });
    expect(openaiAdapter.target('/v1/responses', 'a=1&b=%20x&c', 'http://127.0.0.1:4010/')).toEqual({ url: 'http://127.0.0.1:4010/v1/responses?a=1&b=%20x&c', modelFromPath: '' });
  });

  it('never lets the path change the upstream host', () => {
    const t = openaiAdapter.target('.evil.example/v1/chat/completions', '', BASE);
    expect(t).toEqual({ url: 'https://api.openai.com/.evil.example/v1/chat/completions', modelFromPath: '' });
    expect(typeof openaiAdapter.target('/v1/chat/completions', '', 'not a url')).toBe('string');
    expect(typeof openaiAdapter.target('/v1/chat/completions', '', 'ftp://files.example')).toBe('string');
  });

  it('classifies endpoints', () => {
    expect(openaiAdapter.endpoint('/v1/chat/completions')).toBe('chat');
    expect(openaiAdapter.endpoint('/v1/responses')).toBe('responses');
    expect(openaiAdapter.endpoint('/v1/responses/resp_68a1f2c4/cancel')).toBe('responses');
    expect(openaiAdapter.endpoint('/v1/embeddings')).toBe('embeddings');
    expect(openaiAdapter.endpoint('/v1/models')).toBe('other');
    expect(openaiAdapter.endpoint('/v1/chat/completions?foo=1')).toBe('chat');
  });

  it('takes the model from the body and the stream flag strictly', () => {
    const target = { url: '', modelFromPath: '' };
    expect(openaiAdapter.requestModel({ model: 'gpt-4o-mini' }, target)).toBe('gpt-4o-mini');
    expect(openaiAdapter.requestModel({}, target)).toBe('');
    expect(openaiAdapter.requestModel('garbage', target)).toBe('');
    expect(openaiAdapter.isStreamRequest({ stream: true }, '/v1/chat/completions', '')).toBe(true);
    expect(openaiAdapter.isStreamRequest({ stream: 'true' }, '/v1/chat/completions', '')).toBe(false);
    expect(openaiAdapter.isStreamRequest(null, '/v1/chat/completions', '')).toBe(false);
  });
});

describe('openai stream usage injection', () => {
  const rewrite = openaiAdapter.rewriteRequest;
  if (!rewrite) throw new Error('openai adapter must rewrite stream requests');

  it('adds include_usage when the caller did not ask, and hides the extra frame', () => {
    const body = { model: 'gpt-4o-mini', stream: true, messages: [] };
    const out = rewrite(body, 'chat');
    expect(out).toEqual({ body: { model: 'gpt-4o-mini', stream: true, messages: [], stream_options: { include_usage: true } }, hideUsageFrame: true });
    expect(body).toEqual({ model: 'gpt-4o-mini', stream: true, messages: [] }); // caller's object untouched
  });

  it('keeps other stream_options and treats an explicit false as not asked', () => {
    expect(rewrite({ stream: true, stream_options: { include_obfuscation: false, include_usage: false } }, 'chat')).toEqual({
      body: { stream: true, stream_options: { include_obfuscation: false, include_usage: true } },
      hideUsageFrame: true,
    });
  });

  it('leaves the body alone when usage was asked for, for non-streams and for other endpoints', () => {
    expect(rewrite({ stream: true, stream_options: { include_usage: true } }, 'chat')).toBeNull();
    expect(rewrite({ stream: false }, 'chat')).toBeNull();
    expect(rewrite({}, 'chat')).toBeNull();
    expect(rewrite({ stream: true }, 'responses')).toBeNull();
    expect(rewrite({ stream: true }, 'embeddings')).toBeNull();
  });

  it('recognises only the usage-only chunk as the injected frame', () => {
    const isInjected = openaiAdapter.isInjectedUsageFrame;
    if (!isInjected) throw new Error('missing isInjectedUsageFrame');
    const frames = parseSse(loadFixture('openai', 'chat.sse').body);
    expect(frames.map((f) => isInjected(f))).toEqual([...frames.slice(0, -2).map(() => false), true, false]);
    const azurePromptFilter = parseSse(loadFixture('azure', 'chat.sse').body)[0];
    expect(azurePromptFilter && isInjected(azurePromptFilter)).toBe(false);
    expect(isInjected({ event: '', json: undefined })).toBe(false);
  });
});

describe('openai extraction details', () => {
  it('falls back to the completed response output when a Responses stream carried no deltas', () => {
    const frames = parseSse(loadFixture('openai', 'responses.sse').body).filter((f) => f.event !== 'response.output_text.delta');
    const { result, output } = feed(frames);
    expect(output.every((o) => !o)).toBe(true);
    expect(result.text).toBe('héllo 世界 👋');
    expect(result.usage?.cache_read_tokens).toBe(1280);
  });

  it('records a Responses stream that failed (error event, then response.failed)', () => {
    const response = (status: string, error: unknown) => ({ id: 'resp_1', object: 'response', status, error, model: 'gpt-5-nano-2025-08-07', output: [], usage: null });
    const { result } = feed([
      { event: 'response.created', json: { type: 'response.created', sequence_number: 0, response: response('in_progress', null) } },
      { event: 'error', json: { type: 'error', sequence_number: 1, error: { type: 'insufficient_quota', code: 'insufficient_quota', message: 'You exceeded your current quota', param: null } } },
      { event: 'response.failed', json: { type: 'response.failed', sequence_number: 2, response: response('failed', { code: 'server_error', message: 'x' }) } },
    ]);
    expect(result).toEqual({ usage: null, response_model: 'gpt-5-nano-2025-08-07', response_id: 'resp_1', finish_reason: 'failed', error_type: 'insufficient_quota', text: '' });
  });

  it('uses a failed Responses body error code as the error type', () => {
    const got = openaiAdapter.fromBody({ object: 'response', status: 'failed', model: 'o3', error: { code: 'rate_limit_exceeded', message: 'x' }, output: [], usage: null });
    expect(got.error_type).toBe('rate_limit_exceeded');
    expect(got.finish_reason).toBe('failed');
  });

  it('counts a tool-call name as output, and role-only or empty chunks as not', () => {
    const chunk = (delta: unknown) => ({ event: '', json: { object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta, finish_reason: null }] } });
    const { output } = feed([
      chunk({ role: 'assistant', content: '' }),
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] }),
      chunk({}),
      chunk({ content: 'x' }),
    ]);
    expect(output).toEqual([false, true, false, true]);
  });

  it('clamps a cached count larger than the prompt instead of double counting', () => {
    const got = openaiAdapter.fromBody({ model: 'm', choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 50 }, completion_tokens_details: { reasoning_tokens: 9 } } });
    expect(got.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, cache_read_tokens: 10, cache_write_tokens: 0, reasoning_tokens: 5 });
  });

  it('reads content given as an array of text parts (some compatible servers)', () => {
    const got = openaiAdapter.fromBody({ model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, finish_reason: 'stop' }] });
    expect(got.text).toBe('ab');
  });

  it('returns an empty extraction for bodies that are not JSON objects', () => {
    for (const body of [null, 42, 'x', [], undefined]) {
      expect(openaiAdapter.fromBody(body)).toEqual({ usage: null, response_model: '', finish_reason: '', error_type: '', text: '' });
    }
  });
});

describe('openai renderError', () => {
  it('renders the OpenAI error envelope with our stable code', () => {
    expect(openaiAdapter.renderError({ status: 400, code: 'sightline_invalid_header', message: 'Bad header', type: 'invalid_request_error' })).toEqual({
      error: { message: 'Bad header', type: 'invalid_request_error', param: null, code: 'sightline_invalid_header' },
    });
  });
});
