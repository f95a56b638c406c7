// The embedded bus as an ingest source: one reader per proxy spool directory under <data_dir>/spool/, each feeding
// the pipeline batches bounded by rows, bytes and age, committed only once stored.
//
// Why batches wait: an insert costs the engine ~8–10 ms of CPU whatever it carries (a part with ~50 columns,
// compressed, written and later merged) against ~25 µs per row. A reader that passed on whatever had arrived
// would, at a few hundred events/s, insert a handful of rows each time and spend most of a core on that fixed
// cost (measured: 300 events/s → 4 rows per insert, 74 % of a core). So a batch closes when it holds maxRows
// records or maxBytes bytes, or flushMs after its first record arrived, whichever comes first.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SpoolReader, SpoolRecord } from '../bus/spool/index.ts';
import { openSpoolReader } from '../bus/spool/index.ts';
import type { Pipeline } from './pipeline.ts';

export interface BatchLimits {
  maxRows: number;
  maxBytes: number;
  /** A batch is closed this long after its first record arrived, however small it is. */
  flushMs: number;
}

/**
 * The reader's fallback poll while idle. fs.watch wakes it on every append anyway, and each poll lists the directory
 * and stats a segment: at the reader's default 25 ms an idle worker did that 40 times a second per proxy (idle
 * worker measured at 1.3 % of a core with 25 ms, 0.9 % with 250 ms; chDB alone idles at 0.3 %).
 */
const POLL_MS = 250;
/** How long one wait for a first record lasts before the loop looks at `running` again. */
const IDLE_WAIT_MS = 500;
/**
 * Pause between reads while a batch fills at the live tail. The proxy appends once per event-loop turn and each
 * read lists the directory and reads the segment, so reading at every append would cost more than it saves.
 */
const LINGER_MS = 50;

/**
 * Where a consumer notes the last record of the batch it is inserting, before the insert. After a crash between an
 * insert and its commit, the first batch is cut at exactly that record: the same rows give the same dedup token, so
 * the engine drops the replay instead of storing a second copy of each row (a larger batch would carry a new token).
 */
export function inflightFile(spoolDir: string, consumer: string): string {
  return path.join(spoolDir, 'consumers', `${consumer}.inflight`);
}

/** Notes (durably: a replay must find it even after a machine crash) the last offset of the batch being inserted. */
export function markInflight(file: string, lastOffset: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, lastOffset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function readInflight(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Reads batches from one spool reader; records read past a batch's limits open the next batch. */
export class Batcher {
  private carry: SpoolRecord[] = [];

  /** `replayThrough`: the first batch ends at this offset (the batch a crash interrupted), whatever the limits. */
  constructor(private readonly reader: SpoolReader, private readonly limits: BatchLimits, private replayThrough?: string) {}

  /** The next batch, or [] when nothing arrived within IDLE_WAIT_MS or `running` turned false. */
  async next(running: () => boolean): Promise<SpoolRecord[]> {
    const batch: SpoolRecord[] = [];
    let bytes = 0;
    let full = false;
    // Takes records until a limit is reached; the first record is always taken, however large.
    const take = (records: readonly SpoolRecord[]): void => {
      const through = this.replayThrough;
      let i = 0;
      for (; i < records.length; i++) {
        const r = records[i]!;
        // Offsets are fixed-width decimal strings: string order is log order.
        if (through !== undefined ? batch.length > 0 && r.offset > through : batch.length > 0 && (batch.length >= this.limits.maxRows || bytes + r.data.length > this.limits.maxBytes)) break;
        batch.push(r);
        bytes += r.data.length;
      }
      const last = batch[batch.length - 1];
      // Reached (or, for a marker older than the commit, passed) the interrupted batch's end.
      if (through !== undefined && last !== undefined && (last.offset >= through || i < records.length)) {
        this.replayThrough = undefined;
        full = true;
      } else {
        full = i < records.length || (through === undefined && (batch.length >= this.limits.maxRows || bytes >= this.limits.maxBytes));
      }
      this.carry = records.slice(i);
    };
    take(this.carry.length > 0 ? this.carry : await this.reader.read(this.limits.maxRows, IDLE_WAIT_MS));
    if (batch.length === 0) return batch;
    const deadline = Date.now() + this.limits.flushMs;
    while (!full && running()) {
      const more = await this.reader.read(this.limits.maxRows - batch.length);
      if (more.length > 0) {
        take(more);
        continue; // a backlog: keep reading without pausing
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(left, LINGER_MS));
    }
    return batch;
  }
}

export interface SpoolSourceOptions {
  root: string;
  consumer: string;
  limits: BatchLimits;
  pipeline: Pipeline;
  log: (msg: string) => void;
  /** Runs a storing attempt until it succeeds (backing off between attempts). */
  retry: (op: () => Promise<void>) => Promise<void>;
}



export interface SpoolSource {
  stop(): Promise<void>;
}

/** One reader per proxy spool directory; new directories (new proxy processes) are picked up as they appear. */
export function consumeSpools(opts: SpoolSourceOptions): SpoolSource {
  mkdirSync(opts.root, { recursive: true });
  const loops = new Map<string, Promise<void>>();
  const readers: SpoolReader[] = [];
  let running = true;
  const isRunning = () => running;

  async function drain(reader: SpoolReader, dir: string): Promise<void> {
    const inflight = inflightFile(dir, opts.consumer);
    const batcher = new Batcher(reader, opts.limits, readInflight(inflight));
    // Batch N+1 is read, decoded, redacted and encoded on this thread while the engine (off-thread) inserts batch
    // N; inserts and commits still happen one at a time, in order. Until a batch is stored (or dead-lettered)
    // nothing of it is committed: a crash replays it, and the insert's dedup token drops the replay.
    let storing: Promise<void> = Promise.resolve();
    try {
      while (running) {
        const records = await batcher.next(isRunning);
        if (records.length === 0) continue;
        const prepared = opts.pipeline.prepare(records.map((r) => r.data));
        const last = records[records.length - 1]!.offset;
        await storing;
        markInflight(inflight, last);
        storing = opts.retry(() => opts.pipeline.store(prepared)).then(() => reader.commit(last));
      }
    } finally {
      await storing;
    }
  }

  function discover(): void {
    for (const name of readdirSync(opts.root)) {
      const dir = path.join(opts.root, name);
      if (loops.has(dir) || !hasSegments(dir)) continue;
      const reader = openSpoolReader(dir, opts.consumer, { onWarn: opts.log, pollMs: POLL_MS });
      readers.push(reader);
      loops.set(dir, drain(reader, dir).catch((err: unknown) => opts.log(`reader for ${dir} stopped: ${(err as Error).message}`)));
    }
  }
  discover();
  const timer = setInterval(discover, 1000);
  return {
    async stop() {
      running = false;
      clearInterval(timer);
      await Promise.all(loops.values());
      await Promise.all(readers.map((r) => r.close()));
    },
  };
}

function hasSegments(dir: string): boolean {
  try {
    return readdirSync(dir).some((f) => f.endsWith('.seg'));
  } catch {
    return false;
  }
}
