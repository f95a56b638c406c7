// A named consumer of a spool directory, usually in another process than the writer. Everything it knows about
// the writer comes from the files: segment names, segment sizes and CRC-valid records. A record that is not yet
// whole (the writer is mid-write, or died mid-write and has not recovered yet) is never returned.
import { closeSync, fstatSync, mkdirSync, openSync, statSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import path from 'node:path';
import { checkConsumerName, consumersDir, formatOffset, listSegments, parseOffset, readCommitted, reclaimSegments, scanSegment, segmentPath, writeCommitted, writeCommittedSync } from './format.ts';
import { acquireLock } from './lock.ts';
import type { SpoolReader, SpoolReaderOptions, SpoolRecord } from './types.ts';

/** Bytes one read() returns at most (at least one record is always returned, whatever its size). */
const READ_BYTES = 16 * 1024 * 1024;

export function openSpoolReader(dir: string, name: string, opts: SpoolReaderOptions = {}): SpoolReader {
  return new FileSpoolReader(path.resolve(dir), checkConsumerName(name), opts);
}

class FileSpoolReader implements SpoolReader {
  private readonly warn: (msg: string) => void;
  private readonly pollMs: number;
  private readonly releaseLock: () => void;
  private committed: number;
  /** Global position just past the last record returned. */
  private position: number;
  private seg: { base: number; fd: number } | null = null;
  private watcher: FSWatcher | null = null;
  private watchFailed = false;
  private wake: (() => void) | null = null;
  private closed = false;
  private commits: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string, private readonly name: string, opts: SpoolReaderOptions) {
    this.warn = opts.onWarn ?? ((msg) => process.emitWarning(msg, 'SpoolWarning'));
    this.pollMs = opts.pollMs ?? 25;
    mkdirSync(consumersDir(dir), { recursive: true });
    this.releaseLock = acquireLock(path.join(consumersDir(dir), `${name}.lock`), this.warn);
    try {
      const known = readCommitted(dir).get(name);
      if (known === undefined) {
        // Register at once, from the oldest data still on disk, so segments are kept for this consumer from now on.
        this.committed = listSegments(dir)[0] ?? 0;
        writeCommittedSync(dir, name, this.committed);
      } else {
        this.committed = known;
      }
      this.position = this.committed;
    } catch (err) {
      this.releaseLock();
      throw err;
    }
  }

  async read(max: number, waitMs = 0): Promise<SpoolRecord[]> {
    if (!(max >= 1)) throw new RangeError(`spool read: max must be at least 1, got ${max}`);
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (this.closed) return [];
      const records = this.readAvailable(max);
      if (records.length > 0) return records;
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await this.waitForChange(Math.min(left, this.pollMs));
    }
  }

  async commit(offset: string): Promise<void> {
    const pos = parseOffset(offset);
    if (pos > this.position) throw new RangeError(`spool consumer '${this.name}': cannot commit ${offset}, past the last record read (${formatOffset(this.position)})`);
    // One commit at a time: they share a temp file, and a later commit must not be overtaken by an earlier one.
    const run = this.commits.then(async () => {
      if (pos <= this.committed) return;
      await writeCommitted(this.dir, this.name, pos);
      this.committed = pos;
      reclaimSegments(this.dir);
    });
    this.commits = run.catch(() => {});
    await run;
  }

  lag(): { records?: number; bytes: number } {
    for (let attempt = 0; attempt < 3; attempt++) {
      const last = listSegments(this.dir).at(-1);
      if (last === undefined) return { bytes: 0 };
      try {
        return { bytes: Math.max(0, last + statSync(segmentPath(this.dir, last)).size - this.committed) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return { bytes: 0 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.commits;
    this.wake?.();
    this.watcher?.close();
    if (this.seg) closeSync(this.seg.fd);
    this.seg = null;
    this.releaseLock();
  }

  private readAvailable(max: number): SpoolRecord[] {
    for (;;) {
      // The listing is taken before the segment's size: if it already shows a later segment, the writer had
      // finished this one before we looked, so what we read of it is final.
      const bases = listSegments(this.dir);
      const oldest = bases[0];
      if (oldest === undefined) return [];
      if (this.position < oldest) {
        this.warn(`spool ${this.dir}: consumer '${this.name}' was at ${this.position}, before the oldest segment ${oldest}; skipping ahead`);
        this.position = oldest;
      }
      let idx = bases.length - 1;
      while ((bases[idx] as number) > this.position) idx--;
      const base = bases[idx] as number;
      const nextBase = bases[idx + 1];
      const fd = this.segmentFd(base);
      if (fd === null) continue; // deleted between listing and open: list again
      const size = fstatSync(fd).size;
      if (this.position - base > size) {
        if (nextBase === undefined) return [];
        this.warn(`spool ${this.dir}: consumer '${this.name}' at ${this.position} is past the end of segment ${base} (${size} bytes); continuing at ${nextBase}`);
        this.position = nextBase;
        continue;
      }
      const scan = scanSegment(fd, this.position - base, size, { records: max, bytes: READ_BYTES, collect: true });
      if (scan.records.length > 0) {
        this.position = base + scan.next;
        return scan.records.map((r) => ({ offset: formatOffset(base + r.end), data: r.data }));
      }
      if (nextBase === undefined) return []; // at the live tail (a torn tail waits for the writer's recovery)
      if (scan.stop === 'torn') {
        this.warn(`spool ${this.dir}: corrupt record at ${base + scan.next} in a finished segment; skipping its last ${size - scan.next} bytes`);
      }
      this.position = nextBase;
    }
  }

  private segmentFd(base: number): number | null {
    if (this.seg?.base === base) return this.seg.fd;
    if (this.seg) closeSync(this.seg.fd);
    this.seg = null;
    try {
      this.seg = { base, fd: openSync(segmentPath(this.dir, base), 'r') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return this.seg.fd;
  }

  /** Resolves on any change in the spool directory (fs.watch) or after `ms`, whichever is first. */
  private waitForChange(ms: number): Promise<void> {
    if (!this.watcher && !this.watchFailed) {
      try {
        this.watcher = watch(this.dir, { persistent: false }, () => this.wake?.());
        this.watcher.on('error', () => {
          this.watchFailed = true;
          this.watcher?.close();
          this.watcher = null;
        });
      } catch {
        this.watchFailed = true;
      }
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
