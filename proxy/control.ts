// The control plane: everything under /_sightline/ (health, metrics, the console: proxy/console.ts). express
// serves it and never a provider route, so its routing and middleware cost nothing on the request path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import type { Config } from '../config/index.ts';
import type { EventSink } from '../contracts/sink.ts';
import { createConsole } from './console.ts';
import type { Outcome } from './context.ts';

/** Sightline's own endpoints; no provider prefix can start with an underscore. */
export const ADMIN_PREFIX = '/_sightline';

export interface ControlPlaneDeps {
  sink: EventSink;
  counters: () => { outcomes: Readonly<Record<Outcome, number>>; unlogged: { served: number; rejected: number } };
  /** Extra gauges and counters (spool, forwarder), read when scraped. */
  metrics?: () => Readonly<Record<string, number>>;
  /** With a config, the console is served at /_sightline/ (its pages and /_sightline/api/console/*). */
  config?: Config;
  /** The virtual keys API (admin-api.ts), mounted at /_sightline/api. */
  adminApi?: express.Router;
}

export function createControlPlane({ sink, counters, metrics, config, adminApi }: ControlPlaneDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get(`${ADMIN_PREFIX}/health`, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(`${ADMIN_PREFIX}/metrics`, (_req, res) => {
    const { outcomes, unlogged } = counters();
    const values: Record<string, number> = {
      sightline_events_written_total: sink.stats.written,
      sightline_events_refused_total: sink.stats.refused,
      ...metrics?.(),
    };
    let text = '# TYPE sightline_requests_total counter\n';
    for (const [outcome, n] of Object.entries(outcomes)) text += `sightline_requests_total{outcome="${outcome}"} ${n}\n`;
    // Calls whose event could not be logged, by what logging.on_failure did with them.
    text += '# TYPE sightline_unlogged_calls_total counter\n';
    text += `sightline_unlogged_calls_total{action="served"} ${unlogged.served}\nsightline_unlogged_calls_total{action="rejected"} ${unlogged.rejected}\n`;
    // A name may carry labels (`sightline_deployment_in_flight{deployment="smart#0"}`): one TYPE line per metric.
    const typed = new Set<string>();
    for (const [series, value] of Object.entries(values)) {
      const brace = series.indexOf('{');
      const name = brace === -1 ? series : series.slice(0, brace);
      if (!typed.has(name)) {
        typed.add(name);
        text += `# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}\n`;
      }
      text += `${series} ${value}\n`;
    }
    res.type('text/plain; version=0.0.4').send(text);
  });
  if (adminApi) app.use(`${ADMIN_PREFIX}/api`, adminApi);
  if (config) app.use(ADMIN_PREFIX, createConsole({ config }));
  app.use((req, res) => {
    res.status(404).json({ error: { message: `No control-plane route ${req.method} ${req.path}; see ${ADMIN_PREFIX}/health and ${ADMIN_PREFIX}/metrics.`, type: 'not_found_error', code: 'sightline_not_found' } });
  });
  return app;
}
