// Fallbacks, retries and routing against mock upstreams that fail on command: each deployment's api_base names its
// misbehaviour (`<mock>/_mock/first=2,fixture=…`), so one call's attempts meet different upstreams.
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';

const enc = encodeURIComponent;
const hi = { messages: [{ role: 'user' as const, content: 'hi' }] };

function routingYaml(mock: string): string {
  return `
models:
  - { name: flaky, model: anthropic/claude-sonnet-4-6, api_key: k-ant, api_base: "${mock}/_mock/first=2,fixture=${enc('anthropic/error-429.json')},retry-after-ms=80" }
  - { name: steady, model: openai/gpt-4o-mini, api_key: k-oai }
  - { name: slow, model: anthropic/claude-sonnet-4-6, api_key: k-ant, api_base: "${mock}/_mock/hang", timeout_ms: 300 }
  - { name: gone, model: anthropic/claude-sonnet-4-6, api_key: k-ant, api_base: "${mock}/_mock/reset" }
  - { name: cutter, model: openai/gpt-4o-mini, api_key: k-oai, api_base: "${mock}/_mock/reset-after-bytes=40/v1" }
  - { name: long-prompt, model: anthropic/claude-sonnet-4-6, api_key: k-ant, api_base: "${mock}/_mock/fixture=${enc('anthropic/error-400-prompt-too-long.json')}" }
  - { name: big-window, model: gemini/gemini-2.5-pro, api_key: k-gem }
  - { name: pair, id: pair-a, model: openai/gpt-4o-mini, api_key: k-a, api_base: "${mock}/_mock/id=a/v1", weight: 3 }
  - { name: pair, id: pair-b, model: openai/gpt-4o-mini, api_key: k-b, api_base: "${mock}/_mock/id=b/v1", weight: 1 }
  - { name: az, model: azure/prod-gpt4o, api_key: k-azure, api_base: "${mock}", api_version: 2024-10-21 }
  - { name: "openai/*", model: "openai/*" }
router:
  retries: 2
  retry_backoff: { min_ms: 10, max_ms: 40 }
  fallbacks:
    - { flaky: [steady] }
    - { slow: [steady] }
    - { gone: [steady] }
    - { cutter: [steady] }
  context_window_fallbacks:
    - { long-prompt: [big-window] }
`;
}

describe('gateway routing, fallbacks and retries', () => {
  let gw: TestGateway;
  let openai: OpenAI;
  const noRetry = { headers: { 'Sightline-Retry-Enabled': 'true', 'Sightline-Retry-Num': '0' } };

  beforeAll(async () => {
    gw = await startTestGateway({ yaml: routingYaml });
    openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-caller-own', maxRetries: 0 });
  });
  afterAll(() => gw.close());
  beforeEach(() => {
    gw.mock.requests.length = 0;
  });
  const lastRow = async () => (await gw.waitForEvents(gw.written.length)).at(-1)!;

  it('retries a 429, waiting what retry-after-ms asks, then serves from the same deployment', async () => {
    const started = performance.now();
    const done = await openai.chat.completions.create({ model: 'flaky', ...hi });
    expect(done.choices[0]!.message.content).toMatch(/^Hello!/);
    expect(gw.mock.requests).toHaveLength(3);
    expect(performance.now() - started).toBeGreaterThanOrEqual(160);
    const row = await lastRow();
    expect(row.attempt_log.map((a) => [a.deployment, a.status, a.error_code])).toEqual([
      ['flaky#0', 429, 'rate_limit_error'], ['flaky#0', 429, 'rate_limit_error'], ['flaky#0', 200, ''],
    ]);
    expect(row).toMatchObject({ attempts: 3, deployment: 'flaky#0', status: 200 });
  });

  it('falls back when a deployment hangs past its timeout, and when it resets before answering', async () => {
    const slow = await openai.chat.completions.create({ model: 'slow', ...hi }, noRetry);
    expect(slow.choices[0]!.message.content).toBe('The capital of France is Paris.');
    let row = await lastRow();
    expect(row.attempt_log.map((a) => [a.deployment, a.status, a.error_code])).toEqual([['slow#0', -1, 'sightline_upstream_timeout'], ['steady#0', 200, '']]);
    expect(row.attempt_log[0]!.latency_ms).toBeGreaterThanOrEqual(290);

    const gone = await openai.chat.completions.create({ model: 'gone', ...hi }, noRetry);
    expect(gone.choices[0]!.message.content).toBe('The capital of France is Paris.');
    row = await lastRow();
    expect(row.attempt_log.map((a) => [a.deployment, a.status, a.error_code])).toEqual([['gone#0', -1, 'sightline_upstream_unreachable'], ['steady#0', 200, '']]);
  });

  it('never stitches a stream: once bytes reached the client, a reset is logged as cut and nothing else is tried', async () => {
    const err = await (async () => {
      const stream = await openai.chat.completions.create({ model: 'cutter', ...hi, stream: true });
      for await (const _chunk of stream) { /* drain */ }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(gw.mock.requests).toHaveLength(1);
    const row = await lastRow();
    expect(row).toMatchObject({ status: -2, attempts: 1, deployment: 'cutter#0', model_alias: 'cutter' });
  });

  it('follows the context-window chain when the prompt is too long, across providers (Anthropic → Gemini)', async () => {
    const done = await openai.chat.completions.create({ model: 'long-prompt', ...hi });
    expect(done.choices[0]!.message.content).toBe('AI learns patterns from data to make predictions or decisions.');
    expect(gw.mock.requests.map((r) => r.url)).toEqual([
      expect.stringMatching(/\/v1\/messages$/),
      '/v1beta/models/gemini-2.5-pro:generateContent',
    ]);
    expect(gw.mock.requests[1]!.headers['x-goog-api-key']).toBe('k-gem');
    const row = await lastRow();
    expect(row.attempt_log.map((a) => [a.alias, a.status, a.error_code])).toEqual([['long-prompt', 400, 'invalid_request_error'], ['big-window', 200, '']]);
    expect(row).toMatchObject({ provider: 'gemini', model: 'gemini-2.5-pro', model_alias: 'long-prompt', prompt_tokens: 8, completion_tokens: 12 });
  });

  it('a 400 that is the caller\'s to fix goes straight back, in the caller\'s shape, with no retry or fallback', async () => {
    const bad = await openai.chat.completions.create({ model: 'az', ...hi }, { headers: { 'x-mock-fixture': 'openai/error-500.json', 'x-mock-status': '400' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(gw.mock.requests).toHaveLength(1);
    expect(await lastRow()).toMatchObject({ status: 400, attempts: 1, deployment: 'az#0' });
  });

  it('takes Sightline-Fallbacks (and Helicone-Fallbacks) over the configured chain, and refuses an unknown alias in it', async () => {
    const done = await openai.chat.completions.create({ model: 'gone', ...hi }, { headers: { 'Helicone-Fallbacks': 'pair', ...noRetry.headers } });
    expect(done.choices[0]!.message.content).toBe('The capital of France is Paris.');
    expect((await lastRow()).attempt_log.map((a) => a.alias)).toEqual(['gone', 'pair']);
    const err = await openai.chat.completions.create({ model: 'gone', ...hi }, { headers: { 'Sightline-Fallbacks': 'steady,nope' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/Sightline-Fallbacks: "nope" is not a configured model/);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_invalid_header');
  });

  it('shuffles by weight between an alias\'s deployments (3:1)', async () => {
    const calls = 160;
    for (let i = 0; i < calls; i++) await openai.chat.completions.create({ model: 'pair', ...hi });
    const a = gw.mock.requests.filter((r) => r.url.startsWith('/_mock/id=a/')).length;
    const b = gw.mock.requests.filter((r) => r.url.startsWith('/_mock/id=b/')).length;
    expect(a + b).toBe(calls);
    // Binomial(160, 0.75): mean 120, sd 5.5; ±25 is over 4.5 sd.
    expect(a).toBeGreaterThan(95);
    expect(a).toBeLessThan(145);
    expect(new Set(gw.mock.requests.map((r) => r.headers.authorization))).toEqual(new Set(['Bearer k-a', 'Bearer k-b']));
  });

  it('reaches Azure with the deployment in the path, the api-version and api-key', async () => {
    await openai.chat.completions.create({ model: 'az', ...hi });
    const r = gw.mock.requests[0]!;
    expect(r.url).toBe('/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21');
    expect(r.headers['api-key']).toBe('k-azure');
    expect(r.headers.authorization).toBeUndefined();
  });

  it('passes a wildcard model through with the caller\'s own key, and serves embeddings and responses on OpenAI deployments', async () => {
    const done = await openai.chat.completions.create({ model: 'openai/gpt-4.1', ...hi });
    expect(done.choices[0]!.message.content).toBe('The capital of France is Paris.');
    expect(gw.mock.requests[0]!.headers.authorization).toBe('Bearer sk-caller-own');
    expect((JSON.parse(gw.mock.requests[0]!.body.toString('utf8')) as { model: string }).model).toBe('gpt-4.1');
    const emb = await openai.embeddings.create({ model: 'steady', input: 'hello' });
    expect(emb.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(gw.mock.requests[1]!.url).toBe('/v1/embeddings');
    // Gemini serves embeddings too, through batchEmbedContents; the SDK's default base64 vectors decode to its floats.
    const gem = await openai.embeddings.create({ model: 'big-window', input: ['hello', 'world'], dimensions: 8 });
    expect(gem.data.map((d) => d.index)).toEqual([0, 1]);
    expect(gem.data[1]!.embedding).toEqual([-0.021234, 0.0175, 0.002, -0.5, 0.25, 0.125, -0.0625, 1].map((v) => Math.fround(v)));
    expect(gem.data[0]!.embedding[0]).toBeCloseTo(0.013168523, 6);
    const sent = gw.mock.requests.at(-1)!;
    expect(sent.url).toBe('/v1beta/models/gemini-2.5-pro:batchEmbedContents');
    expect(JSON.parse(sent.body.toString('utf8'))).toEqual({ requests: ['hello', 'world'].map((text) => ({ model: 'models/gemini-2.5-pro', content: { parts: [{ text }] }, outputDimensionality: 8 })) });
    const refusedIds = await openai.embeddings.create({ model: 'big-window', input: [[1, 2, 3]] }).catch((e: unknown) => e);
    expect((refusedIds as InstanceType<typeof OpenAI.APIError>).param).toBe('input[0]');
    const err = await openai.embeddings.create({ model: 'flaky', input: 'hello' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/\/v1\/embeddings is not supported when the model is served by anthropic/);
  });

  it('refuses what cannot be translated with a 400 naming the field, before any upstream call', async () => {
    const err = await openai.chat.completions.create({ model: 'steady', ...hi, logit_bias: { 50256: -100 } }, noRetry).then(() => undefined);
    expect(err).toBeUndefined(); // same API: passes untouched
    gw.mock.requests.length = 0;
    const refused = await openai.chat.completions.create({ model: 'big-window', ...hi, logit_bias: { 50256: -100 } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    const apiErr = refused as InstanceType<typeof OpenAI.APIError>;
    expect(apiErr.code).toBe('sightline_untranslatable');
    expect(apiErr.param).toBe('logit_bias');
    expect(gw.mock.requests).toHaveLength(0);
    expect(await lastRow()).toMatchObject({ status: 400, error_code: 'sightline_untranslatable', model_alias: 'big-window' });
  });

  it('rejects an invalid config by field path: unknown provider, fallback to nowhere, Azure without its URL', () => {
    expect(() => parseConfig('models: [{ name: x, model: mystery-model-7 }]', {})).toThrow(/models\[0\]\.model: cannot tell which provider serves "mystery-model-7"/);
    expect(() => parseConfig('models: [{ name: x, model: gpt-4o }]\nrouter: { fallbacks: [{ x: [y] }] }', {})).toThrow(/router\.fallbacks\.x: fallback "y" is not a model/);
    expect(() => parseConfig('models: [{ name: x, model: azure/dep }]', {})).toThrow(/models\[0\]\.api_base: an Azure deployment needs/);
  });
});

describe('health: cooldown and metrics', () => {
  let gw: TestGateway;
  let openai: OpenAI;

  beforeAll(async () => {
    gw = await startTestGateway({
      yaml: (mock) => `
models:
  - { name: gone, model: anthropic/claude-sonnet-4-6, api_key: k, api_base: "${mock}/_mock/reset" }
  - { name: steady, model: openai/gpt-4o-mini, api_key: k }
router:
  fallbacks: [{ gone: [steady] }]
  cooldown: { allowed_fails: 2, window_s: 60, cooldown_s: 60 }
`,
    });
    openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(() => gw.close());

  it('rests a deployment that failed allowed_fails times, serves the chain meanwhile, and shows it in /_sightline/metrics', async () => {
    for (let i = 0; i < 2; i++) await openai.chat.completions.create({ model: 'gone', ...hi });
    expect(gw.mock.requests.map((r) => r.url)).toEqual(['/_mock/reset/v1/messages', '/v1/chat/completions', '/_mock/reset/v1/messages', '/v1/chat/completions']);
    await openai.chat.completions.create({ model: 'gone', ...hi });
    // Cooling down: the next call skips it (it has a fallback) — one upstream request, to steady.
    expect(gw.mock.requests).toHaveLength(5);
    expect(gw.mock.requests[4]!.url).toBe('/v1/chat/completions');
    const metrics = await (await fetch(`${gw.url}/_sightline/metrics`)).text();
    expect(metrics).toContain('sightline_deployment_cooling_down{alias="gone",deployment="gone#0",provider="anthropic"} 1');
    expect(metrics).toContain('sightline_deployment_failures_total{alias="gone",deployment="gone#0",provider="anthropic"} 2');
    expect(metrics).toContain('sightline_deployment_requests_total{alias="steady",deployment="steady#0",provider="openai"} 3');
    expect(metrics.match(/^# TYPE sightline_deployment_in_flight gauge$/gm)).toHaveLength(1);
  });
});
