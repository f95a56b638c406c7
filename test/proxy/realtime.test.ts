// WebSocket sessions (the OpenAI Realtime API) through the real proxy: a real `ws` client, the gateway, and a
// WebSocket mock provider speaking the Realtime API's server events. One event per session, written when it ends.
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ClientOptions, RawData } from 'ws';
import { parseConfig } from '../../config/index.ts';
import type { RequestEvent } from '../../contracts/event.ts';
import { STATUS_CLIENT_CANCELLED } from '../../contracts/event.ts';
import { REALTIME_CONTENT_TYPE } from '../../contracts/exchange.ts';
import { encodeBusEvent } from '../../contracts/sink.ts';
import type { Exchange } from '../../contracts/exchange.ts';
import { createCoster } from '../../ledger/cost.ts';
import { hashKey } from '../../proxy/auth.ts';
import { attachRealtime } from '../../proxy/realtime.ts';
import { createMemorySink } from '../../proxy/sink.ts';
import type { TargetGuard } from '../../proxy/targets.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import type { RealtimeUpstream, WsMessage } from '../helpers/realtime-upstream.ts';
import { MOCK_DEFAULT_MODEL, MOCK_SESSION_MODEL, MOCK_TRANSCRIPTS, MOCK_USAGE, startRealtimeUpstream } from '../helpers/realtime-upstream.ts';

const KEY = 'sl-realtime-key-7f3a9c';
const PROVIDER_KEY = 'sk-provider-secret-realtime';
const keysYaml = `keys:\n  - id: k1\n    hash: ${hashKey(KEY)}\n    organization_id: acme\n    team: voice\n`;

let upstream: RealtimeUpstream;
let gw: TestGateway; // auth optional (loopback)
let authGw: TestGateway; // auth required
beforeAll(async () => {
  upstream = await startRealtimeUpstream();
  const port = new URL(upstream.url).port;
  gw = await startTestGateway({
    yaml: keysYaml,
    env: (mockUrl) => ({ SIGHTLINE_UPSTREAM_OPENAI: upstream.url, SIGHTLINE_UPSTREAM_ANTHROPIC: mockUrl, SIGHTLINE_ALLOWED_TARGETS: `127.0.0.1:${port}` }),
  });
  authGw = await startTestGateway({ yaml: keysYaml, env: { SIGHTLINE_UPSTREAM_OPENAI: upstream.url, SIGHTLINE_REQUIRE_AUTH: 'true' } });
});
afterAll(async () => {
  await gw.close();
  await authGw.close();
  await upstream.close();
});

interface Client {
  ws: WebSocket;
  /** The proxy's 101 response. */
  response: IncomingMessage;
  received: WsMessage[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `n` messages of this type arrived. */
  waitForType(type: string, n?: number): Promise<void>;
}

function wsUrl(base: string, path: string): string {
  return base.replace(/^http/, 'ws') + path;
}

function connect(path: string, opts: ClientOptions & { protocols?: string[]; base?: string } = {}): Promise<Client> {
  const ws = new WebSocket(wsUrl(opts.base ?? gw.url, path), opts.protocols ?? [], opts);
  const received: WsMessage[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (raw: RawData, binary: boolean) => {
    received.push({ data: Buffer.from(raw as Buffer), binary });
    for (const check of waiters) check();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.once('upgrade', (response) => {
      ws.once('open', () => resolve({
        ws, response, received, closed,
        waitForType(type, n = 1) {
          return new Promise<void>((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`no ${n}× ${type}`)), 5000);
            const check = () => {
              if (received.filter((m) => !m.binary && JSON.parse(m.data.toString('utf8')).type === type).length < n) return;
              clearTimeout(timer);
              done();
            };
            waiters.push(check);
            check();
          });
        },
      }));
    });
    ws.once('error', reject);
  });
}

/** A handshake the gateway or the upstream refuses: its status, headers and body as the client got them. */
function refused(path: string, opts: ClientOptions & { base?: string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const ws = new WebSocket(wsUrl(opts.base ?? gw.url, path), opts);
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the handshake was accepted')));
    ws.once('error', () => {}); // ws reports the refusal after unexpected-response too
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
  });
}

async function eventFor(g: TestGateway, id: string | string[] | undefined): Promise<RequestEvent> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = g.events.find((e) => e.request_id === id);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no event for ${String(id)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function writtenFor(g: TestGateway, id: string): Exchange {
  return g.written.find((e) => e.request_id === id) as Exchange;
}

/** The event as it travels on the bus. */
function onTheBus(g: TestGateway, id: string): string {
  return String(encodeBusEvent(writtenFor(g, id)));
}

const text = (event: unknown) => JSON.stringify(event);
const bytesOf = (messages: readonly WsMessage[]) => messages.reduce((n, m) => n + m.data.length, 0);

describe('a realtime session', () => {
  it('passes text and binary messages through byte for byte both ways and logs one event with counts, tokens and cost', async () => {
    const before = upstream.connections.length;
    const c = await connect('/openai/v1/realtime?model=gpt-realtime', { headers: { Authorization: `Bearer ${PROVIDER_KEY}`, 'OpenAI-Beta': 'realtime=v1' } });
    const id = c.response.headers['sightline-id'] as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await c.waitForType('session.created');

    const binary = Buffer.alloc(70_000, 7); // a 64-bit length from the client, masked
    binary.write('\u0000\u00ff binary');
    const sent: WsMessage[] = [
      { data: Buffer.from(text({ type: 'session.update', session: { type: 'realtime', instructions: 'Speak like a pirate. "quoted" ✓' } })), binary: false },
      { data: Buffer.from(text({ type: 'input_audio_buffer.append', audio: Buffer.alloc(300, 1).toString('base64') })), binary: false },
      { data: binary, binary: true },
      { data: Buffer.from(text({ type: 'response.create' })), binary: false },
      { data: Buffer.from(text({ type: 'response.create', response: { instructions: 'response.done is a word here' } })), binary: false },
    ];
    for (const m of sent) c.ws.send(m.data, { binary: m.binary });
    await c.waitForType('response.done', 2);
    c.ws.close(1000, 'bye');
    expect(await c.closed).toEqual({ code: 1000, reason: 'bye' });

    const conn = upstream.connections[before]!;
    expect(conn.received).toEqual(sent);
    expect(c.received).toEqual(conn.sent);
    expect(conn.url).toBe('/v1/realtime?model=gpt-realtime');
    expect(conn.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(conn.headers['openai-beta']).toBe('realtime=v1');
    expect(conn.headers['sec-websocket-extensions']).toBeUndefined(); // frames stay uncompressed, so readable

    const event = await eventFor(gw, id);
    const usage = {
      prompt_tokens: MOCK_USAGE[0].input_tokens + MOCK_USAGE[1].input_tokens,
      completion_tokens: MOCK_USAGE[0].output_tokens + MOCK_USAGE[1].output_tokens,
      cache_read_tokens: MOCK_USAGE[0].input_token_details.cached_tokens + MOCK_USAGE[1].input_token_details.cached_tokens,
      cache_write_tokens: 0,
      reasoning_tokens: 0,
      input_audio_tokens: MOCK_USAGE[0].input_token_details.audio_tokens + MOCK_USAGE[1].input_token_details.audio_tokens,
      cache_audio_read_tokens: MOCK_USAGE[0].input_token_details.cached_tokens_details.audio_tokens + MOCK_USAGE[1].input_token_details.cached_tokens_details.audio_tokens,
      output_audio_tokens: MOCK_USAGE[0].output_token_details.audio_tokens + MOCK_USAGE[1].output_token_details.audio_tokens,
    };
    expect(event).toMatchObject({
      provider: 'openai', endpoint: 'realtime', method: 'GET', stream: true, status: 101,
      path: '/v1/realtime?model=gpt-realtime', target_host: new URL(upstream.url).host,
      model: 'gpt-realtime', response_model: MOCK_SESSION_MODEL, finish_reason: 'completed', error_code: '', error_type: '',
      messages_in: sent.length, messages_out: conn.sent.length, close_code: 1000,
      request_bytes: bytesOf(sent), response_bytes: bytesOf(conn.sent),
      ...usage, tokens_estimated: false, cost_known: true,
      organization_id: 'default',
    });
    expect(event.latency_ms).toBeGreaterThan(0);
    expect(event.ttfb_ms).toBeGreaterThan(0);
    expect(event.response_body).toBe(MOCK_TRANSCRIPTS.join('\n'));
    expect(event.request_body).toBe('');
    // gpt-realtime's rates per million: text input 4, audio input 32, cached input (text and audio) 0.4, text output 16,
    // audio output 64.
    const uncachedAudio = usage.input_audio_tokens - usage.cache_audio_read_tokens;
    const uncachedText = usage.prompt_tokens - usage.cache_read_tokens - uncachedAudio;
    const expectedUsd = (uncachedText * 4 + uncachedAudio * 32 + usage.cache_read_tokens * 0.4 + (usage.completion_tokens - usage.output_audio_tokens) * 16 + usage.output_audio_tokens * 64) / 1e6;
    expect(event.cost_usd).toBeCloseTo(expectedUsd, 12);
    expect(event.cost_usd).toBe(createCoster({ overrides: {} })('openai', MOCK_SESSION_MODEL, usage, Date.parse(event.created_at)).cost_usd);

    // What travelled: only the server events the ledger needs, one per line, and no credential anywhere.
    const exchange = writtenFor(gw, id);
    expect(exchange.response.content_type).toBe(REALTIME_CONTENT_TYPE);
    const lines = exchange.response_body.toString('utf8').trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { type: string }).type)).toEqual(['session.created', 'response.done', 'response.done']);
    expect(exchange.realtime).toEqual({ messages_in: sent.length, messages_out: conn.sent.length, bytes_in: bytesOf(sent), close_code: 1000 });
    expect(exchange.request_bytes).toBe(0);
    for (const s of [text(event), onTheBus(gw, id)]) {
      expect(s).not.toContain(PROVIDER_KEY);
      expect(s).not.toContain('Speak like a pirate'); // the client's messages are not kept
      expect(s).not.toContain('Be brief'); // nor the session's instructions
    }
  });

  it('serves the bare /v1/realtime path; without a model in the URL, the session says which', async () => {
    const c = await connect('/v1/realtime', { headers: { Authorization: `Bearer ${PROVIDER_KEY}` } });
    await c.waitForType('session.created');
    c.ws.send(text({ type: 'response.create' }));
    await c.waitForType('response.done');
    c.ws.close();
    expect((await c.closed).code).toBe(1005);
    const event = await eventFor(gw, c.response.headers['sightline-id']);
    expect(event).toMatchObject({ path: '/v1/realtime', model: MOCK_DEFAULT_MODEL, response_model: MOCK_DEFAULT_MODEL, close_code: 1005, status: 101, cost_known: true });
    expect(event.prompt_tokens).toBe(MOCK_USAGE[0].input_tokens);
    expect(event.cost_usd).toBeGreaterThan(0); // gpt-4o-realtime-preview prices
  });

  it('records an upstream that closes with a code, and one that drops the connection (1006)', async () => {
    const a = await connect('/openai/v1/realtime?model=gpt-realtime');
    a.ws.send(text({ type: 'mock.close', code: 4000, reason: 'session expired' }));
    expect(await a.closed).toEqual({ code: 4000, reason: 'session expired' });
    expect(await eventFor(gw, a.response.headers['sightline-id'])).toMatchObject({ close_code: 4000, status: 101, messages_in: 1, messages_out: 1 });

    const b = await connect('/openai/v1/realtime?model=gpt-realtime');
    await b.waitForType('session.created');
    b.ws.send(text({ type: 'mock.reset' }));
    expect((await b.closed).code).toBe(1006);
    expect(await eventFor(gw, b.response.headers['sightline-id'])).toMatchObject({ close_code: 1006, status: 101, messages_in: 1, messages_out: 1, prompt_tokens: 0, cost_usd: 0 });
  });

  it('records a client that goes away without a close frame, and one that leaves during the handshake', async () => {
    const c = await connect('/openai/v1/realtime?model=gpt-realtime');
    await c.waitForType('session.created');
    c.ws.send(Buffer.from('last words'), { binary: true });
    await new Promise((r) => setTimeout(r, 50));
    c.ws.terminate();
    expect(await eventFor(gw, c.response.headers['sightline-id'])).toMatchObject({ close_code: 1006, status: 101, messages_in: 1, request_bytes: 10 });

    // The upstream never answers; the client gives up.
    const requestId = '0d9e2f4c-5b6a-4c7d-8e9f-0a1b2c3d4e5f';
    const handshakes = upstream.handshakes.length;
    const ws = new WebSocket(wsUrl(gw.url, '/openai/v1/realtime?model=gpt-realtime'), { headers: { 'x-mock-hang': 'true', 'Sightline-Request-Id': requestId } });
    ws.on('error', () => {});
    while (upstream.handshakes.length === handshakes) await new Promise((r) => setTimeout(r, 5));
    ws.terminate();
    expect(await eventFor(gw, requestId)).toMatchObject({ status: STATUS_CLIENT_CANCELLED, close_code: 0, endpoint: 'realtime', ttfb_ms: null });
  });
});

describe('opt-in, auth and credentials', () => {
  it('reads opt-in query parameters (Sightline- and Helicone-), strips them before the upstream and never logs the key', async () => {
    const query = `model=gpt-realtime&sightline-auth=Bearer%20${KEY}&Sightline-User-Id=u1&sightline-property-feature=x&helicone-session-id=s1&helicone-property-feature=ignored&voice=alloy`;
    const c = await connect(`/openai/v1/realtime?${query}`, { base: authGw.url, protocols: ['realtime', `openai-insecure-api-key.${PROVIDER_KEY}`, 'openai-beta.realtime-v1'] });
    await c.waitForType('session.created');
    c.ws.close(1000);
    await c.closed;
    const conn = upstream.connections.at(-1)!;
    expect(conn.url).toBe('/v1/realtime?model=gpt-realtime&voice=alloy');
    expect(conn.headers['sec-websocket-protocol']).toBe(`realtime,openai-insecure-api-key.${PROVIDER_KEY},openai-beta.realtime-v1`);
    expect(c.ws.protocol).toBe('realtime');
    expect(Object.keys(conn.headers).filter((h) => h.startsWith('sightline-') || h.startsWith('helicone-'))).toEqual([]);

    const event = await eventFor(authGw, c.response.headers['sightline-id']);
    expect(event).toMatchObject({ organization_id: 'acme', team: 'voice', key_id: 'k1', user_id: 'u1', session_id: 's1', properties: { feature: 'x' }, path: '/v1/realtime?model=gpt-realtime&voice=alloy' });
    const written = onTheBus(authGw, event.request_id);
    for (const secret of [KEY, PROVIDER_KEY]) {
      expect(text(event)).not.toContain(secret);
      expect(written).not.toContain(secret);
    }
  });

  it('takes the opt-in headers too (a header wins over the same parameter) and strips them', async () => {
    const c = await connect('/openai/v1/realtime?model=gpt-realtime&sightline-user-id=from-query', {
      base: authGw.url,
      headers: { 'Sightline-Auth': `Bearer ${KEY}`, 'Sightline-User-Id': 'from-header', 'Helicone-Property-Plan': 'pro', 'api-key': PROVIDER_KEY },
    });
    c.ws.close(1000);
    await c.closed;
    const conn = upstream.connections.at(-1)!;
    expect(conn.headers['api-key']).toBe(PROVIDER_KEY);
    expect(conn.headers['sightline-auth']).toBeUndefined();
    expect(conn.headers['helicone-property-plan']).toBeUndefined();
    expect(await eventFor(authGw, c.response.headers['sightline-id'])).toMatchObject({ user_id: 'from-header', properties: { plan: 'pro' }, key_id: 'k1' });
  });

  it('refuses a session without a key where auth is required: 401 in OpenAI\'s shape, logged, never forwarded', async () => {
    const handshakes = upstream.handshakes.length;
    const r = await refused('/openai/v1/realtime?model=gpt-realtime', { base: authGw.url, headers: { Authorization: `Bearer ${PROVIDER_KEY}` } });
    expect(r.status).toBe(401);
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ error: { message: expect.stringMatching(/Missing Sightline-Auth/), type: 'authentication_error', param: null, code: 'sightline_unauthorized' } });
    expect(upstream.handshakes.length).toBe(handshakes);
    const event = await eventFor(authGw, r.headers['sightline-id']);
    expect(event).toMatchObject({ status: 401, error_code: 'sightline_unauthorized', endpoint: 'realtime', provider: 'openai', close_code: 0, messages_in: 0 });
    expect(text(event)).not.toContain(PROVIDER_KEY);

    const wrong = await refused(`/v1/realtime?model=gpt-realtime&sightline-auth=Bearer%20sl-not-a-key`, { base: authGw.url });
    expect(wrong.status).toBe(401);
    const logged = await eventFor(authGw, wrong.headers['sightline-id']);
    expect(logged).toMatchObject({ error_code: 'sightline_unauthorized', path: '/v1/realtime?model=gpt-realtime' });
    expect(onTheBus(authGw, logged.request_id)).not.toContain('sl-not-a-key');
  });

  it('refuses a bad opt-in parameter with 400 sightline_invalid_header', async () => {
    const r = await refused('/openai/v1/realtime?model=gpt-realtime&sightline-request-id=not-a-uuid');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toMatchObject({ code: 'sightline_invalid_header', type: 'invalid_request_error', message: expect.stringMatching(/Request-Id.*UUID/) });
    expect(await eventFor(gw, r.headers['sightline-id'])).toMatchObject({ status: 400, error_code: 'sightline_invalid_header' });
  });

  it('strips credential query parameters from the logged path, not from the upstream', async () => {
    const c = await connect(`/openai/v1/realtime?model=gpt-realtime&api-key=${PROVIDER_KEY}`);
    c.ws.close(1000);
    await c.closed;
    expect(upstream.connections.at(-1)!.url).toBe(`/v1/realtime?model=gpt-realtime&api-key=${PROVIDER_KEY}`);
    const event = await eventFor(gw, c.response.headers['sightline-id']);
    expect(event.path).toBe('/v1/realtime?model=gpt-realtime');
    expect(onTheBus(gw, event.request_id)).not.toContain(PROVIDER_KEY);
  });

  it('Sightline-Omit-Response keeps only the counts: usage and cost still right, no transcript leaves the proxy', async () => {
    const c = await connect('/openai/v1/realtime?model=gpt-realtime&sightline-omit-response=true');
    c.ws.send(text({ type: 'response.create' }));
    await c.waitForType('response.done');
    c.ws.close(1000);
    await c.closed;
    const event = await eventFor(gw, c.response.headers['sightline-id']);
    expect(event).toMatchObject({ prompt_tokens: MOCK_USAGE[0].input_tokens, cache_read_tokens: MOCK_USAGE[0].input_token_details.cached_tokens, response_body: '', cost_known: true });
    expect(event.cost_usd).toBeGreaterThan(0);
    expect(onTheBus(gw, event.request_id)).not.toContain(MOCK_TRANSCRIPTS[0]);
  });
});

describe('the upstream refusing the handshake', () => {
  it.each([
    [401, false],
    [404, true],
  ])('passes a %i through unchanged (chunked body: %s) and logs it', async (status, chunked) => {
    const r = await refused('/openai/v1/realtime?model=gpt-nope', { headers: { 'x-mock-status': String(status), ...(chunked ? { 'x-mock-chunked': 'true' } : {}) } });
    expect(r.status).toBe(status);
    expect(r.headers['x-request-id']).toBe('req_mock');
    expect(JSON.parse(r.body)).toEqual({ error: { message: `mock refused the handshake with ${status}`, type: 'invalid_request_error', code: status === 401 ? 'invalid_api_key' : 'model_not_found', param: null } });
    const event = await eventFor(gw, r.headers['sightline-id']);
    expect(event).toMatchObject({ status, error_type: 'invalid_request_error', error_code: '', endpoint: 'realtime', model: 'gpt-nope', close_code: 0, messages_out: 0, cost_usd: 0 });
  });

  it('answers 502 in OpenAI\'s shape when the upstream is unreachable', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const g = await startTestGateway({ env: { SIGHTLINE_UPSTREAM_OPENAI: `http://127.0.0.1:${port}` } });
    try {
      const r = await refused('/openai/v1/realtime?model=gpt-realtime', { base: g.url });
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body).error).toMatchObject({ code: 'sightline_upstream_unreachable', type: 'api_error' });
      expect(await eventFor(g, r.headers['sightline-id'])).toMatchObject({ status: 502, error_code: 'sightline_upstream_unreachable' });
    } finally {
      await g.close();
    }
  });
});

describe('Sightline-Target-Url (SSRF rules)', () => {
  it('connects to an allowlisted OpenAI-compatible realtime server', async () => {
    const c = await connect(`/v1/realtime?model=gpt-realtime&sightline-target-url=${encodeURIComponent(upstream.url)}`);
    await c.waitForType('session.created');
    c.ws.close(1000);
    await c.closed;
    expect(upstream.connections.at(-1)!.url).toBe('/v1/realtime?model=gpt-realtime');
    expect(await eventFor(gw, c.response.headers['sightline-id'])).toMatchObject({ provider: 'custom', endpoint: 'realtime', status: 101, close_code: 1000 });
  });

  it('refuses a target outside the allowlist with 403, before connecting', async () => {
    const handshakes = upstream.handshakes.length;
    const r = await refused('/v1/realtime?model=gpt-realtime', { headers: { 'Sightline-Target-Url': 'http://169.254.169.254/latest' } });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).error).toMatchObject({ code: 'sightline_target_not_allowed', type: 'permission_error' });
    expect(upstream.handshakes.length).toBe(handshakes);
    expect(await eventFor(gw, r.headers['sightline-id'])).toMatchObject({ status: 403, error_code: 'sightline_target_not_allowed', provider: 'custom' });
  });

  it('refuses at connect time a name that passed the allowlist but resolves to a private address (DNS rebinding)', async () => {
    // The allowlist check saw a public address; the connection's own lookup finds loopback.
    const rebinding: TargetGuard = { check: async (target) => new URL(target), privateAllowed: () => false };
    const config = parseConfig(undefined, { SIGHTLINE_PORT: '0', SIGHTLINE_SINK: 'none' });
    const sink = createMemorySink();
    const server = http.createServer((_req, res) => res.end());
    attachRealtime(server, { config, sink, targetGuard: rebinding });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const handshakes = upstream.handshakes.length;
      const target = `http://localhost:${new URL(upstream.url).port}`;
      const r = await refused('/v1/realtime?model=gpt-realtime', { base, headers: { 'Sightline-Target-Url': target } });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body).error).toMatchObject({ code: 'sightline_target_not_allowed', message: expect.stringMatching(/private or loopback address when connecting/) });
      expect(upstream.handshakes.length).toBe(handshakes);
      expect(sink.events).toHaveLength(1);
      expect(sink.events[0]).toMatchObject({ status: 403, error_code: 'sightline_target_not_allowed', endpoint: 'realtime' });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('other upgrade requests', () => {
  it('a request that asks for h2c is answered over HTTP/1.1 by the HTTP routes, body and keep-alive intact', async () => {
    const body = JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const head = `POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n` +
      `content-type: application/json\r\nanthropic-version: 2023-06-01\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    socket.write(head + body.slice(0, 10));
    await new Promise((r) => setTimeout(r, 20));
    socket.write(body.slice(10));
    const deadline = Date.now() + 5000;
    while (!Buffer.concat(chunks).toString().includes('"usage"')) {
      if (Date.now() > deadline) throw new Error(`no answer: ${Buffer.concat(chunks).toString()}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    socket.destroy();
    const answer = Buffer.concat(chunks).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const id = /sightline-id: ([0-9a-f-]{36})/i.exec(answer)?.[1];
    expect(await eventFor(gw, id)).toMatchObject({ provider: 'anthropic', endpoint: 'messages', status: 200 });
    expect(gw.mock.requests.at(-1)!.headers.upgrade).toBeUndefined();
  });

  it('a WebSocket handshake on a route that is not realtime gets that route\'s HTTP answer', async () => {
    const r = await refused('/anthropic/v1/models');
    expect(r.status).toBe(200);
    expect(await eventFor(gw, r.headers['sightline-id'])).toMatchObject({ provider: 'anthropic', method: 'GET' });
  });
});

describe('shutting down', () => {
  it('ends open sessions with 1001 (going away) and logs them, instead of waiting for them', async () => {
    const own = await startTestGateway({ env: { SIGHTLINE_UPSTREAM_OPENAI: upstream.url } });
    const c = await connect('/openai/v1/realtime?model=gpt-realtime', { base: own.url });
    await c.waitForType('session.created');
    const closing = own.close();
    expect((await c.closed).code).toBe(1001);
    await closing;
    expect(await eventFor(own, c.response.headers['sightline-id'])).toMatchObject({ endpoint: 'realtime', status: 101, close_code: 1001 });
  });
});
