import { describe, expect, it } from 'vitest';
import { describeFixtures } from '../test/fixtures/spec.ts';
import { geminiAdapter } from './gemini.ts';

describeFixtures(geminiAdapter, 'gemini', ['generate.json', 'stream.sse', 'stream-array.json', 'generate-thinking.json', 'error-429.json']);

const BASE = geminiAdapter.defaultBaseUrl;

describe('gemini routing', () => {
  it('keeps the model path and forwards ?key= verbatim', () => {
    expect(geminiAdapter.target('/v1beta/models/gemini-2.5-flash:streamGenerateContent', 'alt=sse&key=AIzaSyD-example_key', BASE)).toEqual({
      url: 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIzaSyD-example_key',
      modelFromPath: 'gemini-2.5-flash',
    });
    expect(geminiAdapter.target('/v1beta/tunedModels/my-tune-7:generateContent', '', BASE)).toEqual({
      url: 'https://generativelanguage.googleapis.com/v1beta/tunedModels/my-tune-7:generateContent',
      modelFromPath: 'my-tune-7',
    });
    expect(geminiAdapter.target('/v1beta/models', '', BASE)).toEqual({ url: 'https://generativelanguage.googleapis.com/v1beta/models', modelFromPath: '' });
  });

  it('classifies by the method after the colon', () => {
    expect(geminiAdapter.endpoint('/v1beta/models/gemini-2.5-flash:generateContent')).toBe('generate');
    expect(geminiAdapter.endpoint('/v1beta/models/gemini-2.5-flash:streamGenerateContent')).toBe('generate');
    expect(geminiAdapter.endpoint('/v1beta/models/gemini-embedding-001:embedContent')).toBe('embeddings');
    expect(geminiAdapter.endpoint('/v1beta/models/gemini-embedding-001:batchEmbedContents')).toBe('embeddings');
    expect(geminiAdapter.endpoint('/v1beta/models/gemini-2.5-flash:countTokens')).toBe('other');
    expect(geminiAdapter.endpoint('/v1beta/models')).toBe('other');
  });

  it('streams by path, takes the model from the path unless the body names one', () => {
    expect(geminiAdapter.isStreamRequest({}, '/v1beta/models/gemini-2.5-flash:streamGenerateContent', 'alt=sse')).toBe(true);
    expect(geminiAdapter.isStreamRequest({}, '/v1beta/models/gemini-2.5-flash:streamGenerateContent', '')).toBe(true);
    expect(geminiAdapter.isStreamRequest({ stream: true }, '/v1beta/models/gemini-2.5-flash:generateContent', '')).toBe(false);
    const target = { url: '', modelFromPath: 'gemini-2.5-flash' };
    expect(geminiAdapter.requestModel({ contents: [] }, target)).toBe('gemini-2.5-flash');
    expect(geminiAdapter.requestModel({ model: 'models/gemini-embedding-001' }, target)).toBe('gemini-embedding-001');
  });
});

describe('gemini extraction details', () => {
  it('adds tool-use prompt tokens to the prompt and thoughts to the completion', () => {
    // usageMetadata as recorded live (vercel/ai google-usage-raw-live)
    const usageMetadata = { promptTokenCount: 12, candidatesTokenCount: 71, totalTokenCount: 237, cachedContentTokenCount: 4, toolUsePromptTokenCount: 65, thoughtsTokenCount: 89 };
    expect(geminiAdapter.fromBody({ usageMetadata }).usage).toEqual({ prompt_tokens: 77, completion_tokens: 160, cache_read_tokens: 4, cache_write_tokens: 0, reasoning_tokens: 89 });
    // and the sum is the reported total
    expect(77 + 160).toBe(usageMetadata.totalTokenCount);
  });

  it('reads an error sent as a one-element array (non-SSE streamGenerateContent)', () => {
    const body = [{ error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT' } }];
    expect(geminiAdapter.fromBody(body).error_type).toBe('INVALID_ARGUMENT');
  });

  it('keeps thought parts out of the text but counts them as output; function calls are text', () => {
    const acc = geminiAdapter.newStream();
    const frame = (parts: unknown[], finishReason?: string) => ({ event: '', json: { candidates: [{ content: { role: 'model', parts }, index: 0, ...(finishReason ? { finishReason } : {}) }], modelVersion: 'gemini-2.5-pro' } });
    expect(acc.onFrame(frame([{ text: 'Considering the weather…', thought: true }]))).toBe(true);
    expect(acc.onFrame(frame([{ text: '', thoughtSignature: 'EqsFCq' }]))).toBe(false);
    expect(acc.onFrame(frame([{ functionCall: { name: 'get_weather', args: { location: 'Paris' } } }], 'STOP'))).toBe(true);
    expect(acc.result()).toEqual({ usage: null, usage_final: false, response_model: 'gemini-2.5-pro', finish_reason: 'STOP', error_type: '', text: '{"location":"Paris"}' });
  });

  it('reports a blocked prompt as the finish reason', () => {
    const got = geminiAdapter.fromBody({ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 }, modelVersion: 'gemini-2.5-flash' });
    expect(got.finish_reason).toBe('PROHIBITED_CONTENT');
    expect(got.usage?.prompt_tokens).toBe(7);
  });

  it('returns an empty extraction for an empty array', () => {
    expect(geminiAdapter.fromBody([])).toEqual({ usage: null, response_model: '', finish_reason: '', error_type: '', text: '' });
  });
});

describe('gemini renderError', () => {
  it('renders google.rpc.Status with an ErrorInfo carrying our code', () => {
    expect(geminiAdapter.renderError({ status: 429, code: 'sightline_rate_limited', message: 'Slow down', type: 'rate_limit_error' })).toEqual({
      error: {
        code: 429,
        message: 'Slow down',
        status: 'RESOURCE_EXHAUSTED',
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'sightline_rate_limited', domain: 'sightline' }],
      },
    });
    const statusFor = (status: number) => (geminiAdapter.renderError({ status, code: 'c', message: 'm', type: 't' }) as { error: { status: string } }).error.status;
    expect([400, 401, 403, 404, 413, 500, 502, 503, 504].map(statusFor)).toEqual([
      'INVALID_ARGUMENT', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'INVALID_ARGUMENT', 'INTERNAL', 'UNAVAILABLE', 'UNAVAILABLE', 'DEADLINE_EXCEEDED',
    ]);
  });
});
