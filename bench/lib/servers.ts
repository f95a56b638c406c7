// The three HTTP processes of the proxy bench, one role per child process so none shares an event loop
// with the load generator or with another target:
//   upstream  — replays test/fixtures like test/helpers/mock-upstream.ts (same fixture choice, same bytes and
//               headers) but loads each fixture once and records nothing, so it stays cheap and flat under load.
//   raw       — the fairest minimal proxy: node:http in, http.request with a keep-alive agent out, piped both ways.
//   sightline — startProxy() with the jsonl sink, configured through the environment as an operator would;
//               trailing KEY=VALUE args override that environment (ablations: SIGHTLINE_SINK=none, …).
//   hpm       — express 5 + http-proxy-middleware and nothing else: the framework Sightline is built on, so an
//               ablation can tell the framework's cost from Sightline's own.
// Usage: node bin/run-ts.mjs bench/lib/servers.ts <role> [upstreamUrl] [jsonlPath] [KEY=VALUE…]
// Prints one JSON line `{"port":N}` when listening; on SIGTERM closes, prints `{"stopped":true,…}` and exits 0
// (a clean exit is what lets --cpu-prof write its profile).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { parseConfig } from '../../config/index.ts';
import { startProxy } from '../../proxy/main.ts';
import type { Fixture, FixtureProvider } from '../../test/fixtures/index.ts';
import { loadFixture } from '../../test/fixtures/index.ts';
import { defaultFixture } from '../../test/helpers/mock-upstream.ts';

const [role, upstreamUrl = '', jsonlPath = '', ...envOverrides] = process.argv.slice(2);

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function onStop(stop: () => Promise<Record<string, unknown>>): void {
  process.once('SIGTERM', () => {
    void stop().then((info) => {
      process.stdout.write(`${JSON.stringify({ stopped: true, ...info })}\n`);
      process.exit(0);
    });
  });
}

function closeServer(server: http.Server): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    server.close(() => resolve({}));
    server.closeAllConnections();
  });
}

async function startUpstream(): Promise<void> {
  const cache = new Map<string, { fixture: Fixture; headers: Record<string, string> }>();
  const served = (name: string) => {
    let hit = cache.get(name);
    if (!hit) {
      const [provider, file] = name.split('/') as [FixtureProvider, string];
      const fixture = loadFixture(provider, file);
      const headers: Record<string, string> = { ...fixture.headers };
      if (!fixture.sse) headers['content-length'] = String(fixture.body.length);
      hit = { fixture, headers };
      cache.set(name, hit);
    }
    return hit;
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        parsed = undefined;
      }
      const { fixture, headers } = served(defaultFixture(req.url ?? '', parsed));
      res.writeHead(fixture.status, headers);
      res.end(fixture.body);
    });
  });
  server.keepAliveTimeout = 65_000;
  const port = await listen(server);
  onStop(() => closeServer(server));
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

async function startRawProxy(): Promise<void> {
  const upstream = new URL(upstreamUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  // Same public path as Sightline (/openai/v1/…), so the load generator sends identical requests to both.
  const PREFIX = '/openai';
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    headers.host = upstream.host;
    const out = http.request({
      agent, host: upstream.hostname, port: upstream.port, method: req.method,
      path: url.startsWith(PREFIX) ? url.slice(PREFIX.length) : url, headers,
    }, (up) => {
      const back: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(name)) back[name] = value;
      res.writeHead(up.statusCode ?? 502, back);
      up.pipe(res);
    });
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  server.keepAliveTimeout = 65_000;
  const port = await listen(server);
  onStop(() => closeServer(server));
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

async function startSightline(): Promise<void> {
  const config = parseConfig(undefined, {
    SIGHTLINE_HOST: '127.0.0.1',
    SIGHTLINE_PORT: '0',
    SIGHTLINE_UPSTREAM_OPENAI: upstreamUrl,
    SIGHTLINE_SINK: `jsonl:${jsonlPath}`,
    ...Object.fromEntries(envOverrides.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  });
  const proxy = await startProxy(config);
  onStop(async () => {
    // Clients were already stopped by the bench; drop idle keep-alive sockets so close() can finish.
    proxy.server.closeAllConnections();
    await proxy.close();
    return { sink: proxy.sink.stats };
  });
  process.stdout.write(`${JSON.stringify({ port: proxy.port })}\n`);
}

async function startFrameworkOnly(): Promise<void> {
  const app = express();
  app.use(createProxyMiddleware({
    target: upstreamUrl, changeOrigin: true, pathRewrite: { '^/openai': '' },
    agent: new http.Agent({ keepAlive: true, maxSockets: 1024 }),
  }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  server.keepAliveTimeout = 65_000;
  onStop(() => closeServer(server));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
}

const roles: Record<string, () => Promise<void>> = { upstream: startUpstream, raw: startRawProxy, hpm: startFrameworkOnly, sightline: startSightline };
const start = role === undefined ? undefined : roles[role];
if (!start || (role !== 'upstream' && upstreamUrl === '') || (role === 'sightline' && jsonlPath === '')) {
  console.error('usage: servers.ts upstream | raw <upstreamUrl> | hpm <upstreamUrl> | sightline <upstreamUrl> <jsonlPath> [KEY=VALUE…]');
  process.exit(2);
}
await start();
