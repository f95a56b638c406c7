// Spool throughput: append rate per fsync policy (1 KB records, appended in bursts the way a busy proxy's event
// loop would, flush() at the end included) and replay rate (read + commit per batch, as ingest does).
// Usage: node bin/run-ts.mjs bench/spool.ts [records=200000] [recordBytes=1024]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { openSpoolReader, openSpoolWriter } from '../bus/spool/index.ts';
import type { SpoolOptions } from '../bus/spool/index.ts';

const records = Number(process.argv[2] ?? 200_000);
const recordBytes = Number(process.argv[3] ?? 1024);
const BURST = 256;

interface Row { run: string; records: number; seconds: number; refusedThenRetried: number; appendCallNs?: number }

async function appendRun(policy: SpoolOptions['fsync'], dir: string): Promise<Row> {
  const writer = openSpoolWriter({ dir, fsync: policy, fsyncIntervalMs: 50, maxBytes: 4 * 1024 ** 3, segmentBytes: 64 * 1024 ** 2, onWarn: () => {} });
  const payload = Buffer.alloc(recordBytes, 0x61);
  let retried = 0;
  let callNs = 0n;
  const t0 = performance.now();
  for (let i = 0; i < records;) {
    const end = Math.min(records, i + BURST);
    const c0 = process.hrtime.bigint();
    while (i < end && writer.append(payload)) i++;
    callNs += process.hrtime.bigint() - c0;
    if (i < end) retried++; // queue full: let the background write catch up, then go on (the bench drops nothing)
    await nextTurn();
  }
  await writer.flush();
  const seconds = (performance.now() - t0) / 1000;
  await writer.close();
  return { run: `append fsync=${policy}`, records, seconds, refusedThenRetried: retried, appendCallNs: Number(callNs) / records };
}

/** The worst case for 'always': each record waits for its own fsync before the next is appended. */
async function flushEachRun(dir: string): Promise<Row> {
  const writer = openSpoolWriter({ dir, fsync: 'always', fsyncIntervalMs: 50, maxBytes: 4 * 1024 ** 3, segmentBytes: 64 * 1024 ** 2, onWarn: () => {} });
  const payload = Buffer.alloc(recordBytes, 0x61);
  const n = Math.min(records, 2000);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    writer.append(payload);
    await writer.flush();
  }
  const seconds = (performance.now() - t0) / 1000;
  await writer.close();
  return { run: 'append fsync=always, await flush() after each', records: n, seconds, refusedThenRetried: 0 };
}

async function replayRun(dir: string, commitEach: boolean): Promise<Row> {
  const reader = openSpoolReader(dir, commitEach ? 'bench-commit' : 'bench-read');
  let n = 0;
  const t0 = performance.now();
  for (;;) {
    const batch = await reader.read(1000);
    const last = batch.at(-1);
    if (!last) break;
    n += batch.length;
    if (commitEach) await reader.commit(last.offset);
  }
  const seconds = (performance.now() - t0) / 1000;
  await reader.close();
  if (n !== records) throw new Error(`replayed ${n} of ${records}`);
  return { run: commitEach ? 'replay: read(1000) + commit each batch' : 'replay: read(1000), no commit', records: n, seconds, refusedThenRetried: 0 };
}

const rows: Row[] = [];
for (const policy of ['warm-up', 'never', 'interval', 'always'] as const) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sl-spool-bench-'));
  try {
    if (policy === 'warm-up') {
      await appendRun('never', dir); // JIT and page cache settle; not reported
      continue;
    }
    rows.push(await appendRun(policy, dir));
    if (policy === 'always') rows.push(await flushEachRun(dir));
    if (policy === 'interval') rows.push(await replayRun(dir, false), await replayRun(dir, true));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mbPerRecord = (recordBytes + 8) / 1024 ** 2;
console.log(`spool bench: ${records} records of ${recordBytes} B (+8 B header), node ${process.version}`);
console.log('| run | records/s | MB/s | append() ns/call | queue-full bursts |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.run} | ${Math.round(r.records / r.seconds).toLocaleString('en-US')} | ${((r.records * mbPerRecord) / r.seconds).toFixed(r.records * mbPerRecord / r.seconds < 10 ? 1 : 0)} | ${r.appendCallNs === undefined ? '' : r.appendCallNs.toFixed(0)} | ${r.appendCallNs === undefined ? '' : r.refusedThenRetried} |`);
}
