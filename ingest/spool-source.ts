// The embedded bus as an ingest source: one reader per proxy spool directory under <data_dir>/spool/, each feeding
// the pipeline batches bounded by rows, bytes and age, committed only once stored.
//
// Why batches wait: an insert costs the engine ~8–10 ms of CPU whatever it carries (a part with ~50 columns,
// compressed, written and later merged) against ~25 µs per row. A reader that passed on whatever had arrived
// would, at a few hundred events/s, insert a handful of rows each time and spend most of a core on that fixed
// cost (measured: 300 events/s → 4 rows per insert, 74 % of a core). So a batch closes when it holds maxRows
// records or maxBytes bytes, or flushMs after its first record arrived, whichever comes first.
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SpoolReader, SpoolRecord } from '../bus/spool/index.ts';
import { openSpoolReader } from '../bus/spool/index.ts';
import type { Pipeline, PreparedBatch } from './pipeline.ts';
import type { PreparePool } from './prepare-pool.ts';

export interface BatchLimits {
  maxRows: number;
  maxBytes: number;
  /** A batch is closed this long after its first record arrived, however small it is. */
  flushMs: number;
}

/** How long one wait for a first record lasts before the loop looks at `running` again. */
const IDLE_WAIT_MS = 500;
/**
 * Pause between reads while a batch fills at the live tail. The proxy appends once per event-loop turn and each
 * read lists the directory and reads the segment, so reading at every append would cost more than it saves.
 */
const LINGER_MS = 50;

/** Reads batches from one spool reader; records read past a batch's limits open the next batch. */
export class Batcher {
  private carry: SpoolRecord[] = [];
  /** Whether the last batch closed on maxRows or maxBytes (a backlog, or a rate past one batch per flushMs). */
  full = false;

  constructor(private readonly reader: SpoolReader, private readonly limits: BatchLimits) {}

  /** The next batch, or [] when nothing arrived within IDLE_WAIT_MS or `running` turned false. */
  async next(running: () => boolean): Promise<SpoolRecord[]> {
    const batch: SpoolRecord[] = [];
    let bytes = 0;
    this.full = false;
    // Takes records until a limit is reached; the first record is always taken, however large.
    const take = (records: readonly SpoolRecord[]): void => {
      let i = 0;
      for (; i < records.length; i++) {
        const r = records[i]!;
        if (batch.length > 0 && (batch.length >= this.limits.maxRows || bytes + r.data.length > this.limits.maxBytes)) break;
        batch.push(r);
        bytes += r.data.length;
      }
      this.full = i < records.length || batch.length >= this.limits.maxRows || bytes >= this.limits.maxBytes;
      this.carry = records.slice(i);
    };
    take(this.carry.length > 0 ? this.carry : await this.reader.read(this.limits.maxRows, IDLE_WAIT_MS));
    if (batch.length === 0) return batch;
    const deadline = Date.now() + this.limits.flushMs;
    while (!this.full && running()) {
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
  /** Threads for large batches; without it every batch is prepared on this thread. */
  pool?: PreparePool | undefined;
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

  // Only full batches go to the pool: one that closed on flushMs means this thread keeps up (a batch a second of a
  // few hundred events costs it ~15 ms), and handing it over would only add a copy and wake a thread.
  const prepare = (raw: readonly Buffer[], full: boolean): Promise<PreparedBatch> => {
    const pool = opts.pool;
    if (pool === undefined || !full) return Promise.resolve(opts.pipeline.prepare(raw));
    return pool.prepare(raw).catch((err: unknown) => {
      opts.log(`preparing on this thread instead: ${(err as Error).message}`);
      return opts.pipeline.prepare(raw);
    });
  };
  // How many batches may be read ahead of the one being stored: one being prepared per pool thread (or one
  // prepared on this thread while the engine, off-thread, stores the previous).
  const depth = (opts.pool?.threads ?? 0) + 1;

  async function drain(reader: SpoolReader): Promise<void> {
    const batcher = new Batcher(reader, opts.limits);
    // Batches are read and prepared ahead while the engine stores earlier ones; inserts and commits still happen
    // one at a time, in order. Until a batch is stored (or dead-lettered) nothing of it is committed: a crash
    // replays it, and the insert's dedup token drops the replay.
    let chain: Promise<void> = Promise.resolve();
    const outstanding: Promise<void>[] = [];
    try {
      while (running) {
        const records = await batcher.next(isRunning);
        if (records.length === 0) continue;
        const preparing = prepare(records.map((r) => r.data), batcher.full);
        const last = records[records.length - 1]!.offset;
        chain = chain.then(async () => {
          const batch = await preparing;
          await opts.retry(() => opts.pipeline.store(batch));
          await reader.commit(last);
        });
        outstanding.push(chain);
        while (outstanding.length > depth) await outstanding.shift();
      }
    } finally {
      await chain;
    }
  }

  function discover(): void {
    for (const name of readdirSync(opts.root)) {
      const dir = path.join(opts.root, name);
      if (loops.has(dir) || !hasSegments(dir)) continue;
      const reader = openSpoolReader(dir, opts.consumer, { onWarn: opts.log });
      readers.push(reader);
      loops.set(dir, drain(reader).catch((err: unknown) => opts.log(`reader for ${dir} stopped: ${(err as Error).message}`)));
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
