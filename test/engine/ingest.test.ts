// The ingest worker on real parts: a spool on disk as the bus, chDB as the store. Bad messages go to the
// dead-letter file with their reason and the worker keeps going; good ones are redacted and stored once.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.ts';
import { openSpoolWriter, spoolOptionsFromConfig } from '../../bus/spool/index.ts';
import type { RunningIngest } from '../../ingest/main.ts';
import { spoolRoot, startIngest } from '../../ingest/main.ts';
import { decodeEvent } from '../../ingest/pipeline.ts';
import { encodeRequestEvent } from '../../contracts/event.ts';
import { makeEvent } from '../helpers/events.ts';
import { eventually } from '../helpers/processes.ts';

let dataDir: string;
let ingest: RunningIngest;
const logs: string[] = [];
const config = () => parseConfig('redaction:\n  organizations:\n    org_open:\n      enabled: false\n', {
  SIGHTLINE_DATA_DIR: dataDir,
  SIGHTLINE_CLICKHOUSE_HTTP_PORT: '0',
});

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-ingest-'));
});
afterAll(async () => {
  await ingest?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function rows<T>(query: string): Promise<T[]> {
  return (await ingest.client.query({ query, format: 'JSONEachRow' })).json<T>();
}

describe('ingest from the spool', () => {
  it('stores good events (redacted, once) and dead-letters bad ones with a reason, without stopping', async () => {
    const cfg = config();
    const writer = openSpoolWriter(spoolOptionsFromConfig(cfg.spool, path.join(spoolRoot(cfg), 'proxy')));
    const good = [
      makeEvent({ request_body: '{"messages":[{"role":"user","content":"mail jane@example.org"}]}', response_body: 'ok' }),
      makeEvent({ organization_id: 'org_open', request_body: '{"content":"mail jane@example.org"}' }),
      makeEvent(),
    ];
    const tooBig = makeEvent({ request_body: 'x'.repeat(10 * 1024 * 1024) });
    const bad: [string, string][] = [
      ['not json at all', 'not_json'],
      [JSON.stringify({ ...makeEvent(), schema_version: 99 }), 'unsupported_schema_version'],
      [JSON.stringify({ schema_version: 1, request_id: 'nope' }), 'invalid_event'],
      [encodeRequestEvent(tooBig), 'too_large'],
    ];
    writer.append(encodeRequestEvent(good[0]!));
    for (const [raw] of bad.slice(0, 2)) writer.append(raw);
    writer.append(encodeRequestEvent(good[1]!));
    for (const [raw] of bad.slice(2)) writer.append(raw);
    writer.append(encodeRequestEvent(good[2]!));
    // The same event again (a replay after a crash): must not become a second row.
    writer.append(encodeRequestEvent(good[0]!));
    await writer.flush();

    ingest = await startIngest(cfg, (m) => logs.push(m));
    await eventually(async () => ingest.stats.received, (n) => n === 8, 30_000);
    expect(ingest.stats).toMatchObject({ received: 8, written: 4, deadLettered: 4 });

    const stored = await rows<{ request_id: string; organization_id: string; request_body: string }>(
      'SELECT request_id, organization_id, request_body FROM sightline.requests FINAL ORDER BY request_id',
    );
    expect(stored.map((r) => r.request_id).sort()).toEqual(good.map((e) => e.request_id).sort());
    const byId = new Map(stored.map((r) => [r.request_id, r]));
    expect(byId.get(good[0]!.request_id)!.request_body).toBe('{"messages":[{"role":"user","content":"mail [EMAIL_1]"}]}');
    // Redaction switched off for this organisation only.
    expect(byId.get(good[1]!.request_id)!.request_body).toBe('{"content":"mail jane@example.org"}');

    const letters = readFileSync(path.join(dataDir, 'dead-letters.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { reason: string; detail: string; raw: string });
    expect(letters.map((l) => l.reason).sort()).toEqual(bad.map(([, reason]) => reason).sort());
    expect(letters.find((l) => l.reason === 'invalid_event')!.detail).toMatch(/request_id/);
    expect(letters.find((l) => l.reason === 'too_large')!.detail).toMatch(/max_event_bytes/);
    expect(letters.find((l) => l.reason === 'not_json')!.raw).toBe('not json at all');

    // The worker is still consuming after the bad messages.
    const later = makeEvent();
    writer.append(encodeRequestEvent(later));
    await writer.flush();
    await eventually(() => rows<{ n: string }>(`SELECT count() AS n FROM sightline.requests WHERE request_id = '${later.request_id}'`), (r) => r[0]?.n === '1', 15_000);
    await writer.close();
  });
});

describe('decodeEvent', () => {
  it('accepts exactly what the proxy encodes', () => {
    const e = makeEvent();
    expect(decodeEvent(Buffer.from(encodeRequestEvent(e)), 1 << 20)).toEqual({ ok: true, event: e });
  });
  it('names the missing field', () => {
    const { request_id: _omitted, ...rest } = makeEvent();
    const d = decodeEvent(Buffer.from(JSON.stringify(rest)), 1 << 20);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.letter).toMatchObject({ reason: 'invalid_event', detail: expect.stringMatching(/^request_id:/) });
  });
});
