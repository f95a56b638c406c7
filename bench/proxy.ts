// Proxy bench (issue #14): Sightline against a raw pass-through (node:http + undici Pool) measured in the same run,
// the gateway's process tree pinned to one core and the load generator (wrk) with the upstream mock on the other.
// Every mode prints the target next to what it measured, and MET / NOT MET.
//   node bin/run-ts.mjs bench/proxy.ts [--modes non-stream,stream,start,long-streams,soak,tracing,gateway,cache] [--quick] [--rounds 1]
//        [--bodies 1k,16k] [--connections 1,16,64] [--variants raw,sightline,raw-http,hpm,direct] [--seconds 5] [--warmup 2]
//        [--iterations 500] [--streams 1000] [--stream-seconds 30] [--requests 1000000] [--unpinned] [--loadgen wrk|autocannon]
//        [--json out.json]
//   node bin/run-ts.mjs bench/proxy.ts --ablation [--modes non-stream,stream] [--connections 16]
//   node bin/run-ts.mjs bench/proxy.ts --profile [--connections 64] [--profile-dir d] [--profile-target sightline|raw|raw-http|hpm]
// Modes: non-stream = wrk cells per body size and connection count; stream = 22-event streams 1 ms apart, one at a
// time; start = `node bin/sightline.mjs start` as a whole; long-streams = many concurrent 30 s streams; soak = N requests;
// tracing = the proxy with OpenTelemetry tracing off, and on at 100 % sampling, with and without a caller's traceparent;
// gateway = alias routing, translation each way, a translated stream's first byte, and a fallback after a fast 5xx;
// keys = a virtual key's lookup, and key + budget + rate limit in memory and on Redis.
// cache = a cache miss and a cache hit over pass-through (memory and Redis), and the semantic index at 100k entries.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { LoadTool } from './lib/loadgen.ts';
import { wrkAvailable } from './lib/loadgen.ts';
import { hasTaskset, startServerChild } from './lib/proc.ts';
import type { LoadMode } from './proxy/ablation.ts';
import { ablation, profile } from './proxy/ablation.ts';
import type { Variant } from './proxy/cells.ts';
import { runCells, VARIANTS } from './proxy/cells.ts';
import type { BenchContext } from './proxy/context.ts';
import { parseSizes, SERVERS } from './proxy/context.ts';
import { runLongStreams } from './proxy/long.ts';
import { runSoak } from './proxy/soak.ts';
import { runStart } from './proxy/start.ts';
import { runStreams } from './proxy/streams.ts';
import { runTracing } from './proxy/tracing.ts';
import { runGateway } from './proxy/gateway.ts';
import { runKeys } from './proxy/keys.ts';
import { runCache } from './proxy/cache.ts';
import { line, verdicts } from './proxy/targets.ts';

const { values: args } = parseArgs({ options: {
  quick: { type: 'boolean', default: false },
  modes: { type: 'string' },
  bodies: { type: 'string', default: '1k,16k' },
  connections: { type: 'string' },
  variants: { type: 'string', default: 'raw,sightline' },
  seconds: { type: 'string' },
  warmup: { type: 'string' },
  rounds: { type: 'string' },
  iterations: { type: 'string' },
  streams: { type: 'string' },
  'stream-seconds': { type: 'string' },
  requests: { type: 'string' },
  loadgen: { type: 'string' },
  unpinned: { type: 'boolean', default: false },
  /** Pinning is the default now; the flag is kept so older command lines still run. */
  pin: { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  'profile-dir': { type: 'string' },
  'profile-target': { type: 'string', default: 'sightline' },
  ablation: { type: 'boolean', default: false },
  json: { type: 'string' },
} });

const ALL_MODES = ['non-stream', 'stream', 'start', 'long-streams', 'soak', 'tracing', 'gateway', 'cache', 'keys'] as const;
type Mode = (typeof ALL_MODES)[number];
const quick = args.quick;
const loadModesOnly = args.ablation || args.profile;
const modes = (args.modes ?? (loadModesOnly ? 'non-stream,stream' : ALL_MODES.join(','))).split(',') as Mode[];
for (const m of modes) {
  if (!(ALL_MODES as readonly string[]).includes(m) || (loadModesOnly && m !== 'non-stream' && m !== 'stream')) throw new Error(`unknown mode ${m}${loadModesOnly ? ' (ablation and profile: non-stream, stream)' : ''}`);
}
const variants = args.variants.split(',') as Variant[];
for (const v of variants) if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`unknown variant ${v} (${VARIANTS.join(', ')})`);
if (!variants.includes('sightline')) variants.push('sightline');
const sizes = parseSizes(args.bodies);
const num = (v: string | undefined, full: number, short: number) => Number(v ?? (quick ? short : full));
const connectionCounts = (args.connections ?? (args.profile ? '64' : args.ablation ? '16' : '1,16,64')).split(',').map(Number);
const iterations = num(args.iterations, 500, 100);
const longStreams = num(args.streams, 1000, 200);
const longSeconds = num(args['stream-seconds'], 30, 5);
const soakRequests = num(args.requests, 1_000_000, 50_000);

const tool: LoadTool = (args.loadgen as LoadTool | undefined) ?? (wrkAvailable() ? 'wrk' : 'autocannon');
const cpuCount = os.availableParallelism(); // read before pinning narrows this process's affinity
const pinned = !args.unpinned && cpuCount >= 2 && hasTaskset();
if (!args.unpinned && !pinned) console.error('warning: not pinned (needs 2 CPUs and taskset); CPU per request still holds, rps ratios are looser');
// The bench process (stream clients, pollers, autocannon) joins the load generator's core.
const cpuLoad = pinned ? '0' : undefined;
if (pinned) spawnSync('taskset', ['-a', '-p', '-c', cpuLoad!, String(process.pid)], { stdio: 'ignore' });

const upstream = await startServerChild(SERVERS, ['upstream'], { cpus: cpuLoad });
const ctx: BenchContext = {
  tool, cpuLoad, cpuTarget: pinned ? '1' : undefined,
  warmupSeconds: num(args.warmup, 2, 1), seconds: num(args.seconds, 5, 2), rounds: Number(args.rounds ?? 1),
  upstream, upstreamUrl: `http://127.0.0.1:${upstream.port}`,
};
const results: Record<string, unknown> = {};
try {
  console.log(`# proxy bench: ${cpuCount} CPUs (load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}) (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, ` +
    `load generator ${tool}, ${pinned ? 'pinned: target process tree on CPU 1, load generator + upstream + bench client on CPU 0' : 'not pinned'}, ` +
    `warm-up ${ctx.warmupSeconds} s, window ${ctx.seconds} s, ${ctx.rounds} round(s) (medians)`);
  if (args.profile) {
    await profile(ctx, modes as LoadMode[], connectionCounts, sizes[0]!, args['profile-target'], args['profile-dir']);
  } else if (args.ablation) {
    await ablation(ctx, modes as LoadMode[], connectionCounts, sizes[0]!);
  } else {
    if (modes.includes('non-stream')) results.nonStream = (await runCells(ctx, sizes, connectionCounts, variants)).cells;
    if (modes.includes('stream')) results.streams = (await runStreams(ctx, sizes, iterations, Math.ceil(iterations / 10))).results;
    if (modes.includes('start')) results.start = (await runStart(ctx, sizes)).results;
    if (modes.includes('long-streams')) results.longStreams = (await runLongStreams(ctx, longStreams, longSeconds, sizes[0]!)).result;
    if (modes.includes('soak')) results.soak = (await runSoak(ctx, soakRequests, sizes[0]!)).result;
    if (modes.includes('tracing')) results.tracing = (await runTracing(ctx)).result;
    if (modes.includes('gateway')) results.gateway = (await runGateway(ctx)).result;
    if (modes.includes('keys')) results.keys = (await runKeys(ctx)).result;
    if (modes.includes('cache')) results.cache = (await runCache(ctx)).result;
    console.log(`\n## All targets (${verdicts.filter((v) => v.met).length} of ${verdicts.length} MET)\n\n${verdicts.map(line).join('\n')}`);
    if (args.json) {
      writeFileSync(args.json, `${JSON.stringify({ node: process.version, cpus: cpuCount, tool, pinned, rounds: ctx.rounds, seconds: ctx.seconds, warmupSeconds: ctx.warmupSeconds, results, verdicts }, null, 2)}\n`);
    }
  }
} finally {
  await upstream.stop();
}
