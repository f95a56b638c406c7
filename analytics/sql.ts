// `npx sightline sql "<query>"`: runs one query and renders the result as an aligned text table or JSON.
import type { ClickHouseClient } from '@clickhouse/client';
import { formatClause } from './http-server.ts';

export type SqlOutput = 'table' | 'json';

interface JsonResult { meta: { name: string; type: string }[]; data: Record<string, unknown>[] }

const RESULT_STATEMENT = /^[\s(]*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b/i;
const NUMERIC_TYPE = /^(Nullable\()?(LowCardinality\()?(U?Int\d+|Float\d+|Decimal)/;

function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

export function renderTable(result: JsonResult): string {
  const names = result.meta.map((m) => m.name);
  const numeric = result.meta.map((m) => NUMERIC_TYPE.test(m.type));
  const rows = result.data.map((r) => names.map((n) => cell(r[n]).replace(/\n/g, '\\n')));
  const widths = names.map((n, i) => Math.max(n.length, ...rows.map((r) => r[i]!.length)));
  const line = (values: string[]): string =>
    values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' │ ').trimEnd();
  const out = [line(names), widths.map((w) => '─'.repeat(w)).join('─┼─'), ...rows.map(line)];
  out.push(`(${rows.length} row${rows.length === 1 ? '' : 's'})`);
  return out.join('\n') + '\n';
}

/** Runs sql; statements without a result print `Ok.`, a query with its own FORMAT clause prints the engine's output as is. */
export async function runSql(client: ClickHouseClient, sql: string, format: SqlOutput): Promise<string> {
  const query = sql.trim().replace(/;\s*$/, '');
  if (!RESULT_STATEMENT.test(query)) {
    await client.command({ query });
    return 'Ok.\n';
  }
  if (formatClause(query) !== undefined) {
    const rs = await client.exec({ query });
    let text = '';
    for await (const chunk of rs.stream) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    return text;
  }
  const rs = await client.query({ query, format: 'JSON' });
  const result = await rs.json<Record<string, unknown>>() as unknown as JsonResult;
  return format === 'json' ? JSON.stringify(result.data, null, 2) + '\n' : renderTable(result);
}
