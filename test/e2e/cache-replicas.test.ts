// The response cache as it runs for real: two `sightline start` processes (proxy, spool, ingest child, chDB) share
// one real Redis, so an answer one replica stored is a hit on the other, streams included; the hit's row, stored by
// that replica's own ingest, costs 0 and carries what it saved (migration 0006).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';
import type { SightlineProcess } from '../helpers/processes.ts';
import { eventually, freePort, httpClickHouse, queryRows, spawnSightline } from '../helpers/processes.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startRedis } from '../helpers/redis.ts';

let mock: MockUpstream;
let redis: TestRedis;
const dirs: string[] = [];
const running: SightlineProcess[] = [];

async function startReplica(): Promise<{ url: string; chPort: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-cache-replica-'));
  dirs.push(dir);
  const config = path.join(dir, 'sightline.yaml');
  writeFileSync(config, 'ingest:\n  flush_ms: 50\n');
  const port = await freePort();
  const chPort = await freePort();
  const sl = spawnSightline(['start'], {
    SIGHTLINE_CONFIG: config, SIGHTLINE_DATA_DIR: dir, SIGHTLINE_PORT: String(port), SIGHTLINE_CLICKHOUSE_HTTP_PORT: String(chPort),
    SIGHTLINE_UPSTREAM_OPENAI: mock.url, REDIS_URL: redis.url,
  });
  running.push(sl);
  await sl.waitForOutput(/proxy listening/);
  await sl.waitForOutput(/ClickHouse HTTP interface/);
  return { url: `http://127.0.0.1:${port}`, chPort };
}

beforeAll(async () => {
  mock = await startMockUpstream();
  redis = await startRedis();
});
afterAll(async () => {
  for (const p of running) p.kill('SIGKILL');
  await mock.close();
  await redis.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('two gateway processes sharing one Redis', () => {
  it('serve each other\'s cached answers, and each logs its hits at cost 0 with the saving', async () => {
    const [a, b] = [await startReplica(), await startReplica()];
    const client = (url: string) => new OpenAI({ baseURL: `${url}/openai/v1`, apiKey: 'sk-provider', maxRetries: 0, defaultHeaders: { 'Helicone-Cache-Enabled': 'true' } });
    const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'replicated question' }] };
    const first = await client(a.url).chat.completions.create(ask).withResponse();
    const second = await client(b.url).chat.completions.create(ask).withResponse();
    expect([first.response.headers.get('helicone-cache'), second.response.headers.get('helicone-cache')]).toEqual(['MISS', 'HIT']);
    expect(second.data).toEqual(first.data);

    let streamed = '';
    for await (const chunk of await client(b.url).chat.completions.create({ ...ask, stream: true })) streamed += chunk.choices[0]?.delta.content ?? '';
    let replayed = '';
    const again = await client(a.url).chat.completions.create({ ...ask, stream: true }).withResponse();
    expect(again.response.headers.get('sightline-cache')).toBe('HIT');
    for await (const chunk of again.data) replayed += chunk.choices[0]?.delta.content ?? '';
    expect(replayed).toBe(streamed);
    expect(mock.requests.filter((r) => r.url.includes('/chat/completions'))).toHaveLength(2);

    type Row = { cache_status: string; cost_usd: number; cache_saved_usd: number; stream: number };
    const rows = (chPort: number) => queryRows<Row>(httpClickHouse(chPort), 'SELECT cache_status, cost_usd, cache_saved_usd, stream FROM sightline.requests FINAL ORDER BY created_at');
    const onB = await eventually(() => rows(b.chPort), (r) => r.length === 2);
    const onA = await eventually(() => rows(a.chPort), (r) => r.length === 2);
    expect(onA.map((r) => [r.cache_status, Boolean(r.stream)])).toEqual([['miss', false], ['hit', true]]);
    expect(onB.map((r) => [r.cache_status, Boolean(r.stream)])).toEqual([['hit', false], ['miss', true]]);
    const missCost = Number(onA[0]!.cost_usd);
    expect(missCost).toBeGreaterThan(0);
    expect(Number(onB[0]!.cost_usd)).toBe(0);
    expect(Number(onB[0]!.cache_saved_usd)).toBeCloseTo(missCost, 12);
    expect(Number(onA[1]!.cost_usd)).toBe(0);
    expect(Number(onA[1]!.cache_saved_usd)).toBeCloseTo(Number(onB[1]!.cost_usd), 12);
  });
});
