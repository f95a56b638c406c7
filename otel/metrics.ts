// Metrics over OTLP/HTTP: the GenAI client metrics of the conventions (recorded by ingest from each stored row,
// which has the exact tokens) with the conventions' explicit bucket boundaries, and the proxy's own counters
// (observed from the counters the proxy keeps anyway, so recording costs the request path nothing).
import type { Meter } from '@opentelemetry/api';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { TracingConfig } from '../config/tracing.ts';
import type { RequestEvent } from '../contracts/event.ts';
import { errorType, metricAttributes, operationName } from './genai.ts';
import type { Component } from './sdk.ts';
import { EXPORT_TIMEOUT_MS, exporterOptions, resourceOf, SCOPE } from './sdk.ts';

/** gen_ai.client.token.usage buckets, as the conventions specify them. */
export const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
/** gen_ai.client.operation.duration and time_to_first_chunk buckets (seconds). */
export const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

export interface Metrics {
  meter: Meter;
  /** Exports what was recorded now (tests, shutdown). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function createMetrics(t: TracingConfig, url: string, component: Component): Metrics {
  const opts = exporterOptions(t, url);
  const reader = new PeriodicExportingMetricReader({
    exporter: t.protocol === 'http/json' ? new JsonMetricExporter(opts) : new ProtoMetricExporter(opts),
    exportIntervalMillis: t.metric_export_interval_ms,
    exportTimeoutMillis: Math.min(EXPORT_TIMEOUT_MS, t.metric_export_interval_ms),
  });
  const provider = new MeterProvider({ resource: resourceOf(t, component), readers: [reader] });
  return {
    meter: provider.getMeter(SCOPE),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/**
 * Takes what the GenAI client metrics need of a row (so the row itself need not be kept) and returns the recording,
 * run once the row is stored; undefined for calls that are no GenAI operation.
 */
export type GenAiRecorder = (row: RequestEvent) => (() => void) | undefined;

export function genAiRecorder(meter: Meter): GenAiRecorder {
  const tokens = meter.createHistogram('gen_ai.client.token.usage', {
    unit: '{token}', description: 'Number of input and output tokens used.', advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
  });
  const duration = meter.createHistogram('gen_ai.client.operation.duration', {
    unit: 's', description: 'GenAI operation duration.', advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const firstChunk = meter.createHistogram('gen_ai.client.operation.time_to_first_chunk', {
    unit: 's', description: 'Time to receive the first chunk of a streaming response.', advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  return (row) => {
    const op = operationName(row);
    if (op === undefined) return undefined;
    const attributes = metricAttributes(row, op);
    const error = errorType(row);
    const seconds = row.latency_ms / 1000;
    // Only counts the provider reported (or the ledger estimated for a stream without usage): a failed call has none.
    const usage = row.prompt_tokens > 0 || row.completion_tokens > 0 ? [row.prompt_tokens, row.completion_tokens] : undefined;
    const ttfc = row.stream && row.ttft_ms !== null ? row.ttft_ms / 1000 : undefined;
    return () => {
      duration.record(seconds, error === undefined ? attributes : { ...attributes, 'error.type': error });
      if (usage !== undefined) {
        tokens.record(usage[0]!, { ...attributes, 'gen_ai.token.type': 'input' });
        tokens.record(usage[1]!, { ...attributes, 'gen_ai.token.type': 'output' });
      }
      if (ttfc !== undefined) firstChunk.record(ttfc, attributes);
    };
  };
}

/** What the proxy counts anyway (the same numbers /_sightline/metrics serves). */
export interface ProxyCounters {
  outcomes: Readonly<Record<string, number>>;
  unlogged: Readonly<Record<string, number>>;
  inFlight: number;
  events: { written: number; refused: number };
}

/** The proxy's own counters as observable instruments: read when the reader exports, never on a request. */
export function observeProxy(meter: Meter, counters: () => ProxyCounters): void {
  const requests = meter.createObservableCounter('sightline.proxy.requests', { unit: '{request}', description: 'Calls through the proxy by how they ended.' });
  const unlogged = meter.createObservableCounter('sightline.proxy.unlogged_calls', { unit: '{request}', description: 'Calls whose event could not be logged, by what logging.on_failure did.' });
  const events = meter.createObservableCounter('sightline.proxy.events', { unit: '{event}', description: 'Events the sink took (written) or refused.' });
  const active = meter.createObservableUpDownCounter('sightline.proxy.active_requests', { unit: '{request}', description: 'Calls in flight.' });
  meter.addBatchObservableCallback((r) => {
    const c = counters();
    for (const [outcome, n] of Object.entries(c.outcomes)) r.observe(requests, n, { outcome });
    for (const [action, n] of Object.entries(c.unlogged)) r.observe(unlogged, n, { action });
    r.observe(events, c.events.written, { result: 'written' });
    r.observe(events, c.events.refused, { result: 'refused' });
    r.observe(active, c.inFlight);
  }, [requests, unlogged, events, active]);
}
