// Large batches prepared (decoded, assembled, redacted, encoded) on worker threads. The ingest thread spends
// ~50 µs of CPU per v2 exchange preparing it and the engine ~15 µs storing it (2 cores, bench/README.md), so with
// preparation on the ingest thread the worker tops out near one core whatever the engine could take. Threads start
// on the first large batch and stop after a while without one: a worker that only ever sees the trickle of a quiet
// gateway never pays for their isolates (~20 MB RSS each).
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/index.ts';
import type { DeadLetter, PreparedBatch } from './pipeline.ts';

export interface PrepareRequest {
  id: number;
  /** The batch's messages back to back; ends[i] is where message i ends. */
  data: Uint8Array;
  ends: Uint32Array;
}

export type PrepareReply =
  | { id: number; inserts: { body: Uint8Array; token: string; rows: number }[]; letters: { reason: string; detail: string; raw: Uint8Array }[] }
  | { id: number; error: string };

export interface PreparePool {
  readonly threads: number;
  prepare(raw: readonly Buffer[]): Promise<PreparedBatch>;
  close(): Promise<void>;
}

export interface PreparePoolOptions {
  threads: number;
  /** Handed to each thread, which builds its redactor, prices and encoder from it as the ingest thread does. */
  config: Config;
  /** Threads stop after this long without a batch. */
  idleMs?: number;
}

const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

// From the build the thread runs plain JS; from the sources (tests, tsx) a small .mjs registers tsx's loader in
// the thread first (hooks registered on this thread do not reach a worker, nor does --import in its execArgv).
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './prepare-worker-tsx.mjs' : './prepare-worker.js', import.meta.url);

interface Thread {
  worker: Worker;
  pending: Map<number, { raw: readonly Buffer[]; resolve: (b: PreparedBatch) => void; reject: (e: Error) => void }>;
}

export function createPreparePool(opts: PreparePoolOptions): PreparePool {
  const idleMs = opts.idleMs ?? 30_000;
  let threads: Thread[] = [];
  let next = 0;
  let ids = 0;
  let idleTimer: NodeJS.Timeout | undefined;

  const start = (): Thread => {
    const worker = new Worker(WORKER_URL, { workerData: { config: opts.config } });
    const t: Thread = { worker, pending: new Map() };
    const fail = (err: Error) => {
      for (const p of t.pending.values()) p.reject(err);
      t.pending.clear();
      threads = threads.filter((x) => x !== t);
    };
    worker.on('message', (reply: PrepareReply) => {
      const p = t.pending.get(reply.id);
      if (p === undefined) return;
      t.pending.delete(reply.id);
      if ('error' in reply) return p.reject(new Error(`prepare thread: ${reply.error}`));
      const letters: DeadLetter[] = reply.letters.map((l) => ({ reason: l.reason, detail: l.detail, raw: asBuffer(l.raw) }));
      p.resolve({ raw: p.raw, inserts: reply.inserts.map((i) => ({ body: asBuffer(i.body), token: i.token, rows: i.rows })), letters });
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`prepare thread exited (${code})`)));
    return t;
  };

  const armIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopIdle, idleMs);
    idleTimer.unref();
  };
  const stopIdle = () => {
    if (threads.some((t) => t.pending.size > 0)) return armIdle();
    const stopping = threads;
    threads = [];
    for (const t of stopping) void t.worker.terminate();
  };

  return {
    threads: opts.threads,
    prepare(raw) {
      armIdle();
      if (threads.length < opts.threads) threads.push(start());
      const t = threads[next++ % threads.length]!;
      let total = 0;
      for (const m of raw) total += m.length;
      // One buffer for the whole batch, transferred rather than cloned message by message.
      const data = new Uint8Array(total);
      const ends = new Uint32Array(raw.length);
      let at = 0;
      raw.forEach((m, i) => {
        data.set(m, at);
        at += m.length;
        ends[i] = at;
      });
      const id = ids++;
      return new Promise<PreparedBatch>((resolve, reject) => {
        t.pending.set(id, { raw, resolve, reject });
        const req: PrepareRequest = { id, data, ends };
        t.worker.postMessage(req, [data.buffer, ends.buffer]);
      });
    },
    async close() {
      clearTimeout(idleTimer);
      const stopping = threads;
      threads = [];
      await Promise.all(stopping.map((t) => t.worker.terminate()));
    },
  };
}
