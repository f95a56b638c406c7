// The embedded store's HTTP interface with users (admin keys): an organisation user sees its organisation's rows
// only, however it asks (FINAL, subqueries, JOINs, CTEs, views, rollups, USE + unqualified names, the official
// client, Basic auth), cannot lift the filter (settings in the URL or the query, merge(), system tables with other
// queries' text), a wrong password is refused, and a key for every organisation may write through the writer session.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopedViolation, startClickHouseHttp, type ClickHouseHttpServer } from '../../analytics/http-server.ts';
import { migrate } from '../../analytics/migrate.ts';
import { createWriter } from '../../ingest/writer.ts';
import { hashKey } from '../../proxy/auth.ts';
import { freshClickHouse, type TestClickHouse } from '../helpers/clickhouse.ts';
import { makeEvent } from '../helpers/events.ts';

// The HTTP interface exists for the embedded store; against CLICKHOUSE_URL the server's own row policies apply.
const embeddedOnly = Boolean(process.env.CLICKHOUSE_URL);

const ACME_KEY = 'sl-acme-secret-1';
const GLOBEX_KEY = 'sl-globex-secret-2';
const ROOT_KEY = 'sl-root-secret-3';
const KEYS = [
  { id: 'acme-admin', hash: hashKey(ACME_KEY), organization_id: 'acme' },
  { id: 'globex-admin', hash: hashKey(GLOBEX_KEY), organization_id: "glo'bex" },
  { id: 'root', hash: hashKey(ROOT_KEY) },
];

let ch: TestClickHouse;
let http: ClickHouseHttpServer;
let base: string;
let acme: ClickHouseClient;

beforeAll(async () => {
  if (embeddedOnly) return;
  ch = await freshClickHouse();
  await migrate(ch.client);
  await createWriter(ch.client).insert([
    makeEvent({ organization_id: 'acme', user_id: 'a1', cost_usd: 1 }),
    makeEvent({ organization_id: 'acme', user_id: 'a2', cost_usd: 2 }),
    makeEvent({ organization_id: "glo'bex", user_id: 'g1', cost_usd: 40 }),
  ]);
  http = await startClickHouseHttp(ch.connect(), { host: '127.0.0.1', port: 0, readOnly: true, adminKeys: KEYS, writer: ch.connect() });
  base = `http://127.0.0.1:${http.port}`;
  acme = createClient({ url: base, username: 'acme-admin', password: ACME_KEY });
});
afterAll(async () => {
  if (embeddedOnly) return;
  await acme.close();
  await http.close();
  await ch.close();
});

const text = async (sql: string, headers: Record<string, string>, params = ''): Promise<{ status: number; body: string }> => {
  const res = await fetch(`${base}/?${params}`, { method: 'POST', body: sql, headers });
  return { status: res.status, body: await res.text() };
};
const as = (user: string, key: string) => ({ 'X-ClickHouse-User': user, 'X-ClickHouse-Key': key });

describe.skipIf(embeddedOnly)('HTTP interface: organisation users', () => {
  it('sees only its organisation through every way of reading the rows', async () => {
    const queries = [
      'SELECT organization_id, count(), sum(cost_usd) FROM sightline.requests GROUP BY organization_id',
      'SELECT organization_id, count(), sum(cost_usd) FROM sightline.requests FINAL GROUP BY organization_id',
      'SELECT organization_id, count(), sum(cost_usd) FROM (SELECT * FROM sightline.requests) GROUP BY organization_id',
      'WITH r AS (SELECT * FROM sightline.requests) SELECT organization_id, count(), sum(cost_usd) FROM r GROUP BY organization_id',
      'SELECT a.organization_id, count(), sum(a.cost_usd) FROM sightline.requests AS a JOIN sightline.requests AS b USING (request_id) GROUP BY a.organization_id',
      'SELECT organization_id, count(), sum(cost_usd) FROM sightline.audit_trail GROUP BY organization_id',
      'SELECT organization_id, count(), sum(cost_usd) FROM view(SELECT * FROM sightline.requests) GROUP BY organization_id',
      'SELECT organization_id, sum(calls), sum(cost_usd) FROM sightline.cost_hourly GROUP BY organization_id',
    ];
    for (const sql of queries) expect(await text(sql, as('acme-admin', ACME_KEY)), sql).toEqual({ status: 200, body: 'acme\t2\t3\n' });
    // USE and an unqualified name resolve to the same table, and the same filter.
    expect(await text('SELECT organization_id, count() FROM requests GROUP BY organization_id', as('acme-admin', ACME_KEY), 'database=sightline')).toEqual({ status: 200, body: 'acme\t2\n' });
    // An organisation id with a quote in it is filtered as itself.
    expect(await text('SELECT organization_id, count() FROM sightline.requests GROUP BY organization_id', as('globex-admin', GLOBEX_KEY))).toEqual({ status: 200, body: "glo\\'bex\t1\n" }); // TabSeparated escapes the quote
    // The official client (X-ClickHouse-User/Key) and Basic auth (Grafana's datasource).
    const rs = await acme.query({ query: 'SELECT user_id FROM sightline.requests ORDER BY user_id', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ user_id: 'a1' }, { user_id: 'a2' }]);
    const basic = { Authorization: `Basic ${Buffer.from(`acme-admin:${ACME_KEY}`).toString('base64')}` };
    expect(await text('SELECT count() FROM sightline.requests', basic)).toEqual({ status: 200, body: '2\n' });
  });

  it('cannot lift or go around the filter', async () => {
    const denied = async (sql: string, params = '') => {
      const r = await text(sql, as('acme-admin', ACME_KEY), params);
      expect(r.status, sql).toBe(403);
      expect(r.body, sql).toMatch(/ACCESS_DENIED|READONLY/);
    };
    await denied("SELECT count() FROM sightline.requests SETTINGS additional_table_filters = {'sightline.requests': '1'}");
    await denied('SELECT count() FROM sightline.requests', `additional_table_filters=${encodeURIComponent("{'sightline.requests':'1'}")}`);
    await denied("SELECT count() FROM merge('sightline', '^requests$')");
    await denied('SELECT command FROM system.mutations');
    await denied('SELECT query FROM system.processes');
    await denied("ALTER TABLE sightline.requests DELETE WHERE organization_id = 'globex'");
    // Table DDL carries per-organisation retention, so other organisations' ids.
    await denied('SHOW CREATE TABLE sightline.requests');
    await denied("SELECT create_table_query FROM system.tables WHERE name = 'requests'");
    // The catalogue stays readable (Grafana's query editor lists tables and columns).
    expect((await text("SELECT count() > 0 FROM system.columns WHERE database = 'sightline'", as('acme-admin', ACME_KEY))).body).toBe('1\n');
    // A failed request leaves no filter behind: the anonymous (loopback) session sees every organisation.
    expect(await text('SELECT count() FROM sightline.requests', {})).toEqual({ status: 200, body: '3\n' });
  });

  it('refuses a wrong key or a key under another name', async () => {
    expect((await text('SELECT 1', as('acme-admin', 'sl-wrong'))).status).toBe(401);
    expect((await text('SELECT 1', as('root', ACME_KEY))).status).toBe(401);
    expect((await text('SELECT 1', as('acme-admin', ''))).status).toBe(401);
  });

  it('an admin key for every organisation reads everything and may write; anonymous may not', async () => {
    expect(await text('SELECT count() FROM sightline.requests', as('root', ROOT_KEY))).toEqual({ status: 200, body: '3\n' });
    expect((await text("ALTER TABLE sightline.requests DELETE WHERE user_id = 'a1'", {})).status).toBe(403);
    expect((await text("ALTER TABLE sightline.requests DELETE WHERE user_id = 'a1' SETTINGS mutations_sync = 2", as('root', ROOT_KEY))).status).toBe(200);
    expect(await text("SELECT count() FROM sightline.requests WHERE user_id = 'a1'", {})).toEqual({ status: 200, body: '0\n' });
    expect((await text("SELECT * FROM file('/etc/passwd')", as('root', ROOT_KEY))).status).toBe(403);
  });

  it('scopedViolation reads code, not string literals', () => {
    expect(scopedViolation("SELECT 'merge(' AS s, 'system.query_log' AS t")).toBeNull();
    expect(scopedViolation('SELECT * FROM system . query_log')).toMatch(/system\.query_log/);
    expect(scopedViolation('SELECT * FROM mergeTreeIndex(sightline, requests)')).toMatch(/mergeTreeIndex/);
  });
});
