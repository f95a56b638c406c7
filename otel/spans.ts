// Spans whose ids, times and outcome are already known, through the SDK's own pipeline (batching, limits, OTLP
// encoding). The proxy chose the ids when the call arrived and sent its span id upstream in traceparent; ingest
// emits the span once the row is stored. Nothing is registered globally.
import type { Context } from '@opentelemetry/api';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';
import { AlwaysOnSampler, BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { TracingConfig } from '../config/tracing.ts';
import type { SpanData } from './genai.ts';
import type { Component } from './sdk.ts';
import { EXPORT_TIMEOUT_MS, exporterOptions, resourceOf, SCOPE } from './sdk.ts';

export interface FinishedSpan extends SpanData {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
}

export interface SpanEmitter {
  emit(span: FinishedSpan): void;
  /** Exports what is queued now (tests, shutdown). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Epoch milliseconds (fractional) as the SDK's [seconds, nanoseconds]: no clock of this process is involved. */
export function hrTime(ms: number): [number, number] {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

/**
 * The IdGenerator hands the tracer the ids of the span being started (startSpan asks for exactly one span id, and
 * for a trace id only when there is no parent); the parent comes in as a remote span context.
 */
export function createSpanEmitter(t: TracingConfig, url: string, component: Component): SpanEmitter {
  const next = { traceId: '', spanId: '' };
  const ids: IdGenerator = { generateTraceId: () => next.traceId, generateSpanId: () => next.spanId };
  const opts = exporterOptions(t, url);
  const exporter = t.protocol === 'http/json' ? new JsonTraceExporter(opts) : new ProtoTraceExporter(opts);
  const provider = new TracerProvider({
    resource: resourceOf(t, component),
    idGenerator: ids,
    // The proxy decided sampling when the call arrived; only sampled calls get here.
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 8192, maxExportBatchSize: 512, scheduledDelayMillis: 1000, exportTimeoutMillis: EXPORT_TIMEOUT_MS })],
  });
  const tracer = provider.getTracer(SCOPE);
  return {
    emit(s) {
      next.traceId = s.traceId;
      next.spanId = s.spanId;
      const parent: Context = s.parentSpanId === ''
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
      const span = tracer.startSpan(s.name, { kind: SpanKind.CLIENT, startTime: hrTime(s.startMs), attributes: s.attributes }, parent);
      if (s.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: s.error });
      span.end(hrTime(s.endMs));
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
