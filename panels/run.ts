// Running a panel: its SQL expanded for a time range and variable values (unset variables take their initial
// value, so All for the pickers), then sent as is. Used by the console and by the tests; Grafana runs the same SQL
// through the plugin.
import type { ClickHouseClient } from '@clickhouse/client';
import { VARIABLES, type PanelDef, type VariableName } from './catalog.ts';
import { expandPanelSql, type ExpandContext, type VariableValue } from './expand.ts';

export interface PanelRequest {
  from: Date;
  to: Date;
  intervalMs: number;
  variables?: Partial<Record<VariableName, VariableValue>>;
}

function contextOf(req: PanelRequest): ExpandContext {
  const variables: Record<string, VariableValue> = {};
  for (const def of Object.values(VARIABLES)) variables[def.name] = req.variables?.[def.name] ?? def.initial;
  return { from: req.from, to: req.to, intervalMs: req.intervalMs, variables };
}

/** The SQL a Grafana panel would send for this request. */
export function panelSql(panel: Pick<PanelDef, 'sql'>, req: PanelRequest): string {
  return expandPanelSql(panel.sql, contextOf(req));
}

export type PanelRow = Record<string, unknown>;

/** Runs a panel and returns its rows as JSON objects (64-bit integers as strings, per the client's settings). */
export async function runPanel(client: ClickHouseClient, panel: Pick<PanelDef, 'sql'>, req: PanelRequest): Promise<PanelRow[]> {
  const rs = await client.query({ query: panelSql(panel, req), format: 'JSONEachRow' });
  return rs.json<PanelRow>();
}

/** A query variable's choices for the pickers, given the values picked so far; [] for textboxes. */
export async function variableOptions(client: ClickHouseClient, name: VariableName, req: PanelRequest): Promise<string[]> {
  const def = VARIABLES[name];
  if (def.kind !== 'query' || def.sql === undefined) return [];
  const rs = await client.query({ query: panelSql({ sql: def.sql }, req), format: 'JSONCompactEachRow' });
  return (await rs.json<[unknown]>()).map((row) => String(row[0]));
}
