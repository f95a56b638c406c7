// The cache's parts without a server: the key, the in-memory store's bounds, the semantic index, the config mapping.
import { describe, expect, it } from 'vitest';
import { configWarnings, parseConfig } from '../../config/index.ts';
import { cacheKey, semanticParts } from './cache-key.ts';
import { createMemoryStore, liveEntries } from './cache-store.ts';
import { ttlOf } from './cache.ts';
import { createSemanticIndex } from './semantic-index.ts';

const parts = { organization: 'acme', seed: '', route: 'openai https://api.openai.com/v1/chat/completions', headers: [], credential: '', ignoreKeys: [] };

describe('cache key', () => {
  it('is the same for the same request whatever its key order, and differs in anything that changes the answer', () => {
    const a = cacheKey({ ...parts, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 } });
    expect(cacheKey({ ...parts, body: { temperature: 0, messages: [{ content: 'hi', role: 'user' }], model: 'm' } })).toBe(a);
    expect(cacheKey({ ...parts, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0, user: 'u1', metadata: { x: 1 } } })).toBe(a);
    expect(cacheKey({ ...parts, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 1 } })).not.toBe(a);
    expect(cacheKey({ ...parts, organization: 'globex', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 } })).not.toBe(a);
    expect(cacheKey({ ...parts, seed: 's', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 } })).not.toBe(a);
    expect(cacheKey({ ...parts, credential: 'k2', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 } })).not.toBe(a);
    expect(cacheKey({ ...parts, ignoreKeys: ['nonce'], body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0, nonce: 7 } })).toBe(a);
  });

  it('gives the semantic cache the last user message and the rest of the call as its scope', () => {
    const body = { model: 'm', messages: [{ role: 'system', content: 'terse' }, { role: 'user', content: [{ type: 'text', text: 'hello' }] }] };
    const p = semanticParts(body)!;
    expect(p.text).toBe('hello');
    expect(JSON.stringify(p.rest)).not.toContain('hello');
    expect(semanticParts({ model: 'm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] })).toBeUndefined();
    expect(semanticParts({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] })).toBeUndefined();
  });

  it('reads Cache-Control max-age as Helicone does, capped at 365 days', () => {
    expect(ttlOf({ 'cache-control': 'max-age=3600' }, 60)).toBe(3600);
    expect(ttlOf({ 'cache-control': 'no-transform, max-age = 2592000' }, 60)).toBe(2_592_000);
    expect(ttlOf({ 'cache-control': 'max-age=999999999' }, 60)).toBe(365 * 24 * 3600);
    expect(ttlOf({}, 60)).toBe(60);
  });
});

describe('memory store', () => {
  it('keeps at most its byte cap, evicting the least recently read key first, and drops expired entries', async () => {
    const store = createMemoryStore(3 * 108);
    const payload = Buffer.alloc(100);
    const later = Date.now() + 60_000;
    for (const k of ['a', 'b', 'c']) await store.add(k, payload, later);
    await store.get('a');
    await store.add('d', payload, later);
    expect((await store.get('b')).length).toBe(0);
    expect((await store.get('a')).length).toBe(1);
    expect(store.stats()).toMatchObject({ keys: 3, bytes: 3 * 108, evictions: 1 });
    await store.add('gone', payload, Date.now() - 1);
    expect(liveEntries(await store.get('gone'))).toEqual([]);
  });
});

describe('semantic index', () => {
  // mulberry32: a seeded generator, so the test is the same on every run.
  const rand = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };

  it('finds the nearest vector above the threshold, exactly in a small scope and through LSH in a large one', () => {
    const r = rand(7);
    const index = createSemanticIndex(10_000);
    const vectors = Array.from({ length: 6000 }, () => Array.from({ length: 32 }, r));
    vectors.forEach((v, i) => index.add(i < 10 ? 'small' : 'large', v, `k${i}`));
    const nudge = (v: number[]) => v.map((x) => x + r() * 0.02);
    expect(index.search('small', nudge(vectors[3]!), 0.95)?.key).toBe('k3');
    let found = 0;
    for (let i = 100; i < 200; i++) if (index.search('large', nudge(vectors[i]!), 0.95)?.key === `k${i}`) found++;
    expect(found).toBeGreaterThanOrEqual(97);
    expect(index.search('large', Array.from({ length: 32 }, r), 0.95)).toBeUndefined();
    expect(index.search('other', vectors[3]!, 0.5)).toBeUndefined();
  });

  it('evicts the oldest entries past its size', () => {
    const index = createSemanticIndex(100);
    for (let i = 0; i < 250; i++) index.add('s', [Math.cos(i), Math.sin(i), 1], `k${i}`);
    expect(index.size).toBe(100);
    expect(index.search('s', [Math.cos(249), Math.sin(249), 1], 0.9999)?.key).toBe('k249');
    expect(index.search('s', [Math.cos(3), Math.sin(3), 1], 0.99999)?.key).not.toBe('k3');
  });
});

describe('LiteLLM cache settings', () => {
  it('maps litellm_settings.cache and cache_params.ttl, and says where the Redis host goes', () => {
    const config = parseConfig('model_list: [{ model_name: s, litellm_params: { model: gpt-4o-mini } }]\nlitellm_settings: { cache: true, cache_params: { type: redis, host: redis, ttl: 600, namespace: x } }\n', {});
    expect(config.cache).toMatchObject({ all_calls: true, ttl_s: 600 });
    const warnings = configWarnings(config).join('\n');
    expect(warnings).toContain('litellm_settings.cache_params.host: set redis.url');
    expect(warnings).toContain('litellm_settings.cache_params.namespace');
    expect(warnings).not.toMatch(/litellm_settings\.cache:/);
  });

  it('refuses a semantic cache whose embeddings model is not configured', () => {
    expect(() => parseConfig('cache: { semantic: { embeddings_model: nope } }\n', {})).toThrow(/cache\.semantic\.embeddings_model: no model named "nope"/);
  });
});
