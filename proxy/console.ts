// The console (issue #17 §3): /_sightline/ serves a small web page that renders the panels of panels/ (the same
// definitions Grafana's dashboards are built from), and /_sightline/api/console/* runs them.
//
// The proxy does not host the store: queries go over HTTP with @clickhouse/client to the ClickHouse server
// (clickhouse.url) or to the embedded store's HTTP interface, which the ingest child serves on 127.0.0.1:http_port.
// The client is loaded on the first console request, so a gateway nobody looks at never loads it. Queries are
// async I/O off the request path; at most MAX_IN_FLIGHT run at once and the rest wait, and every panel is bounded
// (LIMIT in its SQL, max_result_rows here), so the console cannot crowd out proxied calls on the event loop.
//
// Auth: `Authorization: Bearer <admin key>` (config admin.keys, compared in constant time). A key with an
// organization_id sees that organisation only: the $organisation variable is pinned to it and the engine filters
// every table with an organization_id column (contracts/tenancy.ts), so even a panel without the variable could
// not show another organisation's rows. Without a key, only a loopback peer of a gateway that does not require
// auth gets in (and sees every organisation).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { Config } from '../config/index.ts';
import { traceUrl } from '../config/tracing.ts';
import { ORG_TABLES_SQL, organisationFilter, type AdminPrincipal } from '../contracts/tenancy.ts';
import {
  ALL, DASHBOARDS, grafanaIntervalMs, PANELS, PanelSqlError, runPanel, VARIABLE_NAMES, VARIABLES, variableOptions,
  type PanelId, type PanelRequest, type VariableName, type VariableValue,
} from '../panels/index.ts';
import { adminCaller } from './admin-auth.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const requireHere = createRequire(import.meta.url);
const MAX_IN_FLIGHT = 2;
const MAX_WAITING = 64;
/** How long the list of organisation-filtered tables is reused (a migration adding one is picked up after this). */
const TABLES_TTL_MS = 30_000;

/** The page's own files and uPlot's, read once: small, and never a CDN (the console works offline). */
function assets(): Record<string, { type: string; body: Buffer }> {
  const uplot = path.dirname(requireHere.resolve('uplot/dist/uPlot.iife.min.js'));
  const file = (p: string) => readFileSync(p);
  return {
    'index.html': { type: 'text/html; charset=utf-8', body: file(path.join(HERE, 'console', 'index.html')) },
    'app.js': { type: 'text/javascript; charset=utf-8', body: file(path.join(HERE, 'console', 'app.js')) },
    'app.css': { type: 'text/css; charset=utf-8', body: file(path.join(HERE, 'console', 'app.css')) },
    'uplot.js': { type: 'text/javascript; charset=utf-8', body: file(path.join(uplot, 'uPlot.iife.min.js')) },
    'uplot.css': { type: 'text/css; charset=utf-8', body: file(path.join(uplot, 'uPlot.min.css')) },
  };
}

// ---- request parsing (zod at the boundary) ------------------------------------------------------------------------

const Instant = z.union([z.coerce.number().int().nonnegative(), z.iso.datetime({ offset: true })]).transform((v) => new Date(v));
const OneOrMany = z.union([z.string().max(1024), z.array(z.string().max(1024)).max(100)]);

const PanelQuery = z.object({
  from: Instant.optional(),
  to: Instant.optional(),
  /** Points a time series may have (Grafana's maxDataPoints): the interval is the range over this, rounded as Grafana rounds. */
  points: z.coerce.number().int().min(10).max(2000).default(300),
}).catchall(OneOrMany);

type ParsedPanelQuery = z.infer<typeof PanelQuery>;

/** `var-<name>` parameters (Grafana's URL form; repeated for several values) → the panel variables. */
function variablesOf(q: ParsedPanelQuery): Partial<Record<VariableName, VariableValue>> {
  const out: Partial<Record<VariableName, VariableValue>> = {};
  for (const name of VARIABLE_NAMES) {
    const raw = q[`var-${name}`];
    if (raw === undefined) continue;
    const def = VARIABLES[name];
    const values = typeof raw === 'string' ? [raw] : raw;
    out[name] = def.multi ? (values.length === 0 ? [ALL] : values) : (values[0] ?? '');
  }
  return out;
}

function panelRequest(q: ParsedPanelQuery, principal: AdminPrincipal, pinned: Partial<Record<VariableName, VariableValue>> = {}): PanelRequest {
  const to = q.to ?? new Date();
  const from = q.from ?? new Date(to.getTime() - 24 * 3_600_000);
  if (from.getTime() > to.getTime()) throw new PanelSqlError('the time range ends before it starts');
  const variables = { ...variablesOf(q), ...pinned };
  // An organisation key's pinned organisation: whatever the page asked for.
  if (principal.organization_id !== undefined) variables.organisation = [principal.organization_id];
  return { from, to, intervalMs: grafanaIntervalMs(from, to, q.points), variables };
}

// ---- the console ----------------------------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly code: string) {
    super(message);
  }
}

export interface ConsoleDeps {
  config: Config;
  /** The store to query (tests hand one in); default: a client for clickhouse.url or the embedded HTTP interface. */
  client?: ClickHouseClient;
}

export function createConsole({ config, client: given }: ConsoleDeps): express.Router {
  const router = express.Router();
  const files = assets();

  let client: Promise<ClickHouseClient> | undefined = given && Promise.resolve(given);
  function store(): Promise<ClickHouseClient> {
    client ??= (async () => {
      const { url, user, password, http_port } = config.clickhouse;
      if (url === undefined && http_port === 0) throw new HttpError(503, 'No store to query: set clickhouse.url, or keep clickhouse.http_port on for the embedded store.', 'sightline_console_no_store');
      const { createClient } = await import('@clickhouse/client');
      return createClient({
        url: url ?? `http://127.0.0.1:${http_port}`,
        ...(url !== undefined ? { username: user, password } : {}),
        max_open_connections: MAX_IN_FLIGHT,
        request_timeout: 30_000,
        clickhouse_settings: { output_format_json_quote_64bit_integers: 1, max_result_rows: '20000', result_overflow_mode: 'break' },
      });
    })();
    return client;
  }

  // At most MAX_IN_FLIGHT queries at once; the rest queue (and a flood is refused rather than queued without end).
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  async function limited<T>(work: () => Promise<T>): Promise<T> {
    if (inFlight >= MAX_IN_FLIGHT) {
      if (waiting.length >= MAX_WAITING) throw new HttpError(503, 'The console is busy; try again.', 'sightline_console_busy');
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
    inFlight++;
    try {
      return await work();
    } finally {
      inFlight--;
      waiting.shift()?.();
    }
  }

  let tables: { at: number; names: string[] } | undefined;
  /** The settings that hold this principal's queries to its organisation ({} for a key for every organisation). */
  async function scopeSettings(c: ClickHouseClient, principal: AdminPrincipal): Promise<Record<string, string>> {
    if (principal.organization_id === undefined) return {};
    if (tables === undefined || Date.now() - tables.at > TABLES_TTL_MS) {
      const rs = await c.query({ query: ORG_TABLES_SQL, format: 'JSONEachRow' });
      tables = { at: Date.now(), names: (await rs.json<{ qualified: string }>()).map((r) => r.qualified) };
    }
    return tables.names.length ? { additional_table_filters: organisationFilter(tables.names, principal.organization_id) } : {};
  }

  /** The caller, or a 401: a valid admin key, or no key from loopback when auth is not required. */
  function principalOf(req: Request): AdminPrincipal {
    const caller = adminCaller(config, req);
    if ('refused' in caller) throw new HttpError(401, caller.refused, 'sightline_unauthorized');
    return caller;
  }


  /**
   * Runs `work` against a client whose queries carry the principal's scope. The scope goes in as client-level
   * settings of a view onto the shared client: each query's own URL carries them, nothing is left on a session.
   */
  function scopedRoute(work: (run: Scoped, req: Request) => Promise<unknown>) {
    return (req: Request, res: Response) => {
      void (async () => {
        try {
          const principal = principalOf(req);
          const c = await store();
          const body = await limited(async () => work({ client: withSettings(c, await scopeSettings(c, principal)), principal }, req));
          res.setHeader('Cache-Control', 'no-store');
          res.json(body);
        } catch (err) {
          sendError(res, err);
        }
      })();
    };
  }

  router.get(['/', '/console'], (_req, res) => {
    res.type(files['index.html']!.type).send(files['index.html']!.body);
  });
  router.get('/console/:file', (req, res) => {
    const f = files[req.params.file ?? ''];
    if (f === undefined || req.params.file === 'index.html') {
      res.status(404).json({ error: { message: 'No such console file.', type: 'not_found_error', code: 'sightline_not_found' } });
      return;
    }
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type(f.type).send(f.body);
  });

  router.get('/api/console/whoami', (req, res) => {
    try {
      const p = principalOf(req);
      res.json({ key_id: p.key_id, organization_id: p.organization_id ?? null, trace_links: config.tracing.trace_url_template !== undefined });
    } catch (err) {
      sendError(res, err);
    }
  });

  router.get('/api/console/catalog', (req, res) => {
    try {
      const p = principalOf(req);
      res.json({
        organization_id: p.organization_id ?? null,
        dashboards: DASHBOARDS,
        panels: Object.fromEntries(Object.values(PANELS).map((panel) => [panel.id, {
          id: panel.id, title: panel.title, description: panel.description, type: panel.type, unit: panel.unit, format: panel.format,
          source: panel.source, variables: panel.variables, ...('link' in panel ? { link: panel.link } : {}),
        }])),
        variables: VARIABLES,
      });
    } catch (err) {
      sendError(res, err);
    }
  });

  router.get('/api/console/panels/:id', scopedRoute(async ({ client: c, principal }, req) => {
    const panel = PANELS[req.params.id as PanelId];
    if (panel === undefined) throw new HttpError(404, `No panel ${req.params.id}.`, 'sightline_not_found');
    const r = panelRequest(parse(PanelQuery, req.query), principal);
    return { panel: panel.id, intervalMs: r.intervalMs, rows: await runPanel(c, panel, r) };
  }));

  router.get('/api/console/variables/:name', scopedRoute(async ({ client: c, principal }, req) => {
    const name = req.params.name as VariableName;
    if (!(VARIABLE_NAMES as readonly string[]).includes(name)) throw new HttpError(404, `No variable ${req.params.name}.`, 'sightline_not_found');
    if (name === 'organisation' && principal.organization_id !== undefined) return { name, options: [principal.organization_id] };
    return { name, options: await variableOptions(c, name, panelRequest(parse(PanelQuery, req.query), principal)) };
  }));

  // One call in full: the audit_call panel, plus the trace as a link when a trace_url_template is configured.
  router.get('/api/console/calls/:id', scopedRoute(async ({ client: c, principal }, req) => {
    const id = z.uuid().safeParse(req.params.id);
    if (!id.success) throw new HttpError(400, 'A call is named by its request_id (a UUID).', 'sightline_invalid_request');
    const r = panelRequest(parse(PanelQuery, req.query), principal, { request_id: id.data });
    const [row] = await runPanel(c, PANELS.audit_call, r);
    if (row === undefined) throw new HttpError(404, `No call ${id.data}.`, 'sightline_not_found');
    const trace = typeof row.trace_id === 'string' ? traceUrl(config.tracing, row.trace_id, typeof row.span_id === 'string' ? row.span_id : '') : undefined;
    return { call: row, trace_url: trace ?? null };
  }));

  return router;
}

interface Scoped { client: ClickHouseClient; principal: AdminPrincipal }

/** The client with extra settings on every query (the client's own options are not mutable once created). */
function withSettings(c: ClickHouseClient, settings: Record<string, string>): ClickHouseClient {
  if (Object.keys(settings).length === 0) return c;
  return new Proxy(c, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return (params: Parameters<ClickHouseClient['query']>[0]) => target.query({ ...params, clickhouse_settings: { ...params.clickhouse_settings, ...settings } });
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  }) as ClickHouseClient;
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, r.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '), 'sightline_invalid_request');
  return r.data;
}

function sendError(res: Response, err: unknown): void {
  if (err instanceof HttpError) {
    res.status(err.status).json({ error: { message: err.message, type: err.status === 401 ? 'authentication_error' : 'invalid_request_error', code: err.code } });
  } else if (err instanceof PanelSqlError) {
    res.status(400).json({ error: { message: err.message, type: 'invalid_request_error', code: 'sightline_invalid_request' } });
  } else {
    // The store's own message (a ClickHouse error): the panel shows it; no credential is in it.
    res.status(502).json({ error: { message: (err as Error).message, type: 'api_error', code: 'sightline_console_query_failed' } });
  }
}
