// The article's LiteLLM config.yaml, unchanged, through the official SDKs: `smart` is served by Anthropic behind
// the OpenAI API; when Anthropic fails, `smart-fallback` (OpenAI) answers and the row shows both attempts.
import { readFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configWarnings, parseConfig } from '../../config/index.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';

const ARTICLE = readFileSync(new URL('../fixtures/gateway/litellm-article.yaml', import.meta.url), 'utf8');
const KEYS = { ANTHROPIC_API_KEY: 'sk-ant-article-secret-1', OPENAI_API_KEY: 'sk-openai-article-secret-2' };

describe('the article\'s LiteLLM config, as written', () => {
  let gw: TestGateway;
  let openai: OpenAI;

  beforeAll(async () => {
    gw = await startTestGateway({ yaml: ARTICLE, env: KEYS });
    openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-virtual-team-1', maxRetries: 0 });
  });
  afterAll(() => gw.close());
  beforeEach(() => {
    gw.mock.requests.length = 0;
    gw.mock.rules.length = 0;
  });

  it('reads the file and names the keys it does not implement', () => {
    const config = parseConfig(ARTICLE, KEYS, 'litellm-config.yaml');
    expect(config.models.map((m) => [m.name, m.model])).toEqual([['smart', 'claude-sonnet-4-6'], ['smart-fallback', 'gpt-5-mini'], ['cheap', 'claude-haiku-4-5']]);
    expect(config.router.fallbacks).toEqual({ smart: ['smart-fallback', 'cheap'] });
    expect(config.router.strategy).toBe('simple-shuffle');
    // cache: true maps onto the response cache; cache_params' host is Sightline's shared Redis (redis.url), said so.
    expect(configWarnings(config).join('\n')).toMatch(/litellm_settings\.cache_params\.host: set redis\.url/);
  });

  it('serves `smart` from Anthropic through the OpenAI SDK: translated both ways, Anthropic\'s key, one attempt in the row', async () => {
    const completion = await openai.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]!.message.content).toBe("Hello! I'm doing well, thank you for asking. How can I help you today?");
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 21, total_tokens: 33 });

    expect(gw.mock.requests).toHaveLength(1);
    const upstream = gw.mock.requests[0]!;
    expect(upstream.url).toBe('/v1/messages');
    expect(upstream.headers['x-api-key']).toBe(KEYS.ANTHROPIC_API_KEY);
    expect(upstream.headers.authorization).toBeUndefined();
    expect(upstream.headers['anthropic-version']).toBeDefined();
    const sent = JSON.parse(upstream.body.toString('utf8')) as { model: string; messages: unknown[] };
    expect(sent.model).toBe('claude-sonnet-4-6');
    expect(sent.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);

    const [row] = await gw.waitForEvents(1);
    expect(row).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-6', model_alias: 'smart', deployment: 'smart#0', endpoint: 'chat', status: 200, attempts: 1, prompt_tokens: 12, completion_tokens: 21 });
    expect(row!.attempt_log).toEqual([expect.objectContaining({ alias: 'smart', deployment: 'smart#0', provider: 'anthropic', model: 'claude-sonnet-4-6', status: 200, error_code: '' })]);
    expect(row!.cost_usd).toBeGreaterThan(0);
  });

  it('streams `smart` from Anthropic as OpenAI chunks, usage chunk included when asked', async () => {
    const stream = await openai.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    const finishes: string[] = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('héllo 世界 👋');
    expect(finishes).toEqual(['tool_calls']);
    expect(usage).toMatchObject({ prompt_tokens: 1038, completion_tokens: 41 });
    const rows = await gw.waitForEvents(2);
    expect(rows.at(-1)).toMatchObject({ provider: 'anthropic', model_alias: 'smart', stream: true, status: 200, prompt_tokens: 1038, completion_tokens: 41, cache_read_tokens: 1024 });
    expect(rows.at(-1)!.ttft_ms).not.toBeNull();
  });

  it('falls back to `smart-fallback` (OpenAI) when Anthropic is overloaded: the app never notices, the row shows both attempts', async () => {
    gw.mock.rules.push({ match: '/v1/messages', times: 1, set: { fixture: 'anthropic/error-529.json' } });
    const completion = await openai.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'hi, attempt 1' }] });
    expect(completion.choices[0]!.message.content).toBe('The capital of France is Paris.');
    expect(gw.mock.requests.map((r) => r.url)).toEqual(['/v1/messages', '/v1/chat/completions']);
    const second = gw.mock.requests[1]!;
    expect(second.headers.authorization).toBe(`Bearer ${KEYS.OPENAI_API_KEY}`);
    expect((JSON.parse(second.body.toString('utf8')) as { model: string }).model).toBe('gpt-5-mini');

    const rows = await gw.waitForEvents(3);
    const row = rows.at(-1)!;
    expect(row).toMatchObject({ provider: 'openai', model: 'gpt-5-mini', model_alias: 'smart', deployment: 'smart-fallback#0', status: 200, attempts: 2 });
    expect(row.attempt_log.map((a) => [a.alias, a.provider, a.status, a.error_code])).toEqual([
      ['smart', 'anthropic', 529, 'overloaded_error'],
      ['smart-fallback', 'openai', 200, ''],
    ]);
    expect(row.attempt_log[0]!.error).toBe('Overloaded');
  });

  it('goes down the whole chain (claude-sonnet-4-6 → gpt-5-mini → claude-haiku-4-5), and says every attempt when all fail', async () => {
    gw.mock.rules.push({ match: '/v1/messages', times: 1, set: { fixture: 'anthropic/error-529.json' } });
    gw.mock.rules.push({ match: '/v1/chat/completions', times: 1, set: { fixture: 'openai/error-500.json' } });
    const served = await openai.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'hi, attempt 2' }] });
    expect(served.choices[0]!.message.content).toMatch(/^Hello!/);
    const sent = gw.mock.requests.map((r) => (JSON.parse(r.body.toString('utf8')) as { model: string }).model);
    expect(sent).toEqual(['claude-sonnet-4-6', 'gpt-5-mini', 'claude-haiku-4-5']);

    gw.mock.requests.length = 0;
    gw.mock.rules.push({ match: '/v1/messages', times: 2, set: { fixture: 'anthropic/error-529.json' } });
    gw.mock.rules.push({ match: '/v1/chat/completions', times: 1, set: { fixture: 'openai/error-500.json' } });
    const err = await openai.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'hi, attempt 3' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiErr.status).toBe(503);
    expect(apiErr.code).toBe('sightline_all_deployments_failed');
    expect(apiErr.message).toMatch(/smart#0 \(anthropic\/claude-sonnet-4-6\): 529 overloaded_error/);
    expect(apiErr.message).toMatch(/smart-fallback#0 \(openai\/gpt-5-mini\): 500/);
    expect(apiErr.message).toMatch(/cheap#0 \(anthropic\/claude-haiku-4-5\): 529/);
    const rows = await gw.waitForEvents(5);
    expect(rows.at(-1)).toMatchObject({ status: 503, error_code: 'sightline_all_deployments_failed', attempts: 3, model_alias: 'smart' });
    expect(rows.at(-1)!.attempt_log.map((a) => a.status)).toEqual([529, 500, 529]);
  });

  it('answers an unknown model with a 404 in OpenAI\'s shape listing the configured ones, and lists them on /v1/models', async () => {
    const err = await openai.chat.completions.create({ model: 'smrat', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as Error).message).toMatch(/"smrat" is not configured.*smart, smart-fallback, cheap/);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_unknown_model');
    expect(gw.mock.requests).toHaveLength(0);
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['smart', 'smart-fallback', 'cheap']);
  });

  it('serves the Anthropic SDK on /v1/messages from an OpenAI deployment (the reverse direction)', async () => {
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'sk-virtual-team-1', maxRetries: 0 });
    const message = await anthropic.messages.create({ model: 'smart-fallback', max_tokens: 100, messages: [{ role: 'user', content: 'capital of France?' }] });
    expect(message.type).toBe('message');
    expect(message.content).toEqual([{ type: 'text', text: 'The capital of France is Paris.', citations: null }].map(({ citations: _c, ...b }) => expect.objectContaining(b)));
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toMatchObject({ input_tokens: 24, output_tokens: 8 });
    expect(gw.mock.requests[0]!.url).toBe('/v1/chat/completions');
    expect(gw.mock.requests[0]!.headers.authorization).toBe(`Bearer ${KEYS.OPENAI_API_KEY}`);
    expect(gw.mock.requests[0]!.headers['x-api-key']).toBeUndefined();

    const stream = anthropic.messages.stream({ model: 'smart-fallback', max_tokens: 100, messages: [{ role: 'user', content: 'capital of France?' }] });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => (b.type === 'text' ? b.text : '')).join('')).toBe('héllo 世界 👋');
    expect(final.usage).toMatchObject({ input_tokens: 11, output_tokens: 6 });
    const rows = await gw.waitForEvents(2);
    expect(rows.slice(-2).map((r) => [r.endpoint, r.provider, r.model_alias, r.status])).toEqual([['messages', 'openai', 'smart-fallback', 200], ['messages', 'openai', 'smart-fallback', 200]]);
  });

  it('takes a reloaded config for the calls that follow, keeping what did not change', async () => {
    const next = parseConfig(`${ARTICLE}\n`.replace('model_list:', 'model_list:\n  - { model_name: fresh, litellm_params: { model: gemini/gemini-2.5-flash } }'), {
      ...KEYS, SIGHTLINE_PORT: '0', SIGHTLINE_SINK: 'none', SIGHTLINE_DATA_DIR: gw.config.data_dir,
      SIGHTLINE_UPSTREAM_OPENAI: gw.mock.url, SIGHTLINE_UPSTREAM_ANTHROPIC: gw.mock.url, SIGHTLINE_UPSTREAM_GEMINI: gw.mock.url, SIGHTLINE_UPSTREAM_AZURE: gw.mock.url,
    });
    expect(gw.proxy.reload(next)).toEqual([]);
    const done = await openai.chat.completions.create({ model: 'fresh', messages: [{ role: 'user', content: 'hi' }] });
    expect(done.choices[0]!.message.content).toBe('AI learns patterns from data to make predictions or decisions.');
    expect((await openai.models.list()).data.map((m) => m.id)).toEqual(['fresh', 'smart', 'smart-fallback', 'cheap']);
  });

  it('never lets a provider key reach a row', async () => {
    await openai.chat.completions.create({ model: 'cheap', messages: [{ role: 'user', content: 'hi' }] });
    const text = JSON.stringify(await gw.waitForEvents(1));
    expect(text).not.toContain(KEYS.ANTHROPIC_API_KEY);
    expect(text).not.toContain(KEYS.OPENAI_API_KEY);
    expect(gw.written.map((w) => (typeof w === 'object' && 'request_body' in w ? String(w.request_body) : '')).join('')).not.toContain('sk-ant');
  });
});
