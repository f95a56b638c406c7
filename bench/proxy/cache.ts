// The response cache's cost and speed (issue #16 §4), the proxy alone on the target core: a cache miss and a cache
// hit over plain pass-through for a 1 KiB chat answered with 2 KiB, at c=16 under wrk, from memory and from a real
// Redis (Debian's redis-server beside the load generator); and the semantic index's lookup at 100k entries,
// in-process. A miss is measured as Cache-Control: max-age=0, so every call looks up, goes upstream and stores.
import type { BenchContext, Measured } from './context.ts';
import { chatBody, f, measureLoad, withTarget } from './context.ts';
import { median, medianOf } from '../lib/stats.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, verdict } from './targets.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { createSemanticIndex } from '../../proxy/gateway/semantic-index.ts';

const CONNECTIONS = 16;
export const CACHE_TARGETS = { hitMemoryP50Ms: 1, hitRedisP50Ms: 2, semanticLookupMs: 5 } as const;
const RESPONSE = { 'x-bench-response-bytes': '2048' };
const ON = { ...RESPONSE, 'sightline-cache-enabled': 'true' };

interface Case { name: string; headers: Record<string, string> }
const CASES: readonly Case[] = [
  { name: 'pass-through', headers: RESPONSE },
  { name: 'cache miss', headers: { ...ON, 'cache-control': 'max-age=0' } },
  { name: 'cache hit', headers: ON },
];

export interface CacheBenchResult {
  memory: { name: string; m: Measured }[];
  redis: { name: string; m: Measured }[];
  semantic: SemanticResult[];
}

export async function runCache(ctx: BenchContext): Promise<{ result: CacheBenchResult; verdicts: Verdict[] }> {
  const body = chatBody(1024, false);
  const run = async (label: string, env: string[]) => {
    const runs = new Map<string, Measured[]>(CASES.map((c) => [c.name, []]));
    await withTarget(ctx, 'sightline', async (t) => {
      for (let round = 0; round < ctx.rounds; round++) {
        for (const c of round % 2 === 0 ? CASES : [...CASES].reverse()) {
          process.stderr.write(`  cache (${label}): ${c.name}, round ${round + 1}…\n`);
          runs.get(c.name)!.push(await measureLoad(ctx, t.url, body, CONNECTIONS, t.child.pid, ctx.seconds, c.headers));
        }
      }
    }, { env });
    return CASES.map((c) => ({ name: c.name, m: medianOf(runs.get(c.name)!) }));
  };
  const memory = await run('memory', []);
  const redis = await startRedis();
  let shared: CacheBenchResult['redis'];
  try {
    shared = await run('redis', [`REDIS_URL=${redis.url}`]);
  } finally {
    await redis.stop();
  }
  const semantic = [benchSemantic(256), benchSemantic(1536)];
  const result = { memory, redis: shared, semantic };
  return { result, verdicts: print(result, ctx.rounds) };
}

interface SemanticResult { dim: number; entries: number; p50Ms: number; p99Ms: number; recall: number; falseHits: number; buildS: number; heapMB: number }

/**
 * 100k vectors in one scope (the worst case: one system prompt, single-turn questions), 1000 topics of 100
 * paraphrase-like neighbours each; queries are stored vectors moved slightly (cosine ≈ 0.97, must hit at 0.95) and
 * unrelated vectors (must miss).
 */
function benchSemantic(dim: number, entries = 100_000): SemanticResult {
  let seed = 12345;
  // mulberry32, seeded: every run measures the same vectors.
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const unitRandom = () => {
    const v = Array.from({ length: dim }, gauss);
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const near = (v: readonly number[], spread: number) => {
    const noise = unitRandom();
    return v.map((x, i) => x + spread * noise[i]!);
  };
  const heap0 = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const index = createSemanticIndex(entries);
  const topics = Array.from({ length: 1000 }, unitRandom);
  const stored: number[][] = [];
  const t0 = performance.now();
  for (let i = 0; i < entries; i++) {
    const v = near(topics[i % topics.length]!, 0.6);
    if (i % 97 === 0) stored.push(v);
    index.add('scope', v, `k${i}`);
  }
  const buildS = (performance.now() - t0) / 1000;
  const heapMB = (process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - heap0) / 2 ** 20;
  const times: number[] = [];
  let found = 0;
  let falseHits = 0;
  const queries = 1000;
  for (let q = 0; q < queries; q++) {
    const hit = q % 2 === 0;
    const v = hit ? near(stored[q % stored.length]!, 0.25) : unitRandom();
    const s = performance.now();
    const m = index.search('scope', v, 0.95);
    times.push(performance.now() - s);
    if (hit && m !== undefined) found++;
    if (!hit && m !== undefined) falseHits++;
  }
  times.sort((a, b) => a - b);
  return { dim, entries, p50Ms: median(times), p99Ms: times[Math.floor(times.length * 0.99)]!, recall: found / (queries / 2), falseHits, buildS, heapMB };
}

function print(r: CacheBenchResult, rounds: number): Verdict[] {
  const table = (label: string, cases: CacheBenchResult['memory']) => {
    console.log(`\n### cache (${label}): proxy alone, 1 KiB chat answered with 2 KiB, c=${CONNECTIONS} (median of ${rounds} round(s))\n`);
    console.log('| call | rps | p50 / p99 ms | CPU µs/req | over pass-through µs | errors + non-2xx |\n|---|---:|---:|---:|---:|---:|');
    const base = cases[0]!.m.cpuUsPerReq;
    for (const { name, m } of cases) console.log(`| ${name} | ${f(m.rps, 0)} | ${f(m.p50Ms, 3)} / ${f(m.p99Ms, 3)} | ${f(m.cpuUsPerReq, 1)} | ${name === 'pass-through' ? '' : f(m.cpuUsPerReq - base, 1)} | ${m.errors + m.non2xx} |`);
  };
  table('memory', r.memory);
  table('Redis', r.redis);
  console.log('\n### semantic index lookup, one scope, in-process\n');
  console.log('| dimensions | entries | p50 / p99 ms | recall at cos ≈ 0.97 | false hits (of 500) | build s | memory MB |\n|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of r.semantic) console.log(`| ${s.dim} | ${s.entries} | ${f(s.p50Ms, 3)} / ${f(s.p99Ms, 3)} | ${f(s.recall * 100, 1)} % | ${s.falseHits} | ${f(s.buildS, 1)} | ${f(s.heapMB, 0)} |`);
  const hit = (cases: CacheBenchResult['memory']) => cases.find((c) => c.name === 'cache hit')!.m.p50Ms;
  const out = [
    verdict('cache: hit p50 from memory, 2 KiB answer, c=16', `${f(hit(r.memory), 3)} ms`, `≤ ${CACHE_TARGETS.hitMemoryP50Ms} ms`, hit(r.memory) <= CACHE_TARGETS.hitMemoryP50Ms),
    verdict('cache: hit p50 from Redis, 2 KiB answer, c=16', `${f(hit(r.redis), 3)} ms`, `≤ ${CACHE_TARGETS.hitRedisP50Ms} ms`, hit(r.redis) <= CACHE_TARGETS.hitRedisP50Ms),
    ...r.semantic.map((s) => verdict(`cache: semantic lookup p99 at ${s.entries / 1000}k entries, ${s.dim} dimensions`, `${f(s.p99Ms, 3)} ms`, `≤ ${CACHE_TARGETS.semanticLookupMs} ms`, s.p99Ms <= CACHE_TARGETS.semanticLookupMs)),
  ];
  printVerdicts('Targets: response cache (issue #16 §4)', out);
  return out;
}
