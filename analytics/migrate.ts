// Numbered SQL migrations for the `sightline` database.
//
// Files: analytics/migrations/NNNN_name.sql (up) + NNNN_name.down.sql (down). Numbers start at 0001 and
// have no gaps and no duplicates; listMigrations() throws otherwise. A retired migration keeps its
// number as a stub whose first line is `-- retired: <why>` (no down file needed); it applies as a no-op.
// Statements are separated by `;` at the end of a line (a server's HTTP interface runs one per request).
//
// Retention: `{body_retention_days}` / `{retention_days}` in migration SQL are substituted from the
// options at apply time, and migrate() re-applies them with ALTER … MODIFY TTL when the table already
// exists with different values, so config stays the source of truth. Per-organisation overrides
// (retention.organizations) make each TTL `toIntervalDay(transform(organization_id, [orgs], [days], default))`:
// one expression per TTL, so one ALTER changes every organisation's retention at once.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../config/index.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
export const DEFAULT_RETENTION = { bodyRetentionDays: 90, retentionDays: 365 } as const;

export interface Migration {
  version: number;
  name: string;
  up: string;
  down: string;
  /** A stub kept so the number is never reused; up and down are empty. */
  retired: boolean;
}

export interface RetentionOptions {
  bodyRetentionDays?: number;
  retentionDays?: number;
  /** Overrides by organisation id (ids limited to config/compliance.ts ORG_ID_IN_SQL). */
  organizations?: Readonly<Record<string, { bodyRetentionDays?: number | undefined; retentionDays?: number | undefined }>>;
}

/** Retention as applied: defaults plus, per organisation with an override, both of its values. */
export interface Retention {
  bodyRetentionDays: number;
  retentionDays: number;
  organizations: Record<string, { bodyRetentionDays: number; retentionDays: number }>;
}

export interface MigrateOptions extends RetentionOptions {
  /** Apply up to and including this version (default: all). */
  target?: number;
  /** Migrations folder (tests point this at fixtures). */
  dir?: string;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+?)(\.down)?\.sql$/;
const RETIRED_RE = /^--\s*retired\b/i;

/** Reads and checks the migrations folder; throws MigrationError on a duplicate, a gap, a stray or an unpaired file. */
export function listMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const ups = new Map<number, { name: string; file: string; sql: string }>();
  const downs = new Map<number, { name: string; file: string; sql: string }>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_RE.exec(file);
    if (!m) throw new MigrationError(`${file}: expected NNNN_name.sql or NNNN_name.down.sql`);
    const version = Number(m[1]);
    const entry = { name: m[2] ?? '', file, sql: readFileSync(path.join(dir, file), 'utf8') };
    const into = m[3] ? downs : ups;
    const seen = into.get(version);
    if (seen) throw new MigrationError(`duplicate migration number ${m[1]}: ${seen.file} and ${file}`);
    into.set(version, entry);
  }
  const versions = [...ups.keys()].sort((a, b) => a - b);
  versions.forEach((v, i) => {
    if (v !== i + 1) throw new MigrationError(`missing migration number ${String(i + 1).padStart(4, '0')} (found ${String(v).padStart(4, '0')} next)`);
  });
  for (const [v, d] of downs) {
    const up = ups.get(v);
    if (!up || up.name !== d.name) throw new MigrationError(`${d.file} has no matching up migration`);
  }
  return versions.map((version) => {
    const up = ups.get(version)!;
    const retired = RETIRED_RE.test(up.sql);
    const down = downs.get(version);
    if (!retired && !down) throw new MigrationError(`${up.file} has no ${up.file.replace(/\.sql$/, '.down.sql')}`);
    return { version, name: up.name, up: retired ? '' : up.sql, down: retired ? '' : (down?.sql ?? ''), retired };
  });
}

/** Splits a migration into statements; full-line `--` comments are dropped first so they may contain `;`. */
export function splitStatements(sql: string): string[] {
  const code = sql.split('\n').filter((line) => !line.trimStart().startsWith('--')).join('\n');
  return code.split(/;[ \t]*(?:\r?\n|$)/).map((s) => s.trim()).filter((s) => s.length > 0);
}

function fillRetention(sql: string, r: Retention): string {
  return sql
    .replaceAll('{body_retention_days}', String(r.bodyRetentionDays))
    .replaceAll('{retention_days}', String(r.retentionDays));
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0) throw new MigrationError(`${what} must be a positive integer, got ${n}`);
  return n;
}

async function ensureBookkeeping(client: ClickHouseClient): Promise<void> {
  await client.command({ query: 'CREATE DATABASE IF NOT EXISTS sightline' });
  // An append-only log (seq orders it), so rollbacks need no mutations: the last entry per version wins.
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS sightline.schema_migrations
      (version UInt32, name String, applied Bool, seq UInt64, at DateTime64(3, 'UTC') DEFAULT now64(3))
      ENGINE = MergeTree ORDER BY (version, seq)`,
  });
}

/** Versions currently applied, ascending. */
export async function appliedVersions(client: ClickHouseClient): Promise<number[]> {
  await ensureBookkeeping(client);
  const rs = await client.query({
    query: `SELECT version FROM sightline.schema_migrations
            GROUP BY version HAVING argMax(applied, seq) ORDER BY version`,
    format: 'JSONEachRow',
  });
  return (await rs.json<{ version: number }>()).map((r) => Number(r.version));
}

async function record(client: ClickHouseClient, m: Migration, applied: boolean): Promise<void> {
  const rs = await client.query({ query: 'SELECT max(seq) AS s FROM sightline.schema_migrations', format: 'JSONEachRow' });
  const [row] = await rs.json<{ s: string | number }>();
  const seq = BigInt(row?.s ?? 0) + 1n;
  await client.insert({
    table: 'sightline.schema_migrations',
    values: [{ version: m.version, name: m.name, applied, seq: seq.toString() }],
    format: 'JSONEachRow',
  });
}

async function run(client: ClickHouseClient, sql: string): Promise<void> {
  for (const statement of splitStatements(sql)) await client.command({ query: statement });
}

/** Applies pending migrations in order (up to opts.target), then brings TTLs in line with the retention options. */
export async function migrate(client: ClickHouseClient, opts: MigrateOptions = {}): Promise<{ applied: number[] }> {
  const retention = resolveRetention(opts);
  const all = listMigrations(opts.dir);
  const target = opts.target ?? all.length;
  if (target < 0 || target > all.length) throw new MigrationError(`target ${target} outside 0..${all.length}`);
  const done = new Set(await appliedVersions(client));
  const applied: number[] = [];
  for (const m of all) {
    if (m.version > target || done.has(m.version)) continue;
    try {
      await run(client, fillRetention(m.up, retention));
    } catch (err) {
      throw new MigrationError(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err });
    }
    await record(client, m, true);
    applied.push(m.version);
  }
  await applyRetention(client, retention);
  return { applied };
}

/** Runs the down migrations of every applied version above toVersion, newest first. */
export async function rollback(client: ClickHouseClient, toVersion: number, opts: { dir?: string } = {}): Promise<{ rolledBack: number[] }> {
  const all = listMigrations(opts.dir);
  const done = new Set(await appliedVersions(client));
  const rolledBack: number[] = [];
  for (const m of [...all].reverse()) {
    if (m.version <= toVersion || !done.has(m.version)) continue;
    try {
      await run(client, m.down);
    } catch (err) {
      throw new MigrationError(`rollback of ${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err });
    }
    await record(client, m, false);
    rolledBack.push(m.version);
  }
  return { rolledBack };
}

/** The retention the config asks for (clickhouse.*_retention_days, retention.organizations). */
export function retentionOf(config: Config): RetentionOptions {
  return {
    bodyRetentionDays: config.clickhouse.body_retention_days,
    retentionDays: config.clickhouse.retention_days,
    organizations: Object.fromEntries(Object.entries(config.retention.organizations).map(([org, o]) => [org, { bodyRetentionDays: o.body_retention_days, retentionDays: o.retention_days }])),
  };
}

/** Options → the retention to apply: defaults filled in, every override given both values. */
export function resolveRetention(opts: RetentionOptions): Retention {
  const bodyRetentionDays = positiveInt(opts.bodyRetentionDays ?? DEFAULT_RETENTION.bodyRetentionDays, 'bodyRetentionDays');
  const retentionDays = positiveInt(opts.retentionDays ?? DEFAULT_RETENTION.retentionDays, 'retentionDays');
  const organizations: Retention['organizations'] = {};
  for (const [org, o] of Object.entries(opts.organizations ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (!ORG_ID.test(org)) throw new MigrationError(`organisation id ${JSON.stringify(org)} cannot carry a retention override (letters, digits, "_", "-", ".", ":" only)`);
    organizations[org] = {
      bodyRetentionDays: positiveInt(o.bodyRetentionDays ?? bodyRetentionDays, `${org}.bodyRetentionDays`),
      retentionDays: positiveInt(o.retentionDays ?? retentionDays, `${org}.retentionDays`),
    };
  }
  return { bodyRetentionDays, retentionDays, organizations };
}

// Kept in step with config/compliance.ts ORG_ID_IN_SQL: such ids need no escaping inside a TTL expression.
const ORG_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The days argument of a TTL: a constant, or a transform() of organization_id when some organisation differs. */
function daysExpression(fallback: number, perOrg: Record<string, number>): string {
  const orgs = Object.keys(perOrg).filter((o) => perOrg[o] !== fallback);
  if (orgs.length === 0) return String(fallback);
  return `transform(organization_id, [${orgs.map((o) => `'${o}'`).join(', ')}], [${orgs.map((o) => perOrg[o]).join(', ')}], ${fallback})`;
}

// How the engine prints the TTLs it stores (create_table_query): `toIntervalDay(<n>)` or `toIntervalDay(transform(…))`.
const DAYS_RE = String.raw`toIntervalDay\((?:transform\(organization_id, \[([^\]]*)\], \[([^\]]*)\], (\d+)\)|(\d+))\)`;
const BODY_TTL_RE = new RegExp(String.raw`\`request_body\` [^\`]*?TTL toDateTime\(created_at\) \+ ` + DAYS_RE);
const ROW_TTL_RE = new RegExp(String.raw`\) TTL toDateTime\(created_at\) \+ ` + DAYS_RE);

/** A parsed TTL: its default days and the organisations that differ. */
function parseDays(m: RegExpExecArray | null): { fallback: number; perOrg: Record<string, number> } {
  if (!m) return { fallback: 0, perOrg: {} };
  if (m[4] !== undefined) return { fallback: Number(m[4]), perOrg: {} };
  const orgs = [...(m[1] ?? '').matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((x) => x[1]!);
  const days = (m[2] ?? '').split(',').map((d) => Number(d.trim()));
  return { fallback: Number(m[3]), perOrg: Object.fromEntries(orgs.map((o, i) => [o, days[i]!])) };
}

/** Current TTLs of sightline.requests in days, per organisation where one differs; null when the table does not exist. */
export async function currentRetention(client: ClickHouseClient): Promise<Retention | null> {
  const rs = await client.query({
    query: "SELECT create_table_query AS q FROM system.tables WHERE database = 'sightline' AND name = 'requests'",
    format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ q: string }>();
  if (!row) return null;
  const body = parseDays(BODY_TTL_RE.exec(row.q));
  const rows = parseDays(ROW_TTL_RE.exec(row.q.slice(row.q.indexOf('ORDER BY'))));
  const organizations: Retention['organizations'] = {};
  for (const org of [...new Set([...Object.keys(body.perOrg), ...Object.keys(rows.perOrg)])].sort()) {
    organizations[org] = { bodyRetentionDays: body.perOrg[org] ?? body.fallback, retentionDays: rows.perOrg[org] ?? rows.fallback };
  }
  return { bodyRetentionDays: body.fallback, retentionDays: rows.fallback, organizations };
}

const bodyDays = (r: Retention): string =>
  daysExpression(r.bodyRetentionDays, Object.fromEntries(Object.entries(r.organizations).map(([o, v]) => [o, v.bodyRetentionDays])));
const rowDays = (r: Retention): string =>
  daysExpression(r.retentionDays, Object.fromEntries(Object.entries(r.organizations).map(([o, v]) => [o, v.retentionDays])));

/** ALTERs the body and row TTLs of sightline.requests when they differ from r (rewrites parts: rare, on config change). */
export async function applyRetention(client: ClickHouseClient, r: Retention): Promise<boolean> {
  const now = await currentRetention(client);
  if (!now) return false;
  let changed = false;
  const bodies = bodyDays(r);
  if (bodyDays(now) !== bodies) {
    for (const column of ['request_body', 'response_body']) {
      await client.command({ query: `ALTER TABLE sightline.requests MODIFY COLUMN ${column} TTL toDateTime(created_at) + toIntervalDay(${bodies})` });
    }
    changed = true;
  }
  const rowsTtl = rowDays(r);
  if (rowDays(now) !== rowsTtl) {
    await client.command({ query: `ALTER TABLE sightline.requests MODIFY TTL toDateTime(created_at) + toIntervalDay(${rowsTtl})` });
    changed = true;
  }
  return changed;
}
