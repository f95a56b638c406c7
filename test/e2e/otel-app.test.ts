// The app side of OpenTelemetry, as a user has it: an app instrumented with @opentelemetry/sdk-node and the undici
// instrumentation (the official `openai` v6 client calls through fetch) calls `sightline start` (proxy + spool +
// ingest child + chDB, configured only by OTEL_* variables). The trace is one: the app's span → its HTTP client
// span → the gateway's span (exported by ingest once the row is stored) → the upstream, whose traceparent names
// the gateway's span. The row in sightline.requests carries the same trace and span ids.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import type { SightlineProcess } from '../helpers/processes.ts';
import { eventually, freePort, httpClickHouse, queryRows, spawnSightline } from '../helpers/processes.ts';

let mock: MockUpstream;
let receiver: OtlpReceiver;
let sl: SightlineProcess;
let sdk: NodeSDK;
let dir: string;
let proxyUrl: string;
let chPort: number;

beforeAll(async () => {
  mock = await startMockUpstream();
  receiver = await startOtlpReceiver();
  dir = mkdtempSync(path.join(tmpdir(), 'sightline-otel-'));
  const port = await freePort();
  chPort = await freePort();
  sl = spawnSightline(['start'], {
    SIGHTLINE_DATA_DIR: dir,
    SIGHTLINE_PORT: String(port),
    SIGHTLINE_CLICKHOUSE_HTTP_PORT: String(chPort),
    SIGHTLINE_UPSTREAM_OPENAI: mock.url,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'sightline',
  });
  proxyUrl = `http://127.0.0.1:${port}`;
  // The app's own SDK, as the OpenTelemetry docs set it up; its spans go to the same receiver.
  sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'shop-assistant' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${receiver.url}/v1/traces` }) })],
    instrumentations: [new UndiciInstrumentation()],
  });
  sdk.start();
  await sl.waitForOutput(/proxy listening/);
  await sl.waitForOutput(/ClickHouse HTTP interface/);
}, 120_000);

afterAll(async () => {
  await sdk?.shutdown();
  sl?.kill('SIGTERM');
  await sl?.exited;
  await receiver?.close();
  await mock?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('an app traced with @opentelemetry/sdk-node calling through the gateway with the openai client', () => {
  it('shows one connected trace: app span → HTTP client span → gateway span, and the row links to it', { timeout: 90_000 }, async () => {
    const openai = new OpenAI({ baseURL: `${proxyUrl}/openai/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const tracer = trace.getTracer('shop-assistant');
    let appSpan = { traceId: '', spanId: '' };
    const completion = await tracer.startActiveSpan('answer question', async (span) => {
      appSpan = span.spanContext();
      try {
        return await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'What is the capital of France?' }], max_tokens: 32 });
      } finally {
        span.end();
      }
    });
    expect(completion.choices[0]!.message.content).toContain('Paris');

    // The upstream saw the gateway's span as its parent, in the app's trace.
    const upstream = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(mock.requests.at(-1)!.headers.traceparent));
    expect(upstream?.[1]).toBe(appSpan.traceId);
    const gatewaySpanId = upstream![2]!;

    await receiver.waitForSpans(3, 30_000);
    const inTrace = (): ReceivedSpan[] => receiver.spans.filter((s) => s.traceId === appSpan.traceId);
    await eventually(async () => inTrace(), (spans) => spans.some((s) => s.spanId === gatewaySpanId), 30_000);
    const spans = inTrace();
    const app = spans.find((s) => s.spanId === appSpan.spanId)!;
    const client = spans.find((s) => s.parentSpanId === app.spanId)!;
    const gateway = spans.find((s) => s.spanId === gatewaySpanId)!;
    expect(app).toMatchObject({ name: 'answer question', parentSpanId: '' });
    expect(app.resource['service.name']).toBe('shop-assistant');
    // undici's span for the fetch the openai client made, a CLIENT span under the app's.
    expect(client).toMatchObject({ kind: 3 });
    expect(client.resource['service.name']).toBe('shop-assistant');
    // The gateway's span is the child of that HTTP call, with the GenAI conventions' name and attributes.
    expect(gateway).toMatchObject({ parentSpanId: client.spanId, name: 'chat gpt-4o-mini', kind: 3 });
    expect(gateway.resource).toMatchObject({ 'service.name': 'sightline', 'sightline.component': 'ingest' });
    expect(gateway.attributes).toMatchObject({ 'gen_ai.usage.input_tokens': 24, 'gen_ai.usage.output_tokens': 8, 'gen_ai.request.max_tokens': 32 });

    const ch = httpClickHouse(chPort);
    try {
      const rows = await queryRows<{ trace_id: string; span_id: string; parent_span_id: string }>(ch,
        `SELECT trace_id, span_id, parent_span_id FROM sightline.requests FINAL WHERE request_id = '${String(gateway.attributes['sightline.request_id'])}'`);
      expect(rows).toEqual([{ trace_id: appSpan.traceId, span_id: gatewaySpanId, parent_span_id: client.spanId }]);
    } finally {
      await ch.close();
    }
  });
});
