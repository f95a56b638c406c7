// Cancels, resets, timeouts, upstream errors and garbage: the client sees what happened, the process
// survives, and every request still yields exactly one event saying what happened.
import http from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_CLIENT_CANCELLED, STATUS_STREAM_CUT } from '../../contracts/event.ts';
import { loadFixture } from '../fixtures/index.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ env: { SIGHTLINE_UPSTREAM_TIMEOUT_MS: '300' } });
});
afterAll(async () => {
  await gw.close();
});

const chat = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra });

async function eventFor(id: string | null) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const ev = gw.events.filter((e) => e.request_id === id);
    if (ev.length > 0) {
      await new Promise((r) => setTimeout(r, 50));
      expect(gw.events.filter((e) => e.request_id === id)).toHaveLength(1);
      return ev[0]!;
    }
    if (Date.now() > deadline) throw new Error(`no event for ${id}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('upstream errors pass through untouched', () => {
  for (const [provider, file, path] of [
    ['openai', 'error-429.json', '/openai/v1/chat/completions'],
    ['openai', 'error-500.json', '/openai/v1/chat/completions'],
    ['anthropic', 'error-529.json', '/anthropic/v1/messages'],
  ] as const) {
    it(`${provider} ${file}`, async () => {
      const fx = loadFixture(provider, file);
      const res = await fetch(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mock-fixture': `${provider}/${file}` }, body: chat() });
      expect(res.status).toBe(fx.status);
      expect(Buffer.from(await res.arrayBuffer()).equals(fx.body)).toBe(true);
      const ev = await eventFor(res.headers.get('sightline-id'));
      expect(ev).toMatchObject({ status: fx.status, error_type: fx.expect.error_type, error_code: '' });
    });
  }

  it('the OpenAI SDK sees the 429 as its RateLimitError', async () => {
    const client = new OpenAI({ apiKey: 'sk-x', baseURL: `${gw.url}/openai/v1`, maxRetries: 0, defaultHeaders: { 'x-mock-fixture': 'openai/error-429.json' } });
    await expect(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] })).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });
});

describe('streams that go wrong', () => {
  it('client cancels mid-stream → upstream request aborted, event status -3 with partial text', async () => {
    const fx = loadFixture('openai', 'chat.sse');
    const id = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${gw.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mock-chunk-bytes': '16', 'x-mock-chunk-delay-ms': '30' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve(String(res.headers['sightline-id']));
        });
      });
      req.on('error', () => {});
      req.end(chat({ stream: true }));
      setTimeout(() => reject(new Error('no data')), 3000);
    });
    await gw.mock.aborted;
    const ev = await eventFor(id);
    expect(ev.status).toBe(STATUS_CLIENT_CANCELLED);
    expect(ev.response_bytes).toBeLessThan(fx.body.length);
  });

  it('upstream resets mid-stream → client stream errors, event status -2', async () => {
    const client = new OpenAI({ apiKey: 'sk-x', baseURL: `${gw.url}/openai/v1`, maxRetries: 0, defaultHeaders: { 'x-mock-reset-after-bytes': '300' } });
    const before = gw.events.length;
    await expect(async () => {
      for await (const _ of await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [] })) {
        // drain
      }
    }).rejects.toThrow();
    const [ev] = (await gw.waitForEvents(before + 1)).slice(before);
    expect(ev!.status).toBe(STATUS_STREAM_CUT);
    expect(ev!.response_bytes).toBe(300);
  });

  it('mid-stream error frame (Anthropic overloaded) is recorded as the error type', async () => {
    const fx = loadFixture('anthropic', 'messages-stream-error.sse');
    const res = await fetch(`${gw.url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mock-fixture': 'anthropic/messages-stream-error.sse' }, body: '{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[]}' });
    expect(Buffer.from(await res.arrayBuffer()).equals(fx.body)).toBe(true);
    const ev = await eventFor(res.headers.get('sightline-id'));
    expect(ev.error_type).toBe(fx.expect.error_type);
  });
});

describe('upstream unavailable', () => {
  it('timeout before headers → 504 in the caller shape, event with the code', async () => {
    const res = await fetch(`${gw.url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mock-hang': 'true' }, body: '{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}' });
    expect(res.status).toBe(504);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe('error');
    expect(body.error.message).toMatch(/300 ms/);
    const ev = await eventFor(res.headers.get('sightline-id'));
    expect(ev).toMatchObject({ status: 504, error_code: 'sightline_upstream_timeout' });
  });

  it('connection refused → 502 in the caller shape', async () => {
    const dead = await startTestGateway({ env: { SIGHTLINE_UPSTREAM_GEMINI: 'http://127.0.0.1:1' } });
    try {
      const res = await fetch(`${dead.url}/gemini/v1beta/models/gemini-2.5-flash:generateContent`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"contents":[]}' });
      expect(res.status).toBe(502);
      const body = (await res.json()) as { error: { code: number; status: string; message: string } };
      expect(body.error).toMatchObject({ code: 502, message: expect.stringMatching(/ECONNREFUSED/) });
      const [ev] = await dead.waitForEvents(1);
      expect(ev).toMatchObject({ status: 502, error_code: 'sightline_upstream_unreachable', provider: 'gemini' });
    } finally {
      await dead.close();
    }
  });
});

describe('upstream garbage', () => {
  it('a 200 with a non-JSON body reaches the client as sent and is flagged in the event', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>oops</html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const g = await startTestGateway({ env: { SIGHTLINE_UPSTREAM_OPENAI: `http://127.0.0.1:${port}` } });
    try {
      const res = await fetch(`${g.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat() });
      expect(await res.text()).toBe('<html>oops</html>');
      const [ev] = await g.waitForEvents(1);
      // Logged as it came, and not billed: no tokens, no cost.
      expect(ev).toMatchObject({ status: 200, error_type: 'invalid_upstream_response', response_body: '<html>oops</html>', prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 });
    } finally {
      await g.close();
      server.close();
    }
  });

  it('invalid UTF-8 and a truncated SSE frame never crash the proxy', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(Buffer.concat([Buffer.from('data: {"id":"x","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"a'), Buffer.from([0xff, 0xfe])]));
      res.write(Buffer.from([0xe4, 0xb8]));
      res.end(Buffer.from([0x96, 0x22, 0x7d]));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const g = await startTestGateway({ env: { SIGHTLINE_UPSTREAM_OPENAI: `http://127.0.0.1:${port}` } });
    try {
      const res = await fetch(`${g.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat({ stream: true }) });
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
      const [ev] = await g.waitForEvents(1);
      expect(ev!.status).toBe(200);
      const again = await fetch(`${g.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat() });
      expect(again.status).toBe(200);
    } finally {
      await g.close();
      server.close();
    }
  });
});
