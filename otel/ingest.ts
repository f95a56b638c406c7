// Ingest's telemetry: once a batch of rows is stored, each sampled call becomes its span (the ids the proxy chose,
// the call's own start and end) and every GenAI call is recorded on the gen_ai.client.* metrics. Loaded by
// ingest/main.ts only when an OTLP endpoint is configured. What a row's telemetry needs is taken when the row is
// prepared, so the pipeline need not keep its rows until the batch is stored. Exporting never holds up or fails a
// batch: the SDK queues and sends in the background, and a row that cannot be described is skipped.
import type { Config } from '../config/index.ts';
import { metricsUrl, tracesUrl } from '../config/tracing.ts';
import type { RequestEvent } from '../contracts/event.ts';
import { createHash } from 'node:crypto';
import { attemptSpanData, spanData } from './genai.ts';
import type { GenAiRecorder, Metrics } from './metrics.ts';
import { createMetrics, genAiRecorder } from './metrics.ts';
import type { FinishedSpan, SpanEmitter } from './spans.ts';
import { createSpanEmitter } from './spans.ts';

export interface IngestTelemetry {
  /** Takes a row's telemetry as the row is prepared; the function returned exports it once the row is stored. */
  afterStore(row: RequestEvent): (() => void) | undefined;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** An attempt's span id, derived from the call's so that a redelivered row exports the same spans again. */
function attemptSpanId(callSpanId: string, index: number): string {
  return createHash('sha256').update(`${callSpanId}:${index}`).digest('hex').slice(0, 16);
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

export function startIngestTelemetry(config: Config, log: (msg: string) => void = () => {}): IngestTelemetry | undefined {
  const t = config.tracing;
  const spansAt = tracesUrl(t);
  const metricsAt = metricsUrl(t);
  if (spansAt === undefined && metricsAt === undefined) return undefined;
  const spans: SpanEmitter | undefined = spansAt === undefined ? undefined : createSpanEmitter(t, spansAt, 'ingest');
  const metrics: Metrics | undefined = metricsAt === undefined ? undefined : createMetrics(t, metricsAt, 'ingest');
  const record: GenAiRecorder | undefined = metrics === undefined ? undefined : genAiRecorder(metrics.meter);
  const captureContent = t.capture_message_content;
  let failures = 0;
  const failed = (err: unknown) => {
    if (failures++ % 1000 === 0) log(`OpenTelemetry: a row could not be exported (${failures} so far): ${(err as Error).message}`);
  };
  log(`OpenTelemetry: ${spansAt === undefined ? 'no spans' : `spans → ${new URL(spansAt).origin}`}, ${metricsAt === undefined ? 'no metrics' : `metrics → ${new URL(metricsAt).origin}`} (${t.protocol})`);
  return {
    afterStore(row) {
      try {
        const recording = record?.(row);
        const traced: FinishedSpan[] = [];
        // Ids are checked here too: a v1 event from elsewhere may carry anything in its trace columns.
        if (spans !== undefined && row.trace_sampled && TRACE_ID.test(row.trace_id) && SPAN_ID.test(row.span_id)) {
          traced.push({ ...spanData(row, { captureContent }), traceId: row.trace_id, spanId: row.span_id, parentSpanId: SPAN_ID.test(row.parent_span_id) ? row.parent_span_id : '' });
          attemptSpanData(row).forEach((attempt, i) => traced.push({ ...attempt, traceId: row.trace_id, spanId: attemptSpanId(row.span_id, i), parentSpanId: row.span_id }));
        }
        if (recording === undefined && traced.length === 0) return undefined;
        return () => {
          try {
            recording?.();
            for (const span of traced) spans!.emit(span);
          } catch (err) {
            failed(err);
          }
        };
      } catch (err) {
        failed(err);
        return undefined;
      }
    },
    async flush() {
      await Promise.all([spans?.flush(), metrics?.flush()]);
    },
    async shutdown() {
      await Promise.all([spans?.shutdown(), metrics?.shutdown()]);
    },
  };
}
