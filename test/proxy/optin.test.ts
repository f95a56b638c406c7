// Header opt-in (Sightline-* and Helicone-*), auth, and what reaches the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../proxy/auth.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';

const KEY = 'sl-test-key-abc123';
const yaml = `keys:\n  - id: k1\n    hash: ${hashKey(KEY)}\n    organization_id: acme\n    team: search\n`;
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ yaml });
});
afterAll(async () => {
  await gw.close();
});

const chatBody = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

async function post(headers: Record<string, string>, path = '/openai/v1/chat/completions', body = chatBody) {
  const res = await fetch(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-provider-secret', ...headers }, body });
  const text = await res.text();
  const id = res.headers.get('sightline-id');
  const deadline = Date.now() + 5000;
  while (!gw.events.some((e) => e.request_id === id)) {
    if (Date.now() > deadline) throw new Error('no event');
    await new Promise((r) => setTimeout(r, 5));
  }
  return { res, text, event: gw.events.find((e) => e.request_id === id)! };
}

describe('opt-in headers', () => {
  it('Sightline-* attribution lands in the event and never reaches the upstream', async () => {
    const requestId = '3f2b8a6e-0c4d-4e8f-9a1b-2c3d4e5f6a7b';
    const { res, event } = await post({
      'Sightline-Auth': `Bearer ${KEY}`,
      'Sightline-User-Id': 'user-42',
      'Sightline-Session-Id': 'sess-1',
      'Sightline-Session-Path': '/plan/step-1',
      'Sightline-Session-Name': 'trip planner',
      'Sightline-Property-Feature': 'search',
      'Sightline-Property-Env': 'prod',
      'Sightline-Request-Id': requestId,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('sightline-id')).toBe(requestId);
    expect(event).toMatchObject({
      request_id: requestId, organization_id: 'acme', team: 'search', key_id: 'k1', user_id: 'user-42',
      session_id: 'sess-1', session_path: '/plan/step-1', session_name: 'trip planner', properties: { feature: 'search', env: 'prod' },
    });
    const upstream = gw.mock.requests.at(-1)!;
    expect(Object.keys(upstream.headers).filter((h) => h.startsWith('sightline-') || h.startsWith('helicone-'))).toEqual([]);
    expect(upstream.headers.authorization).toBe('Bearer sk-provider-secret');
    const serialised = JSON.stringify(event);
    expect(serialised).not.toContain('sk-provider-secret');
    expect(serialised).not.toContain(KEY);
  });

  it('Helicone-* headers mean the same; Sightline-* wins when both are sent', async () => {
    const { event } = await post({
      'Helicone-Auth': `Bearer ${KEY}`,
      'Helicone-User-Id': 'helicone-user',
      'Helicone-Property-Feature': 'from-helicone',
      'Sightline-Property-Feature': 'from-sightline',
      'Helicone-Property-Only': 'h',
      'Helicone-Session-Id': 'hs',
      'Helicone-Omit-Request': 'true',
      'Helicone-Cache-Enabled': 'true',
    });
    expect(event).toMatchObject({ organization_id: 'acme', user_id: 'helicone-user', session_id: 'hs', properties: { feature: 'from-sightline', only: 'h' }, request_body: '' });
    expect(event.response_body).not.toBe('');
    expect(Object.keys(gw.mock.requests.at(-1)!.headers).some((h) => h.startsWith('helicone-'))).toBe(false);
  });

  it('Omit-Response keeps the body out of the event, the client still gets it', async () => {
    const { text, event } = await post({ 'Sightline-Omit-Response': 'true' });
    expect(JSON.parse(text).choices).toBeDefined();
    expect(event.response_body).toBe('');
    expect(event.request_body).not.toBe('');
  });

  it('without auth on loopback the request is attributed to the default organization', async () => {
    const { res, event } = await post({});
    expect(res.status).toBe(200);
    expect(event.organization_id).toBe('default');
  });
});

describe('auth', () => {
  it('unknown key → 401 in the OpenAI error shape with a stable code, and an event', async () => {
    const { res, text, event } = await post({ 'Sightline-Auth': 'Bearer sl-wrong' });
    expect(res.status).toBe(401);
    const body = JSON.parse(text);
    expect(body.error.code).toBe('sightline_unauthorized');
    expect(body.error.type).toBe('authentication_error');
    expect(body.error.message).toMatch(/keys create/);
    expect(event).toMatchObject({ status: 401, error_code: 'sightline_unauthorized' });
    expect(JSON.stringify(event)).not.toContain('sl-wrong');
  });

  it('auth is required when the config says so', async () => {
    const strict = await startTestGateway({ yaml: `${yaml}server:\n  require_auth: true\n` });
    try {
      const anon = await fetch(`${strict.url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}' });
      expect(anon.status).toBe(401);
      const body = (await anon.json()) as { type: string; error: { type: string } };
      expect(body.type).toBe('error');
      expect(body.error.type).toBe('authentication_error');
      const ok = await fetch(`${strict.url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'sightline-auth': `Bearer ${KEY}` }, body: '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}' });
      expect(ok.status).toBe(200);
    } finally {
      await strict.close();
    }
  });
});
