// Request traffic through a running proxy and the exactly-once check on what reached ClickHouse, for the
// production-mode fault tests (Kafka broker, ingest worker or ClickHouse killed while requests flow).
import type { ClickHouseClient } from '@clickhouse/client';
import { expect } from 'vitest';
import { eventually, queryRows } from './processes.ts';

export interface Ack {
  id: string;
  /** Date.now() when the proxy's answer was complete. */
  at: number;
}

export interface Traffic {
  /** Requests the proxy answered 200 with a Sightline-Id, in completion order. */
  readonly acked: readonly Ack[];
  /** Anything else: non-200 answers, missing ids, network errors. */
  readonly failures: readonly string[];
  /** Waits until at least n more requests are acknowledged (from now). */
  waitForMore(n: number, timeoutMs?: number): Promise<void>;
  /** Stops sending, waits for requests in flight, returns the acknowledged ids. */
  stop(): Promise<string[]>;
}

async function chatRequest(proxyUrl: string, label: string): Promise<string> {
  const res = await fetch(`${proxyUrl}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `request ${label}` }] }),
  });
  await res.arrayBuffer();
  const id = res.headers.get('sightline-id');
  if (res.status !== 200 || !id) throw new Error(`request ${label}: status ${res.status}, sightline-id ${id}`);
  return id;
}

/** `concurrency` workers send chat requests until stop(), each pausing pauseMs between requests. */
export function startTraffic(proxyUrl: string, opts: { concurrency?: number; pauseMs?: number } = {}): Traffic {
  const acked: Ack[] = [];
  const failures: string[] = [];
  let running = true;
  let sent = 0;
  const worker = async () => {
    while (running) {
      const label = String(sent++);
      try {
        acked.push({ id: await chatRequest(proxyUrl, label), at: Date.now() });
      } catch (err) {
        failures.push((err as Error).message);
      }
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  };
  const workers = Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  return {
    acked,
    failures,
    async waitForMore(n, timeoutMs = 30_000) {
      const target = acked.length + n;
      const deadline = Date.now() + timeoutMs;
      while (acked.length < target) {
        if (Date.now() > deadline) throw new Error(`only ${acked.length} of ${target} requests acknowledged after ${timeoutMs} ms; failures: ${failures.slice(0, 3).join('; ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      running = false;
      await workers;
      return acked.map((a) => a.id);
    },
  };
}

/** Sends exactly n requests, `concurrency` at a time; every one must be acknowledged. */
export async function sendRequests(proxyUrl: string, n: number, concurrency = 8): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) ids.push(await chatRequest(proxyUrl, String(next++)));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ids;
}

export async function countRequests(ch: ClickHouseClient): Promise<number> {
  const [row] = await queryRows<{ n: string }>(ch, 'SELECT count() AS n FROM sightline.requests');
  return Number(row?.n);
}

/**
 * Waits until sightline.requests holds as many rows as `ids`, then asserts exactly once: count and distinct
 * request_ids (FINAL) equal the acknowledged number, and the stored ids are exactly the acknowledged ones.
 * Returns the row count without FINAL (physical duplicates that ReplacingMergeTree has not merged yet).
 */
export async function expectExactlyOnce(ch: ClickHouseClient, ids: readonly string[], timeoutMs = 60_000): Promise<{ rawRows: number }> {
  const [stats] = await eventually(
    () => queryRows<{ n: string; u: string }>(ch, 'SELECT count() AS n, uniqExact(request_id) AS u FROM sightline.requests FINAL'),
    (r) => Number(r[0]?.n) >= ids.length,
    timeoutMs,
  );
  expect(Number(stats!.n)).toBe(ids.length);
  expect(Number(stats!.u)).toBe(ids.length);
  expect(new Set(ids).size).toBe(ids.length);
  const stored = new Set((await queryRows<{ request_id: string }>(ch, 'SELECT request_id FROM sightline.requests FINAL')).map((r) => r.request_id));
  expect(ids.filter((id) => !stored.has(id))).toEqual([]);
  return { rawRows: await countRequests(ch) };
}
