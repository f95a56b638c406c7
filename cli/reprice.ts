// `npx sightline reprice`: recomputes cost_usd of stored rows from their stored usage, with the current price data
// and overrides (after a price fix, a new price-data file, a renegotiated contract). A changed row gets a new
// version (sightline.requests is a ReplacingMergeTree on row_version): the same row with the new cost_usd,
// cost_known and price_version, everything else copied by the engine, so FINAL reads show the new cost and the
// old version goes away on merge. A row whose cost comes out the same is left alone.
import type { ClickHouseClient } from '@clickhouse/client';
import { z } from 'zod';
import { ProviderId } from '../contracts/event.ts';
import type { Coster } from '../ledger/cost.ts';
import type { Usage } from '../providers/types.ts';

export interface RepriceOptions {
  /** `30d`, `12h`, `90m`, or an ISO date / date-time (UTC). */
  since: string;
  /** Only rows whose model (or response model) is this. */
  model?: string;
  organization?: string;
  dryRun: boolean;
  /** Rows read (and written) per round trip. */
  pageRows?: number;
  /** Told after every page: rows read so far of the total that matched. */
  onProgress?: (done: number, total: number) => void;
  /** The clock `since` counts back from (ms since epoch). */
  now?: number;
}

export interface ModelChange {
  model: string;
  rows: number;
  before_usd: number;
  after_usd: number;
}

export interface RepriceSummary {
  /** Rows that matched the filters. */
  scanned: number;
  changed: number;
  dryRun: boolean;
  /** Changed rows by model, largest change first. */
  byModel: ModelChange[];
}

const count = z.coerce.number().int().nonnegative();
/** What repricing reads of a row: its key, the model it was priced as, and every stored usage count. */
const StoredRow = z.object({
  id: z.string(),
  created: z.string(),
  organization_id: z.string(),
  provider: ProviderId,
  model: z.string(),
  response_model: z.string(),
  prompt_tokens: count,
  completion_tokens: count,
  cache_read_tokens: count,
  cache_write_tokens: count,
  reasoning_tokens: count,
  cache_write_1h_tokens: count,
  input_audio_tokens: count,
  cache_audio_read_tokens: count,
  input_image_tokens: count,
  output_audio_tokens: count,
  output_image_tokens: count,
  service_tier: z.string(),
  cost_usd: z.number(),
  cost_known: z.boolean(),
  price_version: z.string(),
});
type StoredRow = z.infer<typeof StoredRow>;

const USAGE_COLUMNS = [
  'prompt_tokens', 'completion_tokens', 'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cache_write_1h_tokens',
  'input_audio_tokens', 'cache_audio_read_tokens', 'input_image_tokens', 'output_audio_tokens', 'output_image_tokens',
] as const;
// Aliased apart from the columns: a ClickHouse alias named like a column would stand for it in WHERE too.
const READ_COLUMNS = `toString(request_id) AS id, toString(created_at) AS created, organization_id, provider, model, response_model,
  ${USAGE_COLUMNS.join(', ')}, service_tier, cost_usd, cost_known, price_version`;

/** Costs are equal when they differ by less than a millionth of a cent (float noise of the same arithmetic). */
const SAME_COST = 1e-8;

export function sinceToTimestamp(since: string, now: number): string {
  const relative = /^(\d+)([dhm])$/.exec(since.trim());
  let ms: number;
  if (relative !== null) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[relative[2] as 'd' | 'h' | 'm'];
    ms = now - Number(relative[1]) * unit;
  } else {
    ms = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(since) || !since.includes('T') ? since : `${since}Z`);
    if (Number.isNaN(ms)) throw new Error(`--since: expected 30d, 12h, 90m or an ISO date, got "${since}"`);
  }
  // DateTime64 parameters are passed as text: a JS Date would lose its milliseconds (notes/clickhouse.md).
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

export async function reprice(client: ClickHouseClient, cost: Coster, opts: RepriceOptions): Promise<RepriceSummary> {
  // Every page reads the table FINAL twice (the page, then the rows to copy): larger pages, fewer passes (bench/README.md).
  const pageRows = opts.pageRows ?? 20_000;
  const params: Record<string, unknown> = { since: sinceToTimestamp(opts.since, opts.now ?? Date.now()) };
  let where = 'created_at >= {since:DateTime64(3)}';
  if (opts.model !== undefined) {
    where += ' AND (model = {model:String} OR response_model = {model:String})';
    params.model = opts.model;
  }
  if (opts.organization !== undefined) {
    where += ' AND organization_id = {org:String}';
    params.org = opts.organization;
  }
  // Rows without any token were never priced (errors, invalid answers): nothing to recompute.
  where += ` AND (${USAGE_COLUMNS.slice(0, 4).join(' + ')}) > 0`;

  const total = (await queryRows(client, `SELECT count() AS n FROM sightline.requests FINAL WHERE ${where}`, params, z.object({ n: count })))[0]?.n ?? 0;
  const byModel = new Map<string, ModelChange>();
  let scanned = 0;
  let changed = 0;
  let after: { created_at: string; request_id: string } | undefined;
  for (;;) {
    // Keyset pages in (created_at, request_id as text) order: rows written meanwhile by this run are not read again.
    // The text, not the UUID: ClickHouse orders UUIDs by their two halves, which the keyset's comparison would not follow.
    const page = await queryRows(
      client,
      `SELECT ${READ_COLUMNS} FROM sightline.requests FINAL WHERE ${where}
       ${after === undefined ? '' : 'AND (created_at, toString(request_id)) > ({after_at:DateTime64(3)}, {after_id:String})'}
       ORDER BY created_at, toString(request_id) LIMIT ${pageRows}`,
      after === undefined ? params : { ...params, after_at: after.created_at, after_id: after.request_id },
      StoredRow,
    );
    if (page.length === 0) break;
    const updates: { id: string; cost: number; known: boolean; version: string }[] = [];
    for (const r of page) {
      const now = cost(r.provider, r.response_model || r.model, usageOf(r), Date.parse(`${r.created.replace(' ', 'T')}Z`), r.organization_id, r.service_tier);
      if (Math.abs(now.cost_usd - r.cost_usd) < SAME_COST && now.cost_known === r.cost_known) continue;
      updates.push({ id: r.id, cost: now.cost_usd, known: now.cost_known, version: now.price_version });
      const m = byModel.get(r.model) ?? { model: r.model, rows: 0, before_usd: 0, after_usd: 0 };
      m.rows += 1;
      m.before_usd += r.cost_usd;
      m.after_usd += now.cost_usd;
      byModel.set(r.model, m);
    }
    if (!opts.dryRun && updates.length > 0) await writeVersions(client, updates);
    scanned += page.length;
    changed += updates.length;
    opts.onProgress?.(scanned, total);
    const last = page[page.length - 1]!;
    after = { created_at: last.created, request_id: last.id };
    if (page.length < pageRows) break;
  }
  const models = [...byModel.values()].sort((a, b) => Math.abs(b.after_usd - b.before_usd) - Math.abs(a.after_usd - a.before_usd) || a.model.localeCompare(b.model));
  return { scanned, changed, dryRun: opts.dryRun, byModel: models };
}

function usageOf(r: StoredRow): Usage {
  const u: Usage = { prompt_tokens: 0, completion_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };
  for (const c of USAGE_COLUMNS) u[c] = r[c];
  return u;
}

/** New versions of the changed rows: the stored row as it is, with the new cost, and a newer row_version. */
async function writeVersions(client: ClickHouseClient, updates: readonly { id: string; cost: number; known: boolean; version: string }[]): Promise<void> {
  await client.command({
    query: `INSERT INTO sightline.requests
      SELECT * REPLACE (
        transform(toString(request_id), {ids:Array(String)}, {costs:Array(Float64)}, cost_usd) AS cost_usd,
        toBool(transform(toString(request_id), {ids:Array(String)}, {known:Array(UInt8)}, toUInt8(cost_known))) AS cost_known,
        transform(toString(request_id), {ids:Array(String)}, {versions:Array(String)}, price_version) AS price_version,
        toUnixTimestamp64Micro(now64(6)) AS row_version)
      FROM sightline.requests FINAL WHERE toString(request_id) IN {ids:Array(String)}`,
    query_params: {
      ids: updates.map((u) => u.id),
      costs: updates.map((u) => u.cost),
      known: updates.map((u) => (u.known ? 1 : 0)),
      versions: updates.map((u) => u.version),
    },
  });
}

async function queryRows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown>, schema: z.ZodType<T>): Promise<T[]> {
  const rs = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return z.array(schema).parse(await rs.json());
}

/** The summary a finance person wants: rows changed, and dollars before → after per model. */
export function formatSummary(s: RepriceSummary): string {
  const usd = (n: number) => `$${n.toFixed(6)}`;
  const lines = [`${s.dryRun ? 'dry run, nothing written: ' : ''}${s.changed} of ${s.scanned} rows ${s.dryRun ? 'would change' : 'changed'}`];
  if (s.byModel.length === 0) return `${lines[0]}\n`;
  const rows = s.byModel.map((m) => [m.model, String(m.rows), usd(m.before_usd), usd(m.after_usd), `${m.after_usd >= m.before_usd ? '+' : '-'}${usd(Math.abs(m.after_usd - m.before_usd))}`]);
  const sum = (f: (m: ModelChange) => number) => s.byModel.reduce((a, m) => a + f(m), 0);
  const before = sum((m) => m.before_usd);
  const afterUsd = sum((m) => m.after_usd);
  rows.push(['total', String(s.changed), usd(before), usd(afterUsd), `${afterUsd >= before ? '+' : '-'}${usd(Math.abs(afterUsd - before))}`]);
  const header = ['model', 'rows', 'before', 'after', 'change'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  lines.push(fmt(header), ...rows.map(fmt));
  return `${lines.join('\n')}\n`;
}
