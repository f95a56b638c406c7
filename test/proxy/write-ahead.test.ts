// Write-ahead logging: a call's last bytes leave only once its event is logged. With the real spool, the event is
// on disk by the time the client has the whole response; a slowed log delays the client's last byte (and only
// that); and a spool that cannot log is handled as logging.on_failure says.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { createSpoolSink } from '../../bus/spool-sink.ts';
import { openSpoolWriter, spoolOptionsFromConfig } from '../../bus/spool/index.ts';
import type { Config } from '../../config/index.ts';
import { parseConfig } from '../../config/index.ts';
import type { EventSink } from '../../contracts/sink.ts';
import type { RunningProxy } from '../../proxy/main.ts';
import { startProxy } from '../../proxy/main.ts';
import { createMemorySink } from '../../proxy/sink.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(env: Record<string, string>, sinkFor: (config: Config) => EventSink): Promise<{ proxy: RunningProxy; mock: MockUpstream }> {
  const mock = await startMockUpstream();
  const config = parseConfig(undefined, { SIGHTLINE_PORT: '0', SIGHTLINE_UPSTREAM_OPENAI: mock.url, ...env });
  const proxy = await startProxy(config, sinkFor(config));
  cleanups.push(() => mock.close(), () => proxy.close());
  return { proxy, mock };
}

function spoolIn(dir: string, maxBytes?: number) {
  return (config: Config) => {
    const opts = spoolOptionsFromConfig(config.spool, dir, () => {}, config.logging);
    return createSpoolSink(openSpoolWriter({ ...opts, ...(maxBytes ? { maxBytes, segmentBytes: 1024 } : {}) }));
  };
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-wal-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Everything in the spool's segment files right now, read synchronously. */
function spoolText(dir: string): string {
  return readdirSync(dir).filter((f) => f.endsWith('.seg')).map((f) => readFileSync(path.join(dir, f), 'latin1')).join('');
}

const chatBody = (stream: boolean) => JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: 'hi' }] });

/** Posts a chat call; at the moment the last byte arrives, `atEnd` runs synchronously. */
function call(url: string, stream: boolean, atEnd: (id: string) => void, headers: Record<string, string> = {}): Promise<{ id: string; status: number; firstByteMs: number; totalMs: number; body: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const id = String(res.headers['sightline-id']);
      let firstByteMs = -1;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (firstByteMs < 0) firstByteMs = performance.now() - t0;
        parts.push(c);
      });
      res.on('end', () => {
        atEnd(id);
        resolve({ id, status: res.statusCode ?? 0, firstByteMs, totalMs: performance.now() - t0, body: Buffer.concat(parts).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(chatBody(stream));
  });
}

describe('write-ahead logging', () => {
  for (const durability of ['written', 'fsync'] as const) {
    it(`durability ${durability}: the event is in the spool before the client has the last byte (stream and not)`, async () => {
      const dir = tempDir();
      const { proxy } = await start({ SIGHTLINE_LOG_DURABILITY: durability }, spoolIn(dir));
      const missing: string[] = [];
      const check = (id: string) => {
        if (!spoolText(dir).includes(id)) missing.push(id);
      };
      const calls = [];
      for (let i = 0; i < 10; i++) calls.push(call(proxy.url, i % 2 === 0, check), call(proxy.url, i % 2 === 1, check, { 'x-mock-chunk-bytes': '64', 'x-mock-chunk-delay-ms': '1' }));
      const done = await Promise.all(calls);
      expect(done.every((d) => d.status === 200)).toBe(true);
      expect(missing).toEqual([]);
    });
  }

  it('a slowed log delays the last byte, not the first: the stream flows, the call completes once logged', async () => {
    const delayMs = 300;
    const memory = createMemorySink();
    const slow: EventSink = {
      ...memory,
      stats: memory.stats,
      write: (event, onLogged) => memory.write(event, onLogged && ((ok) => setTimeout(() => onLogged(ok), delayMs))),
    };
    const { proxy } = await start({}, () => slow);
    const stream = await call(proxy.url, true, () => {});
    expect(stream.firstByteMs).toBeLessThan(delayMs);
    expect(stream.totalMs).toBeGreaterThanOrEqual(delayMs);
    expect(stream.body).toContain('data: [DONE]');
    const whole = await call(proxy.url, false, () => {});
    expect(whole.totalMs).toBeGreaterThanOrEqual(delayMs);
    expect(JSON.parse(whole.body)).toMatchObject({ object: 'chat.completion' });
  });

  it('durability async: the call completes without waiting for the log', async () => {
    const memory = createMemorySink();
    let waited = 0;
    const never: EventSink = { ...memory, stats: memory.stats, write: (event, onLogged) => {
      if (onLogged) waited++;
      return memory.write(event);
    } };
    const { proxy } = await start({ SIGHTLINE_LOG_DURABILITY: 'async' }, () => never);
    const res = await call(proxy.url, false, () => {});
    expect(res.status).toBe(200);
    expect(waited).toBe(0);
    expect(memory.events).toHaveLength(1);
  });
});

describe('a spool at its cap', () => {
  async function fill(url: string): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await call(url, false, () => {})).status);
    return statuses;
  }

  it('on_failure reject: 503 in the caller\'s shape, and the upstream is never called once the spool refuses', async () => {
    const dir = tempDir();
    const { proxy, mock } = await start({ SIGHTLINE_LOG_ON_FAILURE: 'reject' }, spoolIn(dir, 4096));
    const statuses = await fill(proxy.url);
    expect(statuses[0]).toBe(200);
    expect(statuses).toContain(503);
    const upstreamBefore = mock.requests.length;
    const client = new OpenAI({ apiKey: 'sk-x', baseURL: `${proxy.url}/openai/v1`, maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_log_unavailable');
    expect(mock.requests.length).toBe(upstreamBefore);
    const metrics = await (await fetch(`${proxy.url}/_sightline/metrics`)).text();
    expect(Number(/sightline_events_refused_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
  });

  it('on_failure serve (default): every call is served, every refused event counted', async () => {
    const dir = tempDir();
    const { proxy } = await start({}, spoolIn(dir, 4096));
    const statuses = await fill(proxy.url);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const metrics = await (await fetch(`${proxy.url}/_sightline/metrics`)).text();
    const refused = Number(/sightline_events_refused_total (\d+)/.exec(metrics)?.[1]);
    const written = Number(/sightline_events_written_total (\d+)/.exec(metrics)?.[1]);
    expect(refused).toBeGreaterThan(0);
    expect(refused + written).toBe(12);
    expect(Number(/sightline_unlogged_calls_total\{action="served"\} (\d+)/.exec(metrics)?.[1])).toBe(refused);
  });
});
