// The SSRF rules hold where the connection is made, not only where the URL is checked: a name that resolves to a
// public address when checked and a private one when connected (DNS rebinding) never reaches the private one, and
// redirects are passed to the caller, never followed.
import { lookup } from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.ts';
import { createForwarder } from '../../proxy/forwarder.ts';
import { createProxyServer } from '../../proxy/server.ts';
import { createMemorySink } from '../../proxy/sink.ts';
import { createTargetGuard } from '../../proxy/targets.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A resolver that answers `address` for every name, as a rebinding DNS server would at connect time. */
function resolvesTo(address: string): typeof lookup {
  const fake = (_host: string, options: { all?: boolean }, cb: (err: NodeJS.ErrnoException | null, a: unknown, f?: number) => void) => {
    if (options.all) cb(null, [{ address, family: 4 }]);
    else cb(null, address, 4);
  };
  return fake as unknown as typeof lookup;
}

async function startWith(allowed: string[], checkResolvesTo: string, connectResolvesTo: string) {
  const config = parseConfig(undefined, { SIGHTLINE_PORT: '0', SIGHTLINE_ALLOWED_TARGETS: allowed.join(',') });
  const targetGuard = createTargetGuard(config.allowed_targets, async () => [checkResolvesTo]);
  const forwarder = createForwarder({ timeoutMs: 5000, connectTimeoutMs: 2000, privateAllowed: (h) => targetGuard.privateAllowed(h), resolve: resolvesTo(connectResolvesTo) });
  const sink = createMemorySink();
  const proxy = createProxyServer({ config, sink, targetGuard, forwarder });
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => proxy.server.close(() => resolve())), () => proxy.close());
  return { url: `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`, sink };
}

const chat = JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });

describe('SSRF at connect time', () => {
  it('a name checked as public but resolving to loopback when connecting is refused, and the upstream never hears of it', async () => {
    const mock = await startMockUpstream();
    cleanups.push(() => mock.close());
    const port = new URL(mock.url).port;
    const { url, sink } = await startWith(['*.rebind.test:*'], '93.184.216.34', '127.0.0.1');
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'sightline-target-url': `http://api.rebind.test:${port}/v1` }, body: chat });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('sightline_target_not_allowed');
    expect(body.error.message).toMatch(/private or loopback address when connecting/);
    expect(mock.requests).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(sink.events).toHaveLength(1);
    expect(sink.events[0]).toMatchObject({ status: 403, error_code: 'sightline_target_not_allowed' });
  });

  it('the same name named exactly in the allowlist may connect to the private address', async () => {
    const mock = await startMockUpstream();
    cleanups.push(() => mock.close());
    const port = new URL(mock.url).port;
    const { url } = await startWith([`api.rebind.test:${port}`], '127.0.0.1', '127.0.0.1');
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'sightline-target-url': `http://api.rebind.test:${port}/v1` }, body: chat });
    expect(res.status).toBe(200);
    expect(mock.requests).toHaveLength(1);
    expect(mock.requests[0]!.headers.host).toBe(`api.rebind.test:${port}`);
  });
});

describe('redirects', () => {
  it('are passed to the caller as they came, never followed', async () => {
    let elsewhereHits = 0;
    const elsewhere = http.createServer((_req, res) => {
      elsewhereHits++;
      res.end('{}');
    });
    const redirector = http.createServer((_req, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/v1/chat/completions`, 'content-length': '0' });
      res.end();
    });
    for (const s of [elsewhere, redirector]) {
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => s.close(() => resolve())));
    }
    const config = parseConfig(undefined, { SIGHTLINE_PORT: '0', SIGHTLINE_UPSTREAM_OPENAI: `http://127.0.0.1:${(redirector.address() as AddressInfo).port}` });
    const proxy = createProxyServer({ config, sink: createMemorySink() });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => proxy.server.close(() => resolve())), () => proxy.close());
    const res = await fetch(`http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}/openai/v1/chat/completions`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: chat });
    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toMatch(/\/v1\/chat\/completions$/);
    expect(elsewhereHits).toBe(0);
  });
});
