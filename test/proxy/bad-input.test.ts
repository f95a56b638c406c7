// Bad input gets a 4xx in the caller's provider error shape with a stable code, and is still logged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ env: { SIGHTLINE_MAX_BODY_BYTES: '4096' } });
});
afterAll(async () => {
  await gw.close();
});

async function call(path: string, init: RequestInit) {
  const before = gw.mock.requests.length;
  const res = await fetch(gw.url + path, init);
  const body = (await res.json()) as Record<string, unknown>;
  const id = res.headers.get('sightline-id');
  const deadline = Date.now() + 5000;
  while (!gw.events.some((e) => e.request_id === id)) {
    if (Date.now() > deadline) throw new Error('no event for rejected request');
    await new Promise((r) => setTimeout(r, 5));
  }
  return { status: res.status, body, event: gw.events.find((e) => e.request_id === id)!, forwarded: gw.mock.requests.length - before };
}

const json = (body: string, headers: Record<string, string> = {}): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('errors in each provider shape', () => {
  it('malformed JSON → OpenAI shape', async () => {
    const r = await call('/openai/v1/chat/completions', json('{"model": "gpt-4o",'));
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: { message: expect.stringMatching(/not valid JSON/), type: 'invalid_request_error', param: null, code: 'sightline_invalid_json' } });
    expect(r.forwarded).toBe(0);
    expect(r.event).toMatchObject({ status: 400, error_code: 'sightline_invalid_json', provider: 'openai' });
  });

  it('malformed JSON → Anthropic shape', async () => {
    const r = await call('/anthropic/v1/messages', json('not json'));
    expect(r.status).toBe(400);
    expect(r.body.type).toBe('error');
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(/not valid JSON/) });
    expect(JSON.stringify(r.body)).toContain('sightline_invalid_json');
  });

  it('malformed JSON → Gemini shape', async () => {
    const r = await call('/gemini/v1beta/models/gemini-2.5-flash:generateContent', json('{'));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT', message: expect.stringMatching(/not valid JSON/) });
    expect(JSON.stringify(r.body)).toContain('sightline_invalid_json');
  });

  it('oversized body → 413 naming the limit and the setting', async () => {
    const big = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] });
    const r = await call('/openai/v1/chat/completions', json(big));
    expect(r.status).toBe(413);
    expect((r.body.error as { code: string; message: string }).code).toBe('sightline_body_too_large');
    expect((r.body.error as { message: string }).message).toMatch(/4096.*SIGHTLINE_MAX_BODY_BYTES/);
    expect(r.forwarded).toBe(0);
  });

  it('unknown provider prefix → 404 listing the prefixes', async () => {
    const r = await call('/cohere/v1/chat', json('{}'));
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: 'sightline_unknown_provider', message: expect.stringMatching(/\/openai\/.*\/anthropic\//) });
  });

  it('bad Request-Id → 400 naming the header', async () => {
    const r = await call('/openai/v1/chat/completions', json('{"model":"gpt-4o","messages":[]}', { 'Sightline-Request-Id': 'not-a-uuid' }));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'sightline_invalid_header', message: expect.stringMatching(/Sightline-Request-Id.*UUID/) });
  });

  it('property value over 1 KiB → 400', async () => {
    const r = await call('/anthropic/v1/messages', json('{}', { 'Helicone-Property-Big': 'v'.repeat(1025) }));
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/Helicone-Property-Big.*1024 bytes/);
  });

  it('target URL not on the allowlist → 403; private address even with a wildcard → 403', async () => {
    const a = await call('/v1/chat/completions', json('{"model":"m","messages":[]}', { 'Sightline-Target-Url': 'https://evil.example.com' }));
    expect(a.status).toBe(403);
    expect(a.body.error).toMatchObject({ code: 'sightline_target_not_allowed', message: expect.stringMatching(/evil\.example\.com:443/) });
    const b = await call('/v1/chat/completions', json('{"model":"m","messages":[]}', { 'Sightline-Target-Url': 'http://169.254.169.254/latest' }));
    expect(b.status).toBe(403);
    expect(a.forwarded + b.forwarded).toBe(0);
  });
});

describe('OpenAI-compatible targets', () => {
  it('a target named exactly in the allowlist is proxied (custom adapter); the same host on another port is refused', async () => {
    const open = await startTestGateway({ env: (mockUrl) => ({ SIGHTLINE_ALLOWED_TARGETS: new URL(mockUrl).host }) });
    try {
      const body = JSON.stringify({ model: 'meta-llama/Llama-3.1-8B-Instruct', messages: [{ role: 'user', content: 'hi' }] });
      const ok = await fetch(`${open.url}/v1/chat/completions`, json(body, { 'Helicone-Target-Url': open.mock.url }));
      expect(ok.status).toBe(200);
      expect(open.mock.requests.at(-1)!.url).toBe('/v1/chat/completions');
      const [ev] = await open.waitForEvents(1);
      expect(ev).toMatchObject({ provider: 'custom', model: 'meta-llama/Llama-3.1-8B-Instruct', endpoint: 'chat', target_host: new URL(open.mock.url).host, status: 200 });
      expect(ev!.prompt_tokens).toBeGreaterThan(0);
      const otherPort = Number(new URL(open.mock.url).port) === 1 ? 2 : 1;
      const refused = await fetch(`${open.url}/v1/chat/completions`, json(body, { 'Sightline-Target-Url': `http://127.0.0.1:${otherPort}` }));
      expect(refused.status).toBe(403);
    } finally {
      await open.close();
    }
  });
});
