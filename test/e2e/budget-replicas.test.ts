// Budgets as they run for real: `sightline start` processes (proxy, spool, ingest child settling each stored row),
// official SDK callers. Two replicas share one real Redis and hold one $1 budget between them; the embedded default
// (no Redis) keeps a key's spend across a restart by restoring it from the ledger.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOLLAR_BUDGET_YAML, DOLLAR_KEY } from '../fixtures/gateway/dollar-budget.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';
import type { SightlineProcess } from '../helpers/processes.ts';
import { eventually, freePort, httpClickHouse, queryRows, spawnSightline } from '../helpers/processes.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startRedis } from '../helpers/redis.ts';

let mock: MockUpstream;
const dirs: string[] = [];
const running: SightlineProcess[] = [];

const CONFIG = `${DOLLAR_BUDGET_YAML}
ingest:
  flush_ms: 50
`;

beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(async () => {
  for (const p of running) p.kill('SIGKILL');
  await mock.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startReplica(env: Record<string, string>, dataDir?: string): Promise<{ sl: SightlineProcess; url: string; chPort: number; dir: string }> {
  const dir = dataDir ?? mkdtempSync(path.join(tmpdir(), 'sightline-replica-'));
  if (dataDir === undefined) dirs.push(dir);
  const config = path.join(dir, 'sightline.yaml');
  writeFileSync(config, CONFIG);
  const port = await freePort();
  const chPort = await freePort();
  const sl = spawnSightline(['start'], {
    SIGHTLINE_CONFIG: config, SIGHTLINE_DATA_DIR: dir, SIGHTLINE_PORT: String(port), SIGHTLINE_CLICKHOUSE_HTTP_PORT: String(chPort),
    SIGHTLINE_UPSTREAM_ANTHROPIC: mock.url, ...env,
  });
  running.push(sl);
  await sl.waitForOutput(/proxy listening/);
  await sl.waitForOutput(/ClickHouse HTTP interface/);
  return { sl, url: `http://127.0.0.1:${port}`, chPort, dir };
}

const call = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: DOLLAR_KEY, maxRetries: 0 }).chat.completions.create({
  model: 'haiku', max_tokens: 21, messages: [{ role: 'user', content: `hi ${Math.random()}` }],
});

/** Calls until refused for a spent budget; a refusal while others are in flight waits and tries again. */
async function spendDown(url: string): Promise<void> {
  for (let waits = 0; waits < 3000;) {
    const r = await call(url).then(() => undefined, (e: unknown) => e as Error);
    if (r === undefined) continue;
    if (!/in flight/.test(r.message)) {
      expect((r as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_budget_exceeded');
      return;
    }
    waits++;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error('never refused');
}

async function servedCost(chPort: number): Promise<{ n: number; usd: number }> {
  const [row] = await queryRows<{ n: string; usd: number }>(httpClickHouse(chPort), "SELECT count() AS n, sum(cost_usd) AS usd FROM sightline.requests FINAL WHERE key_id = 'shared-dollar' AND status = 200");
  return { n: Number(row!.n), usd: Number(row!.usd) };
}

describe('two gateway processes sharing one Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());

  it('hold a $1 budget between them under 32 concurrent callers: at most one call past it', async () => {
    const a = await startReplica({ REDIS_URL: redis.url });
    const b = await startReplica({ REDIS_URL: redis.url });
    await Promise.all(Array.from({ length: 32 }, (_, i) => spendDown(i % 2 === 0 ? a.url : b.url)));
    const [ca, cb] = await Promise.all([
      eventually(() => servedCost(a.chPort), (c) => c.n > 0, 20_000),
      eventually(() => servedCost(b.chPort), (c) => c.n > 0, 20_000),
    ]);
    const perCall = ca.usd / ca.n;
    expect(perCall).toBeCloseTo(0.033, 6);
    const total = ca.usd + cb.usd;
    expect(total).toBeGreaterThanOrEqual(1);
    // Each replica may have had one call in flight when the budget was crossed.
    expect(total).toBeLessThanOrEqual(1 + 2 * perCall);
    for (const r of [a, b]) {
      r.sl.kill('SIGTERM');
      await r.sl.exited;
    }
  }, 120_000);
});

describe('the embedded default (no Redis)', () => {
  it('restores a key\'s spend from the ledger after a restart, never from 0', async () => {
    const first = await startReplica({});
    await spendDown(first.url);
    const spent = await eventually(() => servedCost(first.chPort), (c) => c.usd >= 1, 20_000);
    first.sl.kill('SIGTERM');
    await first.sl.exited;
    const again = await startReplica({}, first.dir);
    const refused = await call(again.url).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toMatch(new RegExp(`spent \\$${spent.usd.toFixed(4).slice(0, 4)}`));
    again.sl.kill('SIGTERM');
    await again.sl.exited;
  }, 120_000);
});
