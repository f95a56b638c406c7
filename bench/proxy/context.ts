// What every proxy-bench mode shares: the CPU layout (issue #14: the gateway's whole process tree on one core, the
// load generator on the other, the upstream mock beside the generator), the request bodies, starting a target
// process, and one measured closed-loop run with the target tree's CPU time.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSpoolReader } from '../../bus/spool/index.ts';
import type { LoadResult, LoadTool } from '../lib/loadgen.ts';
import { runLoad } from '../lib/loadgen.ts';
import type { ServerChild } from '../lib/proc.ts';
import { processCpuSeconds, REPO_ROOT, startServerChild, treeCpuSeconds, treeMemory } from '../lib/proc.ts';

export const SERVERS = 'bench/lib/servers.ts';
/** The node flags `npm start` runs Sightline with, read from package.json so the bench cannot drift from it. */
export const SIGHTLINE_NODE_FLAGS: readonly string[] = sightlineNodeFlags();

function sightlineNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const m = /^node((?:\s+--\S+)*)\s+bin\/sightline\.mjs\b/.exec(pkg.scripts.start ?? '');
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : [];
}
/** The path every proxy target serves (the raw pass-throughs strip /openai like Sightline's route does). */
export const CHAT_PATH = '/openai/v1/chat/completions';

export interface BenchContext {
  tool: LoadTool;
  /** taskset CPU lists; undefined when not pinned. */
  cpuLoad: string | undefined;
  cpuTarget: string | undefined;
  warmupSeconds: number;
  seconds: number;
  rounds: number;
  upstream: ServerChild;
  upstreamUrl: string;
}

/** A valid OpenAI chat request of exactly `bytes` bytes: a system message padded with text, then the question. */
export function chatBody(bytes: number, stream: boolean): string {
  const make = (pad: string) => JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'system', content: pad }, { role: 'user', content: 'Say hello in three languages.' }],
    stream,
  });
  const room = bytes - make('').length;
  if (room < 0) throw new Error(`a chat body cannot be as small as ${bytes} bytes`);
  const body = make('You are a helpful assistant. '.repeat(Math.ceil(room / 29)).slice(0, room));
  if (Buffer.byteLength(body) !== bytes) throw new Error('padding miscounted');
  return body;
}

export const sizeLabel = (bytes: number) => (bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`);

/** "1k,16k" → [1024, 16384]; plain numbers are bytes. */
export function parseSizes(list: string): number[] {
  return list.split(',').map((s) => {
    const m = /^(\d+)(k|kib)?$/i.exec(s.trim());
    if (!m) throw new Error(`bad body size ${s} (e.g. 1k, 16k, 2048)`);
    return Number(m[1]) * (m[2] ? 1024 : 1);
  });
}

export interface Target {
  role: string;
  child: ServerChild;
  url: string;
  /** Stops the process; for sightline also counts the events its spool holds. */
  stop(): Promise<{ events?: EventCount; info: unknown }>;
}

export interface EventCount { records: number; ok: number }

/** Reads a spool from the start without committing: how many events, how many with status 200. */
async function countSpool(dir: string): Promise<EventCount> {
  const reader = openSpoolReader(dir, 'bench-count');
  const count: EventCount = { records: 0, ok: 0 };
  try {
    for (let batch = await reader.read(5000); batch.length > 0; batch = await reader.read(5000)) {
      for (const r of batch) {
        count.records++;
        if (r.data.includes('"status":200,') || r.data.includes('"status":200}')) count.ok++;
      }
    }
  } finally {
    await reader.close();
  }
  return count;
}

/**
 * Starts a target in its own process on the target CPU. `role` is a servers.ts role; sightline gets a fresh data
 * directory (its spool), read back and removed on stop.
 */
export async function startTarget(ctx: BenchContext, role: string, opts: { env?: string[]; nodeFlags?: string[] } = {}): Promise<Target> {
  const dataDir = role === 'sightline' ? mkdtempSync(path.join(tmpdir(), 'sightline-bench-proxy-')) : undefined;
  // Sightline runs with the V8 flags its CLI runs with (package.json `start`), so the bench measures the product.
  const nodeFlags = [...(role === 'sightline' ? SIGHTLINE_NODE_FLAGS : []), ...(opts.nodeFlags ?? [])];
  try {
    const child = await startServerChild(SERVERS, [role, ctx.upstreamUrl, ...(dataDir ? [dataDir, ...(opts.env ?? [])] : [])], {
      cpus: ctx.cpuTarget, ...(nodeFlags.length > 0 ? { nodeFlags } : {}),
    });
    return {
      role, child, url: `http://127.0.0.1:${child.port}${CHAT_PATH}`,
      async stop() {
        try {
          const info = await child.stop();
          const spool = (info as { spool?: { dir?: unknown } } | undefined)?.spool?.dir;
          return { info, ...(typeof spool === 'string' ? { events: await countSpool(spool) } : {}) };
        } finally {
          if (dataDir) rmSync(dataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** Starts a target, runs `fn` against it, stops it (also when `fn` throws). */
export async function withTarget<T>(ctx: BenchContext, role: string, fn: (t: Target) => Promise<T>, opts: { env?: string[]; nodeFlags?: string[] } = {}):
  Promise<{ result: T; events?: EventCount; info: unknown }> {
  const t = await startTarget(ctx, role, opts);
  let result: T;
  try {
    result = await fn(t);
  } catch (err) {
    await t.stop().catch(() => {});
    throw err;
  }
  return { result, ...(await t.stop()) };
}

export interface Measured extends LoadResult {
  /** CPU time of the target's whole process tree during the window, per response, µs. */
  cpuUsPerReq: number;
  /** The same as a share of one core, %. */
  cpuPct: number;
  /** CPU time of the target's own process alone (not its children, e.g. npm start's ingest worker), per response, µs. */
  rootCpuUsPerReq: number;
  upstreamCpuPct: number;
  warmupRequests: number;
  rssStartMB: number;
  rssEndMB: number;
  /** Sum of the tree's VmHWM at the end (upper bound of its peak). */
  hwmMB: number;
  /** The measured window on the monotonic clock, µs (to cut a CPU profile to it). */
  windowUs: [number, number];
  /** The tree's CPU seconds reading at the window's start (to extend the CPU count past the window). */
  cpuStartS: number;
}

/** Warm-up at the same connection count, then the measured window; CPU of `pid`'s tree over the window only. */
export async function measureLoad(ctx: BenchContext, url: string, body: string, connections: number, pid: number, seconds = ctx.seconds, headers?: Record<string, string>): Promise<Measured> {
  const spec = { url, body, connections, cpus: ctx.cpuLoad, ...(headers ? { headers } : {}) };
  const warm = await runLoad(ctx.tool, { ...spec, seconds: ctx.warmupSeconds });
  const rssStart = treeMemory(pid).rssMB;
  const cpu0 = treeCpuSeconds(pid);
  const root0 = processCpuSeconds(pid);
  const up0 = treeCpuSeconds(ctx.upstream.pid);
  const t0 = Number(process.hrtime.bigint() / 1000n);
  const r = await runLoad(ctx.tool, { ...spec, seconds });
  const t1 = Number(process.hrtime.bigint() / 1000n);
  const cpu = treeCpuSeconds(pid) - cpu0;
  const root = processCpuSeconds(pid) - root0;
  const up = treeCpuSeconds(ctx.upstream.pid) - up0;
  const mem = treeMemory(pid);
  return {
    ...r, cpuUsPerReq: (cpu * 1e6) / Math.max(1, r.requests), cpuPct: (100 * cpu) / r.seconds, rootCpuUsPerReq: (root * 1e6) / Math.max(1, r.requests), upstreamCpuPct: (100 * up) / r.seconds,
    warmupRequests: warm.requests, rssStartMB: rssStart, rssEndMB: mem.rssMB, hwmMB: mem.hwmSumMB, windowUs: [t0, t1], cpuStartS: cpu0,
  };
}

export const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
