// The official SDKs as callers: through the proxy they get exactly what the upstream sent, and each
// call yields one event with the fixture's exact token counts and the matching cost.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoster } from '../../ledger/cost.ts';
import type { RequestEvent } from '../../contracts/event.ts';
import { loadFixture } from '../fixtures/index.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';

const cost = createCoster({ overrides: {} });
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
});

function openaiVia(base: string, headers: Record<string, string> = {}) {
  return new OpenAI({ apiKey: 'sk-test-secret-0000', baseURL: base, defaultHeaders: headers, maxRetries: 0 });
}
function anthropicVia(base: string, headers: Record<string, string> = {}) {
  return new Anthropic({ apiKey: 'sk-ant-test-secret-0000', baseURL: base, defaultHeaders: headers, maxRetries: 0 });
}

async function lastEventFor(requestId: string): Promise<RequestEvent> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = gw.events.find((e) => e.request_id === requestId);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no event for ${requestId}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function collectChat(client: OpenAI, params: OpenAI.ChatCompletionCreateParamsStreaming) {
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const c of await client.chat.completions.create(params)) chunks.push(c);
  return chunks;
}

function expectUsage(event: RequestEvent, usage: NonNullable<ReturnType<typeof loadFixture>['expect']['usage']>) {
  expect({
    prompt_tokens: event.prompt_tokens,
    completion_tokens: event.completion_tokens,
    cache_read_tokens: event.cache_read_tokens,
    cache_write_tokens: event.cache_write_tokens,
    reasoning_tokens: event.reasoning_tokens,
  }).toEqual(usage);
  expect(event.tokens_estimated).toBe(false);
  const expected = cost(event.provider, event.response_model || event.model, usage);
  expect(event.cost_usd).toBeCloseTo(expected.cost_usd, 12);
  expect(event.cost_known).toBe(expected.cost_known);
}

describe('OpenAI SDK through the proxy', () => {
  it('chat completion: identical result, exact usage and cost in the event', async () => {
    const params = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'What is the capital of France?' }] };
    const direct = await openaiVia(`${gw.mock.url}/v1`).chat.completions.create(params);
    const { data, response } = await openaiVia(`${gw.url}/openai/v1`).chat.completions.create(params).withResponse();
    expect(data).toEqual(direct);
    const id = response.headers.get('sightline-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const ev = await lastEventFor(id!);
    const fx = loadFixture('openai', 'chat.json');
    expectUsage(ev, fx.expect.usage!);
    expect(ev.cost_known).toBe(true);
    expect(ev.cost_usd).toBeGreaterThan(0);
    expect(ev).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', response_model: fx.expect.response_model, endpoint: 'chat', status: 200, stream: false, path: '/v1/chat/completions', method: 'POST', finish_reason: 'stop' });
    expect(JSON.parse(ev.request_body)).toEqual(params);
    expect(ev.response_body).toBe(fx.body.toString('utf8'));
    expect(ev.ttft_ms).toBeNull();
    expect(ev.latency_ms).toBeGreaterThan(0);
  });

  it('stream with usage requested: identical chunks, usage from the stream, TTFT measured', async () => {
    const params = { model: 'gpt-4o-mini', stream: true as const, stream_options: { include_usage: true }, messages: [{ role: 'user' as const, content: 'hi' }] };
    const collect = (client: OpenAI) => collectChat(client, params);
    const direct = await collect(openaiVia(`${gw.mock.url}/v1`));
    const before = gw.events.length;
    const proxied = await collect(openaiVia(`${gw.url}/openai/v1`));
    expect(proxied).toEqual(direct);
    const [ev] = (await gw.waitForEvents(before + 1)).slice(before);
    const fx = loadFixture('openai', 'chat.sse');
    expectUsage(ev!, fx.expect.usage!);
    expect(ev!.stream).toBe(true);
    expect(ev!.response_body).toBe(fx.expect.text);
    expect(ev!.ttft_ms).not.toBeNull();
    expect(ev!.ttft_ms!).toBeLessThanOrEqual(ev!.latency_ms);
  });

  it('stream without usage requested: usage injected upstream, hidden from the client, recorded in the event', async () => {
    const params = { model: 'gpt-4o-mini', stream: true as const, messages: [{ role: 'user' as const, content: 'hi' }] };
    const collect = (client: OpenAI) => collectChat(client, params);
    const direct = await collect(openaiVia(`${gw.mock.url}/v1`));
    const before = gw.events.length;
    const proxied = await collect(openaiVia(`${gw.url}/openai/v1`));
    // The mock always sends its usage chunk; the proxy must remove exactly that one.
    const withoutUsage = direct.filter((c) => !(c.choices.length === 0 && c.usage));
    expect(withoutUsage.length).toBe(direct.length - 1);
    expect(proxied).toEqual(withoutUsage);
    const upstreamBody = JSON.parse(gw.mock.requests.at(-1)!.body.toString('utf8'));
    expect(upstreamBody.stream_options).toEqual({ include_usage: true });
    const [ev] = (await gw.waitForEvents(before + 1)).slice(before);
    expectUsage(ev!, loadFixture('openai', 'chat.sse').expect.usage!);
    // The logged request is the caller's, not the rewritten one.
    expect(JSON.parse(ev!.request_body)).toEqual(params);
  });

  it('stream that carries no usage at all: tokens estimated with a tokenizer and flagged', async () => {
    const before = gw.events.length;
    const client = openaiVia(`${gw.url}/openai/v1`, { 'x-mock-fixture': 'openai/chat-no-usage.sse' });
    let text = '';
    for await (const c of await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Say hello in three languages' }] })) {
      text += c.choices[0]?.delta.content ?? '';
    }
    const [ev] = (await gw.waitForEvents(before + 1)).slice(before);
    expect(ev!.tokens_estimated).toBe(true);
    expect(ev!.prompt_tokens).toBeGreaterThan(5);
    expect(ev!.completion_tokens).toBeGreaterThan(0);
    expect(ev!.response_body).toBe(text);
    expect(ev!.cost_usd).toBeGreaterThan(0);
  });

  it('responses API and embeddings', async () => {
    const client = openaiVia(`${gw.url}/openai/v1`);
    const before = gw.events.length;
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'hello' });
    expect(r).toEqual(await openaiVia(`${gw.mock.url}/v1`).responses.create({ model: 'gpt-4o-mini', input: 'hello' }));
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    const evs = (await gw.waitForEvents(before + 2)).slice(before);
    expect(evs.map((e) => e.endpoint)).toEqual(['responses', 'embeddings']);
    expectUsage(evs[0]!, loadFixture('openai', 'responses.json').expect.usage!);
    expectUsage(evs[1]!, loadFixture('openai', 'embeddings.json').expect.usage!);
  });

  it('tool-call streams split into 1-byte chunks reassemble identically', async () => {
    const params = { model: 'gpt-4o-mini', stream: true as const, stream_options: { include_usage: true }, messages: [{ role: 'user' as const, content: 'weather?' }] };
    const headers = { 'x-mock-fixture': 'openai/chat-tools.sse', 'x-mock-chunk-bytes': '1' };
    const collect = (client: OpenAI) => collectChat(client, params);
    const direct = await collect(openaiVia(`${gw.mock.url}/v1`, headers));
    const before = gw.events.length;
    expect(await collect(openaiVia(`${gw.url}/openai/v1`, headers))).toEqual(direct);
    const [ev] = (await gw.waitForEvents(before + 1)).slice(before);
    const fx = loadFixture('openai', 'chat-tools.sse');
    expectUsage(ev!, fx.expect.usage!);
    expect(ev!.finish_reason).toBe(fx.expect.finish_reason);
  });
});

describe('compressed upstream responses', () => {
  it('gzip JSON and gzip SSE pass to the SDK untouched and are still read for usage', async () => {
    const client = openaiVia(`${gw.url}/openai/v1`, { 'x-mock-gzip': 'true' });
    const direct = openaiVia(`${gw.mock.url}/v1`, { 'x-mock-gzip': 'true' });
    const params = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
    const { data, response } = await client.chat.completions.create(params).withResponse();
    expect(data).toEqual(await direct.chat.completions.create(params));
    const ev = await lastEventFor(response.headers.get('sightline-id')!);
    expectUsage(ev, loadFixture('openai', 'chat.json').expect.usage!);
    expect(ev.response_body).toBe(loadFixture('openai', 'chat.json').body.toString('utf8'));

    const streamParams = { ...params, stream: true as const, stream_options: { include_usage: true } };
    const before = gw.events.length;
    expect(await collectChat(client, streamParams)).toEqual(await collectChat(direct, streamParams));
    const [sev] = (await gw.waitForEvents(before + 1)).slice(before);
    expectUsage(sev!, loadFixture('openai', 'chat.sse').expect.usage!);
    expect(sev!.response_body).toBe(loadFixture('openai', 'chat.sse').expect.text);
  });

  it('a stream whose usage frame Sightline injected is fetched uncompressed so the frame can be cut', async () => {
    const client = openaiVia(`${gw.url}/openai/v1`, { 'x-mock-gzip': 'true' });
    const direct = openaiVia(`${gw.mock.url}/v1`, { 'x-mock-gzip': 'true' });
    const params = { model: 'gpt-4o-mini', stream: true as const, messages: [{ role: 'user' as const, content: 'hi' }] };
    const expected = (await collectChat(direct, params)).filter((c) => !(c.choices.length === 0 && c.usage));
    expect(await collectChat(client, params)).toEqual(expected);
    expect(gw.mock.requests.at(-1)!.headers['accept-encoding']).toBe('identity');
  });
});

describe('Anthropic SDK through the proxy', () => {
  it('messages: identical result and exact usage', async () => {
    const params = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user' as const, content: 'hello' }] };
    const direct = await anthropicVia(gw.mock.url).messages.create(params);
    const { data, response } = await anthropicVia(`${gw.url}/anthropic`).messages.create(params).withResponse();
    expect(data).toEqual(direct);
    const ev = await lastEventFor(response.headers.get('sightline-id')!);
    const fx = loadFixture('anthropic', 'messages.json');
    expectUsage(ev, fx.expect.usage!);
    expect(ev).toMatchObject({ provider: 'anthropic', endpoint: 'messages', path: '/v1/messages', finish_reason: fx.expect.finish_reason });
  });

  it('prompt caching usage (cache writes and reads) is priced', async () => {
    const client = anthropicVia(`${gw.url}/anthropic`, { 'x-mock-fixture': 'anthropic/messages-cache.json' });
    const { response } = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    const ev = await lastEventFor(response.headers.get('sightline-id')!);
    const usage = loadFixture('anthropic', 'messages-cache.json').expect.usage!;
    expect(usage.cache_read_tokens + usage.cache_write_tokens).toBeGreaterThan(0);
    expectUsage(ev, usage);
  });

  it('stream split at every 7 bytes: identical events, usage from message_start + message_delta', async () => {
    const headers = { 'x-mock-chunk-bytes': '7' };
    const params = { model: 'claude-sonnet-4-5', max_tokens: 100, stream: true as const, messages: [{ role: 'user' as const, content: 'hello' }] };
    const collect = async (client: Anthropic) => {
      const out = [];
      for await (const e of await client.messages.create(params)) out.push(e);
      return out;
    };
    const direct = await collect(anthropicVia(gw.mock.url, headers));
    const before = gw.events.length;
    expect(await collect(anthropicVia(`${gw.url}/anthropic`, headers))).toEqual(direct);
    const [ev] = (await gw.waitForEvents(before + 1)).slice(before);
    const fx = loadFixture('anthropic', 'messages.sse');
    expectUsage(ev!, fx.expect.usage!);
    expect(ev!.response_body).toBe(fx.expect.text);
    expect(ev!.ttft_ms).not.toBeNull();
  });
});

describe('Gemini and Azure (raw HTTP, their wire formats)', () => {
  const cases = [
    { name: 'gemini generateContent', path: '/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-secret', fixture: loadFixture('gemini', 'generate.json'), endpoint: 'generate', model: 'gemini-2.5-flash', stream: false },
    { name: 'gemini stream alt=sse', path: '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIza-secret', fixture: loadFixture('gemini', 'stream.sse'), endpoint: 'generate', model: 'gemini-2.5-flash', stream: true },
    { name: 'gemini stream array', path: '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?key=AIza-secret', fixture: loadFixture('gemini', 'stream-array.json'), endpoint: 'generate', model: 'gemini-2.5-flash', stream: true },
    { name: 'azure chat', path: '/azure/myres/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21', fixture: loadFixture('azure', 'chat.json'), endpoint: 'chat', model: 'gpt-4o-prod', stream: false },
  ] as const;
  for (const c of cases) {
    it(`${c.name}: bytes identical to upstream, usage exact, credentials kept out of the event`, async () => {
      const body = c.name.startsWith('azure') ? { messages: [{ role: 'user', content: 'hi' }] } : { contents: [{ parts: [{ text: 'hi' }] }] };
      const res = await fetch(gw.url + c.path, { method: 'POST', headers: { 'content-type': 'application/json', 'api-key': 'azure-secret-key' }, body: JSON.stringify(body) });
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(res.status).toBe(c.fixture.status);
      expect(bytes.equals(c.fixture.body)).toBe(true);
      const ev = await lastEventFor(res.headers.get('sightline-id')!);
      expectUsage(ev, c.fixture.expect.usage!);
      expect(ev).toMatchObject({ endpoint: c.endpoint, model: c.model, stream: c.stream });
      const serialised = JSON.stringify(ev);
      expect(serialised).not.toContain('AIza-secret');
      expect(serialised).not.toContain('azure-secret-key');
      // The credential still reached the upstream.
      const upstream = gw.mock.requests.at(-1)!;
      if (c.name.startsWith('gemini')) expect(upstream.url).toContain('key=AIza-secret');
      else {
        expect(upstream.headers['api-key']).toBe('azure-secret-key');
        expect(upstream.url).toBe('/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21');
      }
    });
  }
});

describe('Helicone-style bare paths: only the host changes', () => {
  it('OpenAI SDK at <host>/v1, Anthropic SDK at <host>, Gemini at <host>/v1beta/…', async () => {
    const before = gw.events.length;
    const params = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
    expect(await openaiVia(`${gw.url}/v1`).chat.completions.create(params)).toEqual(await openaiVia(`${gw.mock.url}/v1`).chat.completions.create(params));
    const aParams = { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user' as const, content: 'hi' }] };
    expect(await anthropicVia(gw.url).messages.create(aParams)).toEqual(await anthropicVia(gw.mock.url).messages.create(aParams));
    // Anthropic's own /v1/models is told apart from OpenAI's by the anthropic-version header its SDK sends.
    await anthropicVia(gw.url, { 'x-mock-fixture': 'anthropic/messages.json' }).models.list().catch(() => undefined);
    const g = await fetch(`${gw.url}/v1beta/models/gemini-2.5-flash:generateContent`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"contents":[]}' });
    expect(g.status).toBe(200);
    const evs = (await gw.waitForEvents(before + 4)).slice(before);
    expect(evs.map((e) => [e.provider, e.endpoint, e.path])).toEqual([
      ['openai', 'chat', '/v1/chat/completions'],
      ['anthropic', 'messages', '/v1/messages'],
      ['anthropic', 'other', '/v1/models'],
      ['gemini', 'generate', '/v1beta/models/gemini-2.5-flash:generateContent'],
    ]);
    expectUsage(evs[0]!, loadFixture('openai', 'chat.json').expect.usage!);
    expectUsage(evs[1]!, loadFixture('anthropic', 'messages.json').expect.usage!);
  });
});
