// Ingest's telemetry: after a batch of rows is stored, each sampled call becomes its span (the ids the proxy chose,
// the call's own start and end) and every GenAI call is recorded on the gen_ai.client.* metrics. Loaded by
// ingest/main.ts only when an OTLP endpoint is configured. Exporting never holds up or fails a batch: the SDK
// queues and sends in the background, and a row that cannot be described is skipped.
import type { Config } from '../config/index.ts';
import { metricsUrl, tracesUrl } from '../config/tracing.ts';
import type { RequestEvent } from '../contracts/event.ts';
import { spanData } from './genai.ts';
import type { GenAiRecorder, Metrics } from './metrics.ts';
import { createMetrics, genAiRecorder } from './metrics.ts';
import type { SpanEmitter } from './spans.ts';
import { createSpanEmitter } from './spans.ts';

export interface IngestTelemetry {
  /** Called with every batch once it is stored. */
  afterStore(rows: readonly RequestEvent[]): void;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
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
  log(`OpenTelemetry: ${spansAt === undefined ? 'no spans' : `spans → ${new URL(spansAt).origin}`}, ${metricsAt === undefined ? 'no metrics' : `metrics → ${new URL(metricsAt).origin}`} (${t.protocol})`);
  return {
    afterStore(rows) {
      for (const row of rows) {
        try {
          record?.(row);
          // Ids are checked here too: a v1 event from elsewhere may carry anything in its trace columns.
          if (spans !== undefined && row.trace_sampled && TRACE_ID.test(row.trace_id) && SPAN_ID.test(row.span_id)) {
            spans.emit({ ...spanData(row, { captureContent }), traceId: row.trace_id, spanId: row.span_id, parentSpanId: SPAN_ID.test(row.parent_span_id) ? row.parent_span_id : '' });
          }
        } catch (err) {
          if (failures++ % 1000 === 0) log(`OpenTelemetry: a row could not be exported (${failures} so far): ${(err as Error).message}`);
        }
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
