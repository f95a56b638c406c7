// Gateway layer II's cost on the request path (issue #16), the proxy alone on the target core, 1 KiB chat on a
// provider route at c=16: a call with no key, with a virtual key (the lookup), and with a key carrying a budget and
// a rate limit — in memory (embedded default) and on a real Redis (replicas). No ingest runs here, so reservations
// are not settled during the run: the stores carry every call's reservation, the worst case for their size.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashKey } from '../../proxy/auth.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { medianOf } from '../lib/stats.ts';
import type { BenchContext, Measured } from './context.ts';
import { chatBody, f, measureLoad, withTarget } from './context.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, verdict } from './targets.ts';

const CONNECTIONS = 16;
export const KEYS_TARGETS = { memoryUs: 20 } as const;

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

export interface KeysResult { cases: { name: string; m: Measured }[] }

export async function runKeys(ctx: BenchContext): Promise<{ result: KeysResult; verdicts: Verdict[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-keys-'));
  const file = path.join(dir, 'keys.yaml');
  writeFileSync(file, CONFIG);
  const redis = await startRedis();
  const body = chatBody(1024, false);
  const runs = new Map<string, Measured[]>(CASES.map((c) => [c.name, []]));
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      for (const redisOn of [false, true]) {
        const env = [`SIGHTLINE_CONFIG=${file}`, ...(redisOn ? [`REDIS_URL=${redis.url}`] : [])];
        await withTarget(ctx, 'sightline', async (t) => {
          for (const c of CASES.filter((x) => x.redis === redisOn)) {
            process.stderr.write(`  keys: ${c.name}, round ${round + 1}…\n`);
            const headers = c.key === undefined ? undefined : { 'sightline-auth': `Bearer ${c.key}` };
            runs.get(c.name)!.push(await measureLoad(ctx, t.url, body, CONNECTIONS, t.child.pid, ctx.seconds, headers));
          }
        }, { env });
      }
    }
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const cases = CASES.map((c) => ({ name: c.name, m: medianOf(runs.get(c.name)!) }));
  return { result: { cases }, verdicts: print(cases, ctx.rounds) };
}

function print(cases: KeysResult['cases'], rounds: number): Verdict[] {
  console.log(`\n### keys, budgets, rate limits: proxy alone, 1 KiB chat, c=${CONNECTIONS} (median of ${rounds} round(s))\n`);
  console.log('| call | rps | p50 / p99 ms | CPU µs/req | over no key | errors + non-2xx |\n|---|---:|---:|---:|---:|---:|');
  const base = cases[0]!.m;
  for (const { name, m } of cases) console.log(`| ${name} | ${f(m.rps, 0)} | ${f(m.p50Ms, 3)} / ${f(m.p99Ms, 3)} | ${f(m.cpuUsPerReq, 1)} | ${f(m.cpuUsPerReq - base.cpuUsPerReq, 1)} | ${m.errors + m.non2xx} |`);
  const by = new Map(cases.map((c) => [c.name, c.m]));
  const memory = by.get('key + budget + rate limit, in memory')!.cpuUsPerReq - base.cpuUsPerReq;
  const redis = by.get('key + budget + rate limit, on Redis')!.cpuUsPerReq - base.cpuUsPerReq;
  console.log(`\nOn Redis the proxy's own CPU is shown; the Redis server's is not in it (${f(redis, 1)} µs/req over no key).`);
  const out = [verdict('keys: key + budget + rate limit in memory, CPU per request over pass-through', `${f(memory, 1)} µs`, `≤ +${KEYS_TARGETS.memoryUs} µs`, memory <= KEYS_TARGETS.memoryUs)];
  printVerdicts('Targets: gateway layer II (issue #16)', out);
  return out;
}
