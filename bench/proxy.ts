// Proxy overhead (issue #3): the same closed-loop load against the fixture upstream directly, through a raw
// Node pass-through, and through Sightline with the jsonl sink, at 1/16/64 connections, non-stream and stream.
// Every server runs in its own child process; with taskset the target under test has CPU 1 to itself and the
// load generator and upstream share CPU 0 (this machine has 2 cores: see bench/README.md).
//   node bin/run-ts.mjs bench/proxy.ts [--quick] [--seconds 5] [--warmup 2] [--rounds 1] [--connections 1,16,64]
//        [--modes non-stream,stream] [--loadgen wrk|autocannon] [--pin] [--json out.json]
//   node bin/run-ts.mjs bench/proxy.ts --profile [--connections 64] [--profile-dir d] [--profile-target sightline|raw|hpm]   (CPU profile, no table)
//   node bin/run-ts.mjs bench/proxy.ts --ablation [--connections 16]   (CPU per request: framework alone, Sightline without sink / usage filter)
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { summarizeCpuProfile } from './lib/cpuprofile.ts';
import type { LoadResult, LoadTool } from './lib/loadgen.ts';
import { runLoad, wrkAvailable } from './lib/loadgen.ts';
import type { ServerChild } from './lib/proc.ts';
import { cpuSeconds, hasTaskset, REPO_ROOT, rssMiB, startServerChild } from './lib/proc.ts';

const { values: args } = parseArgs({ options: {
  quick: { type: 'boolean', default: false },
  seconds: { type: 'string' },
  warmup: { type: 'string' },
  connections: { type: 'string' },
  modes: { type: 'string', default: 'non-stream,stream' },
  loadgen: { type: 'string' },
  rounds: { type: 'string' },
  pin: { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  'profile-dir': { type: 'string' },
  'profile-target': { type: 'string', default: 'sightline' },
  ablation: { type: 'boolean', default: false },
  json: { type: 'string' },
} });

type Mode = 'non-stream' | 'stream';
const seconds = Number(args.seconds ?? (args.quick ? 2 : 5));
const warmupSeconds = Number(args.warmup ?? (args.quick ? 1 : 2));
const connectionCounts = (args.connections ?? (args.profile ? '64' : args.ablation ? '16' : '1,16,64')).split(',').map(Number);
const modes = args.modes.split(',') as Mode[];
for (const m of modes) if (m !== 'non-stream' && m !== 'stream') throw new Error(`unknown mode ${m}`);
const tool: LoadTool = (args.loadgen as LoadTool | undefined) ?? (wrkAvailable() ? 'wrk' : 'autocannon');
const rounds = Number(args.rounds ?? 1);
const cpuCount = os.availableParallelism(); // read before pinning narrows this process's affinity
// Opt-in: pinning isolates the target from the generator on an otherwise idle machine, but when other work
// shares the cores it stops the scheduler from moving a pinned process off a busy one.
const pin = args.pin && cpuCount >= 2 && hasTaskset();
const CPU_LOAD = pin ? '0' : undefined; // load generator + upstream
const CPU_TARGET = pin ? '1' : undefined; // the proxy under test
const SERVERS = 'bench/lib/servers.ts';
const TARGET_ADDED_P99_MS = 1;
const TARGET_RPS_SHARE = 0.8;

if (pin) spawnSync('taskset', ['-a', '-p', '-c', CPU_LOAD!, String(process.pid)], { stdio: 'ignore' });

const requestBody = (mode: Mode) => JSON.stringify({
  model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in three languages.' }], stream: mode === 'stream',
});

interface Measured extends LoadResult {
  /** CPU seconds per request of the process under test (upstream for direct) during the window. */
  cpuUsPerReq: number;
  cpuPct: number;
  upstreamCpuPct: number;
  warmupRequests: number;
  /** The measured window on the monotonic clock, µs (to cut a CPU profile to it). */
  windowUs: [number, number];
}

async function measure(url: string, mode: Mode, connections: number, underTest: number, upstream: number): Promise<Measured> {
  const spec = { url, body: requestBody(mode), connections, cpus: CPU_LOAD };
  const warm = await runLoad(tool, { ...spec, seconds: warmupSeconds });
  const cpu0 = cpuSeconds(underTest);
  const up0 = cpuSeconds(upstream);
  const t0 = Number(process.hrtime.bigint() / 1000n);
  const r = await runLoad(tool, { ...spec, seconds });
  const t1 = Number(process.hrtime.bigint() / 1000n);
  const cpu = cpuSeconds(underTest) - cpu0;
  const up = cpuSeconds(upstream) - up0;
  return { ...r, cpuUsPerReq: (cpu * 1e6) / Math.max(1, r.requests), cpuPct: (100 * cpu) / r.seconds, upstreamCpuPct: (100 * up) / r.seconds, warmupRequests: warm.requests, windowUs: [t0, t1] };
}

interface EventCount { lines: number; ok: number }

async function countEvents(file: string): Promise<EventCount> {
  const count: EventCount = { lines: 0, ok: 0 };
  const rl = createInterface({ input: createReadStream(file) });
  for await (const line of rl) {
    if (line === '') continue;
    count.lines++;
    if (line.includes('"status":200,')) count.ok++;
  }
  return count;
}

interface SightlineMeasured extends Measured {
  rssStartMiB: number;
  rssPeakMiB: number;
  rssEndMiB: number;
  events: EventCount & { sinkWritten: number; sinkRefused: number; completedByLoadgen: number; lost: number };
}

async function measureSightline(upstream: ServerChild, mode: Mode, connections: number): Promise<SightlineMeasured> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-proxy-'));
  const jsonl = path.join(dir, 'events.jsonl');
  try {
    const sl = await startServerChild(SERVERS, ['sightline', `http://127.0.0.1:${upstream.port}`, jsonl], { cpus: CPU_TARGET });
    const rssStart = rssMiB(sl.pid).now;
    const m = await measure(`http://127.0.0.1:${sl.port}/openai/v1/chat/completions`, mode, connections, sl.pid, upstream.pid);
    const rss = rssMiB(sl.pid);
    const stopped = (await sl.stop()) as { sink?: { written: number; refused: number } } | undefined;
    const counted = await countEvents(jsonl);
    const completed = m.warmupRequests + m.requests;
    return {
      ...m, rssStartMiB: rssStart, rssPeakMiB: rss.peak, rssEndMiB: rss.now,
      events: {
        ...counted, sinkWritten: stopped?.sink?.written ?? -1, sinkRefused: stopped?.sink?.refused ?? -1, completedByLoadgen: completed,
        // A response the generator counted must have a status-200 event; extra events are requests cut at the
        // end of a run (the generator stops with up to `connections` requests in flight).
        lost: Math.max(0, completed - counted.ok),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Cell { mode: Mode; connections: number; loadAvg: number; direct: Measured; raw: Measured; sightline: SightlineMeasured }

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Field-wise median of the rounds' numbers: one slow round (other work on the machine) does not set the result. */
function medianOf<T extends object>(runs: T[]): T {
  const out: Record<string, unknown> = { ...runs[0] };
  for (const [k, v] of Object.entries(runs[0]!)) if (typeof v === 'number') out[k] = median(runs.map((r) => (r as Record<string, number>)[k]!));
  return out as T;
}

function combineSightline(runs: SightlineMeasured[]): SightlineMeasured {
  const sum = (pick: (e: SightlineMeasured['events']) => number) => runs.reduce((n, r) => n + pick(r.events), 0);
  return {
    ...medianOf(runs),
    rssPeakMiB: Math.max(...runs.map((r) => r.rssPeakMiB)),
    events: {
      lines: sum((e) => e.lines), ok: sum((e) => e.ok), sinkWritten: sum((e) => e.sinkWritten), sinkRefused: sum((e) => e.sinkRefused),
      completedByLoadgen: sum((e) => e.completedByLoadgen), lost: sum((e) => e.lost),
    },
  };
}

async function runCell(upstream: ServerChild, mode: Mode, connections: number): Promise<Cell> {
  const loadAvg = os.loadavg()[0]!;
  const direct: Measured[] = [];
  const raw: Measured[] = [];
  const sightline: SightlineMeasured[] = [];
  for (let round = 0; round < rounds; round++) {
    direct.push(await measure(`http://127.0.0.1:${upstream.port}/v1/chat/completions`, mode, connections, upstream.pid, upstream.pid));
    const runRaw = async () => {
      const child = await startServerChild(SERVERS, ['raw', `http://127.0.0.1:${upstream.port}`], { cpus: CPU_TARGET });
      raw.push(await measure(`http://127.0.0.1:${child.port}/openai/v1/chat/completions`, mode, connections, child.pid, upstream.pid));
      await child.stop();
    };
    const runSightline = async () => { sightline.push(await measureSightline(upstream, mode, connections)); };
    // Alternate which proxy goes first, so drift in the machine's load does not always favour the same one.
    if (round % 2 === 0) { await runRaw(); await runSightline(); } else { await runSightline(); await runRaw(); }
  }
  return { mode, connections, loadAvg, direct: medianOf(direct), raw: medianOf(raw), sightline: combineSightline(sightline) };
}

const f = (n: number, digits = 2) => n.toFixed(digits);
const lat = (r: LoadResult) => `${f(r.p50Ms)} / ${f(r.p99Ms)}`;

function printTables(cells: Cell[]): void {
  for (const mode of modes) {
    console.log(`\n### ${mode}\n`);
    console.log('| conns | load avg | direct rps | direct p50 / p99 ms | raw rps | raw p50 / p99 ms | sightline rps | sightline p50 / p99 ms | added p50 / p99 ms | sightline rps % raw |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of cells.filter((x) => x.mode === mode)) {
      const { direct: d, raw: r, sightline: s } = c;
      console.log(`| ${c.connections} | ${f(c.loadAvg, 1)} | ${f(d.rps, 0)} | ${lat(d)} | ${f(r.rps, 0)} | ${lat(r)} | ${f(s.rps, 0)} | ${lat(s)} | ${f(s.p50Ms - r.p50Ms)} / ${f(s.p99Ms - r.p99Ms)} | ${f((100 * s.rps) / r.rps, 0)} % |`);
    }
    console.log('\n| conns | CPU µs/req raw | CPU µs/req sightline | CPU % raw / sightline | upstream CPU % (raw / sightline run) | sightline RSS start / peak / end MiB | events 200 / all / sink written | completed by load gen | lost | errors + non-2xx (d/r/s) |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of cells.filter((x) => x.mode === mode)) {
      const { direct: d, raw: r, sightline: s } = c;
      const e = s.events;
      console.log(`| ${c.connections} | ${f(r.cpuUsPerReq, 0)} | ${f(s.cpuUsPerReq, 0)} | ${f(r.cpuPct, 0)} / ${f(s.cpuPct, 0)} | ${f(r.upstreamCpuPct, 0)} / ${f(s.upstreamCpuPct, 0)} | ${f(s.rssStartMiB, 0)} / ${f(s.rssPeakMiB, 0)} / ${f(s.rssEndMiB, 0)} | ${e.ok} / ${e.lines} / ${e.sinkWritten} | ${e.completedByLoadgen} | ${e.lost} | ${d.errors + d.non2xx} / ${r.errors + r.non2xx} / ${s.errors + s.non2xx} |`);
    }
  }
  console.log('\n### Targets\n');
  for (const c of cells) {
    const added = c.sightline.p99Ms - c.raw.p99Ms;
    const share = c.sightline.rps / c.raw.rps;
    if (c.connections === 16) console.log(`- ${c.mode}, 16 conns: added p99 ${f(added)} ms (target ≤ ${TARGET_ADDED_P99_MS} ms): ${added <= TARGET_ADDED_P99_MS ? 'MET' : 'NOT MET'}`);
    if (c.connections === 64) console.log(`- ${c.mode}, 64 conns: throughput ${f(100 * share, 0)} % of raw (target ≥ ${100 * TARGET_RPS_SHARE} %): ${share >= TARGET_RPS_SHARE ? 'MET' : 'NOT MET'}`);
  }
  const lost = cells.reduce((n, c) => n + c.sightline.events.lost, 0);
  console.log(`- events: ${lost === 0 ? 'every completed request has its status-200 event' : `${lost} completed requests have no event`}`);
}

async function profile(upstream: ServerChild): Promise<void> {
  for (const mode of modes) {
    for (const connections of connectionCounts) {
      const dir = mkdtempSync(path.join(args['profile-dir'] ?? tmpdir(), 'sightline-bench-prof-'));
      try {
        const target = args['profile-target'];
        const sl = await startServerChild(SERVERS, [target, `http://127.0.0.1:${upstream.port}`, ...(target === 'sightline' ? [path.join(dir, 'events.jsonl')] : [])], {
          cpus: CPU_TARGET, nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
        });
        const m = await measure(`http://127.0.0.1:${sl.port}/openai/v1/chat/completions`, mode, connections, sl.pid, upstream.pid);
        await sl.stop();
        // One profile per thread (tsx's loader runs in a worker); the main thread is thread id 0.
        const file = readdirSync(dir).find((n) => /\.0\.\d+\.cpuprofile$/.test(n));
        if (!file) throw new Error('no .cpuprofile written');
        const s = summarizeCpuProfile(path.join(dir, file), REPO_ROOT, m.windowUs);
        console.log(`\n### CPU profile: ${target}, ${mode}, ${connections} conns (${f(m.rps, 0)} rps under the profiler, ${f(m.cpuUsPerReq, 0)} CPU µs/req; measured window only, busy ${s.busyMs} of ${s.totalMs} ms = ${f((1000 * s.busyMs) / Math.max(1, m.requests), 0)} µs/req)\n`);
        const table = (title: string, rows: typeof s.topSelf) => {
          console.log(`| ${title} | ms | % of busy |\n|---|---:|---:|`);
          for (const r of rows) console.log(`| \`${r.name}\`${r.via ? ` ← \`${r.via}\`` : ''} | ${r.ms} | ${r.pct} |`);
          console.log('');
        };
        table('self time by area', s.byArea.slice(0, 15));
        table('self time by function', s.topSelf);
        table('inclusive time, repo functions', s.repoInclusive.slice(0, 15));
      } finally {
        if (args['profile-dir'] === undefined) rmSync(dir, { recursive: true, force: true });
        else console.log(`(profile kept in ${dir})`);
      }
    }
  }
}

/** Each variant removes one piece, so the CPU each piece costs per request is a difference of two rows. */
const ABLATION_VARIANTS: { name: string; role: 'raw' | 'hpm' | 'sightline'; env: string[] }[] = [
  { name: 'raw node:http pass-through', role: 'raw', env: [] },
  { name: 'express + http-proxy-middleware only', role: 'hpm', env: [] },
  { name: 'sightline, sink none, usage injection off', role: 'sightline', env: ['SIGHTLINE_SINK=none', 'SIGHTLINE_STREAM_USAGE_INJECT=false'] },
  { name: 'sightline, sink none', role: 'sightline', env: ['SIGHTLINE_SINK=none'] },
  { name: 'sightline, jsonl sink (as shipped)', role: 'sightline', env: [] },
];

async function ablation(upstream: ServerChild): Promise<void> {
  for (const mode of modes) {
    for (const connections of connectionCounts) {
      console.log(`\n### Ablation: ${mode}, ${connections} conns (median of ${rounds} round(s))\n`);
      console.log('| variant | rps | p50 / p99 ms | CPU µs/req | CPU µs/req over raw |\n|---|---:|---:|---:|---:|');
      let rawCpu = NaN;
      for (const v of ABLATION_VARIANTS) {
        const runs: Measured[] = [];
        for (let round = 0; round < rounds; round++) {
          const dir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-abl-'));
          try {
            const args = [v.role, `http://127.0.0.1:${upstream.port}`, ...(v.role === 'sightline' ? [path.join(dir, 'events.jsonl'), ...v.env] : [])];
            const child = await startServerChild(SERVERS, args, { cpus: CPU_TARGET });
            runs.push(await measure(`http://127.0.0.1:${child.port}/openai/v1/chat/completions`, mode, connections, child.pid, upstream.pid));
            await child.stop();
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }
        const m = medianOf(runs);
        if (v.role === 'raw') rawCpu = m.cpuUsPerReq;
        console.log(`| ${v.name} | ${f(m.rps, 0)} | ${lat(m)} | ${f(m.cpuUsPerReq, 0)} | ${f(m.cpuUsPerReq - rawCpu, 0)} |`);
      }
    }
  }
}

const upstream = await startServerChild(SERVERS, ['upstream'], { cpus: CPU_LOAD });
try {
  console.log(`# proxy bench: ${cpuCount} CPUs (load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}) (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load generator ${tool}, ` +
    `${pin ? 'pinned: load generator + upstream on CPU 0, target on CPU 1' : 'not pinned'}, warm-up ${warmupSeconds} s, window ${seconds} s per target, ${rounds} round(s) (medians)`);
  if (args.profile) {
    await profile(upstream);
  } else if (args.ablation) {
    await ablation(upstream);
  } else {
    const cells: Cell[] = [];
    for (const mode of modes) {
      for (const connections of connectionCounts) {
        process.stderr.write(`  ${mode} × ${connections} conns (load average ${os.loadavg()[0]!.toFixed(1)})…\n`);
        cells.push(await runCell(upstream, mode, connections));
      }
    }
    printTables(cells);
    if (args.json) writeFileSync(args.json, `${JSON.stringify({ node: process.version, cpus: cpuCount, tool, pin, rounds, seconds, warmupSeconds, cells }, null, 2)}\n`);
  }
} finally {
  await upstream.stop();
}
