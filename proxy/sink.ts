// The proxy-side sinks besides the spool (bus/spool-sink.ts): jsonl for debugging and piping, memory for tests,
// none when the operator explicitly wants nothing kept.
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BusEvent, EventSink, SinkStats } from '../contracts/sink.ts';
import { busEventToJson } from '../contracts/sink.ts';

export type { EventSink, SinkStats } from '../contracts/sink.ts';

/** Appends one JSON event per line (`jsonl:-` = stdout). */
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
  let waiting: ((ok: boolean) => void)[] = [];
  const writePending = () => {
    if (pending === '') return;
    const callbacks = waiting;
    waiting = [];
    out.write(pending, (err) => {
      for (const cb of callbacks) cb(!err);
    });
    pending = '';
  };
  const drained = () => new Promise<void>((resolve) => {
    writePending();
    if (!out.writableNeedDrain) resolve();
    else out.once('drain', () => resolve());
  });
  return {
    stats,
    write(event, onLogged) {
      if (failed) {
        stats.refused++;
        return false;
      }
      if (pending === '') setImmediate(writePending);
      pending += `${busEventToJson(event)}\n`;
      if (onLogged) waiting.push(onLogged);
      stats.written++;
      return true;
    },
    accepting: () => failed === undefined,
    flush: drained,
    async close() {
      await drained();
      if (toStdout) return;
      await new Promise<void>((resolve) => out.end(() => resolve()));
    },
  };
}

/** Collects events in memory, logged at the end of the turn like the spool's group commit; for tests. */
export function createMemorySink(): EventSink & { events: BusEvent[]; refuse: boolean } {
  const events: BusEvent[] = [];
  const stats: SinkStats = { written: 0, refused: 0 };
  const sink = {
    events,
    stats,
    /** Tests set this to make the sink refuse like a spool at its cap. */
    refuse: false,
    write(event: BusEvent, onLogged?: (ok: boolean) => void) {
      if (sink.refuse) {
        stats.refused++;
        return false;
      }
      events.push(event);
      stats.written++;
      if (onLogged) setImmediate(onLogged, true);
      return true;
    },
    accepting: () => !sink.refuse,
    async flush() {},
    async close() {},
  };
  return sink;
}

/** Discards events, counting them: only when the operator explicitly chose `sink: none`. */
export function createNullSink(): EventSink {
  const stats: SinkStats = { written: 0, refused: 0 };
  return {
    stats,
    write(_event, onLogged) {
      stats.written++;
      onLogged?.(true);
      return true;
    },
    accepting: () => true,
    async flush() {},
    async close() {},
  };
}
