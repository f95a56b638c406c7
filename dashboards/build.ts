// Grafana dashboards as code (issue #17): panels/ holds each panel's SQL, title, type and unit; this turns them into
// dashboards for the official ClickHouse datasource plugin with @grafana/grafana-foundation-sdk's builders.
// `npm run dashboards` writes dashboards/json/<uid>.json, which Grafana's provisioning loads
// (deploy/grafana/provisioning/dashboards/sightline.yaml in docker-compose, dashboards/provisioning/local/ for a
// local Grafana on the embedded store). test/unit/dashboards.test.ts fails when the files are stale.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  DashboardBuilder, DashboardCursorSync, QueryVariableBuilder, TextBoxVariableBuilder, VariableRefresh, VariableSort,
  type Dashboard, type DataSourceRef, type Panel, type VariableModel,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as BarChartPanel } from '@grafana/grafana-foundation-sdk/barchart';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { DASHBOARDS, PANELS, VARIABLES, type DashboardDef, type PanelDef, type VariableDef } from '../panels/index.ts';

/** The provisioned datasource (deploy/grafana/provisioning/datasources/clickhouse.yaml and the local one). */
export const DATASOURCE: DataSourceRef = { type: 'grafana-clickhouse-datasource', uid: 'sightline-clickhouse' };
export const JSON_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'json');

/** A SQL-editor query of grafana-clickhouse-datasource (its CHSqlQuery); `format` is what the backend reads. */
export interface ClickHouseQuery extends cog.Dataquery {
  refId: string;
  datasource: DataSourceRef;
  editorType: 'sql';
  rawSql: string;
  /** The plugin's Format: 0 time series (long rows turned wide by their label columns), 1 table. */
  format: 0 | 1;
  queryType: 'timeseries' | 'table';
}

export class ClickHouseQueryBuilder implements cog.Builder<ClickHouseQuery> {
  constructor(private readonly panel: PanelDef) {}
  build(): ClickHouseQuery {
    const series = this.panel.format === 'time_series';
    return {
      refId: 'A',
      datasource: DATASOURCE,
      editorType: 'sql',
      rawSql: this.panel.sql,
      format: series ? 0 : 1,
      queryType: series ? 'timeseries' : 'table',
      _implementsDataqueryVariant() {},
    };
  }
}

/** A table column that opens one row: the link sets the variable and keeps the time range and organisation. */
function linkOverride(panel: PanelDef): { matcher: { id: string; options: string }; properties: { id: string; value: unknown }[] } | undefined {
  if (!panel.link) return undefined;
  const target = DASHBOARDS.find((d) => d.id === panel.link!.dashboard)!;
  const url = `/d/${target.uid}/?var-${panel.link.variable}=\${__value.raw}&\${__url_time_range}&\${organisation:queryparam}`;
  return {
    matcher: { id: 'byName', options: panel.link.field },
    properties: [{ id: 'links', value: [{ title: `Open ${panel.link.field}`, url }] }],
  };
}

/** The traces datasource provisioned beside ClickHouse (deploy/grafana/provisioning/datasources). */
export const TRACES_DATASOURCE = { uid: 'sightline-jaeger', name: 'Sightline traces (Jaeger)' } as const;

/** A trace id column opens that trace in the traces datasource (Explore), the way Grafana links traces to logs. */
function traceOverride(panel: PanelDef): { matcher: { id: string; options: string }; properties: { id: string; value: unknown }[] } | undefined {
  if (!panel.traceField) return undefined;
  return {
    matcher: { id: 'byName', options: panel.traceField },
    properties: [{ id: 'links', value: [{ title: 'Open trace', url: '', internal: { datasourceUid: TRACES_DATASOURCE.uid, datasourceName: TRACES_DATASOURCE.name, query: { query: '${__value.raw}' } } }] }],
  };
}

type AnyPanelBuilder = StatPanel | TablePanel | TimeseriesPanel | BarChartPanel;

function panelBuilder(panel: PanelDef): AnyPanelBuilder {
  switch (panel.type) {
    case 'stat': return new StatPanel();
    case 'table': return new TablePanel();
    case 'timeseries': return new TimeseriesPanel();
    case 'barchart': return new BarChartPanel();
  }
}

function variableBuilder(v: VariableDef): cog.Builder<VariableModel> {
  if (v.kind === 'textbox') {
    const text = typeof v.initial === 'string' ? v.initial : v.initial.join(',');
    return new TextBoxVariableBuilder(v.name).label(v.label).description(v.description).defaultValue(text).current({ text, value: text });
  }
  return new QueryVariableBuilder(v.name)
    .label(v.label)
    .description(v.description)
    .datasource(DATASOURCE)
    .query(v.sql ?? '')
    .multi(v.multi)
    .includeAll(v.includeAll)
    .current({ text: 'All', value: ['$__all'] })
    .refresh(VariableRefresh.OnDashboardLoad)
    .sort(VariableSort.AlphabeticalAsc);
}

/** The Grafana dashboard of one definition, laid out left to right, top to bottom on the 24-column grid. */
export function buildDashboard(def: DashboardDef): Dashboard {
  const builder = new DashboardBuilder(def.title)
    .uid(def.uid)
    .description(def.description)
    .tags(['sightline'])
    .timezone('utc')
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .tooltip(DashboardCursorSync.Crosshair)
    .readonly()
    .variables(def.variables.map((name) => variableBuilder(VARIABLES[name])));
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  def.panels.forEach(({ panel: id, width, height }, i) => {
    if (x + width > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const panel: PanelDef = PANELS[id];
    const grafanaPanel = panelBuilder(panel)
      .id(i + 1)
      .title(panel.title)
      .description(panel.description)
      .datasource(DATASOURCE)
      .unit(panel.unit)
      .withTarget(new ClickHouseQueryBuilder(panel))
      .gridPos({ x, y, w: width, h: height });
    const link = linkOverride(panel);
    if (link) grafanaPanel.withOverride(link);
    const trace = traceOverride(panel);
    if (trace) grafanaPanel.withOverride(trace);
    builder.withPanel(grafanaPanel as cog.Builder<Panel>);
    x += width;
    rowHeight = Math.max(rowHeight, height);
  });
  return builder.build();
}

export function buildDashboards(): { uid: string; json: string }[] {
  return DASHBOARDS.map((d) => ({ uid: d.uid, json: `${JSON.stringify(buildDashboard(d), null, 2)}\n` }));
}

/** Writes every dashboard to dir (replacing what was there); returns the files written. */
export function writeDashboards(dir: string = JSON_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.json')) rmSync(path.join(dir, f));
  return buildDashboards().map(({ uid, json }) => {
    const file = path.join(dir, `${uid}.json`);
    writeFileSync(file, json);
    return file;
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const f of writeDashboards()) console.log(`wrote ${path.relative(process.cwd(), f)}`);
}
