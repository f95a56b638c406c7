// Gateway layer II's cost on the request path (issue #16), 1 KiB chat on a provider route at c=16: a call with no
// key, with a virtual key (the lookup), with a key carrying a rate limit, and with a key carrying a budget and a rate
// limit — in memory (embedded default) and on a real Redis (replicas).
//
// As shipped: `sightline start` (proxy → spool → ingest child → chDB) on the target core, so every call is settled
// as in production — the ingest worker stores its row, then releases its reservation (over IPC to the proxy in
// memory, or in Redis directly). CPU per request is the proxy process's own: the ingest child's is the ingest
// stage's cost and has its own bench. Between cases the bench waits until every row is stored, so one case's
// settlements do not land in the next one's window.
//
// Also, for comparison, the proxy alone with nothing settled: every reservation stays in the store for the whole
// run (the worst case for its size).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { hashKey } from '../../proxy/auth.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { medianOf } from '../lib/stats.ts';
import type { BenchContext, Measured } from './context.ts';
import { CHAT_PATH, chatBody, f, measureLoad, withTarget } from './context.ts';
import { settle, startGateway, storedCount, waitReady } from './start.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, verdict } from './targets.ts';

const CONNECTIONS = 16;
export const KEYS_TARGETS = { memoryUs: 20 } as const;
const DRAIN_LIMIT_MS = 120_000;

const CONFIG = `
keys:
  - { id: plain, hash: ${hashKey('sl-bench-plain')}, organization_id: bench }
  - { id: full, hash: ${hashKey('sl-bench-full')}, organization_id: bench, team: perf, budget: 100000000/month, rpm: 1000000000 }
  - { id: limited, hash: ${hashKey('sl-bench-limited')}, organization_id: bench, rpm: 1000000000 }
`;

interface Case { name: string; key: string | undefined; redis: boolean }
const CASES: Case[] = [
  { name: 'no key (pass-through)', key: undefined, redis: false },
  { name: 'virtual key (lookup)', key: 'sl-bench-plain', redis: false },
  { name: 'key + rate limit, in memory', key: 'sl-bench-limited', redis: false },
  { name: 'key + budget + rate limit, in memory', key: 'sl-bench-full', redis: false },
  { name: 'key + budget + rate limit, on Redis', key: 'sl-bench-full', redis: true },
];
const headersOf = (c: Case) => (c.key === undefined ? undefined : { 'sightline-auth': `Bearer ${c.key}` });

/** Each run starts on an empty Redis: the unsettled runs' reservations must not weigh on the next run's store. */
async function flushRedis(url: string): Promise<void> {
  const client = new Redis(url);
  try {
    await client.flushall();
  } finally {
    client.disconnect();
  }
}

/** The key's budget as the admin API shows it once every row is stored: its spend, and nothing left reserved. */
interface Spend { spent_usd: number; reserved_usd: number }

export interface KeysResult {
  settled: { name: string; m: Measured }[];
  unsettled: { name: string; m: Measured }[];
  spendAfter: { memory?: Spend; redis?: Spend };
}

async function keySpend(port: number, id: string): Promise<Spend | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}/_sightline/api/keys/${id}`).catch(() => undefined);
  if (r === undefined || !r.ok) return undefined;
  return ((await r.json()) as { spend?: Spend }).spend;
}

/** The as-shipped layout: one `sightline start` per store, every case against it, each case's rows stored before the next. */
async function settledRuns(ctx: BenchContext, file: string, redisUrl: string, runs: Map<string, Measured[]>, spendAfter: KeysResult['spendAfter']): Promise<void> {
  for (const redisOn of [false, true]) {
    if (redisOn) await flushRedis(redisUrl);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-keys-start-'));
    const g = await startGateway(ctx, dataDir, { SIGHTLINE_CONFIG: file, ...(redisOn ? { REDIS_URL: redisUrl } : {}) });
    try {
      await waitReady(g, 180);
      await settle(g.pid, 30);
      let completed = (await storedCount(g.chPort)) ?? 0;
      for (const c of CASES.filter((x) => x.redis === redisOn)) {
        process.stderr.write(`  keys (npm start, settled): ${c.name}…\n`);
        const m = await measureLoad(ctx, `http://127.0.0.1:${g.port}${CHAT_PATH}`, chatBody(1024, false), CONNECTIONS, g.pid, ctx.seconds, headersOf(c));
        runs.get(c.name)!.push(m);
        completed += m.warmupRequests + m.requests;
        const t0 = Date.now();
        while (((await storedCount(g.chPort)) ?? 0) < completed && Date.now() - t0 < DRAIN_LIMIT_MS) await sleep(200);
      }
      // Settlement follows the row: once every row is stored, nothing of the budgeted key stays reserved.
      await sleep(500);
      spendAfter[redisOn ? 'redis' : 'memory'] = await keySpend(g.port, 'full');
    } finally {
      await g.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

/** The proxy alone (no ingest, so nothing settled): the stores hold every call's reservation for the whole run. */
async function unsettledRuns(ctx: BenchContext, file: string, redisUrl: string, runs: Map<string, Measured[]>): Promise<void> {
  const body = chatBody(1024, false);
  for (const redisOn of [false, true]) {
    if (redisOn) await flushRedis(redisUrl);
    const env = [`SIGHTLINE_CONFIG=${file}`, ...(redisOn ? [`REDIS_URL=${redisUrl}`] : [])];
    await withTarget(ctx, 'sightline', async (t) => {
      for (const c of CASES.filter((x) => x.redis === redisOn)) {
        process.stderr.write(`  keys (proxy alone, unsettled): ${c.name}…\n`);
        runs.get(c.name)!.push(await measureLoad(ctx, t.url, body, CONNECTIONS, t.child.pid, ctx.seconds, headersOf(c)));
      }
    }, { env });
  }
}

export async function runKeys(ctx: BenchContext): Promise<{ result: KeysResult; verdicts: Verdict[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-keys-'));
  const file = path.join(dir, 'keys.yaml');
  writeFileSync(file, CONFIG);
  const redis = await startRedis();
  const settledByCase = new Map<string, Measured[]>(CASES.map((c) => [c.name, []]));
  const unsettledByCase = new Map<string, Measured[]>(CASES.map((c) => [c.name, []]));
  const spendAfter: KeysResult['spendAfter'] = {};
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      process.stderr.write(`  keys: round ${round + 1} of ${ctx.rounds}\n`);
      await settledRuns(ctx, file, redis.url, settledByCase, spendAfter);
      await unsettledRuns(ctx, file, redis.url, unsettledByCase);
    }
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (by: Map<string, Measured[]>) => CASES.map((c) => ({ name: c.name, m: medianOf(by.get(c.name)!) }));
  const result: KeysResult = { settled: median(settledByCase), unsettled: median(unsettledByCase), spendAfter };
  return { result, verdicts: print(result, ctx.rounds) };
}

function table(cases: KeysResult['settled'], cpu: (m: Measured) => number, extra?: (m: Measured) => string): void {
  console.log(`| call | rps | p50 / p99 ms | CPU µs/req | over no key | errors + non-2xx |${extra ? ' ingest child CPU µs/req |' : ''}\n|---|---:|---:|---:|---:|---:|${extra ? '---:|' : ''}`);
  const base = cpu(cases[0]!.m);
  for (const { name, m } of cases) {
    console.log(`| ${name} | ${f(m.rps, 0)} | ${f(m.p50Ms, 3)} / ${f(m.p99Ms, 3)} | ${f(cpu(m), 1)} | ${f(cpu(m) - base, 1)} | ${m.errors + m.non2xx} |${extra ? ` ${extra(m)} |` : ''}`);
  }
}

function print(r: KeysResult, rounds: number): Verdict[] {
  console.log(`\n### keys, budgets, rate limits as shipped: npm start (proxy + ingest child settling every call), 1 KiB chat, c=${CONNECTIONS}, the proxy process's CPU (median of ${rounds} round(s))\n`);
  table(r.settled, (m) => m.rootCpuUsPerReq, (m) => f(m.cpuUsPerReq - m.rootCpuUsPerReq, 1));
  const show = (s: Spend | undefined) => (s === undefined ? 'not read' : `spent $${s.spent_usd.toFixed(4)}, reserved $${s.reserved_usd.toFixed(6)}`);
  console.log(`\nThe budgeted key once every row was stored: in memory ${show(r.spendAfter.memory)}; on Redis ${show(r.spendAfter.redis)} (reserved 0: every call was settled).`);
  console.log(`On Redis the proxy's own CPU is shown; the Redis server's is not in it.`);
  console.log(`\n### the same, proxy alone with nothing settled (no ingest: every reservation stays for the run), the proxy's CPU\n`);
  table(r.unsettled, (m) => m.cpuUsPerReq);
  const over = (cases: KeysResult['settled'], cpu: (m: Measured) => number) => {
    const by = new Map(cases.map((c) => [c.name, c.m]));
    return cpu(by.get('key + budget + rate limit, in memory')!) - cpu(cases[0]!.m);
  };
  const shipped = over(r.settled, (m) => m.rootCpuUsPerReq);
  const alone = over(r.unsettled, (m) => m.cpuUsPerReq);
  const out = [
    verdict('keys: key + budget + rate limit in memory, CPU per request over pass-through (npm start, every call settled)', `${f(shipped, 1)} µs`, `≤ +${KEYS_TARGETS.memoryUs} µs`, shipped <= KEYS_TARGETS.memoryUs),
    verdict('keys: the same, proxy alone with nothing settled (worst case)', `${f(alone, 1)} µs`, `≤ +${KEYS_TARGETS.memoryUs} µs`, alone <= KEYS_TARGETS.memoryUs),
  ];
  printVerdicts('Targets: gateway layer II (issue #16)', out);
  return out;
}
