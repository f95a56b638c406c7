// What Sightline's two OpenTelemetry signals share: the resource and the OTLP/HTTP exporter options, built from the
// `tracing` section with explicit options (config/tracing.ts maps the standard OTEL_* variables onto it). Traces
// (spans.ts) and metrics (metrics.ts) are separate modules so a process loads only the SDK of the signal it uses.
import type { Resource } from '@opentelemetry/resources';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { TracingConfig } from '../config/tracing.ts';

export const SCOPE = 'sightline';
export const EXPORT_TIMEOUT_MS = 10_000;

/** Which process exports: the proxy (its own counters) or ingest (the calls' spans and GenAI metrics). */
export type Component = 'proxy' | 'ingest';

export function resourceOf(t: TracingConfig, component: Component): Resource {
  return resourceFromAttributes({
    ...t.resource_attributes,
    'service.name': t.service_name,
    // Proxy and ingest export under one service; this tells their telemetry apart.
    'sightline.component': component,
  });
}

export function exporterOptions(t: TracingConfig, url: string): { url: string; headers: Record<string, string>; timeoutMillis: number } {
  return { url, headers: { ...t.headers }, timeoutMillis: EXPORT_TIMEOUT_MS };
}
