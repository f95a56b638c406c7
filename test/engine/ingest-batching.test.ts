// How the embedded ingest batches: a real spool on disk, real chDB. Batches are bounded by rows and bytes and wait
// for more records at the live tail instead of inserting each record as it comes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSpoolReader, openSpoolWriter } from '../../bus/spool/index.ts';
import type { SpoolReader, SpoolRecord, SpoolWriter } from '../../bus/spool/index.ts';
import { parseConfig } from '../../config/index.ts';
import { encodeRequestEvent } from '../../contracts/event.ts';
import { encodeExchange } from '../../contracts/exchange.ts';
import type { RunningIngest } from '../../ingest/main.ts';
import { INGEST_CONSUMER, spoolRoot, startIngest } from '../../ingest/main.ts';
import { Batcher, inflightFile } from '../../ingest/spool-source.ts';
import { loadFixture } from '../fixtures/index.ts';
import { makeEvent, makeExchange } from '../helpers/events.ts';
import { eventually } from '../helpers/processes.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sightline-batching-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function spool(name: string): Promise<{ writer: SpoolWriter; reader: SpoolReader; append(records: string[]): Promise<void> }> {
  const d = path.join(dir, name);
  const writer = openSpoolWriter({ dir: d, fsync: 'never', fsyncIntervalMs: 50, maxBytes: 1 << 30, segmentBytes: 1 << 20 });
  const append = async (records: string[]) => {
    for (const r of records) writer.append(r);
    await writer.flush();
  };
  await append([]);
  return { writer, reader: openSpoolReader(d, 'test', { pollMs: 5 }), append };
}

/** An OpenAI stream (chat.sse) for a request with this body. */
function streamed(requestBody: string) {
  const request = Buffer.from(requestBody);
  return { ...makeExchange({ body: loadFixture('openai', 'chat.sse').body, contentType: 'text/event-stream', chunkTimes: [0, 30] }), request_body: request, request_bytes: request.length };
}

const texts = (records: readonly SpoolRecord[]) => records.map((r) => r.data.toString('utf8'));
const numbered = (n: number, size = 100) => Array.from({ length: n }, (_, i) => String(i).padStart(size, '#'));

describe('Batcher', () => {
  it('reads a backlog in batches of at most maxRows records and maxBytes bytes; what is past a limit opens the next batch', async () => {
    const s = await spool('backlog');
    const all = numbered(25);
    await s.append(all);
    const byRows = new Batcher(s.reader, { maxRows: 10, maxBytes: 1 << 20, flushMs: 1 });
    const batches: string[][] = [];
    for (let i = 0; i < 3; i++) batches.push(texts(await byRows.next(() => true)));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat()).toEqual(all);

    await s.append(numbered(7));
    const byBytes = new Batcher(s.reader, { maxRows: 100, maxBytes: 350, flushMs: 1 });
    const sizes: number[] = [];
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const b = texts(await byBytes.next(() => true));
      sizes.push(b.length);
      seen.push(...b);
    }
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(numbered(7));
    await s.writer.close();
    await s.reader.close();
  });

  it('a record larger than maxBytes is a batch of its own', async () => {
    const s = await spool('large');
    await s.append(['small', 'x'.repeat(5000), 'after']);
    const batcher = new Batcher(s.reader, { maxRows: 100, maxBytes: 1000, flushMs: 1 });
    expect(texts(await batcher.next(() => true))).toEqual(['small']);
    expect(texts(await batcher.next(() => true))).toEqual(['x'.repeat(5000)]);
    expect(texts(await batcher.next(() => true))).toEqual(['after']);
    await s.writer.close();
    await s.reader.close();
  });

  it('at the live tail a batch keeps what arrives after its first record instead of closing on it', async () => {
    const s = await spool('tail');
    await s.append(['first']);
    const batcher = new Batcher(s.reader, { maxRows: 100, maxBytes: 1 << 20, flushMs: 1000 });
    const pending = batcher.next(() => true);
    for (const r of ['second', 'third', 'fourth']) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      await s.append([r]);
    }
    expect(texts(await pending)).toEqual(['first', 'second', 'third', 'fourth']);
    await s.writer.close();
    await s.reader.close();
  });

  it('returns an empty batch when nothing comes and it is told to stop', async () => {
    const s = await spool('idle');
    const batcher = new Batcher(s.reader, { maxRows: 10, maxBytes: 1 << 20, flushMs: 100 });
    expect(await batcher.next(() => false)).toEqual([]);
    await s.writer.close();
    await s.reader.close();
  });
});

describe('ingest from the spool, batched', () => {
  let ingest: RunningIngest;
  const logs: string[] = [];
  afterAll(async () => ingest?.stop());

  const inserted = async (): Promise<{ inserts: string; rows: string }> => {
    const rs = await ingest.client.query({
      query: "SELECT toString(count()) AS inserts, toString(sum(rows)) AS rows FROM system.parts WHERE database = 'sightline' AND table = 'requests' AND min_block_number = max_block_number",
      format: 'JSONEachRow',
    });
    return (await rs.json<{ inserts: string; rows: string }>())[0]!;
  };
  const stored = async (): Promise<number> => {
    const rs = await ingest.client.query({ query: 'SELECT count() AS n FROM sightline.requests FINAL', format: 'JSONEachRow' });
    return Number((await rs.json<{ n: string }>())[0]!.n);
  };

  it('events trickling in within flush_ms are stored by one insert; a backlog is stored in full batches, redacted', async () => {
    const dataDir = path.join(dir, 'ingest');
    const config = parseConfig('ingest:\n  flush_ms: 2000\n  batch_max_rows: 500\n', { SIGHTLINE_DATA_DIR: dataDir, SIGHTLINE_CLICKHOUSE_HTTP_PORT: '0' });
    const writer = openSpoolWriter({ dir: path.join(spoolRoot(config), 'proxy'), fsync: 'never', fsyncIntervalMs: 50, maxBytes: 1 << 30, segmentBytes: 1 << 22 });
    writer.append(encodeRequestEvent(makeEvent()));
    await writer.flush();
    ingest = await startIngest(config, (m) => logs.push(m));
    // 30 events in three bursts: one batch, since the first one's flush_ms has not passed.
    for (let burst = 1; burst < 3; burst++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (let i = 0; i < 15 - (burst === 1 ? 1 : 0); i++) writer.append(encodeRequestEvent(makeEvent()));
      await writer.flush();
    }
    await eventually(stored, (n) => n === 30);
    expect(await inserted()).toEqual({ inserts: '1', rows: '30' });

    // A backlog of 1,200 exchanges with PII: batches of batch_max_rows, stored redacted, nothing lost.
    const ids: string[] = [];
    for (let i = 0; i < 1200; i++) {
      const ex = streamed(`{"messages":[{"content":"mail user${i}@example.org"}]}`);
      ids.push(ex.request_id);
      writer.append(encodeExchange(ex));
    }
    await writer.flush();
    await eventually(stored, (n) => n === 1230);
    const rs = await ingest.client.query({ query: 'SELECT count() AS n FROM sightline.requests FINAL WHERE request_id IN {ids:Array(UUID)} AND request_body = \'{"messages":[{"content":"mail [EMAIL_1]"}]}\' AND prompt_tokens = 11', query_params: { ids }, format: 'JSONEachRow' });
    expect((await rs.json<{ n: string }>())[0]!.n).toBe('1200');
    expect(ingest.stats).toMatchObject({ received: 1230, written: 1230, deadLettered: 0 });
    expect(await inserted()).toEqual({ inserts: '4', rows: '1230' });
    expect(logs.filter((m) => /failed|stopped/.test(m))).toEqual([]);
    await writer.close();
  });
});

describe('a batch inserted but not committed when the worker died', () => {
  it('is replayed as exactly the same batch, so the engine drops it instead of storing every row twice', async () => {
    const run = async (keepMarker: boolean): Promise<{ rows: number; ids: number }> => {
      const dataDir = path.join(dir, `replay-${keepMarker}`);
      const config = parseConfig('ingest:\n  flush_ms: 200\n  batch_max_rows: 60\n', { SIGHTLINE_DATA_DIR: dataDir, SIGHTLINE_CLICKHOUSE_HTTP_PORT: '0' });
      const spoolDir = path.join(spoolRoot(config), 'proxy');
      const writer = openSpoolWriter({ dir: spoolDir, fsync: 'never', fsyncIntervalMs: 50, maxBytes: 1 << 30, segmentBytes: 1 << 22 });
      for (let i = 0; i < 30; i++) writer.append(encodeRequestEvent(makeEvent()));
      await writer.flush();
      // The first worker stores them as one batch (closed by flush_ms, short of batch_max_rows) and dies before
      // committing it: its spool commit never happens.
      const first = await startIngest(config, () => {});
      await eventually(async () => countRows(first), (n) => n === 30);
      await first.stop();
      resetCommit(spoolDir);
      if (!keepMarker) rmSync(inflightFile(spoolDir, INGEST_CONSUMER), { force: true });
      // More arrived meanwhile: a replay that took everything at once would be a different batch.
      for (let i = 0; i < 40; i++) writer.append(encodeRequestEvent(makeEvent()));
      await writer.close();
      const second = await startIngest(config, () => {});
      try {
        await eventually(async () => countRows(second, 'FINAL'), (n) => n === 70);
        await new Promise((r) => setTimeout(r, 500));
        return { rows: await countRows(second), ids: await countRows(second, 'FINAL') };
      } finally {
        await second.stop();
      }
    };
    expect(await run(true)).toEqual({ rows: 70, ids: 70 });
    // The same crash without the marker: the replay takes 60 records (the 30 again and 30 new) under a new token,
    // and the first 30 rows sit twice until a merge.
    expect(await run(false)).toEqual({ rows: 100, ids: 70 });
  });
});

async function countRows(ingest: RunningIngest, final = ''): Promise<number> {
  const rs = await ingest.client.query({ query: `SELECT count() AS n FROM sightline.requests ${final}`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]!.n);
}

/** As if the commit of the last batch never reached the disk: the consumer starts over from the beginning. */
function resetCommit(spoolDir: string): void {
  rmSync(path.join(spoolDir, 'consumers', `${INGEST_CONSUMER}.offset`), { force: true });
}
