// On-disk layout of a spool directory, shared by the writer and reader processes:
//   <dir>/writer.lock                 pid of the one writer process (see lock.ts)
//   <dir>/<20-digit base>.seg         segment files; base = global byte position of the segment's first record
//   <dir>/consumers/<name>.offset     a consumer's committed position (20-digit decimal, written atomically)
//   <dir>/consumers/<name>.lock       pid of the process reading as <name>
// A record is [u32le length][u32le crc32(length bytes ‖ payload)][payload]. Segments are contiguous: a segment
// ends exactly where the next one begins, so a global position names one byte of one segment forever.
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open as openAsync, rename } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';

export const HEADER_BYTES = 8;
/** A length field above this is corruption, not a record (a 10 MB event is far below it). */
export const MAX_RECORD_BYTES = 1 << 30;
const SEGMENT_RE = /^(\d{20})\.seg$/;
const OFFSET_RE = /^\d{1,20}$/;
const CONSUMER_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const READ_CHUNK_BYTES = 1024 * 1024;

export function encodeRecord(data: Buffer | string): Buffer {
  const len = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  const buf = Buffer.allocUnsafe(HEADER_BYTES + len);
  buf.writeUInt32LE(len, 0);
  if (typeof data === 'string') buf.write(data, HEADER_BYTES, 'utf8');
  else data.copy(buf, HEADER_BYTES);
  buf.writeUInt32LE(recordCrc(buf, 0, len), 4);
  return buf;
}

function recordCrc(buf: Buffer, at: number, len: number): number {
  return crc32(buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len), crc32(buf.subarray(at, at + 4)));
}

export const formatOffset = (pos: number): string => String(pos).padStart(20, '0');

export function parseOffset(offset: string): number {
  const n = OFFSET_RE.test(offset) ? Number(offset) : NaN;
  if (!Number.isSafeInteger(n)) throw new TypeError(`not a spool offset: ${JSON.stringify(offset)}`);
  return n;
}

export function checkConsumerName(name: string): string {
  if (!CONSUMER_RE.test(name)) throw new TypeError(`spool consumer name must match ${CONSUMER_RE}: ${JSON.stringify(name)}`);
  return name;
}

export const segmentPath = (dir: string, base: number): string => path.join(dir, `${formatOffset(base)}.seg`);
export const consumersDir = (dir: string): string => path.join(dir, 'consumers');

/** Segment bases, ascending. */
export function listSegments(dir: string): number[] {
  const bases: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (m?.[1] !== undefined) bases.push(Number(m[1]));
  }
  return bases.sort((a, b) => a - b);
}

export interface ScannedRecord { end: number; data: Buffer }
export interface ScanResult {
  records: ScannedRecord[];
  /** Segment-relative position just past the last good record. */
  next: number;
  /** 'end': stopped at the end of the file; 'torn': bytes follow that are not a whole valid record; 'limit': enough read. */
  stop: 'end' | 'torn' | 'limit';
}

/**
 * Reads whole, CRC-valid records from an open segment starting at `from`, never past `fileSize`.
 * With `collect` false only positions are tracked (recovery scans a segment without holding it in memory).
 */
export function scanSegment(fd: number, from: number, fileSize: number, limits: { records: number; bytes: number; collect: boolean }): ScanResult {
  const records: ScannedRecord[] = [];
  let pos = from;
  let taken = 0;
  while (pos < fileSize) {
    if (records.length >= limits.records || (taken > 0 && taken >= limits.bytes)) return { records, next: pos, stop: 'limit' };
    const chunk = readAt(fd, pos, Math.min(READ_CHUNK_BYTES, fileSize - pos));
    let at = 0;
    let progressed = false;
    while (at + HEADER_BYTES <= chunk.length) {
      if (records.length >= limits.records || (taken > 0 && taken >= limits.bytes)) break;
      const len = chunk.readUInt32LE(at);
      if (len > MAX_RECORD_BYTES || pos + at + HEADER_BYTES + len > fileSize) return { records, next: pos + at, stop: 'torn' };
      let rec = chunk;
      let recAt = at;
      if (at + HEADER_BYTES + len > chunk.length) {
        if (at > 0) break; // re-read from this record's start with a buffer that fits it
        rec = readAt(fd, pos, HEADER_BYTES + len);
        recAt = 0;
      }
      if (rec.readUInt32LE(recAt + 4) !== recordCrc(rec, recAt, len)) return { records, next: pos + at, stop: 'torn' };
      at += HEADER_BYTES + len;
      progressed = true;
      taken += len;
      if (limits.collect) records.push({ end: pos + at, data: rec.subarray(recAt + HEADER_BYTES, recAt + HEADER_BYTES + len) });
      if (rec !== chunk) break;
    }
    if (!progressed) return { records, next: pos, stop: 'torn' }; // fewer than HEADER_BYTES left
    pos += at;
  }
  return { records, next: pos, stop: 'end' };
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/** Committed positions of every registered consumer. */
export function readCommitted(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  let names: string[];
  try {
    names = readdirSync(consumersDir(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  for (const file of names) {
    if (!file.endsWith('.offset')) continue;
    const name = file.slice(0, -'.offset'.length);
    if (!CONSUMER_RE.test(name)) continue;
    try {
      out.set(name, parseOffset(readFileSync(path.join(consumersDir(dir), file), 'utf8').trim()));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return out;
}

/**
 * temp file + fsync + rename + fsync(dir): after a crash the old or the new offset is there, never a torn one.
 * A reader registers itself with the sync form (its open is synchronous); commits use the async form, so the
 * two fsyncs (~several ms) never stall the committing process's event loop.
 */
export function writeCommittedSync(dir: string, name: string, pos: number): void {
  const f = committedFiles(dir, name);
  const fd = openSync(f.tmp, 'w');
  try {
    writeSync(fd, f.text(pos));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(f.tmp, f.final);
  fsyncDirSync(f.dir);
}

export async function writeCommitted(dir: string, name: string, pos: number): Promise<void> {
  const f = committedFiles(dir, name);
  const fh = await openAsync(f.tmp, 'w');
  try {
    await fh.writeFile(f.text(pos));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(f.tmp, f.final);
  const dh = await openAsync(f.dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

function committedFiles(dir: string, name: string) {
  const cdir = consumersDir(dir);
  return {
    dir: cdir,
    final: path.join(cdir, `${name}.offset`),
    tmp: path.join(cdir, `.${name}.offset.${process.pid}.tmp`),
    text: (pos: number) => `${formatOffset(pos)}\n`,
  };
}

export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface ReclaimResult { deleted: number; slowest?: { name: string; offset: number } }

/**
 * Deletes every segment that all registered consumers have committed past. The newest segment is never
 * deleted (the writer appends to it); with no consumer registered nothing is consumed, so nothing goes.
 * Safe to run from any process at any time: deleting twice is a no-op, and readers keep open fds.
 */
export function reclaimSegments(dir: string): ReclaimResult {
  const committed = readCommitted(dir);
  let slowest: { name: string; offset: number } | undefined;
  for (const [name, offset] of committed) if (!slowest || offset < slowest.offset) slowest = { name, offset };
  if (!slowest) return { deleted: 0 };
  const bases = listSegments(dir);
  let deleted = 0;
  for (let i = 0; i + 1 < bases.length; i++) {
    const nextBase = bases[i + 1] as number;
    if (nextBase > slowest.offset) break;
    rmSync(segmentPath(dir, bases[i] as number), { force: true });
    deleted++;
  }
  return { deleted, slowest };
}
