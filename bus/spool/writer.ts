// The spool's one writer. append() only encodes the record into a bounded in-memory queue and returns; a
// background pump writes the queue in batches (one positional writev per batch, on libuv's thread pool) and
// fsyncs per policy, so the proxy's event loop never waits on the disk.
import { close, closeSync, fstatSync, fsync, ftruncateSync, fsyncSync, mkdirSync, openSync, writev, writevSync } from 'node:fs';
import path from 'node:path';
import { consumersDir, encodeRecord, fsyncDirSync, HEADER_BYTES, listSegments, readCommitted, reclaimSegments, scanSegment, segmentPath } from './format.ts';
import { acquireLock } from './lock.ts';
import type { SpoolOptions, SpoolWriter } from './types.ts';

/** Upper bound of one writev: keeps each background write short and the buffer turning over. */
const BATCH_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_PENDING_BYTES = 32 * 1024 * 1024;
const RESCAN_MS = 50;
const RETRY_MS = 1000;

interface Waiter { target: number; resolve: () => void }
interface Ack { end: number; cb: (ok: boolean) => void }

export function openSpoolWriter(opts: SpoolOptions): SpoolWriter {
  return new FileSpoolWriter(opts);
}

class FileSpoolWriter implements SpoolWriter {
  private readonly dir: string;
  private readonly warn: (msg: string) => void;
  private readonly releaseLock: () => void;
  private fd: number;
  private segBase: number;
  private segSize: number;
  /** Global position up to which bytes are in the OS (page cache). */
  private writtenEnd: number;
  /** Global position up to which bytes are fsynced. */
  private syncedEnd: number;
  /** Global position after the last accepted record (written or still queued). */
  private acceptedEnd: number;
  private oldestBase: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing = false;
  private pumpScheduled = false;
  private syncing = false;
  private syncAgain = false;
  private dirDirty = false;
  /** Rolled segments whose data still needs an fsync before their fd is closed. */
  private retired: number[] = [];
  private waiters: Waiter[] = [];
  /** Appends waiting to be durable, in log order (so their ends ascend). */
  private acks: Ack[] = [];
  private writeFailed = false;
  private lastRefusedBytes = 0;
  private refusedSinceWarn: { cap: number; buffer: number } = { cap: 0, buffer: 0 };
  private lastRescan = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private appended = 0;
  private refused = 0;

  constructor(private readonly opts: SpoolOptions) {
    this.dir = path.resolve(opts.dir);
    this.warn = opts.onWarn ?? ((msg) => process.emitWarning(msg, 'SpoolWarning'));
    mkdirSync(consumersDir(this.dir), { recursive: true });
    this.releaseLock = acquireLock(path.join(this.dir, 'writer.lock'), this.warn);
    try {
      const bases = listSegments(this.dir);
      const committed = [...readCommitted(this.dir).values()];
      const maxCommitted = committed.length ? Math.max(...committed) : 0;
      const last = bases.at(-1);
      if (last === undefined) {
        this.segBase = maxCommitted;
        this.fd = openSync(segmentPath(this.dir, this.segBase), 'wx+');
        this.segSize = 0;
        fsyncDirSync(this.dir);
      } else {
        this.segBase = last;
        this.fd = openSync(segmentPath(this.dir, last), 'r+');
        this.segSize = this.recoverTail();
      }
      this.writtenEnd = this.syncedEnd = this.acceptedEnd = this.segBase + this.segSize;
      this.oldestBase = bases[0] ?? this.segBase;
      if (maxCommitted > this.writtenEnd) {
        // Only an OS crash with unsynced data gets here: a consumer committed bytes that are gone. Start past them
        // so positions never repeat and that consumer never skips into the middle of a new record.
        this.warn(`spool ${this.dir}: log ends at ${this.writtenEnd} but a consumer committed ${maxCommitted}; data lost in an OS crash, continuing at ${maxCommitted}`);
        this.writtenEnd = this.syncedEnd = this.acceptedEnd = maxCommitted;
        this.roll();
      }
    } catch (err) {
      this.releaseLock();
      throw err;
    }
    const tick = opts.fsync === 'interval' ? opts.fsyncIntervalMs : 1000;
    this.timer = setInterval(() => this.onTick(), tick);
    this.timer.unref();
  }

  get stats(): { appended: number; refused: number; bytes: number } {
    return { appended: this.appended, refused: this.refused, bytes: this.acceptedEnd - this.oldestBase };
  }

  accepting(): boolean {
    if (this.writeFailed) return false;
    // Room for a record the size of the last one refused: the next call's event is likely as large.
    return this.hasRoom(Math.max(this.lastRefusedBytes, 1));
  }

  /** Whether `bytes` more fit under max_bytes, looking again (rescan) for segments readers freed before saying no. */
  private hasRoom(bytes: number): boolean {
    if (this.acceptedEnd + bytes - this.oldestBase <= this.opts.maxBytes) return true;
    this.rescan();
    return this.acceptedEnd + bytes - this.oldestBase <= this.opts.maxBytes;
  }

  append(record: Buffer | string, onDurable?: (ok: boolean) => void): boolean {
    if (this.closed) throw new Error(`spool ${this.dir}: append after close`);
    const size = HEADER_BYTES + (typeof record === 'string' ? Buffer.byteLength(record) : record.length);
    if (!this.hasRoom(size)) {
      this.lastRefusedBytes = size;
      return this.refuse('cap');
    }
    if (this.pendingBytes > 0 && this.pendingBytes + size > (this.opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES)) return this.refuse('buffer');
    this.pending.push(encodeRecord(record));
    this.pendingBytes += size;
    this.acceptedEnd += size;
    this.appended++;
    if (onDurable) this.acks.push({ end: this.acceptedEnd, cb: onDurable });
    if (this.refusedSinceWarn.cap + this.refusedSinceWarn.buffer > 0) {
      this.warn(`spool ${this.dir}: accepting appends again after refusing ${this.refusedSinceWarn.cap} (max_bytes) + ${this.refusedSinceWarn.buffer} (write buffer full)`);
      this.refusedSinceWarn = { cap: 0, buffer: 0 };
    }
    this.schedulePump();
    return true;
  }

  flush(): Promise<void> {
    const target = this.acceptedEnd;
    const done = this.opts.fsync === 'never' ? this.writtenEnd : this.syncedEnd;
    if (done >= target) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ target, resolve });
      if (this.writtenEnd >= target) this.requestSync();
      else this.schedulePump();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    clearInterval(this.timer);
    for (const fd of this.retired) closeSync(fd);
    closeSync(this.fd);
    this.releaseLock();
  }

  /** Validates the newest segment record by record and cuts off a torn or corrupt tail. */
  private recoverTail(): number {
    const size = fstatSync(this.fd).size;
    const scan = scanSegment(this.fd, 0, size, { records: Infinity, bytes: Infinity, collect: false });
    if (scan.next < size) {
      this.warn(`spool ${this.dir}: torn or corrupt tail in ${path.basename(segmentPath(this.dir, this.segBase))}: truncated ${size - scan.next} bytes at offset ${this.segBase + scan.next}`);
      ftruncateSync(this.fd, scan.next);
      fsyncSync(this.fd);
    }
    return scan.next;
  }

  private refuse(reason: 'cap' | 'buffer'): false {
    this.refused++;
    if (this.refusedSinceWarn[reason]++ === 0) {
      const slowest = reason === 'cap' ? reclaimSegments(this.dir).slowest : undefined;
      this.warn(reason === 'cap'
        ? `spool ${this.dir}: max_bytes (${this.opts.maxBytes}) reached; REFUSING appends (counted in stats.refused) until consumers commit${slowest ? `; slowest consumer '${slowest.name}' is at offset ${slowest.offset}` : '; no consumer is registered'}`
        : `spool ${this.dir}: write buffer full (disk not keeping up); REFUSING appends (counted in stats.refused)`);
    }
    return false;
  }

  /** Picks up segments reclaimed by readers (in any process), at most every RESCAN_MS so refusing stays cheap. */
  private rescan(): void {
    const now = Date.now();
    if (now - this.lastRescan < RESCAN_MS) return;
    this.lastRescan = now;
    reclaimSegments(this.dir);
    this.oldestBase = listSegments(this.dir)[0] ?? this.segBase;
  }

  private onTick(): void {
    if (this.opts.fsync === 'interval' && (this.writtenEnd > this.syncedEnd || this.retired.length > 0 || this.dirDirty)) this.requestSync();
    if (Date.now() - this.lastRescan >= 1000) this.rescan();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.writing || this.pending.length === 0) return;
    const first = this.pending[0] as Buffer;
    if (this.segSize > 0 && this.segSize + first.length > this.opts.segmentBytes) this.roll();
    let count = 0;
    let bytes = 0;
    for (const buf of this.pending) {
      if (count > 0 && (this.segSize + bytes + buf.length > this.opts.segmentBytes || bytes + buf.length > BATCH_BYTES)) break;
      bytes += buf.length;
      count++;
    }
    const batch = this.pending.splice(0, count);
    this.pendingBytes -= bytes;
    if (this.opts.syncWrites) {
      let written = -1;
      let error: NodeJS.ErrnoException | null = null;
      try {
        written = writevSync(this.fd, batch, this.segSize);
      } catch (err) {
        error = err as NodeJS.ErrnoException;
      }
      this.afterWrite(batch, bytes, error, written);
      return;
    }
    this.writing = true;
    writev(this.fd, batch, this.segSize, (err, written) => {
      this.writing = false;
      this.afterWrite(batch, bytes, err, written);
    });
  }

  private afterWrite(batch: Buffer[], bytes: number, err: NodeJS.ErrnoException | null, written: number): void {
    if (err || written !== bytes) {
      // Put the batch back; the positional rewrite overwrites whatever part of it landed.
      this.pending.unshift(...batch);
      this.pendingBytes += bytes;
      if (err) {
        this.writeFailed = true;
        // Whoever waits on these appends learns now that they are not durable; the records stay queued and
        // are written once the disk takes them again.
        this.failAcks();
        this.warn(`spool ${this.dir}: write failed (${err.code ?? err.message}); retrying in ${RETRY_MS} ms`);
        setTimeout(() => this.closed || this.pump(), RETRY_MS).unref();
      } else {
        this.pump();
      }
      return;
    }
    this.writeFailed = false;
    this.segSize += bytes;
    this.writtenEnd += bytes;
    if (this.opts.fsync === 'never') this.resolveWaiters(this.writtenEnd);
    else if (this.opts.fsync === 'always' || this.waiters.length > 0) this.requestSync();
    if (this.acks.length > 0) {
      if (this.opts.ackAfter === 'fsync') this.requestSync();
      else this.fireAcks(this.writtenEnd);
    }
    this.pump();
  }

  private fireAcks(reached: number): void {
    let n = 0;
    while (n < this.acks.length && this.acks[n]!.end <= reached) n++;
    if (n === 0) return;
    const due = this.acks.splice(0, n);
    for (const a of due) a.cb(true);
  }

  private failAcks(): void {
    const due = this.acks.splice(0);
    for (const a of due) a.cb(false);
  }

  /** Starts a new segment at the current end. Called only between writes. */
  private roll(): void {
    if (this.opts.fsync === 'never') close(this.fd, () => {});
    else this.retired.push(this.fd);
    this.segBase = this.writtenEnd;
    this.segSize = 0;
    this.fd = openSync(segmentPath(this.dir, this.segBase), 'wx+');
    this.dirDirty = true;
  }

  /** Group commit: one fsync in flight covers everything written before it started; more writes wait for the next. */
  private requestSync(): void {
    if (this.closed) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    const target = this.writtenEnd;
    const fds = [...this.retired.splice(0), this.fd];
    const closeAfter = new Set(fds.slice(0, -1));
    const dir = this.dirDirty ? this.dir : null;
    this.dirDirty = false;
    const step = (i: number): void => {
      const fd = fds[i];
      if (fd === undefined) {
        if (dir) {
          try {
            fsyncDirSync(dir);
          } catch (err) {
            return done(err as Error, i);
          }
        }
        return done(null, i);
      }
      fsync(fd, (err) => {
        if (err) return done(err, i);
        if (closeAfter.has(fd)) close(fd, () => step(i + 1));
        else step(i + 1);
      });
    };
    const done = (err: Error | null, failedAt: number): void => {
      this.syncing = false;
      if (err) {
        this.retired.unshift(...fds.slice(failedAt).filter((fd) => closeAfter.has(fd)));
        this.dirDirty ||= dir !== null;
        if (this.opts.ackAfter === 'fsync') this.failAcks();
        this.warn(`spool ${this.dir}: fsync failed (${(err as NodeJS.ErrnoException).code ?? err.message}); retrying`);
        setTimeout(() => this.requestSync(), RETRY_MS).unref();
        return;
      }
      this.syncedEnd = Math.max(this.syncedEnd, target);
      this.resolveWaiters(this.syncedEnd);
      if (this.opts.ackAfter === 'fsync') this.fireAcks(this.syncedEnd);
      if (this.syncAgain) {
        this.syncAgain = false;
        this.requestSync();
      }
    };
    step(0);
  }

  private resolveWaiters(reached: number): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.target <= reached) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}
