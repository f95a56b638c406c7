// The ingest worker as `npm start` runs it (its allocator environment included): a `sightline ingest` child process
// reading a spool on disk into the embedded ClickHouse (chDB), redaction on unless --redaction off. Bus messages are
// v2 exchanges built from the recorded OpenAI fixtures (half streamed) or v1 assembled events, ~3 KiB each
// (bench/ingest-events.ts).
//
//   drain (default): the spool is filled with --events messages first, then the worker is started; events/s is
//     rows stored over the time from the worker's first answer on its HTTP interface to the last row.
//   paced (--rate N): the worker starts on an empty spool and idles 3 s; then N events/s are appended for
//     --seconds. Reports the worker's CPU per event, rows per insert (parts of one block) and how long after the load
//     stopped the last event was stored.
// Both report the worker's RSS (anonymous and file-backed; most file-backed pages are libchdb.so's code) idle,
// peak and at the end, and --profile-dir writes the worker's --cpu-prof and prints its summary.
//   node bin/run-ts.mjs bench/ingest.ts [--stream v2|v1] [--events 100000] [--redaction on|off]
//                                       [--rate 300 --seconds 20] [--user-chars 600] [--profile-dir /tmp/prof]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openSpoolWriter } from '../bus/spool/index.ts';
import { parseConfig } from '../config/index.ts';
import { INGEST_ALLOCATOR_ENV } from '../ingest/main.ts';
import { decodeEvent, defaultAssembleDeps, redactorFromConfig } from '../ingest/pipeline.ts';
import { encodeInsert } from '../ingest/writer.ts';
import { busMessages, type StreamKind } from './ingest-events.ts';
import { summarizeCpuProfile } from './lib/cpuprofile.ts';
import { freePort } from './lib/proc.ts';

const { values: args } = parseArgs({ options: {
  stream: { type: 'string', default: 'v2' },
  events: { type: 'string', default: '100000' },
  redaction: { type: 'string', default: 'on' },
  rate: { type: 'string' },
  seconds: { type: 'string', default: '20' },
  'profile-dir': { type: 'string' },
  /** v2: characters of the user message (600 ≈ 3.4 KB per message; 16384 ≈ the proxy bench's 16 KiB bodies). */
  'user-chars': { type: 'string', default: '600' },
} });
const kind = args.stream as StreamKind;
if (kind !== 'v1' && kind !== 'v2') throw new Error('--stream is v1 or v2');
const redactionOn = args.redaction !== 'off';
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MiB = 2 ** 20;

interface Mem { rss: number; anon: number; file: number }
function memOf(pid: number): Mem {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: (kb('VmRSS') * 1024) / MiB, anon: (kb('RssAnon') * 1024) / MiB, file: (kb('RssFile') * 1024) / MiB };
}
/** utime + stime of the process (all its threads), seconds. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const fmt = (m: Mem) => `${Math.round(m.rss)} (anon ${Math.round(m.anon)}, file ${Math.round(m.file)})`;

/** JS time per event of each stage on this thread, for the profile of where the worker's time goes. */
function stageTimes(sample: readonly Buffer[]): { decode: number; redact: number; encode: number } {
  const redact = redactorFromConfig(parseConfig(`redaction:\n  enabled: ${redactionOn}\n`, {}).redaction);
  const deps = defaultAssembleDeps();
  let t = performance.now();
  const events = sample.map((b) => decodeEvent(b, 1 << 22, deps)).flatMap((d) => (d.ok ? [d.event] : []));
  const decode = performance.now() - t;
  t = performance.now();
  const redacted = events.map(redact);
  const redactMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < redacted.length; i += 5000) encodeInsert(redacted.slice(i, i + 5000));
  const us = (ms: number) => (ms * 1000) / sample.length;
  return { decode: us(decode), redact: us(redactMs), encode: us(performance.now() - t) };
}

interface Worker { pid: number; port: number; lines: string[]; query(sql: string): Promise<string>; stop(): Promise<void> }

async function startWorker(dataDir: string): Promise<Worker> {
  const port = await freePort();
  const configFile = path.join(dataDir, 'sightline.yaml');
  writeFileSync(configFile, `redaction:\n  enabled: ${redactionOn}\n`);
  const profile = args['profile-dir'];
  const flags = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`];
  const child = spawn(process.execPath, [...flags, path.join(ROOT, 'bin/sightline.mjs'), 'ingest'], {
    cwd: ROOT,
    env: { ...INGEST_ALLOCATOR_ENV, ...process.env, SIGHTLINE_DATA_DIR: dataDir, SIGHTLINE_CONFIG: configFile, SIGHTLINE_CLICKHOUSE_HTTP_PORT: String(port), TZ: 'UTC' },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const lines: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (s: string) => lines.push(...s.split('\n').filter(Boolean)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const query = async (sql: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${port}/?query=${encodeURIComponent(sql)}`);
    const text = await res.text();
    if (!res.ok) throw new Error(`${sql}: ${text}`);
    return text.trim();
  };
  for (const t0 = Date.now(); ; await sleep(20)) {
    if (child.exitCode !== null) throw new Error(`ingest worker exited: ${lines.join('\n')}`);
    if (Date.now() - t0 > 60_000) throw new Error(`ingest worker did not answer within 60 s: ${lines.join('\n')}`);
    if (await query('SELECT 1').then(() => true, () => false)) break;
  }
  return {
    pid: child.pid!,
    port,
    lines,
    query,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const rowsStored = async (w: Worker): Promise<number> => Number(await w.query('SELECT count() FROM sightline.requests'));
/**
 * Inserts so far: an insert's part spans one block number (merged ones span several; parts merged away stay listed,
 * inactive, for minutes). Inserted parts are not level 0 here: the TTL is applied as they are written.
 */
async function inserts(w: Worker): Promise<{ parts: number; rows: number }> {
  const [parts, rows] = (await w.query("SELECT count(), sum(rows) FROM system.parts WHERE database = 'sightline' AND table = 'requests' AND min_block_number = max_block_number")).split('\t');
  return { parts: Number(parts), rows: Number(rows) };
}

async function waitForRows(w: Worker, n: number, onSample: () => void): Promise<void> {
  while ((await rowsStored(w)) < n) {
    onSample();
    await sleep(50);
  }
}

function openSpool(dataDir: string) {
  const dir = path.join(dataDir, 'spool', 'proxy');
  mkdirSync(dir, { recursive: true });
  return openSpoolWriter({ dir, fsync: 'never', fsyncIntervalMs: 50, maxBytes: 8 * 1024 ** 3, segmentBytes: 64 * MiB, onWarn: () => {} });
}

async function drain(messages: readonly Buffer[]): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-ingest-'));
  try {
    const spool = openSpool(dataDir);
    for (const m of messages) while (!spool.append(m)) await spool.flush();
    await spool.close();
    const w = await startWorker(dataDir);
    const t0 = performance.now();
    const cpu0 = cpuOf(w.pid);
    const start = memOf(w.pid);
    let peak = start;
    await waitForRows(w, messages.length, () => {
      const m = memOf(w.pid);
      if (m.rss > peak.rss) peak = m;
    });
    const secs = (performance.now() - t0) / 1000;
    const cpu = cpuOf(w.pid) - cpu0;
    const ins = await inserts(w);
    console.log(`drain ${messages.length}: ${Math.round(messages.length / secs)} events/s, ${secs.toFixed(2)} s, worker CPU ${((cpu * 1e6) / messages.length).toFixed(1)} µs/event (${(cpu / secs).toFixed(2)} cores), ${ins.parts} inserts (${Math.round(ins.rows / Math.max(1, ins.parts))} rows each)`);
    console.log(`  worker RSS MiB: at start ${fmt(start)}, peak ${fmt(peak)}, end ${fmt(memOf(w.pid))}`);
    await w.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function paced(messages: readonly Buffer[], rate: number, seconds: number): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-ingest-'));
  try {
    const spool = openSpool(dataDir);
    spool.append(messages[0]!); // the worker reads only spool directories that already hold a segment
    await spool.flush();
    const w = await startWorker(dataDir);
    await waitForRows(w, 1, () => {});
    await sleep(3000);
    const idle = memOf(w.pid);
    const cpuIdle0 = cpuOf(w.pid);
    await sleep(2000);
    const idleCores = (cpuOf(w.pid) - cpuIdle0) / 2;
    const cpu0 = cpuOf(w.pid);
    let peak = idle;
    const total = Math.min(messages.length - 1, Math.round(rate * seconds));
    const t0 = performance.now();
    let sent = 0;
    // Appends in 10 ms ticks, catching up on the schedule (a busy proxy writes once per event-loop turn).
    while (sent < total) {
      const due = Math.min(total, Math.round(((performance.now() - t0) / 1000) * rate));
      while (sent < due) spool.append(messages[1 + sent++]!);
      const m = memOf(w.pid);
      if (m.rss > peak.rss) peak = m;
      await sleep(10);
    }
    await spool.flush();
    const stopped = performance.now();
    await waitForRows(w, total + 1, () => {
      const m = memOf(w.pid);
      if (m.rss > peak.rss) peak = m;
    });
    const lagS = (performance.now() - stopped) / 1000;
    const cpu = cpuOf(w.pid) - cpu0 - idleCores * ((performance.now() - t0) / 1000);
    const ins = await inserts(w);
    await spool.close();
    console.log(`paced ${rate}/s for ${seconds} s (${total} events): worker CPU ${((cpu * 1e6) / total).toFixed(0)} µs/event over idle (${((cpu / ((performance.now() - t0) / 1000)) * 100).toFixed(1)} % of a core), idle ${(idleCores * 100).toFixed(1)} % of a core; ${ins.parts} inserts (${Math.round(ins.rows / Math.max(1, ins.parts))} rows each); last event stored ${lagS.toFixed(2)} s after the load stopped`);
    console.log(`  worker RSS MiB: idle ${fmt(idle)}, peak ${fmt(peak)}, end ${fmt(memOf(w.pid))}`);
    await w.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const rate = args.rate === undefined ? undefined : Number(args.rate);
const seconds = Number(args.seconds);
const total = rate === undefined ? Number(args.events) : Math.round(rate * seconds) + 1;
const messages = busMessages(kind, total, Number(args['user-chars']));
const avg = messages.reduce((n, b) => n + b.length, 0) / messages.length;
console.log(`ingest worker (bin/sightline.mjs ingest → chDB): ${kind} events, ~${Math.round(avg)} B each, redaction ${redactionOn ? 'on' : 'off'}`);
const s = stageTimes(messages.slice(0, Math.min(20_000, messages.length)));
console.log(`  JS on one thread, µs/event: decode ${s.decode.toFixed(1)} · redact ${s.redact.toFixed(1)} · encode ${s.encode.toFixed(1)}`);
if (rate === undefined) await drain(messages);
else await paced(messages, rate, seconds);

const profileDir = args['profile-dir'];
if (profileDir !== undefined) {
  for (const f of readdirSync(profileDir).filter((n) => n.endsWith('.cpuprofile'))) {
    const summary = summarizeCpuProfile(path.join(profileDir, f), ROOT, undefined, 20);
    console.log(`\nprofile ${f}: busy ${Math.round(summary.busyMs)} ms of ${Math.round(summary.totalMs)} ms (JS thread only; chDB's threads are not sampled)`);
    for (const r of summary.byArea.slice(0, 12)) console.log(`  area ${r.pct.toFixed(1).padStart(5)} %  ${r.name}`);
    for (const r of summary.topSelf) console.log(`  self ${r.pct.toFixed(1).padStart(5)} %  ${r.name}${r.via ? `  ← ${r.via}` : ''}`);
  }
}
