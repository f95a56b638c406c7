// The response cache (issue #16 §4) with the official SDKs as callers, on pass-through routes and on aliases:
// hits answer without an upstream call and cost 0 in the row (the saving in cache_saved_usd), streams replay as the
// same SSE, the key is the whole conversation, organisations never share, and Helicone's TTL, seed, bucket and
// ignore-keys headers mean what they mean there. Two gateways on one real Redis share entries.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../contracts/event.ts';
import { periodOf, spendCounter } from '../../contracts/spend.ts';
import { hashKey } from '../../proxy/auth.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startRedis } from '../helpers/redis.ts';

const ACME = 'sl-cache-acme-key';
const GLOBEX = 'sl-cache-globex-key';
const KEYS_YAML = `keys:
  - { id: acme1, hash: ${hashKey(ACME)}, organization_id: acme }
  - { id: globex1, hash: ${hashKey(GLOBEX)}, organization_id: globex }
  - { id: cached-key, hash: ${hashKey('sl-cache-keyed')}, organization_id: acme, cache: true }
`;
const ON = { 'Sightline-Cache-Enabled': 'true' };

async function rowOf(gw: TestGateway, id: string | null): Promise<RequestEvent> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const row = gw.events.find((e) => e.request_id === id);
    if (row !== undefined) return row;
    if (Date.now() > deadline) throw new Error(`no row for ${id}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function chat(gw: TestGateway, headers: Record<string, string>, body: Record<string, unknown>, path = '/openai/v1/chat/completions') {
  const res = await fetch(gw.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-provider-1', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { res, text, cache: res.headers.get('sightline-cache'), row: await rowOf(gw, res.headers.get('sightline-id')) };
}

const hi = (content = 'What is the capital of France?') => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });

describe('exact cache on pass-through routes (in memory)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ yaml: `${KEYS_YAML}cache: { skip_if_pii: true }\n` });
  });
  afterAll(() => gw.close());
  beforeEach(() => {
    gw.mock.requests.length = 0;
  });

  it('answers the same request from the cache through the OpenAI SDK: no upstream call, cost 0, the saving in the row', async () => {
    const openai = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: 'sk-provider-1', maxRetries: 0, defaultHeaders: { ...ON, 'Sightline-Auth': `Bearer ${ACME}` } });
    const first = await openai.chat.completions.create(hi('sdk question')).withResponse();
    const second = await openai.chat.completions.create(hi('sdk question')).withResponse();
    expect(first.response.headers.get('sightline-cache')).toBe('MISS');
    expect(first.response.headers.get('helicone-cache')).toBe('MISS');
    expect(second.response.headers.get('sightline-cache')).toBe('HIT');
    expect(second.response.headers.get('helicone-cache')).toBe('HIT');
    expect(second.data).toEqual(first.data);
    expect(gw.mock.requests).toHaveLength(1);

    const miss = await rowOf(gw, first.response.headers.get('sightline-id'));
    const hit = await rowOf(gw, second.response.headers.get('sightline-id'));
    expect(miss).toMatchObject({ cache_status: 'miss', cache_saved_usd: 0, status: 200, prompt_tokens: 24 });
    expect(miss.cost_usd).toBeGreaterThan(0);
    expect(hit).toMatchObject({ cache_status: 'hit', cost_usd: 0, prompt_tokens: 0, completion_tokens: 0, status: 200, provider: 'openai', model: 'gpt-4o-mini', organization_id: 'acme' });
    expect(hit.cache_saved_usd).toBeCloseTo(miss.cost_usd, 12);
    expect(hit.response_body).toBe(miss.response_body);
  });

  it('replays a stream as the same SSE bytes, which the SDK reads as a stream', async () => {
    const body = { ...hi('stream me'), stream: true };
    const a = await chat(gw, ON, body);
    const b = await chat(gw, ON, body);
    expect([a.cache, b.cache]).toEqual(['MISS', 'HIT']);
    expect(b.res.headers.get('content-type')).toContain('text/event-stream');
    expect(b.text).toBe(a.text);
    expect(b.text).toContain('data: [DONE]');
    expect(gw.mock.requests).toHaveLength(1);
    expect(b.row).toMatchObject({ cache_status: 'hit', stream: true, cost_usd: 0 });
    expect(b.row.cache_saved_usd).toBeCloseTo(a.row.cost_usd, 12);

    const openai = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: 'sk-provider-1', maxRetries: 0, defaultHeaders: ON });
    let text = '';
    for await (const chunk of await openai.chat.completions.create({ ...hi('stream me'), stream: true })) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('héllo 世界 👋');
    expect(gw.mock.requests).toHaveLength(1);
  });

  it('keys on the whole conversation: the same last message after other turns is a miss', async () => {
    const turn = (history: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: history }, { role: 'assistant', content: 'Noted.' }, { role: 'user', content: 'What is my favourite colour?' }] });
    expect((await chat(gw, ON, turn('My favourite colour is blue'))).cache).toBe('MISS');
    expect((await chat(gw, ON, turn('My favourite colour is red'))).cache).toBe('MISS');
    expect((await chat(gw, ON, turn('My favourite colour is blue'))).cache).toBe('HIT');
    // Every parameter that changes the answer is in the key.
    expect((await chat(gw, ON, { ...turn('My favourite colour is blue'), temperature: 0.2 })).cache).toBe('MISS');
    expect((await chat(gw, ON, { ...turn('My favourite colour is blue'), tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] })).cache).toBe('MISS');
    expect(gw.mock.requests).toHaveLength(4);
  });

  it('never shares an entry between organisations', async () => {
    const body = hi('tenant question');
    expect((await chat(gw, { ...ON, 'Sightline-Auth': `Bearer ${ACME}` }, body)).cache).toBe('MISS');
    const other = await chat(gw, { ...ON, 'Sightline-Auth': `Bearer ${GLOBEX}` }, body);
    expect(other.cache).toBe('MISS');
    expect(other.row.organization_id).toBe('globex');
    expect((await chat(gw, { ...ON, 'Sightline-Auth': `Bearer ${GLOBEX}` }, body)).cache).toBe('HIT');
    expect((await chat(gw, { ...ON, 'Sightline-Auth': `Bearer ${ACME}` }, body)).cache).toBe('HIT');
    expect(gw.mock.requests).toHaveLength(2);
  });

  it('keeps entries for Cache-Control max-age seconds', async () => {
    const ttl = { ...ON, 'Cache-Control': 'max-age = 1' };
    expect((await chat(gw, ttl, hi('short-lived'))).cache).toBe('MISS');
    expect((await chat(gw, ttl, hi('short-lived'))).cache).toBe('HIT');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await chat(gw, ttl, hi('short-lived'))).cache).toBe('MISS');
  });

  it('seeds separate caches, ignores the keys it is told to, and fills a bucket before serving from it', async () => {
    expect((await chat(gw, { ...ON, 'Sightline-Cache-Seed': 'user-123' }, hi('seeded'))).cache).toBe('MISS');
    expect((await chat(gw, { ...ON, 'Helicone-Cache-Seed': 'user-456' }, hi('seeded'))).cache).toBe('MISS');
    expect((await chat(gw, { ...ON, 'Sightline-Cache-Seed': 'user-123' }, hi('seeded'))).cache).toBe('HIT');
    expect((await chat(gw, ON, hi('seeded'))).cache).toBe('MISS');

    const ignore = { ...ON, 'Helicone-Cache-Ignore-Keys': 'request_id, timestamp' };
    expect((await chat(gw, ignore, { ...hi('ignoring'), request_id: 'r1', timestamp: 1 })).cache).toBe('MISS');
    expect((await chat(gw, ignore, { ...hi('ignoring'), request_id: 'r2', timestamp: 2 })).cache).toBe('HIT');
    expect((await chat(gw, ON, { ...hi('ignoring'), request_id: 'r3', timestamp: 3 })).cache).toBe('MISS');

    const bucket = { ...ON, 'Helicone-Cache-Bucket-Max-Size': '3' };
    const statuses: (string | null)[] = [];
    let idx: string | null = null;
    for (let i = 0; i < 4; i++) {
      const r = await chat(gw, bucket, hi('random number'));
      statuses.push(r.cache);
      idx = r.res.headers.get('helicone-cache-bucket-idx');
    }
    expect(statuses).toEqual(['MISS', 'MISS', 'MISS', 'HIT']);
    expect(['0', '1', '2']).toContain(idx);
    expect(gw.mock.requests).toHaveLength(3 + 2 + 3);
  });

  it('skips prompts with PII (cache.skip_if_pii), and honours Sightline-Omit-* by storing nothing', async () => {
    const pii = hi('Write to jane.doe@example.com about her order');
    const a = await chat(gw, ON, pii);
    const b = await chat(gw, ON, pii);
    expect([a.cache, b.cache]).toEqual(['MISS', 'MISS']);
    expect([a.row.cache_status, b.row.cache_status]).toEqual(['bypass', 'bypass']);

    const omitted = { ...ON, 'Sightline-Omit-Response': 'true' };
    expect((await chat(gw, omitted, hi('private answer'))).cache).toBe('MISS');
    expect((await chat(gw, omitted, hi('private answer'))).cache).toBe('MISS');
    expect(gw.mock.requests).toHaveLength(4);
  });

  it('serves Helicone users on the Anthropic route, opts a key\'s calls in by its config, and leaves calls that did not opt in alone', async () => {
    const anthropic = new Anthropic({ baseURL: `${gw.url}/anthropic`, apiKey: 'sk-ant-1', maxRetries: 0, defaultHeaders: { 'Helicone-Cache-Enabled': 'true' } });
    const ask = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user' as const, content: 'hi' }] };
    const first = await anthropic.messages.create(ask).withResponse();
    const second = await anthropic.messages.create(ask).withResponse();
    expect([first.response.headers.get('helicone-cache'), second.response.headers.get('helicone-cache')]).toEqual(['MISS', 'HIT']);
    expect(second.data).toEqual(first.data);
    const hit = await rowOf(gw, second.response.headers.get('sightline-id'));
    expect(hit).toMatchObject({ provider: 'anthropic', cache_status: 'hit', cost_usd: 0 });
    expect(hit.cache_saved_usd).toBeGreaterThan(0);

    // Anthropic's stream replays with its event: lines, as the SDK reads them.
    const streamText = async () => {
      const stream = anthropic.messages.stream(ask);
      let text = '';
      for await (const e of stream) if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
      return { text, final: await stream.finalMessage() };
    };
    const live = await streamText();
    const replayed = await streamText();
    expect(replayed).toEqual(live);
    expect(replayed.text.length).toBeGreaterThan(0);

    // A key whose config says cache: true opts its calls in.
    expect((await chat(gw, { 'Sightline-Auth': 'Bearer sl-cache-keyed' }, hi('by key'))).cache).toBe('MISS');
    expect((await chat(gw, { 'Sightline-Auth': 'Bearer sl-cache-keyed' }, hi('by key'))).cache).toBe('HIT');

    const plain = await chat(gw, {}, hi('not opted in'));
    const again = await chat(gw, {}, hi('not opted in'));
    expect([plain.cache, again.cache]).toEqual([null, null]);
    expect(again.row.cache_status).toBe('none');
    expect(gw.mock.requests).toHaveLength(5);
    const metrics = await (await fetch(`${gw.url}/_sightline/metrics`)).text();
    expect(metrics).toMatch(/sightline_cache_lookups_total\{result="hit"\} [1-9]/);
    expect(metrics).toMatch(/sightline_cache_memory_bytes [1-9]/);
  });
});

describe('exact cache on aliases', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ yaml: `
models:
  - { name: smart, model: anthropic/claude-sonnet-4-6, api_key: sk-ant-config }
  - { name: cached, model: openai/gpt-4o-mini, api_key: sk-openai-config, cache: true }
` });
  });
  afterAll(() => gw.close());
  beforeEach(() => {
    gw.mock.requests.length = 0;
  });

  it('caches a translated call in the caller\'s shape and prices the saving from the provider\'s own answer', async () => {
    const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'anything', maxRetries: 0, defaultHeaders: ON });
    const first = await openai.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    const second = await openai.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect([first.response.headers.get('sightline-cache'), second.response.headers.get('sightline-cache')]).toEqual(['MISS', 'HIT']);
    expect(second.data).toEqual(first.data);
    expect(second.data.object).toBe('chat.completion');
    expect(gw.mock.requests).toHaveLength(1);
    const miss = await rowOf(gw, first.response.headers.get('sightline-id'));
    const hit = await rowOf(gw, second.response.headers.get('sightline-id'));
    expect(hit).toMatchObject({ cache_status: 'hit', provider: 'anthropic', model: 'claude-sonnet-4-6', model_alias: 'smart', deployment: '', attempt_log: [], cost_usd: 0 });
    expect(hit.cache_saved_usd).toBeCloseTo(miss.cost_usd, 12);
    expect(miss.cost_usd).toBeGreaterThan(0);

    // A stream through translation replays as the OpenAI chunks the client got.
    const s1 = await chat(gw, ON, { model: 'smart', stream: true, messages: [{ role: 'user', content: 'hi' }] }, '/v1/chat/completions');
    const s2 = await chat(gw, ON, { model: 'smart', stream: true, messages: [{ role: 'user', content: 'hi' }] }, '/v1/chat/completions');
    expect([s1.cache, s2.cache]).toEqual(['MISS', 'HIT']);
    expect(s2.text).toBe(s1.text);
    expect(s2.text).toContain('chat.completion.chunk');
  });

  it('caches an alias whose config says cache: true, unless the call says Sightline-Cache-Enabled: false', async () => {
    const body = { model: 'cached', messages: [{ role: 'user', content: 'configured' }] };
    expect((await chat(gw, {}, body, '/v1/chat/completions')).cache).toBe('MISS');
    expect((await chat(gw, {}, body, '/v1/chat/completions')).cache).toBe('HIT');
    expect((await chat(gw, { 'Sightline-Cache-Enabled': 'false' }, body, '/v1/chat/completions')).cache).toBeNull();
    expect((await chat(gw, {}, { model: 'smart', messages: [{ role: 'user', content: 'configured' }] }, '/v1/chat/completions')).cache).toBeNull();
    expect(gw.mock.requests).toHaveLength(3);
  });

  it('refuses a malformed cache header with a 400 naming it', async () => {
    const r = await chat(gw, { ...ON, 'Sightline-Cache-Bucket-Max-Size': '50' }, { model: 'cached', messages: [{ role: 'user', content: 'x' }] }, '/v1/chat/completions');
    expect(r.res.status).toBe(400);
    expect(r.text).toContain('Sightline-Cache-Bucket-Max-Size');
  });
});

describe('a hit and budgets', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ yaml: `keys:
  - { id: capped, hash: ${hashKey('sl-capped')}, organization_id: acme, budget: 1/day }
  - { id: tiny-route, hash: ${hashKey('sl-tiny-route')}, organization_id: acme, budget: 0.000001/day }
  - { id: tiny-alias, hash: ${hashKey('sl-tiny-alias')}, organization_id: acme, budget: 0.000001/day }
models:
  - { name: cached, model: openai/gpt-4o-mini, api_key: sk-openai-config, cache: true }
`, settle: true });
  });
  afterAll(() => gw.close());

  it('never counts against the key\'s budget: the spend is the one miss\'s cost after many hits', async () => {
    const headers = { ...ON, 'Sightline-Auth': 'Bearer sl-capped' };
    const miss = await chat(gw, headers, hi('budgeted'));
    for (let i = 0; i < 5; i++) expect((await chat(gw, headers, hi('budgeted'))).cache).toBe('HIT');
    const counter = spendCounter({ kind: 'key', id: 'capped' }, periodOf('day', 'UTC', Date.now()));
    const deadline = Date.now() + 5000;
    let spend = await gw.proxy.spend.read(counter, Date.now());
    // Settlement follows each row a few ms after the call: wait until the miss's cost is in and nothing is reserved.
    while ((spend.spentUsd === 0 || spend.reservedUsd > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      spend = await gw.proxy.spend.read(counter, Date.now());
    }
    expect(miss.row.cost_usd).toBeGreaterThan(0);
    expect(spend.spentUsd).toBeCloseTo(miss.row.cost_usd, 12);
    expect(spend.reservedUsd).toBe(0);
  });

  it('still serves a hit once the budget is spent (it costs nothing), and refuses a miss, on provider routes and aliases', async () => {
    for (const [key, path, model] of [['tiny-route', '/openai/v1/chat/completions', 'gpt-4o-mini'], ['tiny-alias', '/v1/chat/completions', 'cached']] as const) {
      const headers = { ...ON, 'Sightline-Auth': `Bearer sl-${key}` };
      const counter = spendCounter({ kind: 'key', id: key }, periodOf('day', 'UTC', Date.now()));
      const body = { model, messages: [{ role: 'user', content: 'spend it all' }] };
      expect((await chat(gw, headers, body, path)).res.status).toBe(200);
      const deadline = Date.now() + 5000;
      while ((await gw.proxy.spend.read(counter, Date.now())).spentUsd === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect((await gw.proxy.spend.read(counter, Date.now())).spentUsd).toBeGreaterThan(0.000001);
      const again = await chat(gw, headers, body, path);
      expect([again.res.status, again.cache, again.row.cache_status, again.row.cost_usd]).toEqual([200, 'HIT', 'hit', 0]);
      const other = await chat(gw, headers, { ...body, messages: [{ role: 'user', content: 'something new' }] }, path);
      expect(other.res.status).toBe(429);
      expect((JSON.parse(other.text) as { error: { code: string } }).error.code).toBe('sightline_budget_exceeded');
      expect(other.row).toMatchObject({ status: 429, error_code: 'sightline_budget_exceeded', cache_status: 'miss', cost_usd: 0 });
    }
  });
});

describe('the cache in Redis, shared by two gateways', () => {
  let redis: TestRedis;
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    a = await startTestGateway({ env: { REDIS_URL: redis.url } });
    // Replicas call the same providers: b's provider routes go to a's mock, so the two share a key.
    b = await startTestGateway({ env: { REDIS_URL: redis.url, SIGHTLINE_UPSTREAM_OPENAI: a.mock.url } });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.stop();
  });

  it('answers on one replica what the other stored, streams included', async () => {
    expect((await chat(a, ON, hi('shared'))).cache).toBe('MISS');
    const fromB = await chat(b, ON, hi('shared'));
    expect(fromB.cache).toBe('HIT');
    expect(fromB.row).toMatchObject({ cache_status: 'hit', cost_usd: 0 });
    expect(fromB.row.cache_saved_usd).toBeGreaterThan(0);
    const s1 = await chat(b, ON, { ...hi('shared stream'), stream: true });
    const s2 = await chat(a, ON, { ...hi('shared stream'), stream: true });
    expect([s1.cache, s2.cache]).toEqual(['MISS', 'HIT']);
    expect(s2.text).toBe(s1.text);
    expect(a.mock.requests).toHaveLength(2);
    expect(b.mock.requests).toHaveLength(0);
  });

  it('bypasses the cache when Redis is unreachable, and the call still goes through', async () => {
    await redis.stop();
    try {
      const r = await chat(a, ON, hi('redis down'));
      expect(r.res.status).toBe(200);
      expect(r.cache).toBe('MISS');
      expect(r.row.cache_status).toBe('bypass');
    } finally {
      await redis.restart();
    }
  });
});

describe('semantic cache', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ yaml: (mock) => `
models:
  - { name: chat, model: openai/gpt-4o-mini, api_key: sk-openai-config }
  - { name: embed, model: openai/text-embedding-3-small, api_key: sk-openai-config, api_base: "${mock}/_mock/embed=words/v1" }
cache: { semantic: { embeddings_model: embed, threshold: 0.99 } }
` });
  });
  afterAll(() => gw.close());

  it('answers a rephrasing of the last message within the same conversation, and only there', async () => {
    const semantic = { ...ON, 'Sightline-Cache-Semantic': 'true' };
    const ask = (q: string, system = 'You are terse.') => ({ model: 'chat', messages: [{ role: 'system', content: system }, { role: 'user', content: q }] });
    const chats = () => gw.mock.requests.filter((r) => r.url.includes('/chat/completions')).length;
    expect((await chat(gw, semantic, ask('What is the capital of France?'), '/v1/chat/completions')).cache).toBe('MISS');
    const paraphrase = await chat(gw, semantic, ask('what is the capital of france'), '/v1/chat/completions');
    expect(paraphrase.cache).toBe('HIT');
    expect(paraphrase.row).toMatchObject({ cache_status: 'hit', cost_usd: 0 });
    expect(chats()).toBe(1);
    // Another system prompt is another scope; an unrelated question is far away.
    expect((await chat(gw, semantic, ask('what is the capital of france', 'You are verbose.'), '/v1/chat/completions')).cache).toBe('MISS');
    expect((await chat(gw, semantic, ask('Tell me a joke about cats'), '/v1/chat/completions')).cache).toBe('MISS');
    // Without the opt-in only the exact cache answers.
    expect((await chat(gw, ON, ask('WHAT is the capital of France'), '/v1/chat/completions')).cache).toBe('MISS');
    expect(chats()).toBe(4);
    // The embeddings went through the gateway: each is a row of its own, on the embed alias.
    expect(gw.events.filter((e) => e.endpoint === 'embeddings' && e.model_alias === 'embed').length).toBeGreaterThanOrEqual(4);
  });
});
