// Moves events from a proxy's spool to Kafka, in order, committing the spool only after Kafka acknowledged
// (acks=all). While Kafka is down or slow the spool simply grows (bounded by its cap) and the forwarder
// retries with backoff; when Kafka returns the backlog drains in order. Nothing is held only in memory.
import type { KafkaProducer } from './kafka.ts';
import { backoffDelayMs } from './kafka.ts';
import type { SpoolReader } from './spool/index.ts';

export interface ForwarderStats {
  forwarded: number;
  failedSends: number;
  /** true while the last send failed (Kafka unreachable): events are accumulating in the spool. */
  degraded: boolean;
}

export interface Forwarder {
  readonly stats: ForwarderStats;
  /**
   * Forwards what is still in the spool (up to drainMs, default 20 s), then stops. Whatever Kafka has not
   * acknowledged by then stays in the spool and is sent by the next run: nothing is dropped.
   */
  stop(drainMs?: number): Promise<void>;
}

const ORG_FIELD = '"organization_id":"';

/** The Kafka key: the organization id, so one organization's events stay ordered on one partition. */
export function organizationKey(record: Buffer): string {
  // The encoded event is JSON.stringify output with organization_id near the front: find it without a parse.
  const text = record.toString('utf8', 0, Math.min(record.length, 4096));
  const at = text.indexOf(ORG_FIELD);
  if (at === -1) return '';
  const start = at + ORG_FIELD.length;
  const end = text.indexOf('"', start);
  return end === -1 ? '' : text.slice(start, end);
}

export function startForwarder(opts: {
  reader: SpoolReader;
  producer: KafkaProducer;
  maxBatch?: number;
  waitMs?: number;
  retry?: { initialMs: number; maxMs: number };
  onError?: (err: unknown, attempt: number) => void;
}): Forwarder {
  const stats: ForwarderStats = { forwarded: 0, failedSends: 0, degraded: false };
  const maxBatch = opts.maxBatch ?? 1000;
  const waitMs = opts.waitMs ?? 100;
  const { initialMs, maxMs } = opts.retry ?? { initialMs: 100, maxMs: 10_000 };
  let running = true;
  let drainUntil = Infinity;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) => new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(t);
      resolve();
    };
  });

  async function connectWithRetry(): Promise<void> {
    for (let attempt = 0; running; attempt++) {
      try {
        await opts.producer.connect();
        return;
      } catch (err) {
        stats.degraded = true;
        opts.onError?.(err, attempt + 1);
        await sleep(backoffDelayMs(attempt, initialMs, maxMs));
      }
    }
  }

  const loop = (async () => {
    await connectWithRetry();
    while (running && Date.now() < drainUntil) {
      const records = await opts.reader.read(maxBatch, waitMs);
      if (records.length === 0) {
        if (drainUntil !== Infinity) break; // stopping, and the spool is empty
        continue;
      }
      const messages = records.map((r) => ({ key: organizationKey(r.data), value: r.data }));
      for (let attempt = 0; running && Date.now() < drainUntil; attempt++) {
        try {
          await opts.producer.send(messages);
          stats.forwarded += records.length;
          stats.degraded = false;
          await opts.reader.commit(records[records.length - 1]!.offset);
          break;
        } catch (err) {
          stats.failedSends++;
          stats.degraded = true;
          opts.onError?.(err, attempt + 1);
          await sleep(backoffDelayMs(attempt, initialMs, maxMs));
        }
      }
    }
  })();

  return {
    stats,
    async stop(drainMs = 20_000) {
      drainUntil = Date.now() + drainMs;
      // A failing send waits out its backoff no longer than the drain budget.
      const deadline = setTimeout(() => {
        running = false;
        wake?.();
      }, drainMs);
      if (stats.degraded) {
        running = false;
        wake?.();
      }
      await loop;
      clearTimeout(deadline);
      await opts.producer.close().catch(() => undefined);
      await opts.reader.close();
    },
  };
}
