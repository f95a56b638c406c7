import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appliedVersions, currentRetention, listMigrations, migrate, MigrationError, rollback, splitStatements } from '../../analytics/migrate.ts';
import { freshClickHouse, type TestClickHouse } from '../helpers/clickhouse.ts';

function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-mig-'));
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}

/** What the shipped migrations create: the calls, the bookkeeping, and the #17 rollups and views over the calls. */
const SHIPPED_TABLES = [
  'audit_log', 'audit_trail', 'cost_hourly', 'cost_hourly_mv', 'cost_properties_daily', 'cost_properties_daily_mv', 'cost_users_daily',
  'cost_users_daily_mv', 'model_prices', 'provider_health_1h', 'provider_health_1h_mv', 'provider_health_5m', 'provider_health_5m_mv', 'requests', 'schema_migrations',
  'session_paths_daily', 'session_paths_daily_mv', 'sessions_daily', 'sessions_daily_mv',
];

async function tables(ch: TestClickHouse): Promise<string[]> {
  const rs = await ch.client.query({ query: "SELECT name FROM system.tables WHERE database = 'sightline' ORDER BY name", format: 'JSONEachRow' });
  return (await rs.json<{ name: string }>()).map((r) => r.name);
}

describe('migration files', () => {
  it('the shipped folder is numbered 1..N without gaps, each with a down', () => {
    const all = listMigrations();
    expect(all.length).toBeGreaterThan(0);
    expect(all.map((m) => m.version)).toEqual(all.map((_, i) => i + 1));
    for (const m of all) if (!m.retired) expect(m.down.trim()).not.toBe('');
  });

  it('fails on a duplicate number', () => {
    const dir = migrationsDir({ '0001_a.sql': 'SELECT 1;', '0001_a.down.sql': 'SELECT 1;', '0001_b.sql': 'SELECT 1;', '0001_b.down.sql': 'SELECT 1;' });
    expect(() => listMigrations(dir)).toThrow(/duplicate migration number 0001/);
  });

  it('fails on a gap', () => {
    const dir = migrationsDir({ '0001_a.sql': 'SELECT 1;', '0001_a.down.sql': 'SELECT 1;', '0003_c.sql': 'SELECT 1;', '0003_c.down.sql': 'SELECT 1;' });
    expect(() => listMigrations(dir)).toThrow(/missing migration number 0002/);
  });

  it('fails on a missing down, an orphan down and a stray name', () => {
    expect(() => listMigrations(migrationsDir({ '0001_a.sql': 'SELECT 1;' }))).toThrow(/no 0001_a\.down\.sql/);
    expect(() => listMigrations(migrationsDir({ '0001_a.sql': 'SELECT 1;', '0001_a.down.sql': '', '0002_b.down.sql': '' }))).toThrow(MigrationError);
    expect(() => listMigrations(migrationsDir({ '1_a.sql': 'SELECT 1;' }))).toThrow(/expected NNNN_name/);
  });

  it('keeps a retired number as a no-op stub', () => {
    const dir = migrationsDir({ '0001_old.sql': '-- retired: replaced by 0002\n', '0002_new.sql': 'SELECT 1;', '0002_new.down.sql': 'SELECT 1;' });
    const all = listMigrations(dir);
    expect(all.map((m) => [m.version, m.retired])).toEqual([[1, true], [2, false]]);
  });

  it('splits statements at line-ending semicolons, ignoring comment lines', () => {
    expect(splitStatements('-- a; b\nSELECT 1;\nSELECT \';\' ;\n\nSELECT 3')).toEqual(['SELECT 1', "SELECT ';'", 'SELECT 3']);
  });
});

describe('migrations on a real engine', () => {
  let ch: TestClickHouse;
  beforeAll(async () => { ch = await freshClickHouse(); });
  afterAll(async () => { await ch.close(); });

  it('applies everything on a fresh store, then nothing the second time', async () => {
    const all = listMigrations();
    expect(await migrate(ch.client)).toEqual({ applied: all.map((m) => m.version) });
    expect(await migrate(ch.client)).toEqual({ applied: [] });
    expect(await tables(ch)).toEqual(SHIPPED_TABLES);
    expect(await currentRetention(ch.client)).toEqual({ bodyRetentionDays: 90, retentionDays: 365, organizations: {} });
  });

  it('for each N: up to N, down to N-1, up to N again', async () => {
    const all = listMigrations();
    await rollback(ch.client, 0);
    expect(await appliedVersions(ch.client)).toEqual([]);
    for (const m of all) {
      const n = m.version;
      expect((await migrate(ch.client, { target: n })).applied).toEqual([n]);
      expect(await rollback(ch.client, n - 1)).toEqual({ rolledBack: [n] });
      expect(await appliedVersions(ch.client)).toEqual(all.filter((x) => x.version < n).map((x) => x.version));
      expect((await migrate(ch.client, { target: n })).applied).toEqual([n]);
    }
    await rollback(ch.client, 0);
    expect(await tables(ch)).toEqual(['schema_migrations']);
    await migrate(ch.client);
    expect(await tables(ch)).toEqual(SHIPPED_TABLES);
  });

  it('substitutes retention on create and re-applies a changed config with ALTER', async () => {
    await rollback(ch.client, 0);
    await migrate(ch.client, { bodyRetentionDays: 7, retentionDays: 30 });
    expect(await currentRetention(ch.client)).toEqual({ bodyRetentionDays: 7, retentionDays: 30, organizations: {} });
    await migrate(ch.client, { bodyRetentionDays: 14, retentionDays: 400 });
    expect(await currentRetention(ch.client)).toEqual({ bodyRetentionDays: 14, retentionDays: 400, organizations: {} });
    const rs = await ch.client.query({ query: "SELECT name FROM system.columns WHERE database='sightline' AND table='requests' AND name='response_body' AND compression_codec LIKE '%ZSTD(1)%'", format: 'JSONEachRow' });
    expect(await rs.json()).toHaveLength(1); // the ALTER kept the codec
    await expect(migrate(ch.client, { retentionDays: 0 })).rejects.toThrow(/positive integer/);
  });

  it('gives organisations their own body and row TTLs, and takes them back to the defaults', async () => {
    await migrate(ch.client, { bodyRetentionDays: 14, retentionDays: 400, organizations: { acme: { bodyRetentionDays: 3 }, globex: { retentionDays: 30 } } });
    expect(await currentRetention(ch.client)).toEqual({
      bodyRetentionDays: 14, retentionDays: 400,
      organizations: { acme: { bodyRetentionDays: 3, retentionDays: 400 }, globex: { bodyRetentionDays: 14, retentionDays: 30 } },
    });
    // The engine applies them: a 10-day-old acme row loses its bodies on TTL merge, globex keeps them; a 60-day-old
    // globex row is gone, acme's stays.
    const row = (id: string, org: string, daysAgo: number) => ({
      request_id: id, organization_id: org, request_body: 'prompt', response_body: 'answer',
      created_at: new Date(Date.now() - daysAgo * 86_400_000).toISOString().replace('T', ' ').replace('Z', ''),
    });
    await ch.client.insert({ table: 'sightline.requests', format: 'JSONEachRow', values: [
      row('00000000-0000-4000-8000-000000000001', 'acme', 10), row('00000000-0000-4000-8000-000000000002', 'globex', 10),
      row('00000000-0000-4000-8000-000000000003', 'acme', 60), row('00000000-0000-4000-8000-000000000004', 'globex', 60),
    ] });
    await ch.client.command({ query: 'OPTIMIZE TABLE sightline.requests FINAL' });
    const rs = await ch.client.query({ query: 'SELECT toString(request_id) AS id, request_body FROM sightline.requests ORDER BY id', format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([
      { id: '00000000-0000-4000-8000-000000000001', request_body: '' },
      { id: '00000000-0000-4000-8000-000000000002', request_body: 'prompt' },
      { id: '00000000-0000-4000-8000-000000000003', request_body: '' },
    ]);
    await migrate(ch.client, { bodyRetentionDays: 14, retentionDays: 400 });
    expect(await currentRetention(ch.client)).toEqual({ bodyRetentionDays: 14, retentionDays: 400, organizations: {} });
    await expect(migrate(ch.client, { organizations: { "it's": { retentionDays: 1 } } })).rejects.toThrow(/cannot carry a retention override/);
  });

  it('runs a multi-statement fixture folder and reports a failing migration by name', async () => {
    // The shipped migrations (already applied here), then two more.
    const shipped = listMigrations();
    const n = shipped.length;
    const file = (version: number, name: string, down = false) => `${String(version).padStart(4, '0')}_${name}${down ? '.down' : ''}.sql`;
    const dir = migrationsDir({
      ...Object.fromEntries(shipped.flatMap((m) => (m.retired
        ? [[file(m.version, m.name), '-- retired: stub\n']]
        : [[file(m.version, m.name), m.up], [file(m.version, m.name, true), m.down]]))),
      [file(n + 1, 'two')]: 'CREATE TABLE sightline.t1 (a UInt8) ENGINE = MergeTree ORDER BY a;\nCREATE TABLE sightline.t2 (a UInt8) ENGINE = MergeTree ORDER BY a;\n',
      [file(n + 1, 'two', true)]: 'DROP TABLE sightline.t2;\nDROP TABLE sightline.t1;\n',
      [file(n + 2, 'broken')]: 'CREATE TABLE sightline.t3 (a NoSuchType) ENGINE = MergeTree ORDER BY a;\n',
      [file(n + 2, 'broken', true)]: 'DROP TABLE IF EXISTS sightline.t3;\n',
    });
    await expect(migrate(ch.client, { dir })).rejects.toThrow(new RegExp(`migration ${n + 2}_broken failed`));
    expect(await tables(ch)).toEqual([...SHIPPED_TABLES, 't1', 't2'].sort());
    await rollback(ch.client, n, { dir });
    expect(await tables(ch)).toEqual(SHIPPED_TABLES);
  });
});
