// The compliance commands' work (cli/compliance.ts) on a real engine, with two organisations: report totals equal
// the rows' sums and the raw rows, export returns exactly one user's rows, erase removes them from every table that
// holds them (rollups included), proves it and logs it, and a scope held to one organisation sees and erases nothing
// of the other's, whatever it asks for.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../analytics/migrate.ts';
import { createWriter } from '../../ingest/writer.ts';
import { eraseUser, exportUser, formatReport, grantOrganisation, openScope, report, ReportBySchema, rowPolicyStatements, timeRange, type Scope } from '../../cli/compliance.ts';
import { clickHouseMode } from '../../analytics/client.ts';
import { makeEvent } from '../helpers/events.ts';
import { freshClickHouse, type TestClickHouse } from '../helpers/clickhouse.ts';

let ch: TestClickHouse;
// chDB keeps a query's settings for its session (notes/clickhouse.md), so each scope gets a connection of its own.
let acmeClient: ClickHouseClient;
let globexClient: ClickHouseClient;
const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

// acme: 3 calls by alice (two teams, two models), 1 by bob; globex: 2 by alice (the same user id in another org).
const ROWS = [
  { organization_id: 'acme', team: 'search', user_id: 'alice', model: 'gpt-4o-mini', cost_usd: 0.0015, prompt_tokens: 100, completion_tokens: 10, latency_ms: 100, created_at: ago(1 * HOUR) },
  { organization_id: 'acme', team: 'search', user_id: 'alice', model: 'gpt-4o', cost_usd: 0.25, prompt_tokens: 1000, completion_tokens: 200, latency_ms: 300, created_at: ago(2 * HOUR) },
  { organization_id: 'acme', team: 'ads', user_id: 'alice', model: 'gpt-4o', cost_usd: 0.1, prompt_tokens: 400, completion_tokens: 40, latency_ms: 200, status: 500, created_at: ago(3 * HOUR) },
  { organization_id: 'acme', team: 'ads', user_id: 'bob', model: 'gpt-4o-mini', cost_usd: 0.0001, prompt_tokens: 7, completion_tokens: 3, latency_ms: 50, created_at: ago(4 * HOUR) },
  { organization_id: 'globex', team: 'core', user_id: 'alice', model: 'gpt-4o', cost_usd: 3, prompt_tokens: 5000, completion_tokens: 900, latency_ms: 900, created_at: ago(1.5 * HOUR) },
  { organization_id: 'globex', team: 'core', user_id: 'alice', model: 'gpt-4o', cost_usd: 1, prompt_tokens: 2000, completion_tokens: 100, latency_ms: 700, created_at: ago(30 * 24 * HOUR) },
];

beforeAll(async () => {
  ch = await freshClickHouse();
  acmeClient = ch.connect();
  globexClient = ch.connect();
  await migrate(ch.client);
  const events = ROWS.map((r) => makeEvent({ cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, status: 200, ...r }));
  const writer = createWriter(ch.client);
  await writer.insert(events);
  // A redelivered event (a replayed batch) sits twice until merged: reports read FINAL and count it once.
  await writer.insert([events[0]!]);
});
afterAll(async () => { await ch.close(); });

const everyone = (): Promise<Scope> => openScope(ch.client, undefined, 'cli');
const acme = (): Promise<Scope> => openScope(acmeClient, 'acme', 'key_acme');
const week = () => timeRange('7d', undefined);

describe('report', () => {
  it('groups by any dimensions; the totals line is the sum of the rows and of the raw calls', async () => {
    const r = await report(await everyone(), week(), ReportBySchema.parse('organization,team,model'));
    expect(r.rows.map((x) => [x.organization, x.team, x.model, Number(x.calls), x.cost_usd])).toEqual([
      ['globex', 'core', 'gpt-4o', 1, '3'],
      ['acme', 'search', 'gpt-4o', 1, '0.25'],
      ['acme', 'ads', 'gpt-4o', 1, '0.1'],
      ['acme', 'search', 'gpt-4o-mini', 1, '0.0015'],
      ['acme', 'ads', 'gpt-4o-mini', 1, '0.0001'],
    ]);
    for (const m of ['calls', 'errors', 'input_tokens', 'output_tokens'] as const) {
      expect(Number(r.totals[m])).toBe(r.rows.reduce((s, x) => s + Number(x[m]), 0));
    }
    // Decimal sums: the total is the rows' sum to the last digit, and the calls' own cost.
    const nanos = (v: string | number) => {
      const [whole, fraction = ''] = String(v).split('.');
      return BigInt(`${whole}${fraction.padEnd(9, '0')}`);
    };
    expect(nanos(r.totals.cost_usd!)).toBe(r.rows.reduce((s, x) => s + nanos(x.cost_usd!), 0n));
    expect(r.totals.cost_usd).toBe('3.3516');
    expect(Number(r.totals.calls)).toBe(5); // the duplicate delivery counts once; the 30-day-old call is outside 7d
    expect(Number(r.totals.errors)).toBe(1);
    expect(Number(r.totals.input_tokens)).toBe(6507);

    const byProperty = await report(await everyone(), week(), ReportBySchema.parse('property:env'));
    expect(byProperty.rows.map((x) => [x['property:env'], Number(x.calls)])).toEqual([['test', 5]]);
    const none = await report(await everyone(), timeRange('2001-01-01', '2001-01-02'), ReportBySchema.parse('model'));
    expect(none.rows).toEqual([]);
    expect(Number(none.totals.calls)).toBe(0);
  });

  it('rounds each cost to nine decimals instead of truncating its float', async () => {
    // 0.0099 is 0.009899999… as a float: truncated, three of them would sum to 0.029699997.
    const at = ago(20 * 24 * HOUR);
    await createWriter(ch.client).insert([1, 2, 3].map(() => makeEvent({ organization_id: 'initech', user_id: 'ivan', cost_usd: 0.0099, created_at: at })));
    const r = await report(await everyone(), timeRange('25d', '15d'), ReportBySchema.parse('organization'));
    expect(r.rows.map((x) => [x.organization, x.cost_usd])).toEqual([['initech', '0.0297']]);
    expect(r.totals.cost_usd).toBe('0.0297');
  });

  it('renders table, csv and json, each ending with the totals', async () => {
    const r = await report(await everyone(), week(), ReportBySchema.parse('organization'));
    const csv = formatReport(r, 'csv').trim().split('\n');
    expect(csv[0]).toBe('organization,calls,errors,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd,latency_avg_ms,latency_p50_ms,latency_p95_ms');
    expect(csv.map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['organization,calls', 'globex,1', 'acme,4', 'TOTAL,5']);
    expect(JSON.parse(formatReport(r, 'json')).totals.cost_usd).toBe('3.3516');
    expect(formatReport(r, 'table')).toMatch(/TOTAL\s+│\s+5 │/);
  });

  it('refuses unknown dimensions by name', () => {
    expect(ReportBySchema.safeParse('team,colour').error?.issues[0]?.message).toMatch(/unknown dimension "colour"/);
    expect(ReportBySchema.safeParse('property:a b').success).toBe(false);
  });

  it('held to one organisation, sees only its rows, even grouping by organisation', async () => {
    const r = await report(await acme(), week(), ReportBySchema.parse('organization,user'));
    expect(r.rows.map((x) => [x.organization, x.user, Number(x.calls)])).toEqual([['acme', 'alice', 3], ['acme', 'bob', 1]]);
    expect(r.totals.cost_usd).toBe('0.3516');
  });
});

describe('audit export and erase', () => {
  it('exports every row of one user as JSON lines, oldest first, with progress', async () => {
    const lines: string[] = [];
    const progress: [number, number][] = [];
    const n = await exportUser(await everyone(), 'alice', timeRange(undefined, undefined), (l) => lines.push(l), (d, t) => progress.push([d, t]));
    expect(n).toBe(5);
    const rows = lines.map((l) => JSON.parse(l) as { user_id: string; organization_id: string; created_at: string });
    expect(rows.every((r) => r.user_id === 'alice')).toBe(true);
    expect(rows.map((r) => r.organization_id)).toEqual(['globex', 'acme', 'acme', 'globex', 'acme']);
    expect(progress.at(-1)).toEqual([5, 5]);
    const acmeOnly: string[] = [];
    expect(await exportUser(await acme(), 'alice', timeRange(undefined, undefined), (l) => acmeOnly.push(l))).toBe(3);
  });

  it('an organisation scope erases only its own organisation\'s rows of the user, from requests and rollups, and logs it', async () => {
    const steps: string[] = [];
    const result = await eraseUser(await acme(), 'alice', (s) => steps.push(s));
    expect(result.rowsAfter).toBe(0);
    const requests = result.tables.find((t) => t.table === 'sightline.requests')!;
    // Four physical rows: three calls plus the unmerged duplicate delivery.
    expect(requests).toEqual({ table: 'sightline.requests', before: 4, after: 0 });
    expect(result.tables.map((t) => t.table)).toEqual(expect.arrayContaining(['sightline.cost_users_daily', 'sightline.sessions_daily']));
    expect(result.tables.find((t) => t.table === 'sightline.cost_users_daily')!.before).toBeGreaterThan(0);
    expect(steps[0]).toMatch(/^erasing sightline\.requests \(1\/\d+\): 4 rows$/);

    const count = async (where: string) => Number((await (await ch.client.query({ query: `SELECT count() AS n FROM sightline.requests WHERE ${where}`, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);
    expect(await count("user_id = 'alice' AND organization_id = 'acme'")).toBe(0);
    expect(await count("user_id = 'alice' AND organization_id = 'globex'")).toBe(2);
    expect(await count("user_id = 'bob'")).toBe(1);

    const log = await (await ch.client.query({ query: 'SELECT action, organization_id, subject_user_id, actor, rows_before, rows_after, detail FROM sightline.audit_log', format: 'JSONEachRow' })).json<Record<string, string>>();
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: 'erase', organization_id: 'acme', subject_user_id: 'alice', actor: 'key_acme', rows_before: String(result.rowsBefore), rows_after: '0' });
    expect(JSON.parse(log[0]!.detail!)).toEqual(result.tables);
  });

  it('an organisation scope cannot read the audit log of another organisation', async () => {
    await eraseUser(await everyone(), 'nobody');
    const globex = await openScope(globexClient, 'globex', 'key_globex');
    const rs = await globexClient.query({ query: 'SELECT subject_user_id FROM sightline.audit_log', format: 'JSONEachRow', clickhouse_settings: globex.settings });
    expect(await rs.json()).toEqual([]);
    const all = await ch.client.query({ query: 'SELECT organization_id, subject_user_id FROM sightline.audit_log ORDER BY at', format: 'JSONEachRow' });
    expect(await all.json()).toEqual([{ organization_id: 'acme', subject_user_id: 'alice' }, { organization_id: '', subject_user_id: 'nobody' }]);
  });
});

describe('row policies (tenants grant)', () => {
  it('writes one policy per organisation table, the organisation as bytes', () => {
    expect(rowPolicyStatements(['sightline.cost_hourly', 'sightline.requests'], 'acme', 'grafana_acme')).toEqual([
      'CREATE ROW POLICY OR REPLACE sightline_grafana_acme ON sightline.cost_hourly FOR SELECT USING organization_id = char(97, 99, 109, 101) TO grafana_acme',
      'CREATE ROW POLICY OR REPLACE sightline_grafana_acme ON sightline.requests FOR SELECT USING organization_id = char(97, 99, 109, 101) TO grafana_acme',
    ]);
    expect(() => rowPolicyStatements(['sightline.requests'], 'acme', 'x; DROP')).toThrow(/user names/);
  });

  // A server (CLICKHOUSE_URL) applies them and its user then sees one organisation; chDB has no users and refuses.
  it('holds a server user to its organisation; the embedded engine refuses row policies', async () => {
    if (clickHouseMode(ch.client) === 'embedded') {
      await expect(grantOrganisation(ch.client, 'globex', 'grafana_globex')).rejects.toMatchObject({ type: 'ACCESS_DENIED' });
      return;
    }
    await ch.client.command({ query: "CREATE USER OR REPLACE sl_test_globex IDENTIFIED WITH plaintext_password BY 'sl-test-pw'" });
    await ch.client.command({ query: 'GRANT SELECT ON sightline.* TO sl_test_globex' });
    await grantOrganisation(ch.client, 'globex', 'sl_test_globex');
    const user = createClient({ url: process.env.CLICKHOUSE_URL, username: 'sl_test_globex', password: 'sl-test-pw' });
    try {
      const rs = await user.query({ query: 'SELECT DISTINCT organization_id FROM sightline.requests', format: 'JSONEachRow' });
      expect(await rs.json()).toEqual([{ organization_id: 'globex' }]);
    } finally {
      await user.close();
      await ch.client.command({ query: 'DROP USER IF EXISTS sl_test_globex' });
    }
  });
});
