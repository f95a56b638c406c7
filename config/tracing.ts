// The `tracing` section of the config (OpenTelemetry): traces and metrics over OTLP/HTTP, off unless an endpoint
// is set. The standard OTEL_* variables map onto it here, read with the rest of the environment by config/index.ts,
// so otel/ hands the SDK explicit options and nothing else reads them.
import { z } from 'zod';

export const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;

export const TracingSchema = z.strictObject({
  /** OTEL_EXPORTER_OTLP_ENDPOINT: base URL; /v1/traces and /v1/metrics are appended. */
  endpoint: z.url().optional(),
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / _METRICS_ENDPOINT: full URLs, used as they are. */
  traces_endpoint: z.url().optional(),
  metrics_endpoint: z.url().optional(),
  /** OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`, values URL-encoded): e.g. the collector's auth. */
  headers: z.record(z.string(), z.string()).default({}),
  /** OTEL_EXPORTER_OTLP_PROTOCOL; grpc is not offered. */
  protocol: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
  /** OTEL_SERVICE_NAME */
  service_name: z.string().min(1).default('sightline'),
  /** OTEL_RESOURCE_ATTRIBUTES (`k=v,…`) */
  resource_attributes: z.record(z.string(), z.string()).default({}),
  /** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG: decided by the proxy when a call arrives. */
  sampler: z.enum(SAMPLERS).default('parentbased_always_on'),
  sampler_arg: z.coerce.number().min(0).max(1).default(1),
  /** OTEL_SDK_DISABLED=true turns everything off, endpoints or not. */
  disabled: z.boolean().default(false),
  /** OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER = none switch one signal off. */
  traces: z.boolean().default(true),
  metrics: z.boolean().default(true),
  /** OTEL_METRIC_EXPORT_INTERVAL (ms) */
  metric_export_interval_ms: z.coerce.number().int().positive().default(60_000),
  /**
   * OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: put prompts and responses on spans (gen_ai.input.messages,
   * gen_ai.output.messages), taken from the stored row, i.e. after PII redaction. Off by default.
   */
  capture_message_content: z.boolean().default(false),
  /**
   * Turns a row's trace_id into a link (console, Grafana audit table), e.g. `http://127.0.0.1:16686/trace/{trace_id}`
   * (Jaeger) or a Grafana Explore URL for Tempo; `{trace_id}` and `{span_id}` are replaced.
   */
  trace_url_template: z.string().regex(/\{trace_id\}/, 'must contain {trace_id}').optional(),
});

export type TracingConfig = z.infer<typeof TracingSchema>;

/** `k=v,k2=v2` with URL-encoded values, as the OTel spec defines OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES. */
export function parseKeyValues(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of v.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    try {
      out[key] = decodeURIComponent(value);
    } catch {
      out[key] = value;
    }
  }
  return out;
}

const truthy = (v: string) => v.toLowerCase() === 'true' || v === '1';

/** Sets the standard variables onto the raw `tracing` section (environment over sightline.yaml, as everywhere). */
export function applyTracingEnv(set: (name: string, apply: (v: string) => void) => void, section: () => Record<string, unknown>): void {
  set('OTEL_EXPORTER_OTLP_ENDPOINT', (v) => { section().endpoint = v; });
  set('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', (v) => { section().traces_endpoint = v; });
  set('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', (v) => { section().metrics_endpoint = v; });
  set('OTEL_EXPORTER_OTLP_HEADERS', (v) => { section().headers = parseKeyValues(v); });
  set('OTEL_EXPORTER_OTLP_PROTOCOL', (v) => { section().protocol = v; });
  set('OTEL_SERVICE_NAME', (v) => { section().service_name = v; });
  set('OTEL_RESOURCE_ATTRIBUTES', (v) => { section().resource_attributes = parseKeyValues(v); });
  set('OTEL_TRACES_SAMPLER', (v) => { section().sampler = v; });
  set('OTEL_TRACES_SAMPLER_ARG', (v) => { section().sampler_arg = v; });
  set('OTEL_SDK_DISABLED', (v) => { section().disabled = truthy(v); });
  set('OTEL_TRACES_EXPORTER', (v) => { section().traces = v !== 'none'; });
  set('OTEL_METRICS_EXPORTER', (v) => { section().metrics = v !== 'none'; });
  set('OTEL_METRIC_EXPORT_INTERVAL', (v) => { section().metric_export_interval_ms = v; });
  set('OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', (v) => { section().capture_message_content = truthy(v); });
}

function signalUrl(t: TracingConfig, full: string | undefined, path: string, on: boolean): string | undefined {
  if (t.disabled || !on) return undefined;
  if (full !== undefined) return full;
  return t.endpoint === undefined ? undefined : `${t.endpoint.replace(/\/+$/, '')}${path}`;
}

/** Where spans go; undefined = tracing off (then the proxy starts no traces and ingest exports no spans). */
export const tracesUrl = (t: TracingConfig): string | undefined => signalUrl(t, t.traces_endpoint, '/v1/traces', t.traces);
/** Where metrics go; undefined = metrics off (the metrics SDK is then never loaded). */
export const metricsUrl = (t: TracingConfig): string | undefined => signalUrl(t, t.metrics_endpoint, '/v1/metrics', t.metrics);

/** Whether a process exports anything at all (else otel/ and the SDK are never loaded). */
export const telemetryEnabled = (t: TracingConfig): boolean => tracesUrl(t) !== undefined || metricsUrl(t) !== undefined;

/** A row's trace as a link, when a template is configured. */
export function traceUrl(t: TracingConfig, traceId: string, spanId = ''): string | undefined {
  if (t.trace_url_template === undefined || traceId === '') return undefined;
  return t.trace_url_template.replaceAll('{trace_id}', traceId).replaceAll('{span_id}', spanId);
}
