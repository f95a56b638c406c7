// The HTTP processes of the proxy bench, one role per child process so none shares an event loop with the load
// generator or with another target:
//   upstream  — OpenAI-shaped mock. Non-stream: replays test/fixtures/openai/chat.json (same fixture choice as
//               test/helpers/mock-upstream.ts, loaded once, nothing recorded). Stream: a generated chat-chunk stream
//               (bench/lib/sse.ts) of 22 events 1 ms apart, or what the x-bench-events / x-bench-interval-ms request
//               headers ask for. GET /_bench/count answers how many requests it has served (soak progress).
//   raw       — the raw pass-through: node:http server + an undici Pool to the upstream, bodies piped both
//               ways, nothing parsed, hop-by-hop headers dropped.
//   raw-http  — the earlier baseline: node:http server + http.request on a keep-alive Agent, piped both ways.
//   hpm       — express 5 + http-proxy-middleware and nothing else (the framework the proxy was built on; ablation).
//   sightline — startProxy() as the gateway's proxy process runs it: config from the environment, events into its
//               own spool under <dataDir> (built as cli/start.ts buildPipeline builds it; no ingest reads it here). Trailing KEY=VALUE args override that environment (ablation: SIGHTLINE_SINK=none…).
// Usage: node bin/run-ts.mjs bench/lib/servers.ts <role> [upstreamUrl] [dataDir] [KEY=VALUE…]
// Prints one JSON line `{"port":N}` when listening; on SIGTERM closes, prints `{"stopped":true,…}` and exits 0
// (a clean exit is what lets --cpu-prof write its profile).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Pool } from 'undici';
import type { FixtureProvider } from '../../test/fixtures/index.ts';
import { chatStreamWrites, STREAM_EVENTS, STREAM_INTERVAL_MS } from './sse.ts';
// Each role imports what only it needs when it starts (below), so a pass-through's RSS is not Sightline's modules.

const [role, upstreamUrl = '', dataDir = '', ...envOverrides] = process.argv.slice(2);

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** Same public path as Sightline (/openai/v1/…), so the load generator sends identical requests to every target. */
const PREFIX = '/openai';
/** The spool is not consumed in the bench (ingest runs elsewhere), so its cap is raised past what a run writes. */
const BENCH_SPOOL_MAX_BYTES = 64 * 1024 ** 3;

const upstreamPath = (url: string) => (url.startsWith(PREFIX) ? url.slice(PREFIX.length) : url);

function withoutHopByHop(headers: http.IncomingHttpHeaders | Record<string, string | string[] | undefined>, drop?: string): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && name !== drop && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function ready(port: number, stop: () => Promise<Record<string, unknown>>): void {
  process.once('SIGTERM', () => {
    void stop().then((info) => {
      process.stdout.write(`${JSON.stringify({ stopped: true, ...info })}\n`);
      process.exit(0);
    });
  });
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

/** Listens, announces the port, and on SIGTERM closes the server, then runs `cleanup`. */
async function serve(server: http.Server, cleanup: () => Promise<unknown> = async () => {}): Promise<void> {
  server.keepAliveTimeout = 65_000;
  const port = server.listening ? (server.address() as AddressInfo).port : await listen(server);
  ready(port, () => new Promise((resolve) => {
    server.close(() => void cleanup().then(() => resolve({})));
    server.closeAllConnections();
  }));
}

const headerNumber = (v: string | string[] | undefined, fallback: number) => (typeof v === 'string' && v !== '' ? Number(v) : fallback);

async function startUpstream(): Promise<void> {
  const [{ loadFixture }, { defaultFixture }] = await Promise.all([import('../../test/fixtures/index.ts'), import('../../test/helpers/mock-upstream.ts')]);
  const fixtures = new Map<string, { status: number; headers: Record<string, string>; body: Buffer }>();
  const fixture = (name: string) => {
    let hit = fixtures.get(name);
    if (!hit) {
      const [provider, file] = name.split('/') as [FixtureProvider, string];
      const f = loadFixture(provider, file);
      hit = { status: f.status, headers: { ...f.headers, 'content-length': String(f.body.length) }, body: f.body };
      fixtures.set(name, hit);
    }
    return hit;
  };
  const paddedBySize = new Map<number, { status: number; headers: Record<string, string>; body: Buffer }>();
  const padded = (f: { status: number; headers: Record<string, string>; body: Buffer }, size: number) => {
    let hit = paddedBySize.get(size);
    if (!hit) {
      const json = JSON.parse(f.body.toString('utf8')) as { choices: { message: { content: string } }[] };
      const room = size - Buffer.byteLength(JSON.stringify(json));
      json.choices[0]!.message.content += ' Paris.'.repeat(Math.ceil(Math.max(0, room) / 7)).slice(0, Math.max(0, room));
      const body = Buffer.from(JSON.stringify(json));
      hit = { status: f.status, headers: { ...f.headers, 'content-length': String(body.length) }, body };
      paddedBySize.set(size, hit);
    }
    return hit;
  };
  let served = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/_bench/count') {
      res.end(String(served));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      served++;
      // Looked for, not parsed: the mock stays cheap whatever the body size (both proxies forward compact JSON).
      const body = Buffer.concat(chunks);
      const url = req.url ?? '';
      // The gateway bench: a deployment whose base is /_bench/fail answers a fast 500; Anthropic streams replay the fixture.
      if (url.startsWith('/_bench/fail')) {
        const f = fixture('openai/error-500.json');
        res.writeHead(500, f.headers);
        res.end(f.body);
        return;
      }
      if (url.includes('/v1/messages') && body.includes('"stream":true')) {
        const f = fixture('anthropic/messages.sse');
        res.writeHead(200, f.headers);
        res.end(f.body);
        return;
      }
      if (!body.includes('"stream":true')) {
        // x-bench-response-bytes: the chat fixture with its answer padded to that many bytes (the cache bench's 2 KiB).
        const size = headerNumber(req.headers['x-bench-response-bytes'], 0);
        const f = size > 0 ? padded(fixture('openai/chat.json'), size) : fixture(defaultFixture(req.url ?? '', { stream: false }));
        res.writeHead(f.status, f.headers);
        res.end(f.body);
        return;
      }
      const writes = chatStreamWrites(headerNumber(req.headers['x-bench-events'], STREAM_EVENTS), body.includes('"include_usage":true'));
      const interval = headerNumber(req.headers['x-bench-interval-ms'], STREAM_INTERVAL_MS);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      let i = 0;
      let timer: NodeJS.Timeout | undefined;
      const next = () => {
        const write = writes[i++]!;
        if (i === writes.length) res.end(write());
        else {
          res.write(write());
          timer = setTimeout(next, interval);
        }
      };
      res.on('close', () => clearTimeout(timer));
      next();
    });
  });
  await serve(server);
}

async function startRawProxy(): Promise<void> {
  const pool = new Pool(new URL(upstreamUrl).origin, { keepAliveTimeout: 65_000 });
  const server = http.createServer((req, res) => {
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    pool.stream({
      path: upstreamPath(req.url ?? '/'), method: req.method as 'POST', headers: withoutHopByHop(req.headers, 'host') as Record<string, string>,
      body: req, signal: abort.signal,
    }, ({ statusCode, headers }) => {
      res.writeHead(statusCode, withoutHopByHop(headers));
      return res;
    }, (err) => {
      if (!err) return;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  await serve(server, () => pool.close());
}

async function startRawHttpProxy(): Promise<void> {
  const upstream = new URL(upstreamUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const server = http.createServer((req, res) => {
    const headers = withoutHopByHop(req.headers);
    headers.host = upstream.host;
    const out = http.request({
      agent, host: upstream.hostname, port: upstream.port, method: req.method, path: upstreamPath(req.url ?? '/'), headers,
    }, (up) => {
      res.writeHead(up.statusCode ?? 502, withoutHopByHop(up.headers));
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
  await serve(server);
}

async function startFrameworkOnly(): Promise<void> {
  const [{ default: express }, { createProxyMiddleware }] = await Promise.all([import('express'), import('http-proxy-middleware')]);
  const app = express();
  app.use(createProxyMiddleware({
    target: upstreamUrl, changeOrigin: true, pathRewrite: { [`^${PREFIX}`]: '' },
    agent: new http.Agent({ keepAlive: true, maxSockets: 1024 }),
  }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  await serve(server);
}

async function startSightline(): Promise<void> {
  const [{ createSpoolSink }, { openSpoolWriter, spoolOptionsFromConfig }, { parseConfig }, { spoolRoot }, { startProxy }] = await Promise.all([
    import('../../bus/spool-sink.ts'), import('../../bus/spool/index.ts'), import('../../config/index.ts'), import('../../ingest/process.ts'),
    import('../../proxy/main.ts'),
  ]);
  const overrides = Object.fromEntries(envOverrides.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  // The gateway bench hands its models in a file (SIGHTLINE_CONFIG), added to the bench's own settings.
  const extra = overrides.SIGHTLINE_CONFIG ? readFileSync(overrides.SIGHTLINE_CONFIG, 'utf8') : '';
  const config = parseConfig(`spool:\n  max_bytes: ${BENCH_SPOOL_MAX_BYTES}\n${extra}`, {
    SIGHTLINE_HOST: '127.0.0.1',
    SIGHTLINE_PORT: '0',
    SIGHTLINE_UPSTREAM_OPENAI: upstreamUrl,
    SIGHTLINE_UPSTREAM_ANTHROPIC: upstreamUrl,
    SIGHTLINE_DATA_DIR: dataDir,
    ...overrides,
  });
  // The production sink: the proxy's own spool (cli/start.ts buildPipeline). Other sinks (ablation) as configured.
  const spoolDir = path.join(spoolRoot(config), config.instance);
  const writer = config.sink === 'spool'
    ? openSpoolWriter(spoolOptionsFromConfig(config.spool, spoolDir, (msg) => console.error(`sightline: ${msg}`), config.logging))
    : undefined;
  const proxy = writer ? await startProxy(config, createSpoolSink(writer)) : await startProxy(config);
  ready(proxy.port, async () => {
    // Clients were already stopped by the bench; drop idle keep-alive sockets so close() can finish.
    proxy.server.closeAllConnections();
    await proxy.close();
    return { sink: proxy.sink.stats, ...(writer ? { spool: { ...writer.stats, dir: spoolDir } } : {}) };
  });
}

const roles: Record<string, () => Promise<void>> = {
  upstream: startUpstream, raw: startRawProxy, 'raw-http': startRawHttpProxy, hpm: startFrameworkOnly, sightline: startSightline,
};
const start = role === undefined ? undefined : roles[role];
if (!start || (role !== 'upstream' && upstreamUrl === '') || (role === 'sightline' && dataDir === '')) {
  console.error('usage: servers.ts upstream | raw|raw-http|hpm <upstreamUrl> | sightline <upstreamUrl> <dataDir> [KEY=VALUE…]');
  process.exit(2);
}
await start();
