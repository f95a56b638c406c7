// The spool tested like a database: real files, real child processes, real SIGKILL.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSpoolReader, openSpoolWriter, SpoolLockedError } from '../../bus/spool/index.ts';
import type { SpoolOptions, SpoolReader, SpoolRecord, SpoolWriter } from '../../bus/spool/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
let warnings: string[];
const open: { close(): Promise<void> }[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sl-spool-'));
  warnings = [];
});
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
  rmSync(dir, { recursive: true, force: true });
});

function writer(over: Partial<SpoolOptions> = {}): SpoolWriter {
  const w = openSpoolWriter({ dir, fsync: 'interval', fsyncIntervalMs: 10, maxBytes: 1 << 30, segmentBytes: 64 * 1024, onWarn: (m) => warnings.push(m), ...over });
  open.push(w);
  return w;
}
function reader(name: string): SpoolReader {
  const r = openSpoolReader(dir, name, { onWarn: (m) => warnings.push(m), pollMs: 5 });
  open.push(r);
  return r;
}
async function closeHandle(h: SpoolWriter | SpoolReader): Promise<void> {
  open.splice(open.indexOf(h), 1);
  await h.close();
}
/** A writer's life from open to clean close: what a restart test starts from. */
async function appendAndClose(records: readonly string[]): Promise<void> {
  const w = writer();
  for (const r of records) w.append(r);
  await closeHandle(w);
}
/** Reads until nothing more arrives within waitMs. */
async function drain(r: SpoolReader, waitMs = 50): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  for (;;) {
    const batch = await r.read(1000, waitMs);
    if (batch.length === 0) return out;
    out.push(...batch);
  }
}
const texts = (recs: SpoolRecord[]) => recs.map((r) => r.data.toString('utf8'));
const segments = () => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
const seqs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => String(from + i));

function runTs(script: string, args: string[]): { child: ChildProcess; lines: string[]; nextLine(match: RegExp, ms?: number): Promise<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/run-ts.mjs'), path.join(ROOT, script), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  const listeners = new Set<() => void>();
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const nextLine = (match: RegExp, ms = 20_000) => new Promise<string>((resolve, reject) => {
    const check = () => {
      const hit = lines.find((l) => match.test(l));
      if (hit !== undefined) {
        listeners.delete(check);
        clearTimeout(timer);
        resolve(hit);
      }
    };
    const timer = setTimeout(() => { listeners.delete(check); reject(new Error(`no line matching ${match} in ${ms} ms; stdout=${lines.join('|')} stderr=${stderr}`)); }, ms);
    listeners.add(check);
    child.on('exit', () => setTimeout(() => { if (listeners.has(check)) { listeners.delete(check); clearTimeout(timer); reject(new Error(`child exited; stdout=${lines.join('|')} stderr=${stderr}`)); } }, 50));
    check();
  });
  return { child, lines, nextLine, exited };
}

describe('spool: order and recovery', () => {
  it('returns records in append order across many segments, strings and buffers, empty ones included', async () => {
    const w = writer({ segmentBytes: 4096 });
    const expected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const text = i % 97 === 0 ? '' : `${i}:${'y'.repeat(i % 211)}`;
      expect(w.append(i % 2 ? Buffer.from(text) : text)).toBe(true);
      expected.push(text);
    }
    await w.flush();
    expect(segments().length).toBeGreaterThan(20);
    const got = await drain(reader('ingest'));
    expect(texts(got)).toEqual(expected);
    const offsets = got.map((r) => r.offset);
    expect([...offsets].sort()).toEqual(offsets);
    expect(new Set(offsets).size).toBe(offsets.length);
    expect(w.stats).toMatchObject({ appended: 3000, refused: 0 });
  });

  it('continues the same log after a clean restart of writer and reader', async () => {
    await appendAndClose(seqs(100));
    let r = reader('ingest');
    const first = await drain(r);
    expect(texts(first)).toEqual(seqs(100));
    await r.commit(first.at(-1)!.offset);
    await closeHandle(r);
    const w = writer();
    for (const s of seqs(50, 100)) w.append(s);
    await w.flush();
    r = reader('ingest');
    expect(texts(await drain(r))).toEqual(seqs(50, 100));
    expect(warnings).toEqual([]);
  });

  it('keeps a commit across a reader restart (at-least-once: uncommitted records come again)', async () => {
    const w = writer();
    for (const s of seqs(10)) w.append(s);
    await w.flush();
    let r = reader('ingest');
    const got = await r.read(10);
    expect(got).toHaveLength(10);
    await r.commit(got[4]!.offset);
    await expect(r.commit('not-an-offset')).rejects.toThrow(TypeError);
    await closeHandle(r);
    r = reader('ingest');
    expect(texts(await drain(r))).toEqual(seqs(5, 5));
    expect(r.lag().bytes).toBeGreaterThan(0);
  });

  it('refuses to commit past what was read', async () => {
    const w = writer();
    for (const s of seqs(3)) w.append(s);
    await w.flush();
    const r = reader('ingest');
    const [one] = await r.read(1);
    await r.commit(one!.offset);
    const all = await writerOffsets();
    await expect(r.commit(all.at(-1)!)).rejects.toThrow(RangeError);
    async function writerOffsets() {
      const other = reader('peek');
      return (await drain(other)).map((x) => x.offset);
    }
  });

  it('stores and returns a 10 MB record intact, larger than a segment', async () => {
    const w = writer({ segmentBytes: 1024 * 1024 });
    const big = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    w.append('before');
    expect(w.append(big)).toBe(true);
    w.append('after');
    await w.flush();
    const got = await drain(reader('ingest'));
    expect(got).toHaveLength(3);
    expect(got[1]!.data.equals(big)).toBe(true);
    expect(texts([got[0]!, got[2]!])).toEqual(['before', 'after']);
  });
});

describe('spool: crashes and torn writes', () => {
  it.each(['always', 'interval', 'never'] as const)('fsync=%s: a writer killed with SIGKILL mid-stream loses no flushed record and serves no torn one', async (fsync) => {
    const child = runTs('test/engine/spool.child-writer.ts', [dir, fsync]);
    await child.nextLine(/^ready$/);
    await child.nextLine(/^flushed (\d{4,})$/); // at least a few thousand records in
    await new Promise((r) => setTimeout(r, 37));
    child.child.kill('SIGKILL');
    await child.exited;
    const flushed = Math.max(...child.lines.filter((l) => l.startsWith('flushed ')).map((l) => Number(l.slice(8))));
    expect(flushed).toBeGreaterThanOrEqual(1000);

    // A reader before the writer recovers sees only whole records.
    const before = await drain(reader('early'));
    const w = writer(); // takes over the dead child's lock, truncates any torn tail
    expect(warnings.some((m) => m.includes('stale lock'))).toBe(true);
    const after = await drain(reader('ingest'));
    const seqOf = (r: SpoolRecord) => (JSON.parse(r.data.toString('utf8')) as { seq: number }).seq;
    expect(after.map(seqOf)).toEqual(Array.from({ length: after.length }, (_, i) => i));
    expect(after.length).toBeGreaterThanOrEqual(flushed);
    expect(before.length).toBe(after.length);
    // And the log goes on from there.
    w.append(JSON.stringify({ seq: after.length }));
    await w.flush();
    expect((await drain(reader('ingest2'))).map(seqOf).at(-1)).toBe(after.length);
  });

  it('truncates a torn tail (record cut mid-payload) on open, with a warning; readers never see the half record', async () => {
    await appendAndClose(seqs(20).map((s) => `record-${s}`));
    const seg = path.join(dir, segments().at(-1)!);
    const size = statSync(seg).size;
    truncateSync(seg, size - 3);
    expect(texts(await drain(reader('ingest')))).toEqual(seqs(19).map((s) => `record-${s}`));
    const w = writer();
    expect(warnings.filter((m) => m.includes('torn or corrupt tail'))).toHaveLength(1);
    expect(statSync(seg).size).toBe(size - (8 + 'record-19'.length));
    w.append('record-new');
    await w.flush();
    expect(texts(await drain(reader('fresh')))).toEqual([...seqs(19).map((s) => `record-${s}`), 'record-new']);
  });

  it('detects a corrupted CRC in the tail segment: serves records before it, the writer cuts from there', async () => {
    await appendAndClose(seqs(10).map((s) => `r${s}`));
    const seg = path.join(dir, segments().at(-1)!);
    flipByte(seg, 5 * (8 + 2) + 8); // first payload byte of record 5
    const r = reader('ingest');
    expect(texts(await drain(r))).toEqual(seqs(5).map((s) => `r${s}`));
    const w = writer();
    expect(warnings.some((m) => m.includes('truncated 50 bytes'))).toBe(true);
    w.append('r-after');
    await w.flush();
    expect(texts(await drain(r))).toEqual(['r-after']);
  });

  it('skips the corrupt rest of a finished segment with a warning and goes on with the next one', async () => {
    const w = writer({ segmentBytes: 100 });
    for (const s of seqs(30)) w.append(`rec${s.padStart(2, '0')}`); // 13 bytes each: 7 per segment
    await w.flush();
    const first = path.join(dir, segments()[0]!);
    flipByte(first, 3 * 13 + 10);
    const got = texts(await drain(reader('ingest')));
    expect(got).toEqual([...seqs(3), ...seqs(23, 7)].map((s) => `rec${s.padStart(2, '0')}`));
    expect(warnings.some((m) => m.includes('corrupt record'))).toBe(true);
  });

  it('after an OS crash lost committed bytes, the writer resumes past the committed offset', async () => {
    await appendAndClose(seqs(5));
    const r = reader('ingest');
    const got = await drain(r);
    await r.commit(got.at(-1)!.offset);
    await closeHandle(r);
    truncateSync(path.join(dir, segments().at(-1)!), 0); // the data never reached the disk
    const w = writer();
    expect(warnings.some((m) => m.includes('data lost in an OS crash'))).toBe(true);
    w.append('new');
    await w.flush();
    expect(texts(await drain(reader('ingest')))).toEqual(['new']);
  });
});

describe('spool: limits and reclamation', () => {
  it('refuses appends at max_bytes (counted, warned once) and accepts again after the consumer commits', async () => {
    const r = reader('ingest');
    const w = writer({ maxBytes: 10_000, segmentBytes: 1000 });
    const payload = 'z'.repeat(92); // 100 bytes on disk
    let accepted = 0;
    for (let i = 0; i < 150; i++) if (w.append(payload)) accepted++;
    expect(accepted).toBe(100);
    expect(w.stats).toMatchObject({ appended: 100, refused: 50, bytes: 10_000 });
    expect(warnings.filter((m) => m.includes('max_bytes'))).toHaveLength(1);
    expect(warnings[0]).toContain("slowest consumer 'ingest'");
    await w.flush();

    const got = await drain(r);
    expect(got).toHaveLength(100);
    await r.commit(got.at(-1)!.offset);
    expect(segments()).toHaveLength(1); // all but the live segment reclaimed
    await new Promise((res) => setTimeout(res, 60));
    expect(w.append(payload)).toBe(true);
    expect(w.stats.refused).toBe(50);
    expect(w.stats.bytes).toBeLessThanOrEqual(1100);
    expect(warnings.some((m) => m.includes('accepting appends again'))).toBe(true);
  });

  it('refuses (never drops silently) when the in-memory write queue is full', async () => {
    const w = writer({ maxPendingBytes: 64 * 1024 });
    let refused = 0;
    for (let i = 0; i < 200; i++) if (!w.append(Buffer.alloc(1024))) refused++;
    expect(refused).toBeGreaterThan(0);
    expect(w.stats.refused).toBe(refused);
    expect(w.stats.appended + refused).toBe(200);
    expect(warnings.filter((m) => m.includes('write buffer full'))).toHaveLength(1);
    await w.flush();
    expect(await drain(reader('ingest'))).toHaveLength(w.stats.appended);
  });

  it('keeps independent offsets per consumer; a segment goes only when every consumer has passed it', async () => {
    const w = writer({ segmentBytes: 200 });
    for (const s of seqs(100)) w.append(s.padStart(3, '0'));
    await w.flush();
    const a = reader('ingest');
    const b = reader('kafka-forwarder');
    const segsBefore = segments().length;
    const fromA = await drain(a);
    await a.commit(fromA.at(-1)!.offset);
    expect(segments()).toHaveLength(segsBefore); // b still needs them
    const fromB = await b.read(30);
    await b.commit(fromB.at(-1)!.offset);
    const left = segments().length;
    expect(left).toBeLessThan(segsBefore);
    expect(left).toBeGreaterThan(1);
    expect(texts(fromA)).toEqual(seqs(100).map((s) => s.padStart(3, '0')));
    expect(texts([...fromB, ...(await drain(b))])).toEqual(texts(fromA));
    expect(a.lag().bytes).toBe(0);
    expect(b.lag().bytes).toBeGreaterThan(0);
  });
});

describe('spool: processes and locks', () => {
  it('a reader in another process tails a live writer and sees every record in order', async () => {
    const total = 5000;
    const child = runTs('test/engine/spool.child-reader.ts', [dir, 'ingest', String(total)]);
    await child.nextLine(/^ready$/);
    const w = writer({ segmentBytes: 16 * 1024 });
    for (let i = 0; i < total; i += 100) {
      for (let j = i; j < i + 100; j++) w.append(String(j));
      await new Promise((r) => setTimeout(r, 2));
    }
    await w.flush();
    expect(await child.nextLine(/^(ok|bad)/)).toBe(`ok ${total}`);
    expect(await child.exited).toBe(0);
    // It committed as it went, so the writer's segments were reclaimed behind it.
    expect(segments().length).toBeLessThanOrEqual(2);
  });

  it('refuses a second writer on the same directory, in this process or another, and names the holder', async () => {
    writer();
    expect(() => writer()).toThrow(SpoolLockedError);
    try {
      writer();
    } catch (err) {
      expect((err as SpoolLockedError).holderPid).toBe(process.pid);
    }
    const child = runTs('test/engine/spool.child-writer.ts', [dir, 'interval']);
    expect(await child.exited).not.toBe(0);
    expect(child.lines).not.toContain('ready');
    expect(() => reader('ingest') && reader('ingest')).toThrow(SpoolLockedError);
  });

  it('takes over a stale lock left by a dead process', async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    const pid = dead.pid!;
    await new Promise((r) => dead.on('exit', r));
    writeFileSync(path.join(dir, 'writer.lock'), JSON.stringify({ pid, start: null }));
    const w = writer();
    expect(warnings.some((m) => m.includes(`process ${pid} is gone`))).toBe(true);
    w.append('x');
    await w.flush();
    expect(texts(await drain(reader('ingest')))).toEqual(['x']);
  });
});

function flipByte(file: string, at: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}
