// Migration 0002 on a real engine: the session columns read 0 for rows written before it, and a session row
// round-trips through the writer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, rollback } from '../../analytics/migrate.ts';
import { createWriter, EVENT_COLUMNS, toDateTime64 } from '../../ingest/writer.ts';
import { freshClickHouse, type TestClickHouse } from '../helpers/clickhouse.ts';
import { makeEvent } from '../helpers/events.ts';

const SESSION_COLUMNS = ['messages_in', 'messages_out', 'close_code'];

let ch: TestClickHouse;
beforeAll(async () => {
  ch = await freshClickHouse();
});
afterAll(async () => {
  await ch.close();
});

async function rows<T>(query: string): Promise<T[]> {
  return (await ch.client.query({ query, format: 'JSONEachRow' })).json<T>();
}

describe('session columns (migration 0002)', () => {
  it('reads 0 for rows written before it, and keeps what a session row says', async () => {
    await migrate(ch.client, { target: 1 });
    // A row as the writer wrote it before the migration: the event's other columns only.
    const before = makeEvent();
    const oldColumns = Object.fromEntries(EVENT_COLUMNS.filter((c) => !SESSION_COLUMNS.includes(c)).map((c) => [c, before[c]]));
    await ch.client.insert({ table: 'sightline.requests', values: [{ ...oldColumns, created_at: toDateTime64(before.created_at) }], format: 'JSONEachRow' });

    expect((await migrate(ch.client, { target: 2 })).applied).toEqual([2]);
    // The writer writes every column of today's event: the migrations after 0002 too.
    await migrate(ch.client);
    const session = makeEvent({ endpoint: 'realtime', method: 'GET', status: 101, messages_in: 14, messages_out: 1207, close_code: 1000 });
    await createWriter(ch.client).insert([session]);

    const got = await rows<Record<string, unknown>>(`SELECT request_id, endpoint, messages_in, messages_out, close_code FROM sightline.requests ORDER BY status`);
    expect(got).toEqual([
      { request_id: session.request_id, endpoint: 'realtime', messages_in: 14, messages_out: 1207, close_code: 1000 },
      { request_id: before.request_id, endpoint: 'chat', messages_in: 0, messages_out: 0, close_code: 0 },
    ]);
    // Laid out after the byte counts, before the columns that are not the event's.
    const columns = (await rows<{ name: string }>("SELECT name FROM system.columns WHERE database = 'sightline' AND table = 'requests' ORDER BY position")).map((r) => r.name);
    expect(columns.slice(columns.indexOf('response_bytes'), columns.indexOf('response_bytes') + 5)).toEqual(['response_bytes', ...SESSION_COLUMNS, 'ingested_at']);
  });

  it('rolls back to the table without them', async () => {
    await rollback(ch.client, 2); // the migrations after 0002, whatever they are
    expect(await rollback(ch.client, 1)).toEqual({ rolledBack: [2] });
    const left = await rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = 'sightline' AND table = 'requests' AND name IN ('messages_in', 'messages_out', 'close_code')`);
    expect(left).toEqual([]);
    expect(await rows<{ c: string }>('SELECT count() c FROM sightline.requests')).toEqual([{ c: '2' }]);
  });
});
