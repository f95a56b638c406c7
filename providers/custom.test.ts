import { describe, expect, it } from 'vitest';
import { extractFixture } from '../test/fixtures/extract.ts';
import { listFixtures } from '../test/fixtures/index.ts';
import { customAdapter } from './custom.ts';
import { openaiAdapter } from './openai.ts';

describe('custom (OpenAI-compatible) adapter', () => {
  it('sends the path to the Sightline-Target-Url base, keeping its own path prefix', () => {
    expect(customAdapter.target('/v1/chat/completions', '', 'http://127.0.0.1:11434')).toEqual({ url: 'http://127.0.0.1:11434/v1/chat/completions', modelFromPath: '' });
    expect(customAdapter.target('/v1/chat/completions', 'x=1', 'https://openrouter.ai/api/')).toEqual({ url: 'https://openrouter.ai/api/v1/chat/completions?x=1', modelFromPath: '' });
  });

  it('refuses to route without a target URL, or to a non-http one', () => {
    expect(customAdapter.target('/v1/chat/completions', '', '')).toMatch(/Sightline-Target-Url/);
    expect(typeof customAdapter.target('/v1/chat/completions', '', 'file:///etc/passwd')).toBe('string');
  });

  it('extracts every OpenAI fixture exactly as the OpenAI adapter does', () => {
    const fixtures = listFixtures('openai');
    expect(fixtures.length).toBeGreaterThan(10);
    for (const f of fixtures) expect(extractFixture(customAdapter, f), f.name).toEqual(extractFixture(openaiAdapter, f));
  });

  it('injects stream usage like OpenAI', () => {
    expect(customAdapter.rewriteRequest?.({ model: 'meta-llama/Llama-3.3-70B-Instruct-Turbo', stream: true }, 'chat')).toEqual({
      body: { model: 'meta-llama/Llama-3.3-70B-Instruct-Turbo', stream: true, stream_options: { include_usage: true } },
      hideUsageFrame: true,
    });
  });

  it('accepts usage on a chunk that still has choices (vLLM / Together style)', () => {
    const acc = customAdapter.newStream();
    acc.onFrame({ event: '', json: { object: 'chat.completion.chunk', model: 'Qwen/Qwen2.5-7B-Instruct', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] } });
    acc.onFrame({ event: '', json: { object: 'chat.completion.chunk', model: 'Qwen/Qwen2.5-7B-Instruct', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } } });
    expect(acc.result()).toEqual({
      usage: { prompt_tokens: 9, completion_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
      response_model: 'Qwen/Qwen2.5-7B-Instruct',
      finish_reason: 'stop',
      error_type: '',
      text: 'hi',
    });
  });
});
