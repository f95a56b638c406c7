// dashboards/: the generated JSON is current, conforms to the foundation SDK's dashboard types (keys checked
// against exhaustive lists of the SDK types' keys, values with zod schemas whose types the SDK's accept), holds
// panels/' SQL unchanged, and is what both Grafana provisionings (compose and local) load.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Dashboard, DataSourceRef, GridPos, Panel, VariableModel } from '@grafana/grafana-foundation-sdk/dashboard';
import { buildDashboards, DATASOURCE, JSON_DIR, TRACES_DATASOURCE } from '../../dashboards/build.ts';
import { DASHBOARDS, PANELS, VARIABLES } from '../../panels/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every key of T, listed; `Exhaustive` fails to compile when the SDK type gains or loses a key. */
type Exhaustive<T, K extends readonly (keyof T)[]> = Exclude<keyof T, K[number]> extends never ? K : never;
const keys = <T>() => <const K extends readonly (keyof T)[]>(k: Exhaustive<T, K>): readonly string[] => k as readonly string[];
const DASHBOARD_KEYS = keys<Dashboard>()(['id', 'uid', 'title', 'description', 'revision', 'gnetId', 'tags', 'timezone', 'editable', 'graphTooltip', 'time',
  'timepicker', 'fiscalYearStartMonth', 'liveNow', 'weekStart', 'refresh', 'schemaVersion', 'version', 'panels', 'templating', 'annotations', 'links', 'snapshot', 'preload']);
const PANEL_KEYS = keys<Panel>()(['type', 'id', 'pluginVersion', 'targets', 'title', 'description', 'transparent', 'datasource', 'gridPos', 'links', 'repeat',
  'repeatDirection', 'maxPerRow', 'maxDataPoints', 'transformations', 'interval', 'timeFrom', 'timeShift', 'hideTimeOverride', 'libraryPanel', 'cacheTimeout',
  'queryCachingTTL', 'options', 'fieldConfig']);
const VARIABLE_KEYS = keys<VariableModel>()(['type', 'name', 'label', 'hide', 'skipUrlSync', 'description', 'query', 'datasource', 'current', 'multi',
  'allowCustomValue', 'options', 'refresh', 'sort', 'includeAll', 'allValue', 'regex', 'auto', 'auto_min', 'auto_count']);

const DataSource = z.strictObject({ type: z.literal(DATASOURCE.type!), uid: z.literal(DATASOURCE.uid!) });
const Grid = z.strictObject({ x: z.number().int().min(0), y: z.number().int().min(0), w: z.number().int().min(1).max(24), h: z.number().int().min(1) })
  .refine((g) => g.x + g.w <= 24, 'panel runs past column 24');
const Target = z.strictObject({
  refId: z.string(), datasource: DataSource, editorType: z.literal('sql'), rawSql: z.string().min(1),
  format: z.union([z.literal(0), z.literal(1)]), queryType: z.enum(['timeseries', 'table']),
});
const PanelJson = z.looseObject({
  type: z.enum(['stat', 'table', 'timeseries', 'barchart']), id: z.number().int().positive(), title: z.string().min(1), description: z.string(),
  datasource: DataSource, gridPos: Grid, targets: z.tuple([Target]),
  fieldConfig: z.object({ defaults: z.looseObject({ unit: z.string() }), overrides: z.array(z.object({ matcher: z.object({ id: z.string(), options: z.string() }), properties: z.array(z.object({ id: z.string(), value: z.unknown() })) })) }),
});
const VariableJson = z.looseObject({
  type: z.enum(['query', 'textbox']), name: z.string(), label: z.string(), description: z.string(),
  current: z.object({ text: z.union([z.string(), z.array(z.string())]), value: z.union([z.string(), z.array(z.string())]) }),
  query: z.string().optional(), datasource: DataSource.optional(), multi: z.boolean().optional(), includeAll: z.boolean().optional(),
});
const DashboardJson = z.looseObject({
  uid: z.string(), title: z.string(), schemaVersion: z.literal(41), timezone: z.string(), editable: z.boolean(), tags: z.array(z.string()),
  time: z.object({ from: z.string(), to: z.string() }), panels: z.array(PanelJson), templating: z.object({ list: z.array(VariableJson) }),
  annotations: z.object({}).loose(),
});
// The parsed shapes are ones the SDK's types accept (targets aside: cog.Dataquery is an interface with a marker method).
const _gridIsSdk = (g: z.infer<typeof Grid>): GridPos => g;
const _datasourceIsSdk = (d: z.infer<typeof DataSource>): DataSourceRef => d;
const _variableIsSdk = (v: z.infer<typeof VariableJson>): Omit<VariableModel, 'type'> => v;
const _dashboardIsSdk = (d: z.infer<typeof DashboardJson>): Omit<Dashboard, 'panels' | 'templating'> => d;
void [_gridIsSdk, _datasourceIsSdk, _variableIsSdk, _dashboardIsSdk];

const files = readdirSync(JSON_DIR).filter((f) => f.endsWith('.json')).sort();
const dashboards = files.map((f) => ({ file: f, json: JSON.parse(readFileSync(path.join(JSON_DIR, f), 'utf8')) as Record<string, unknown> }));

describe('dashboards/json', () => {
  it('is what `npm run dashboards` writes now (run it after changing panels/)', () => {
    const built = buildDashboards();
    expect(files).toEqual(built.map((b) => `${b.uid}.json`).sort());
    for (const b of built) expect(readFileSync(path.join(JSON_DIR, `${b.uid}.json`), 'utf8'), b.uid).toBe(b.json);
  });

  it('conforms to the SDK\'s dashboard, panel and variable types', () => {
    for (const { file, json } of dashboards) {
      expect(Object.keys(json).filter((k) => !DASHBOARD_KEYS.includes(k)), file).toEqual([]);
      const d = DashboardJson.parse(json);
      for (const p of d.panels) expect(Object.keys(p).filter((k) => !PANEL_KEYS.includes(k)), `${file} ${p.title}`).toEqual([]);
      for (const v of d.templating.list) expect(Object.keys(v).filter((k) => !VARIABLE_KEYS.includes(k)), `${file} $${v.name}`).toEqual([]);
    }
  });

  it('holds each panel\'s SQL, title, unit and variables from panels/, laid out without overlaps', () => {
    for (const def of DASHBOARDS) {
      const d = DashboardJson.parse(dashboards.find((x) => x.file === `${def.uid}.json`)!.json);
      expect(d.title).toBe(def.title);
      expect(d.templating.list.map((v) => v.name)).toEqual(def.variables);
      for (const v of d.templating.list) if (v.type === 'query') expect(v.query).toBe(VARIABLES[v.name as keyof typeof VARIABLES].sql);
      expect(d.panels.map((p) => p.title)).toEqual(def.panels.map(({ panel }) => PANELS[panel].title));
      d.panels.forEach((p, i) => {
        const src = PANELS[def.panels[i]!.panel];
        expect(p.targets[0].rawSql).toBe(src.sql);
        expect(p.type).toBe(src.type);
        expect(p.fieldConfig.defaults.unit).toBe(src.unit);
        expect(p.targets[0].format).toBe(src.format === 'time_series' ? 0 : 1);
      });
      const cells = new Set<string>();
      for (const { gridPos: g } of d.panels) {
        for (let x = g.x; x < g.x + g.w; x++) for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${def.uid}: overlap at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('links the audit table to one call and the sessions table to its path tree', () => {
    const link = (uid: string, title: string) => {
      const p = DashboardJson.parse(dashboards.find((x) => x.file === `${uid}.json`)!.json).panels.find((x) => x.title === title)!;
      return p.fieldConfig.overrides[0];
    };
    expect(link('sightline-audit', PANELS.audit_calls.title)).toEqual({
      matcher: { id: 'byName', options: 'request_id' },
      properties: [{ id: 'links', value: [{ title: 'Open request_id', url: '/d/sightline-audit/?var-request_id=${__value.raw}&${__url_time_range}&${organisation:queryparam}' }] }],
    });
    expect(JSON.stringify(link('sightline-sessions', PANELS.sessions.title))).toContain('/d/sightline-sessions/?var-session=${__value.raw}');
  });
});

describe('provisioning', () => {
  const Provider = z.object({ providers: z.array(z.object({ type: z.literal('file'), options: z.object({ path: z.string() }) })) });
  const Datasources = z.object({ datasources: z.array(z.looseObject({ uid: z.string(), type: z.string(), jsonData: z.looseObject({ host: z.string(), port: z.number(), protocol: z.string() }) })) });
  const yaml = (rel: string) => parseYaml(readFileSync(path.join(ROOT, rel), 'utf8')) as unknown;

  it('docker-compose\'s Grafana loads dashboards/json from the provider path, against the provisioned datasource', () => {
    const compose = z.object({ services: z.object({ grafana: z.object({ volumes: z.array(z.string()) }) }) }).parse(yaml('docker-compose.yml'));
    const mounts = compose.services.grafana.volumes.map((v) => v.split(':')).map(([host, container]) => ({ host: host!, container: container! }));
    const provisioning = mounts.find((m) => m.container === '/etc/grafana/provisioning')!;
    const provider = Provider.parse(yaml(path.join(provisioning.host, 'dashboards/sightline.yaml'))).providers[0]!;
    const dashboardsMount = mounts.find((m) => m.container === provider.options.path);
    expect(path.resolve(ROOT, dashboardsMount!.host)).toBe(JSON_DIR);
    const ds = Datasources.parse(yaml(path.join(provisioning.host, 'datasources/clickhouse.yaml'))).datasources[0]!;
    expect([ds.uid, ds.type]).toEqual([DATASOURCE.uid, DATASOURCE.type]);
  });

  it('the local provisioning points the same datasource uid at the embedded store\'s HTTP interface', () => {
    const ds = Datasources.parse(yaml('dashboards/provisioning/local/datasources/clickhouse.yaml')).datasources[0]!;
    expect(ds).toMatchObject({ uid: DATASOURCE.uid, type: DATASOURCE.type, jsonData: { host: '127.0.0.1', port: 8123, protocol: 'http', username: 'default' } });
    expect(Provider.parse(yaml('dashboards/provisioning/local/dashboards/sightline.yaml')).providers[0]!.options.path).toBe('${SIGHTLINE_DASHBOARDS}');
  });
});

describe('trace links (issue #18)', () => {
  it('the audit call\'s trace_id opens its trace in the traces datasource both provisionings load', () => {
    const audit = JSON.parse(buildDashboards().find((d) => d.uid === DASHBOARDS.find((x) => x.id === 'audit')!.uid)!.json) as Dashboard;
    const call = audit.panels!.find((p) => (p as Panel).title === PANELS.audit_call.title) as Panel;
    const override = call.fieldConfig!.overrides!.find((o) => o.matcher.options === 'trace_id')!;
    const [link] = override.properties[0]!.value as { title: string; internal: { datasourceUid: string; query: { query: string } } }[];
    expect(link).toMatchObject({ title: 'Open trace', internal: { datasourceUid: TRACES_DATASOURCE.uid, query: { query: '${__value.raw}' } } });
    const provisioned = readFileSync(path.join(ROOT, 'deploy/grafana/provisioning/datasources/jaeger.yaml'), 'utf8');
    expect((parseYaml(provisioned) as { datasources: { uid: string; name: string }[] }).datasources).toContainEqual(expect.objectContaining({ uid: TRACES_DATASOURCE.uid, name: TRACES_DATASOURCE.name }));
  });
});
