// The compliance commands (issue #17 §4): `report` (cost, usage and latency grouped by any dimensions), `audit
// export` (a user's rows as JSONL, a GDPR access request), `audit erase` (a user's rows deleted, waited for, proven by
// a second count and recorded in sightline.audit_log) and `retention show`. Every function takes a Scope: a caller
// held to one organisation (an organisation admin key) reads and erases only that organisation's rows, through the
// engine's own filter (contracts/tenancy.ts) as well as the WHERE clauses written here.
import { SettingsMap, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { z } from 'zod';
import { ORG_TABLES_SQL, organisationConditions } from '../contracts/tenancy.ts';
import { currentRetention, type Retention } from '../analytics/migrate.ts';
import { renderTable } from '../analytics/sql.ts';
import { sinceToTimestamp } from './reprice.ts';

export interface Scope {
  client: ClickHouseClient;
  /** undefined = every organisation. */
  organization: string | undefined;
  /** Sent with every query: the organisation filter, unless the server applies it itself (an org user over HTTP). */
  settings: ClickHouseSettings;
  /** Who acts, for the audit log: an admin key's id, or `cli` (the operator's own ClickHouse credentials). */
  actor: string;
}

/**
 * A scope for `client`. With an organisation and `serverEnforced` false, every table with an organization_id column
 * is filtered by the engine for every query sent through the scope.
 */
export async function openScope(client: ClickHouseClient, organization: string | undefined, actor: string, serverEnforced = false): Promise<Scope> {
  if (organization === undefined || serverEnforced) return { client, organization, settings: {}, actor };
  const rs = await client.query({ query: ORG_TABLES_SQL, format: 'JSONEachRow' });
  const tables = (await rs.json<{ qualified: string }>()).map((r) => r.qualified);
  return { client, organization, settings: tables.length ? { additional_table_filters: SettingsMap.from(organisationConditions(tables, organization)) } : {}, actor };
}

async function rows<T>(scope: Scope, query: string, params: Record<string, unknown>): Promise<T[]> {
  const rs = await scope.client.query({ query, format: 'JSONEachRow', query_params: params, clickhouse_settings: scope.settings });
  return rs.json<T>();
}

// ---- time ranges --------------------------------------------------------------------------------------------------

export interface TimeRange {
  /** 'YYYY-MM-DD hh:mm:ss.sss' (UTC), as DateTime64 parameters take them. */
  since: string;
  until: string;
}

/** --since / --until (30d, 12h, 90m or an ISO date, UTC); --until defaults to now. */
export function timeRange(since: string | undefined, until: string | undefined, now = Date.now()): TimeRange {
  const at = (value: string, flag: string): string => {
    try {
      return sinceToTimestamp(value, now);
    } catch {
      throw new Error(`${flag}: expected 30d, 12h, 90m or an ISO date, got "${value}"`);
    }
  };
  const range = { since: since === undefined ? '1970-01-01 00:00:00.000' : at(since, '--since'), until: until === undefined ? at('0m', '--until') : at(until, '--until') };
  if (range.since > range.until) throw new Error(`--since ${range.since} is after --until ${range.until}`);
  return range;
}

/** The WHERE conditions every command shares: the time range (inclusive) and the organisation. */
function rangeConditions(scope: Scope, range: TimeRange): { conditions: string[]; params: Record<string, unknown> } {
  const conditions = ['created_at >= {since:DateTime64(3)}', 'created_at <= {until:DateTime64(3)}'];
  const params: Record<string, unknown> = { since: range.since, until: range.until };
  if (scope.organization !== undefined) {
    conditions.push('organization_id = {organization:String}');
    params.organization = scope.organization;
  }
  return { conditions, params };
}

// ---- report -------------------------------------------------------------------------------------------------------

/** The dimensions `report --by` takes, each a column or expression of sightline.requests. */
export const REPORT_DIMENSIONS = {
  organization: 'organization_id',
  team: 'team',
  key: 'key_id',
  user: 'user_id',
  session: 'session_id',
  provider: 'provider',
  model: 'model',
  alias: 'model_alias',
  deployment: 'deployment',
  endpoint: 'endpoint',
  status: 'status',
  cache: 'cache_status',
  hour: 'toStartOfHour(created_at)',
  day: 'toDate(created_at)',
  month: 'toStartOfMonth(created_at)',
} as const;
export type ReportDimension = keyof typeof REPORT_DIMENSIONS | `property:${string}`;

const PROPERTY_DIMENSION = /^property:([A-Za-z0-9_.-]{1,128})$/;

/** `--by team,model,property:feature` → dimensions; unknown names are refused with the list of known ones. */
export const ReportBySchema = z.string().transform((text, ctx): ReportDimension[] => {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const out: ReportDimension[] = [];
  for (const name of names) {
    if (name in REPORT_DIMENSIONS || PROPERTY_DIMENSION.test(name)) out.push(name as ReportDimension);
    else ctx.addIssue({ code: 'custom', message: `unknown dimension "${name}"; use ${Object.keys(REPORT_DIMENSIONS).join(', ')} or property:<name>` });
  }
  if (new Set(out).size !== out.length) ctx.addIssue({ code: 'custom', message: 'a dimension is named twice' });
  return out;
});

export const REPORT_MEASURES = [
  'calls', 'errors', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cost_usd',
  'latency_avg_ms', 'latency_p50_ms', 'latency_p95_ms',
] as const;
/** Measures that add up: the totals row holds their exact sums over the rows. */
export const ADDITIVE_MEASURES = REPORT_MEASURES.slice(0, 8);

export type ReportRow = Record<string, string | number>;
export interface Report {
  since: string;
  until: string;
  organization: string | undefined;
  by: ReportDimension[];
  rows: ReportRow[];
  totals: ReportRow;
}

// Cost is summed as Decimal(38, 9): a float sum depends on the order of addition, so the totals row would not always
// equal the rows added up. Each cost is rounded (not truncated: 0.0099 is 0.00989999… as a float) to nine decimals, a
// billionth of a dollar; reported as text (trailing zeros dropped) to keep every digit.
const MEASURE_SQL = `count() AS calls,
  countIf(status < 200 OR status >= 300) AS errors,
  sum(prompt_tokens) AS input_tokens,
  sum(completion_tokens) AS output_tokens,
  sum(cache_read_tokens) AS cache_read_tokens,
  sum(cache_write_tokens) AS cache_write_tokens,
  sum(reasoning_tokens) AS reasoning_tokens,
  toString(sum(round(toDecimal128(cost_usd, 12), 9))) AS cost_usd,
  round(avg(latency_ms), 1) AS latency_avg_ms,
  round(quantile(0.5)(latency_ms), 1) AS latency_p50_ms,
  round(quantile(0.95)(latency_ms), 1) AS latency_p95_ms`;

/**
 * The report's rows and its totals, from requests FINAL (each call once), in one query: GROUPING SETS ((dims), ())
 * has the engine compute the totals row over the same snapshot as the rows (chDB mis-renders WITH TOTALS on an
 * empty result, and a second query could see rows ingested in between).
 */
export async function report(scope: Scope, range: TimeRange, by: readonly ReportDimension[]): Promise<Report> {
  const { conditions, params } = rangeConditions(scope, range);
  const select = by.map((d, i) => {
    const property = PROPERTY_DIMENSION.exec(d);
    if (property) {
      params[`p${i}`] = property[1];
      return `properties[{p${i}:String}] AS \`${d}\``;
    }
    return `${REPORT_DIMENSIONS[d as keyof typeof REPORT_DIMENSIONS]} AS \`${d}\``;
  });
  const dims = by.map((d) => `\`${d}\``).join(', ');
  const grouped = by.length > 0;
  const query = `SELECT ${[...select, MEASURE_SQL, ...(grouped ? [`grouping(\`${by[0]}\`) AS is_totals`] : [])].join(',\n  ')}
FROM sightline.requests FINAL
WHERE ${conditions.join(' AND ')}${grouped ? `
GROUP BY GROUPING SETS ((${dims}), ())
ORDER BY is_totals, toDecimal128(cost_usd, 9) DESC, ${dims}` : ''}`;
  const result = await rows<ReportRow>(scope, query, params);
  const data = grouped ? result.filter((r) => Number(r.is_totals) === 0) : [];
  const totals = { ...(grouped ? result.find((r) => Number(r.is_totals) === 1) : result[0]) };
  for (const r of [...data, totals]) delete r.is_totals;
  for (const d of by) delete totals[d];
  return { since: range.since, until: range.until, organization: scope.organization, by: [...by], rows: data, totals };
}

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

export type ReportFormat = 'table' | 'csv' | 'json';

export function formatReport(r: Report, format: ReportFormat): string {
  if (format === 'json') return JSON.stringify(r, null, 2) + '\n';
  const columns = [...r.by, ...REPORT_MEASURES];
  const totalsRow: ReportRow = { ...Object.fromEntries(r.by.map((d, i) => [d, i === 0 ? 'TOTAL' : ''])), ...r.totals };
  const all = [...r.rows, totalsRow];
  if (format === 'csv') return [columns, ...all.map((row) => columns.map((c) => row[c]))].map((line) => line.map(csvCell).join(',')).join('\n') + '\n';
  const meta = columns.map((name) => ({ name, type: (REPORT_MEASURES as readonly string[]).includes(name) ? 'Float64' : 'String' }));
  const scope = r.organization === undefined ? 'all organisations' : `organisation ${r.organization}`;
  return `${scope}, ${r.since} → ${r.until} (UTC)\n` + renderTable({ meta, data: all });
}

// ---- audit export -------------------------------------------------------------------------------------------------

export interface Progress { (done: number, total: number): void }

/** Writes every row of `user` in the range as one JSON line each (requests FINAL, oldest first); returns the count. */
export async function exportUser(scope: Scope, user: string, range: TimeRange, write: (line: string) => void, progress?: Progress): Promise<number> {
  const { conditions, params } = rangeConditions(scope, range);
  const where = `WHERE user_id = {user:String} AND ${conditions.join(' AND ')}`;
  const all = { ...params, user };
  const [count] = await rows<{ n: string }>(scope, `SELECT count() AS n FROM sightline.requests FINAL ${where}`, all);
  const total = Number(count?.n ?? 0);
  const rs = await scope.client.query({
    query: `SELECT * FROM sightline.requests FINAL ${where} ORDER BY created_at, request_id`,
    format: 'JSONEachRow', query_params: all, clickhouse_settings: scope.settings,
  });
  let done = 0;
  for await (const batch of rs.stream()) {
    for (const row of batch) {
      write(`${row.text}\n`);
      done++;
    }
    progress?.(done, total);
  }
  return done;
}

// ---- audit erase --------------------------------------------------------------------------------------------------

export interface EraseResult {
  user: string;
  organization: string | undefined;
  tables: { table: string; before: number; after: number }[];
  rowsBefore: number;
  rowsAfter: number;
}

/** Tables holding a user's rows: every non-view table of the sightline database with a user_id column. */
const USER_TABLES_SQL = `SELECT concat(database, '.', table) AS qualified FROM system.columns
WHERE database = 'sightline' AND name = 'user_id'
  AND (database, table) IN (SELECT database, name FROM system.tables WHERE database = 'sightline' AND engine LIKE '%MergeTree%')
ORDER BY qualified = 'sightline.requests' DESC, qualified`;

const TABLE_NAME = /^sightline\.[A-Za-z0-9_]+$/;

/**
 * Deletes every row of `user` (in the scope's organisation) from every table holding one: a mutation per table
 * (ALTER … DELETE rewrites the parts, so the data is gone from disk, not only hidden), waited for
 * (mutations_sync = 2), then counted again. Records the erase and both counts in sightline.audit_log; throws when a
 * row survived.
 */
export async function eraseUser(scope: Scope, user: string, progress?: (step: string) => void): Promise<EraseResult> {
  const tables = (await rows<{ qualified: string }>(scope, USER_TABLES_SQL, {})).map((r) => r.qualified);
  const where = scope.organization === undefined ? 'user_id = {user:String}' : 'user_id = {user:String} AND organization_id = {organization:String}';
  const params = { user, ...(scope.organization === undefined ? {} : { organization: scope.organization }) };
  const count = async (table: string): Promise<number> => Number((await rows<{ n: string }>(scope, `SELECT count() AS n FROM ${table} WHERE ${where}`, params))[0]?.n ?? 0);
  const result: EraseResult = { user, organization: scope.organization, tables: [], rowsBefore: 0, rowsAfter: 0 };
  for (const [i, table] of tables.entries()) {
    if (!TABLE_NAME.test(table)) throw new Error(`unexpected table name ${table}`);
    const before = await count(table);
    if (before > 0) {
      progress?.(`erasing ${table} (${i + 1}/${tables.length}): ${before} row${before === 1 ? '' : 's'}`);
      await scope.client.command({
        query: `ALTER TABLE ${table} DELETE WHERE ${where}`,
        query_params: params,
        clickhouse_settings: { ...scope.settings, mutations_sync: '2' },
      });
    }
    const after = before > 0 ? await count(table) : 0;
    result.tables.push({ table, before, after });
    result.rowsBefore += before;
    result.rowsAfter += after;
  }
  await scope.client.command({
    query: `INSERT INTO sightline.audit_log (action, organization_id, subject_user_id, actor, rows_before, rows_after, detail)
VALUES ('erase', {organization:String}, {user:String}, {actor:String}, {before:UInt64}, {after:UInt64}, {detail:String})`,
    query_params: {
      organization: scope.organization ?? '', user, actor: scope.actor,
      before: String(result.rowsBefore), after: String(result.rowsAfter), detail: JSON.stringify(result.tables),
    },
    clickhouse_settings: scope.settings,
  });
  if (result.rowsAfter > 0) throw new Error(`erase of user ${user} left ${result.rowsAfter} rows: ${JSON.stringify(result.tables)}`);
  return result;
}

export function formatErase(r: EraseResult, format: 'table' | 'json'): string {
  if (format === 'json') return JSON.stringify(r, null, 2) + '\n';
  const meta = [{ name: 'table', type: 'String' }, { name: 'before', type: 'UInt64' }, { name: 'after', type: 'UInt64' }];
  const scope = r.organization === undefined ? 'every organisation' : `organisation ${r.organization}`;
  return `Erased user ${r.user} in ${scope}: ${r.rowsBefore} rows before, ${r.rowsAfter} after (recorded in sightline.audit_log).\n`
    + renderTable({ meta, data: r.tables });
}

// ---- retention show -----------------------------------------------------------------------------------------------

export interface RetentionReport {
  /** What the engine applies now (the TTLs of sightline.requests). */
  applied: Retention;
  /** What the config asks for; differs from `applied` until the next `sightline migrate` or ingest start. */
  configured: Retention;
}

export async function showRetention(client: ClickHouseClient, configured: Retention): Promise<RetentionReport> {
  const applied = await currentRetention(client);
  if (applied === null) throw new Error('sightline.requests does not exist yet: run `npx sightline migrate`');
  return { applied, configured };
}

export function formatRetention(r: RetentionReport, format: 'table' | 'json', organization?: string): string {
  const lines = (ret: Retention) => {
    const orgs = Object.entries(ret.organizations).filter(([o]) => organization === undefined || o === organization);
    const fallback = { organization: organization === undefined ? '(default)' : organization, body_retention_days: ret.bodyRetentionDays, retention_days: ret.retentionDays };
    const own = orgs.map(([o, v]) => ({ organization: o, body_retention_days: v.bodyRetentionDays, retention_days: v.retentionDays }));
    return organization === undefined ? [fallback, ...own] : own.length ? own : [fallback];
  };
  const applied = lines(r.applied);
  const configured = lines(r.configured);
  if (format === 'json') return JSON.stringify({ applied, configured }, null, 2) + '\n';
  const meta = [{ name: 'organization', type: 'String' }, { name: 'body_retention_days', type: 'UInt32' }, { name: 'retention_days', type: 'UInt32' }];
  const same = JSON.stringify(applied) === JSON.stringify(configured);
  return `Applied (TTLs of sightline.requests; bodies are emptied, then rows deleted, on merge):\n${renderTable({ meta, data: applied })}`
    + (same ? '' : `Configured, not applied yet (run \`npx sightline migrate\`):\n${renderTable({ meta, data: configured })}`);
}

// ---- row policies (a ClickHouse server) ---------------------------------------------------------------------------

const CLICKHOUSE_USER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * The statements that hold a ClickHouse server user (Grafana's datasource user for one organisation, say) to one
 * organisation: a row policy on every sightline table with an organization_id column. The organisation is written
 * as its bytes, as in the embedded store's filter (contracts/tenancy.ts), so no id can break out of the condition.
 */
export function rowPolicyStatements(tables: readonly string[], organization: string, user: string): string[] {
  if (!CLICKHOUSE_USER.test(user)) throw new Error(`ClickHouse user names here are letters, digits and "_": ${JSON.stringify(user)}`);
  return Object.entries(organisationConditions(tables, organization)).map(([table, condition]) =>
    `CREATE ROW POLICY OR REPLACE sightline_${user} ON ${table} FOR SELECT USING ${condition} TO ${user}`);
}

/** Applies rowPolicyStatements on a server; returns them. The embedded store has no users: it filters by admin key. */
export async function grantOrganisation(client: ClickHouseClient, organization: string, user: string): Promise<string[]> {
  const rs = await client.query({ query: ORG_TABLES_SQL, format: 'JSONEachRow' });
  const statements = rowPolicyStatements((await rs.json<{ qualified: string }>()).map((r) => r.qualified), organization, user);
  for (const query of statements) await client.command({ query });
  return statements;
}
