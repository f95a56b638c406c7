// The rollups of migrations 0009–0012, and how to recompute them from the raw rows.
//
// A materialized view sums every insert it sees. ingest's crash replay re-sends a batch with the same
// insert_deduplication_token, which the rollup tables drop like sightline.requests does; an event redelivered in
// another batch, though, is summed twice in the rollups until requests merges it away and the affected days are
// rebuilt here: each rollup's days are deleted and re-inserted through the view's own SELECT over `requests FINAL`
// (a rollup fed by another rollup refills through its own view when that one is re-inserted).
// Rebuild closed days (or pause ingest): a row inserted for those days during the rebuild would be counted twice.
import type { ClickHouseClient } from '@clickhouse/client';

export interface Rollup {
  view: string;
  table: string;
  /** The Date a rollup row belongs to, as an expression over the table's columns. */
  day: string;
  /** Fed by another rollup's inserts (a chained view), so it refills when that one is rebuilt. */
  fedBy?: string;
}

export const ROLLUPS: readonly Rollup[] = [
  { view: 'sightline.cost_hourly_mv', table: 'sightline.cost_hourly', day: 'toDate(hour)' },
  { view: 'sightline.cost_users_daily_mv', table: 'sightline.cost_users_daily', day: 'day' },
  { view: 'sightline.cost_properties_daily_mv', table: 'sightline.cost_properties_daily', day: 'day' },
  { view: 'sightline.provider_health_5m_mv', table: 'sightline.provider_health_5m', day: 'toDate(bucket)' },
  { view: 'sightline.provider_health_1h_mv', table: 'sightline.provider_health_1h', day: 'toDate(bucket)', fedBy: 'sightline.provider_health_5m' },
  { view: 'sightline.sessions_daily_mv', table: 'sightline.sessions_daily', day: 'day' },
  { view: 'sightline.session_paths_daily_mv', table: 'sightline.session_paths_daily', day: 'day' },
];

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** The SELECT a materialized view runs on each insert, as the engine stored it. */
async function viewSelect(client: ClickHouseClient, view: string): Promise<string> {
  const [database, name] = view.split('.') as [string, string];
  const rs = await client.query({
    query: 'SELECT as_select FROM system.tables WHERE database = {database:String} AND name = {name:String}',
    query_params: { database, name },
    format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ as_select: string }>();
  if (!row) throw new Error(`${view} does not exist: migrate first`);
  return row.as_select;
}

/**
 * Recomputes every rollup for the UTC days fromDay..toDay (inclusive, 'YYYY-MM-DD') from `requests FINAL`, so
 * each call counts once. Returns the rows each rollup holds for those days afterwards.
 */
export async function rebuildRollups(client: ClickHouseClient, fromDay: string, toDay: string): Promise<Record<string, number>> {
  if (!DAY_RE.test(fromDay) || !DAY_RE.test(toDay)) throw new Error(`days must be YYYY-MM-DD, got ${fromDay}..${toDay}`);
  const days = `BETWEEN toDate('${fromDay}') AND toDate('${toDay}')`;
  // Every rollup's days go first, chained ones included, which the re-inserts below then refill through their views.
  for (const r of ROLLUPS) await client.command({ query: `ALTER TABLE ${r.table} DELETE WHERE ${r.day} ${days} SETTINGS mutations_sync = 2` });
  for (const r of ROLLUPS) {
    if (r.fedBy) continue;
    const select = await viewSelect(client, r.view);
    const exact = select.replace(/\bsightline\.requests\b/, `(SELECT * FROM sightline.requests FINAL WHERE toDate(created_at) ${days})`);
    if (exact === select) throw new Error(`${r.view} does not read sightline.requests`);
    await client.command({ query: `INSERT INTO ${r.table} ${exact}` });
  }
  const counts: Record<string, number> = {};
  for (const r of ROLLUPS) {
    const rs = await client.query({ query: `SELECT count() AS n FROM ${r.table} WHERE ${r.day} ${days}`, format: 'JSONEachRow' });
    counts[r.table] = Number((await rs.json<{ n: string }>())[0]?.n ?? 0);
  }
  return counts;
}
