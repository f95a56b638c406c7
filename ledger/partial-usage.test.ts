// Rows of calls whose final usage never arrived, and of 2xx answers that are not the provider's: each recorded
// stream format cut at several points (mid-way, by an error event, by the client, without its terminator), through
// the ledger's assembly as ingest runs it.
import { describe, expect, it } from 'vitest';
import type { Endpoint, ProviderId } from '../contracts/event.ts';
import { STATUS_CLIENT_CANCELLED, STATUS_STREAM_CUT } from '../contracts/event.ts';
import type { Exchange } from '../contracts/exchange.ts';
import type { FixtureProvider } from '../test/fixtures/index.ts';
import { loadFixture } from '../test/fixtures/index.ts';
import { makeExchange } from '../test/helpers/events.ts';
import { assembleEvent, INVALID_UPSTREAM_RESPONSE } from './assemble.ts';
import { createCoster } from './cost.ts';
import { estimateCompletionTokens, estimatePromptTokens } from './tokens.ts';

interface Format {
  fixture: [FixtureProvider, string];
  provider: ProviderId;
  endpoint: Endpoint;
  model: string;
  request: string;
  /** What the provider reported before its final usage (null: nothing, so the prompt is estimated too). */
  reportedPrompt: number | null;
  /** The final usage of the whole stream, as its fixture's meta says. */
  whole: { prompt: number; completion: number };
}

const CHAT_REQUEST = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello to the world"}]}';
const FORMATS: Record<string, Format> = {
  'OpenAI chat': {
    fixture: ['openai', 'chat.sse'], provider: 'openai', endpoint: 'chat', model: 'gpt-4o-mini', request: CHAT_REQUEST,
    reportedPrompt: null, whole: { prompt: 0, completion: 0 },
  },
  'OpenAI responses': {
    fixture: ['openai', 'responses.sse'], provider: 'openai', endpoint: 'responses', model: 'gpt-4o-mini',
    request: '{"model":"gpt-4o-mini","stream":true,"input":"Say hello to the world"}', reportedPrompt: null, whole: { prompt: 0, completion: 0 },
  },
  Anthropic: {
    fixture: ['anthropic', 'messages.sse'], provider: 'anthropic', endpoint: 'messages', model: 'claude-sonnet-4-5',
    request: '{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Say hello"}]}',
    reportedPrompt: 1038, whole: { prompt: 0, completion: 0 },
  },
  Gemini: {
    fixture: ['gemini', 'stream.sse'], provider: 'gemini', endpoint: 'generate', model: 'gemini-2.5-flash',
    request: '{"contents":[{"role":"user","parts":[{"text":"Say hello"}]}]}', reportedPrompt: 9, whole: { prompt: 0, completion: 0 },
  },
};
for (const f of Object.values(FORMATS)) {
  const usage = loadFixture(...f.fixture).expect.usage!;
  f.whole = { prompt: usage.prompt_tokens, completion: usage.completion_tokens };
}

/** The fixture's SSE frames (each ending in its blank line), as the upstream sent them. */
function framesOf(f: Format): string[] {
  return loadFixture(...f.fixture).body.toString('utf8').split(/(?<=\r?\n\r?\n)/).filter((s) => s.trim() !== '');
}

function exchangeOf(f: Format, body: string, overrides: Partial<Exchange> = {}): Exchange {
  const request = Buffer.from(f.request);
  return makeExchange(
    { body: Buffer.from(body), contentType: 'text/event-stream' },
    { provider: f.provider, endpoint: f.endpoint, model: f.model, request_body: request, request_bytes: request.length, ...overrides },
  );
}

const deps = { cost: createCoster({ overrides: {} }), maxLoggedBodyBytes: 1 << 20 };
const assemble = (ex: Exchange) => assembleEvent(ex, deps);

describe.each(Object.entries(FORMATS))('%s stream whose final usage never came', (_name, f) => {
  const frames = framesOf(f);
  // The usage frame is the last JSON frame for every format but Anthropic's (message_delta, then message_stop).
  let lastUsageFrame = frames.length - 1;
  while (lastUsageFrame > 0 && !(/"usage"\s*:\s*\{|"usageMetadata"/.test(frames[lastUsageFrame]!) && !frames[lastUsageFrame]!.includes('message_start'))) lastUsageFrame--;
  // Cut points: after the first frame, half-way through the output, and just before the final usage.
  const cuts = [...new Set([1, Math.floor(lastUsageFrame / 2), lastUsageFrame])].filter((n) => n >= 1);

  it('the whole stream keeps the provider\'s count, not estimated', () => {
    const row = assemble(exchangeOf(f, frames.join('')));
    expect(row).toMatchObject({ prompt_tokens: f.whole.prompt, completion_tokens: f.whole.completion, tokens_estimated: false, error_type: '' });
  });

  it.each(cuts)('cut by the upstream after %i frames: completion estimated from the text delivered, prompt as reported', (n) => {
    const cut = frames.slice(0, n).join('');
    const row = assemble(exchangeOf(f, cut, { status: STATUS_STREAM_CUT }));
    const delivered = assemble(exchangeOf(f, cut)).response_body; // the text the client got, as the row stores it
    expect(row.tokens_estimated).toBe(true);
    expect(row.completion_tokens).toBe(estimateCompletionTokens(f.model, delivered));
    expect(row.prompt_tokens).toBe(f.reportedPrompt ?? estimatePromptTokens(f.model, JSON.parse(f.request)));
    expect(row.reasoning_tokens).toBe(0);
    expect(row.cost_known).toBe(true);
    expect(row.error_type).not.toBe(INVALID_UPSTREAM_RESPONSE);
  });

  it('cancelled by the client mid-way: the same rule', () => {
    const cut = frames.slice(0, cuts[1] ?? 1).join('');
    const row = assemble(exchangeOf(f, cut, { status: STATUS_CLIENT_CANCELLED }));
    expect(row.tokens_estimated).toBe(true);
    expect(row.completion_tokens).toBe(estimateCompletionTokens(f.model, row.response_body));
  });

  it('ended without its terminator (the final usage frame missing, connection closed cleanly)', () => {
    const body = frames.filter((_, i) => i < lastUsageFrame).join('');
    const row = assemble(exchangeOf(f, body));
    expect(row.tokens_estimated).toBe(true);
    expect(row.completion_tokens).toBe(estimateCompletionTokens(f.model, row.response_body));
    expect(row.prompt_tokens).toBe(f.reportedPrompt ?? estimatePromptTokens(f.model, JSON.parse(f.request)));
  });
});

describe('Anthropic: message_start\'s placeholder output_tokens is never the answer', () => {
  it('a stream ended by event: error bills the delivered text, not output_tokens 1', () => {
    const fx = loadFixture('anthropic', 'messages-stream-error.sse');
    const ex = makeExchange({ body: fx.body, contentType: 'text/event-stream' }, { provider: 'anthropic', endpoint: 'messages', model: 'claude-3-5-haiku-20241022' });
    const row = assemble(ex);
    expect(row.response_body).toBe('Sure, here');
    expect(row.error_type).toBe('overloaded_error');
    expect(row.prompt_tokens).toBe(25);
    expect(row.completion_tokens).toBe(estimateCompletionTokens('claude-3-5-haiku-20241022', 'Sure, here'));
    expect(row.completion_tokens).toBeGreaterThan(1);
    expect(row.tokens_estimated).toBe(true);
    expect(row.cost_usd).toBeCloseTo((25 * 0.8 + row.completion_tokens * 4) / 1e6, 12);
  });

  it('cut right after message_start: no text delivered, no output billed, the prompt and its cache reads as reported', () => {
    const f = FORMATS.Anthropic!;
    const row = assemble(exchangeOf(f, framesOf(f)[0]!, { status: STATUS_STREAM_CUT }));
    expect(row).toMatchObject({ prompt_tokens: 1038, cache_read_tokens: 1024, completion_tokens: 0, tokens_estimated: true });
  });
});

describe('a 2xx answer that is not the provider\'s JSON or SSE is logged, not billed', () => {
  const html = '<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>';
  const cases: [string, string, string, Endpoint, ProviderId][] = [
    ['an HTML maintenance page', html, 'text/html; charset=utf-8', 'chat', 'openai'],
    ['an HTML page sent as an event stream', html, 'text/event-stream', 'messages', 'anthropic'],
    ['an empty body', '', 'application/json', 'generate', 'gemini'],
    ['JSON that is not an answer', '{"status":"ok"}', 'application/json', 'responses', 'openai'],
  ];
  it.each(cases)('%s', (_what, body, contentType, endpoint, provider) => {
    const row = assemble(makeExchange({ body: Buffer.from(body), contentType }, { provider, endpoint }));
    expect(row).toMatchObject({
      status: 200, error_type: INVALID_UPSTREAM_RESPONSE, prompt_tokens: 0, completion_tokens: 0, tokens_estimated: false,
      cost_usd: 0, response_body: contentType.includes('event-stream') ? '' : body,
    });
  });

  it('an empty 204 of another endpoint is a valid answer', () => {
    const row = assemble(makeExchange({ body: Buffer.alloc(0), contentType: '' }, { endpoint: 'other', upstream_status: 204, status: 204 }));
    expect(row.error_type).toBe('');
  });

  it('a stream cut before its first byte is a cut, not an invalid answer: the prompt was still consumed', () => {
    const row = assemble(makeExchange({ body: Buffer.alloc(0), contentType: 'text/event-stream' }, { status: STATUS_STREAM_CUT }));
    expect(row.error_type).toBe('');
    expect(row.tokens_estimated).toBe(true);
    expect(row.prompt_tokens).toBeGreaterThan(0);
  });
});
