import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'node:http';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatClause, readOnlyViolation, startClickHouseHttp, type ClickHouseHttpServer } from '../../analytics/http-server.ts';
import { migrate } from '../../analytics/migrate.ts';
import { createWriter } from '../../ingest/writer.ts';
import { freshClickHouse, type TestClickHouse } from '../helpers/clickhouse.ts';
import { makeEvent } from '../helpers/events.ts';

// The HTTP interface exists for the embedded store (session settings, USE); against CLICKHOUSE_URL it is not used.
const embeddedOnly = Boolean(process.env.CLICKHOUSE_URL);

let ch: TestClickHouse;
let http: ClickHouseHttpServer;
let base: string;
let remote: ClickHouseClient;
const events = [makeEvent({ model: 'gpt-4o', response_bytes: Number.MAX_SAFE_INTEGER }), makeEvent({ model: 'claude-sonnet-4' }), makeEvent({ model: 'gpt-4o' })];

beforeAll(async () => {
  if (embeddedOnly) return;
  ch = await freshClickHouse();
  await migrate(ch.client);
  await createWriter(ch.client).insert(events);
  // A second session on the same store: readonly=2 and serialisation stay off the writer's session.
  http = await startClickHouseHttp(ch.connect(), { host: '127.0.0.1', port: 0, readOnly: true });
  base = `http://127.0.0.1:${http.port}`;
  remote = createClient({ url: base });
});
afterAll(async () => {
  if (embeddedOnly) return;
  await remote.close();
  await http.close();
  await ch.close();
});

describe.skipIf(embeddedOnly)('curl-style requests', () => {
  it('GET /?query=… answers TabSeparated with ClickHouse headers', async () => {
    const res = await fetch(`${base}/?query=${encodeURIComponent('SELECT count() FROM sightline.requests')}&query_id=q-1`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('3\n');
    expect(res.headers.get('x-clickhouse-format')).toBe('TabSeparated');
    expect(res.headers.get('x-clickhouse-query-id')).toBe('q-1');
    expect(res.headers.get('x-clickhouse-timezone')).toBe('UTC');
    expect(res.headers.get('x-clickhouse-server-display-name')).toBe('sightline');
    expect(JSON.parse(res.headers.get('x-clickhouse-summary')!)).toMatchObject({ read_rows: expect.any(String) });
  });

  it('/ping, GET / and /?query=SELECT 1', async () => {
    expect(await (await fetch(`${base}/ping`)).text()).toBe('Ok.\n');
    expect(await (await fetch(`${base}/`)).text()).toBe('Ok.\n');
    expect(await (await fetch(`${base}/?query=SELECT+1`)).text()).toBe('1\n');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('POST body, default_format, FORMAT clause, database and settings as URL params', async () => {
    const post = (qs: string, body: string) => fetch(`${base}/?${qs}`, { method: 'POST', body });
    expect(await (await post('default_format=CSV', "SELECT model, count() FROM sightline.requests GROUP BY model ORDER BY model")).text()).toBe('"claude-sonnet-4",1\n"gpt-4o",2\n');
    const json = await post('', 'SELECT max(response_bytes) AS m FROM sightline.requests FORMAT JSONEachRow');
    expect(json.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    expect(json.headers.get('content-type')).toMatch(/application\/json/);
    expect(await json.text()).toBe('{"m":"9007199254740991"}\n'); // 64-bit quoted, as a server does by default
    expect(await (await post('database=sightline', 'SELECT count() FROM requests')).text()).toBe('3\n');
    expect(await (await post('', 'SELECT currentDatabase()')).text()).toBe('default\n'); // USE did not stick
    expect(await (await post('max_threads=1', "SELECT getSetting('max_threads')")).text()).toBe('1\n');
    expect(await (await post('', "SELECT getSetting('max_threads') = 1")).text()).not.toBe('1\n'); // and was reset
    expect(await (await post('param_m=gpt-4o', 'SELECT count() FROM sightline.requests WHERE model = {m:String}')).text()).toBe('2\n');
    expect(await (await post('query=SELECT', '42')).text()).toBe('42\n'); // URL query + body form one text
  });

  it('gzip both ways when asked', async () => {
    const res = await new Promise<{ enc: string | undefined; body: Buffer }>((resolve, reject) => {
      const req = request(`${base}/?enable_http_compression=1`, { method: 'POST', headers: { 'Accept-Encoding': 'gzip', 'Content-Encoding': 'gzip' } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ enc: r.headers['content-encoding'], body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(gzipSync('SELECT count() FROM sightline.requests'));
    });
    expect(res.enc).toBe('gzip');
    expect(gunzipSync(res.body).toString()).toBe('3\n');
  });

  it('errors carry Code/Exception text, status and X-ClickHouse-Exception-Code', async () => {
    const res = await fetch(`${base}/?query=${encodeURIComponent('SELECT * FROM sightline.nope')}`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('60');
    expect(await res.text()).toMatch(/^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\) \(version [\d.]+\)\n$/s);
    const syntax = await fetch(`${base}/?query=SELEC+1`);
    expect(syntax.status).toBe(403); // not a read statement: refused before parsing
  });

  it('refuses writes, multi-statements, files and foreign Host headers', async () => {
    for (const sql of [
      'INSERT INTO sightline.requests SELECT * FROM sightline.requests',
      'DROP TABLE sightline.requests',
      'SELECT 1; DROP TABLE sightline.requests',
      "SELECT * FROM file('/etc/hostname', 'LineAsString')",
      "SELECT 1 INTO OUTFILE '/tmp/x.csv'",
      'SET readonly = 0',
    ]) {
      const res = await fetch(`${base}/`, { method: 'POST', body: sql });
      expect(res.status, sql).toBe(403);
      expect(res.headers.get('x-clickhouse-exception-code')).toBe('164');
    }
    // fetch may not set Host; a DNS-rebinding page would arrive with its own name in it.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      request(`${base}/?query=SELECT+1`, { headers: { Host: 'evil.example:8123' } }, (r) => { r.resume(); resolve(r.statusCode); }).on('error', reject).end();
    });
    expect(status).toBe(403);
    const [{ c } = { c: '' }] = await (await ch.client.query({ query: 'SELECT count() c FROM sightline.requests', format: 'JSONEachRow' })).json<{ c: string }>();
    expect(c).toBe('3');
  });
});

describe.skipIf(embeddedOnly)('@clickhouse/client against it', () => {
  it('ping, JSON and JSONEachRow queries with params', async () => {
    expect((await remote.ping()).success).toBe(true);
    const rs = await remote.query({ query: 'SELECT model, count() AS n FROM sightline.requests GROUP BY model ORDER BY model', format: 'JSON' });
    const json = await rs.json<{ model: string; n: string }>();
    expect(json.data).toEqual([{ model: 'claude-sonnet-4', n: '1' }, { model: 'gpt-4o', n: '2' }]);
    expect(json.meta).toEqual([{ name: 'model', type: 'LowCardinality(String)' }, { name: 'n', type: 'UInt64' }]);
    const each = await remote.query({
      query: 'SELECT toString(request_id) AS id FROM sightline.requests WHERE request_id IN {ids:Array(UUID)} ORDER BY id',
      query_params: { ids: [events[0]!.request_id, events[1]!.request_id] },
      format: 'JSONEachRow',
    });
    expect((await each.json<{ id: string }>()).map((r) => r.id)).toEqual([events[0]!.request_id, events[1]!.request_id].sort());
  });

  it('response compression on the client works', async () => {
    const gz = createClient({ url: base, compression: { response: true } });
    const rs = await gz.query({ query: 'SELECT count() AS c FROM sightline.requests', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ c: '3' }]);
    await gz.close();
  });

  it('insert is refused with a ClickHouseError READONLY', async () => {
    const err = await remote.insert({ table: 'sightline.requests', values: [{ request_id: events[0]!.request_id }], format: 'JSONEachRow' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '164', type: 'READONLY' });
    expect((err as Error).constructor.name).toBe('ClickHouseError');
  });

  it('engine errors arrive as ClickHouseError with code and type', async () => {
    const err = await remote.query({ query: 'SELECT no_such_column FROM sightline.requests' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '47', type: 'UNKNOWN_IDENTIFIER' });
  });
});

describe.skipIf(embeddedOnly)('a writable interface', () => {
  it('accepts @clickhouse/client inserts when readOnly is false, but GET stays read-only', async () => {
    const rw = await startClickHouseHttp(ch.connect(), { port: 0, readOnly: false });
    const c = createClient({ url: `http://127.0.0.1:${rw.port}` });
    await c.command({ query: 'CREATE TABLE sightline.scratch (a UInt64, s String) ENGINE = MergeTree ORDER BY a' });
    await c.insert({ table: 'sightline.scratch', values: [{ a: '18446744073709551615', s: 'x' }], format: 'JSONEachRow' });
    expect(await (await c.query({ query: 'SELECT a, s FROM sightline.scratch', format: 'JSONEachRow' })).json()).toEqual([{ a: '18446744073709551615', s: 'x' }]);
    expect((await fetch(`http://127.0.0.1:${rw.port}/?query=${encodeURIComponent('DROP TABLE sightline.scratch')}`)).status).toBe(403);
    await c.command({ query: 'DROP TABLE sightline.scratch' });
    await c.close();
    await rw.close();
  });
});

describe('query checks', () => {
  it('classifies statements without being fooled by strings and comments', () => {
    expect(readOnlyViolation('  (SELECT 1)')).toBeNull();
    expect(readOnlyViolation("SELECT 'a;b' AS x;")).toBeNull();
    expect(readOnlyViolation("SELECT 'file(' -- file(\n")).toBeNull();
    expect(readOnlyViolation('WITH 1 AS x SELECT x')).toBeNull();
    expect(readOnlyViolation('/* hi */ SHOW TABLES')).toBeNull();
    expect(readOnlyViolation('SELECT * FROM `file`(\'x\')')).toMatch(/file/);
    expect(readOnlyViolation('SELECT * FROM url(\'http://x\')')).toMatch(/url/);
    expect(readOnlyViolation('ALTER TABLE t DELETE WHERE 1')).toMatch(/only SELECT/);
    expect(formatClause('SELECT 1 FORMAT JSON')).toBe('JSON');
    expect(formatClause("SELECT 'FORMAT CSV'")).toBeUndefined();
  });
});

describe.skipIf(embeddedOnly)('runSql (npx sightline sql)', () => {
  it('renders an aligned table with right-aligned numbers, JSON, and Ok. for commands', async () => {
    const { runSql } = await import('../../analytics/sql.ts');
    const table = await runSql(ch.client, 'SELECT model, count() AS n, max(response_bytes) AS big FROM sightline.requests GROUP BY model ORDER BY model;', 'table');
    expect(table).toBe([
      'model           │ n │              big',
      '────────────────┼───┼─────────────────',
      'claude-sonnet-4 │ 1 │               45',
      'gpt-4o          │ 2 │ 9007199254740991',
      '(2 rows)',
      '',
    ].join('\n'));
    expect(JSON.parse(await runSql(ch.client, "SELECT 1 AS a, 'x' AS b, NULL AS c", 'json'))).toEqual([{ a: 1, b: 'x', c: null }]);
    expect(await runSql(ch.client, 'SELECT 1 AS a FORMAT CSV', 'table')).toBe('1\n');
    expect(await runSql(ch.client, 'CREATE TABLE sightline.tmp_sql (a UInt8) ENGINE = Memory', 'table')).toBe('Ok.\n');
    await runSql(ch.client, 'DROP TABLE sightline.tmp_sql', 'table');
  });
});
