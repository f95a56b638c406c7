// Every destination of request events has the same small shape (pino's transport contract):
// write() is synchronous and cheap; false means the event was not accepted and has been counted.
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { RequestEvent } from './event.ts';
import { encodeRequestEvent } from './event.ts';

export interface EventSink {
  write(event: RequestEvent): boolean;
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly stats: SinkStats;
}

export interface SinkStats {
  written: number;
  /** Events the sink could not take (full, failed): never silently lost, always counted. */
  refused: number;
}

/** Appends one JSON event per line. Kept beside the bus as a debugging and piping sink (`jsonl:-` = stdout). */
export function createJsonlSink(file: string): EventSink {
  const stats: SinkStats = { written: 0, refused: 0 };
  const toStdout = file === '-';
  if (!toStdout) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const out = toStdout ? process.stdout : createWriteStream(file, { flags: 'a' });
  let failed: Error | undefined;
  out.on('error', (err: Error) => {
    failed = err;
  });
  // Lines collected during one event-loop turn go out as one write: a syscall (and a thread-pool hop) per
  // event costs more than everything else the sink does.
  let pending = '';
  const writePending = () => {
    if (pending === '') return;
    out.write(pending);
    pending = '';
  };
  const drained = () => new Promise<void>((resolve) => {
    writePending();
    if (!out.writableNeedDrain) resolve();
    else out.once('drain', () => resolve());
  });
  return {
    stats,
    write(event) {
      if (failed) {
        stats.refused++;
        return false;
      }
      if (pending === '') setImmediate(writePending);
      pending += `${encodeRequestEvent(event)}\n`;
      stats.written++;
      return true;
    },
    flush: drained,
    async close() {
      await drained();
      if (toStdout) return;
      await new Promise<void>((resolve) => out.end(() => resolve()));
    },
  };
}

/** Collects events in memory; for tests and for composing sinks. */
export function createMemorySink(): EventSink & { events: RequestEvent[] } {
  const events: RequestEvent[] = [];
  return {
    events,
    stats: { written: 0, refused: 0 },
    write(event) {
      events.push(event);
      this.stats.written++;
      return true;
    },
    async flush() {},
    async close() {},
  };
}

/** Discards events, counting them: only when the operator explicitly chose `sink: none`. */
export function createNullSink(): EventSink {
  const stats: SinkStats = { written: 0, refused: 0 };
  return {
    stats,
    write() {
      stats.written++;
      return true;
    },
    async flush() {},
    async close() {},
  };
}
