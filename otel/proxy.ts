// The proxy's telemetry: its own request counters as OTLP metrics. Loaded by proxy/main.ts with a dynamic import
// only when a metrics endpoint is configured, so a proxy without one never loads the metrics SDK. (The proxy
// exports no spans: ingest does, from the stored row; see proxy/trace.ts.)
import type { TracingConfig } from '../config/tracing.ts';
import { metricsUrl } from '../config/tracing.ts';
import type { Metrics, ProxyCounters } from './metrics.ts';
import { createMetrics, observeProxy } from './metrics.ts';

export function startProxyTelemetry(t: TracingConfig, counters: () => ProxyCounters): Metrics | undefined {
  const url = metricsUrl(t);
  if (url === undefined) return undefined;
  const metrics = createMetrics(t, url, 'proxy');
  observeProxy(metrics.meter, counters);
  return metrics;
}
