// The only fake in the test suite: an LLM provider. It replays recorded wire-format fixtures byte for byte
// over a real socket, and can misbehave on request (split chunks, delays, resets, hangs) via x-mock-* headers,
// which pass through the proxy untouched like any other non-Sightline header.
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { FixtureProvider } from '../fixtures/index.ts';
import { loadFixture } from '../fixtures/index.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A misbehaviour for the next `times` requests whose URL contains `match` (x-mock-* directives, without the prefix). */
export interface MockRule {
  match: string;
  times: number;
  set: Record<string, string>;
}

export interface MockUpstream {
  url: string;
  requests: RecordedRequest[];
  /** Rules consumed in order by matching requests: e.g. Anthropic answers 529 once, then normally. */
  rules: MockRule[];
  /** Resolves when the server has seen the client (the proxy) close a response early. */
  aborted: Promise<void>;
  close(): Promise<void>;
}

/** Which fixture answers a request when no x-mock-fixture header names one. */
export function defaultFixture(url: string, body: unknown): string {
  const stream = typeof body === 'object' && body !== null && (body as { stream?: unknown }).stream === true;
  if (url.includes('/openai/deployments/')) return stream ? 'azure/chat.sse' : 'azure/chat.json';
  if (url.includes(':streamGenerateContent')) return url.includes('alt=sse') ? 'gemini/stream.sse' : 'gemini/stream-array.json';
  if (url.includes(':generateContent')) return 'gemini/generate.json';
  if (url.includes(':batchEmbedContents')) return 'gemini/embed.json';
  if (url.includes('/v1/messages')) return stream ? 'anthropic/messages.sse' : 'anthropic/messages.json';
  if (url.includes('/responses')) return stream ? 'openai/responses.sse' : 'openai/responses.json';
  if (url.includes('/embeddings')) return 'openai/embeddings.json';
  return stream ? 'openai/chat.sse' : 'openai/chat.json';
}

/**
 * x-mock-embed: words — a deterministic embedding of each input: a bag of its lowercased words hashed into 64
 * dimensions, so the same words in any case or punctuation embed identically and unrelated texts are far apart.
 */
export function wordEmbeddings(body: unknown): unknown {
  const input = typeof body === 'object' && body !== null ? (body as { input?: unknown }).input : undefined;
  const texts = Array.isArray(input) ? input.map(String) : [String(input ?? '')];
  const data = texts.map((text, index) => {
    const v = new Array<number>(64).fill(0);
    for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
      let h = 2166136261;
      for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
      v[(h >>> 0) % 64]! += 1;
    }
    return { object: 'embedding', index, embedding: v };
  });
  return { object: 'list', data, model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 } };
}

const num = (v: string | string[] | undefined): number | undefined => (typeof v === 'string' && v !== '' ? Number(v) : undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startMockUpstream(): Promise<MockUpstream> {
  const requests: RecordedRequest[] = [];
  const rules: MockRule[] = [];
  let onAbort: () => void = () => {};
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      void respond(req, res, body).catch(() => res.destroy());
    });
  });

  // Path directives: a deployment whose api_base is `<mock>/_mock/<k=v,…>` gets its own behaviour (headers reach every
  // attempt of a call alike, a base reaches one deployment). `first=N` limits the others to its first N requests.
  const served = new Map<string, number>();
  function directivesOf(req: http.IncomingMessage): Record<string, string> {
    const m = /^\/_mock\/([^/]*)(\/.*)?$/.exec(req.url ?? '');
    if (m === null) return {};
    req.url = m[2] ?? '/';
    const d: Record<string, string> = {};
    for (const part of m[1]!.split(',')) {
      const eq = part.indexOf('=');
      d[eq === -1 ? part : part.slice(0, eq)] = eq === -1 ? 'true' : decodeURIComponent(part.slice(eq + 1));
    }
    const n = (served.get(m[1]!) ?? 0) + 1;
    served.set(m[1]!, n);
    return d.first !== undefined && n > Number(d.first) ? {} : d;
  }

  async function respond(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    res.on('close', () => {
      if (!res.writableFinished) onAbort();
    });
    const d = directivesOf(req);
    const rule = rules.find((r) => r.times > 0 && (req.url ?? '').includes(r.match));
    if (rule !== undefined) {
      rule.times--;
      Object.assign(d, rule.set);
    }
    const h: http.IncomingHttpHeaders = { ...req.headers };
    for (const [k, v] of Object.entries(d)) h[`x-mock-${k}`] = v;
    if (h['x-mock-hang'] === 'true') return;
    if (h['x-mock-reset'] === 'true') {
      res.socket?.resetAndDestroy();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (h['x-mock-embed'] === 'words' && (req.url ?? '').includes('/embeddings')) {
      const answer = Buffer.from(JSON.stringify(wordEmbeddings(parsed)));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(answer.length) });
      res.end(answer);
      return;
    }
    const name = typeof h['x-mock-fixture'] === 'string' ? h['x-mock-fixture'] : defaultFixture(req.url ?? '', parsed);
    const [provider, file] = name.split('/') as [FixtureProvider, string];
    const fixture = loadFixture(provider, file);
    const delay = num(h['x-mock-delay-ms']);
    if (delay) await sleep(delay);
    const status = num(h['x-mock-status']) ?? fixture.status;
    const chunkBytes = num(h['x-mock-chunk-bytes']);
    const chunkDelay = num(h['x-mock-chunk-delay-ms']) ?? 0;
    const resetAfter = num(h['x-mock-reset-after-bytes']);
    const headers: Record<string, string> = { ...fixture.headers };
    if (typeof h['x-mock-retry-after'] === 'string') headers['retry-after'] = h['x-mock-retry-after'];
    if (typeof h['x-mock-retry-after-ms'] === 'string') headers['retry-after-ms'] = h['x-mock-retry-after-ms'];
    // As real providers do when the client accepts it (the SDKs do): the body compressed on the wire.
    const gzip = h['x-mock-gzip'] === 'true' && /\bgzip\b/.test(String(h['accept-encoding'] ?? ''));
    const wire = gzip ? gzipSync(fixture.body) : fixture.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    if (chunkBytes === undefined && resetAfter === undefined && !headers['content-type']?.includes('event-stream')) {
      headers['content-length'] = String(wire.length);
    }
    res.writeHead(status, headers);
    const bytes = resetAfter === undefined ? wire : wire.subarray(0, resetAfter);
    const step = chunkBytes ?? bytes.length;
    for (let off = 0; off < bytes.length; off += step) {
      if (res.destroyed) return;
      res.write(bytes.subarray(off, off + step));
      if (chunkDelay > 0) await sleep(chunkDelay);
    }
    if (resetAfter !== undefined) {
      // Let the written bytes leave before the reset, so the client sees a stream cut mid-way.
      await sleep(20);
      res.socket?.resetAndDestroy();
      return;
    }
    res.end();
  }

  const { url, close } = await listenOnLoopback(server);
  return { url, requests, rules, aborted, close };
}

/** A free loopback port for a fake server; `close` drops open connections first, so teardown never waits on keep-alive. */
export async function listenOnLoopback(server: http.Server): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
