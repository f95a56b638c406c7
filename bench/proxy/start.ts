// `npm start` as a whole: `node bin/sightline.mjs start` (proxy → spool → ingest child → chDB) pinned with taskset to
// the target core (its ingest child inherits the affinity), the embedded default configured only through the
// environment. Measures, at 16 connections: rps and CPU per request of the whole tree against the raw pass-through,
// RSS of the tree idle and at its peak, and how long after the load stops every event is in sightline.requests.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, processTree, REPO_ROOT, sampleTreeRss, treeCpuSeconds, treeMemory } from '../lib/proc.ts';
import { rawBaseline } from './cells.ts';
import type { BenchContext, Measured } from './context.ts';
import { CHAT_PATH, chatBody, f, measureLoad, sizeLabel } from './context.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, ratioVerdict, TARGETS, verdict } from './targets.ts';

const CONNECTIONS = 16;
/** How long to wait for every event to be stored before giving up (the target is 5 s). */
const DRAIN_LIMIT_S = 120;

export interface Gateway {
  pid: number;
  port: number;
  chPort: number;
  /** The last lines it printed (for an error message). */
  output: string[];
  stop(): Promise<void>;
}

/** The environment an operator would give it: no inherited sink, Kafka or ClickHouse settings. */
function gatewayEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(SIGHTLINE_|KAFKA_|CLICKHOUSE_)/.test(k)) env[k] = v;
  return { ...env, ...vars };
}

/** `sightline start` on the target core; `env` adds to the embedded default's settings (a config file, REDIS_URL). */
export async function startGateway(ctx: BenchContext, dataDir: string, env: Record<string, string> = {}): Promise<Gateway> {
  const [port, chPort] = [await freePort(), await freePort()];
  const argv = [process.execPath, 'bin/sightline.mjs', 'start'];
  const [cmd, ...args] = ctx.cpuTarget === undefined ? argv : ['taskset', '-c', ctx.cpuTarget, ...argv];
  const child = spawn(cmd!, args, {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: gatewayEnv({
      SIGHTLINE_DATA_DIR: dataDir, SIGHTLINE_HOST: '127.0.0.1', SIGHTLINE_PORT: String(port),
      SIGHTLINE_CLICKHOUSE_HTTP_PORT: String(chPort), SIGHTLINE_UPSTREAM_OPENAI: ctx.upstreamUrl, ...env,
    }),
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (l) => {
      output.push(l);
      if (output.length > 40) output.shift();
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!, port, chPort, output,
    async stop() {
      const tree = processTree(child.pid!);
      child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
      // Only if it did not stop by itself: the processes it started, by pid.
      if (!stopped) for (const pid of tree) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    },
  };
}

async function get(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url);
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Rows in sightline.requests through the embedded store's ClickHouse HTTP interface; undefined while it is not up. */
export async function storedCount(chPort: number): Promise<number | undefined> {
  const text = await get(`http://127.0.0.1:${chPort}/?query=${encodeURIComponent('SELECT count() FROM sightline.requests')}`);
  return text === undefined || !/^\d+\s*$/.test(text) ? undefined : Number(text);
}

export async function waitReady(g: Gateway, limitS: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitS * 1000) {
    if (processTree(g.pid).length === 0) break;
    if ((await get(`http://127.0.0.1:${g.port}/_sightline/health`)) !== undefined && (await storedCount(g.chPort)) !== undefined) return (performance.now() - t0) / 1000;
    await sleep(200);
  }
  throw new Error(`sightline start was not ready (health + ClickHouse HTTP) within ${limitS} s:\n${g.output.join('\n')}`);
}

/** Waits until the tree uses under 5 % of a core over a second (start-up work such as migrations done), at most limitS. */
export async function settle(pid: number, limitS: number): Promise<number> {
  const t0 = performance.now();
  let last = treeCpuSeconds(pid);
  while (performance.now() - t0 < limitS * 1000) {
    await sleep(1000);
    const now = treeCpuSeconds(pid);
    if (now - last < 0.05) break;
    last = now;
  }
  return (performance.now() - t0) / 1000;
}

export interface StartResult {
  bytes: number;
  readyS: number;
  settleS: number;
  processes: number;
  idleMB: number;
  peakSampledMB: number;
  hwmSumMB: number;
  load: Measured;
  completed: number;
  stored: number;
  storedAfterS: number;
  cpuUsPerReqWithDrain: number;
  raw: Measured;
}

export async function runStart(ctx: BenchContext, sizes: number[]): Promise<{ results: StartResult[]; verdicts: Verdict[] }> {
  const results: StartResult[] = [];
  const found: Verdict[] = [];
  for (const bytes of sizes) {
    const raw = await rawBaseline(ctx, bytes, CONNECTIONS);
    process.stderr.write(`  npm start (proxy + ingest + chDB), ${sizeLabel(bytes)} × ${CONNECTIONS} conns…\n`);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-start-'));
    const g = await startGateway(ctx, dataDir);
    try {
      const readyS = await waitReady(g, 180);
      const settleS = await settle(g.pid, 30);
      const idle = treeMemory(g.pid);
      const sampler = sampleTreeRss(g.pid, 100);
      const load = await measureLoad(ctx, `http://127.0.0.1:${g.port}${CHAT_PATH}`, chatBody(bytes, false), CONNECTIONS, g.pid);
      const completed = load.warmupRequests + load.requests;
      const stopped = performance.now();
      let stored = (await storedCount(g.chPort)) ?? 0;
      while (stored < completed && performance.now() - stopped < DRAIN_LIMIT_S * 1000) {
        await sleep(100);
        stored = (await storedCount(g.chPort)) ?? stored;
      }
      const storedAfterS = (performance.now() - stopped) / 1000;
      const cpuWithDrain = treeCpuSeconds(g.pid) - load.cpuStartS;
      sampler.stop();
      const end = treeMemory(g.pid);
      results.push({
        bytes, readyS, settleS, processes: idle.processes, idleMB: idle.rssMB, peakSampledMB: sampler.peakMB, hwmSumMB: end.hwmSumMB,
        load, completed, stored, storedAfterS, cpuUsPerReqWithDrain: (cpuWithDrain * 1e6) / Math.max(1, load.requests), raw,
      });
    } finally {
      await g.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
    found.push(...print(results.at(-1)!));
  }
  return { results, verdicts: found };
}

function print(r: StartResult): Verdict[] {
  const { load: m, raw } = r;
  console.log(`\n### npm start as a whole (proxy + ingest child + chDB, ${r.processes} processes, one core), ${sizeLabel(r.bytes)} body, ${CONNECTIONS} conns\n`);
  console.log('| | rps | p50 / p99 ms | CPU µs/req (tree, window) | CPU µs/req (tree, window + until stored) | errors + non-2xx |');
  console.log('|---|---:|---:|---:|---:|---:|');
  console.log(`| raw pass-through | ${f(raw.rps, 0)} | ${f(raw.p50Ms)} / ${f(raw.p99Ms)} | ${f(raw.cpuUsPerReq, 0)} | | ${raw.errors + raw.non2xx} |`);
  console.log(`| sightline start | ${f(m.rps, 0)} | ${f(m.p50Ms)} / ${f(m.p99Ms)} | ${f(m.cpuUsPerReq, 0)} | ${f(r.cpuUsPerReqWithDrain, 0)} | ${m.errors + m.non2xx} |`);
  console.log(`\nReady (health + ClickHouse HTTP answering) ${f(r.readyS, 1)} s after spawn, settled ${f(r.settleS, 1)} s later. RSS of the tree: idle ${f(r.idleMB, 0)} MB, ` +
    `peak ${f(r.peakSampledMB, 0)} MB (sum of VmRSS sampled every 100 ms), ${f(r.hwmSumMB, 0)} MB (sum of each process's VmHWM, an upper bound). ` +
    `Events: ${r.completed} requests completed by the load generator (warm-up + window), ${r.stored} rows in sightline.requests ${f(r.storedAfterS, 2)} s after the load stopped.`);
  const at = `npm start ${sizeLabel(r.bytes)}, c=${CONNECTIONS}`;
  const storedAll = r.stored >= r.completed;
  const out = [
    // The ingest child works on the window's events after the window: CPU is counted until they are stored.
    ratioVerdict(`${at}: CPU per request (whole tree, until every event stored)`, r.cpuUsPerReqWithDrain, raw.cpuUsPerReq, TARGETS.startCpuVsRaw, true, 'µs'),
    verdict(`${at}: every event stored after the load stops`, storedAll ? `${f(r.storedAfterS, 2)} s (${r.stored} rows ≥ ${r.completed} completed)` : `not within ${DRAIN_LIMIT_S} s (${r.stored} of ${r.completed})`,
      `≤ ${TARGETS.startStoredSeconds} s`, storedAll && r.storedAfterS <= TARGETS.startStoredSeconds),
    verdict(`${at}: RSS idle (tree)`, `${f(r.idleMB, 0)} MB`, `≤ ${TARGETS.startIdleMB} MB`, r.idleMB <= TARGETS.startIdleMB),
    verdict(`${at}: RSS peak (tree, sampled sum; sum of VmHWM ${f(r.hwmSumMB, 0)} MB)`, `${f(r.peakSampledMB, 0)} MB`, `≤ ${TARGETS.startPeakMB} MB`, r.peakSampledMB <= TARGETS.startPeakMB),
  ];
  console.log(`\nThroughput for reference: ${f(m.rps / raw.rps)}× raw.`);
  printVerdicts(`Targets: ${at}`, out);
  return out;
}
