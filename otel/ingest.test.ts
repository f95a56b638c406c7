// Ingest's export through the real SDK and OTLP/HTTP exporters into an in-test receiver, in both encodings: spans
// with exactly the ids the proxy chose and the call's own times, and the GenAI metrics with the conventions' buckets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/index.ts';
import { makeEvent } from '../test/helpers/events.ts';
import type { OtlpReceiver } from '../test/helpers/otlp-receiver.ts';
import { startOtlpReceiver } from '../test/helpers/otlp-receiver.ts';
import { startIngestTelemetry } from './ingest.ts';
import { DURATION_BUCKETS, TOKEN_BUCKETS } from './metrics.ts';

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver.close());

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const telemetry = (env: Record<string, string>) => startIngestTelemetry(parseConfig(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'gw', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test', ...env }))!;

describe.each(['http/protobuf', 'http/json'] as const)('ingest telemetry over %s', (protocol) => {
  it('exports one CLIENT span per sampled row with the row\'s ids and times, and the GenAI metrics', async () => {
    const t = telemetry({ OTEL_EXPORTER_OTLP_PROTOCOL: protocol });
    const spanId = protocol === 'http/json' ? '1111111111111111' : '2222222222222222';
    const sampled = makeEvent({ trace_id: TRACE, span_id: spanId, parent_span_id: '00f067aa0ba902b7', trace_sampled: true, created_at: '2025-03-14T15:09:26.535Z', latency_ms: 812.25 });
    const root = makeEvent({ trace_id: TRACE.replace('4', '5'), span_id: '3333333333333333', parent_span_id: '', trace_sampled: true });
    const unsampled = makeEvent({ trace_id: TRACE, span_id: '4444444444444444', trace_sampled: false });
    const untraced = makeEvent({ trace_id: '', span_id: '', trace_sampled: false });
    const before = receiver.spans.length;
    for (const row of [sampled, root, unsampled, untraced]) t.afterStore(row)?.();
    await t.flush();
    const spans = receiver.spans.slice(before);
    expect(spans.map((s) => s.spanId).sort()).toEqual([spanId, '3333333333333333']);
    const s = spans.find((x) => x.spanId === spanId)!;
    expect(s).toMatchObject({ traceId: TRACE, parentSpanId: '00f067aa0ba902b7', name: 'chat gpt-4o-mini', kind: 3, status: { code: 0 } });
    expect(s.startNs).toBe(1_741_964_966_535_000_000n);
    expect(s.endNs).toBe(1_741_964_966_535_000_000n + 812_250_000n);
    expect(s.attributes).toMatchObject({ 'gen_ai.usage.input_tokens': 1200, 'gen_ai.usage.output_tokens': 345, 'sightline.request_id': sampled.request_id });
    expect(s.resource).toMatchObject({ 'service.name': 'gw', 'deployment.environment': 'test', 'sightline.component': 'ingest' });
    expect(spans.find((x) => x.spanId === '3333333333333333')!.parentSpanId).toBe('');
    expect([...receiver.contentTypes.get('/v1/traces')!]).toContain(protocol === 'http/json' ? 'application/json' : 'application/x-protobuf');

    const metricsBefore = receiver.metrics.length;
    await t.shutdown();
    const metrics = receiver.metrics.slice(metricsBefore);
    const usage = metrics.find((m) => m.name === 'gen_ai.client.token.usage')!;
    expect(usage).toMatchObject({ kind: 'histogram', unit: '{token}' });
    expect(usage.points[0]!.bounds).toEqual(TOKEN_BUCKETS);
    const input = usage.points.find((p) => p.attributes['gen_ai.token.type'] === 'input')!;
    // All four rows are GenAI calls: metrics are not sampled.
    expect(input).toMatchObject({ count: 4, sum: 4 * 1200 });
    expect(input.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'server.address': 'api.openai.com', 'server.port': 443 });
    const duration = metrics.find((m) => m.name === 'gen_ai.client.operation.duration')!;
    expect(duration).toMatchObject({ kind: 'histogram', unit: 's' });
    expect(duration.points[0]!.bounds).toEqual(DURATION_BUCKETS);
    expect(duration.points[0]!.sum).toBeCloseTo(4 * 0.81225);
    expect(metrics.find((m) => m.name === 'gen_ai.client.operation.time_to_first_chunk')!.points[0]!.count).toBe(4);
  });
});

describe('gateway attempts as spans', () => {
  it('exports each attempt of a gateway call as a child of the call\'s span, at its own time, the failed one in error', async () => {
    const t = telemetry({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    const row = makeEvent({
      trace_id: TRACE, span_id: '5555555555555555', parent_span_id: '', trace_sampled: true, created_at: '2025-03-14T15:09:26.535Z', latency_ms: 400,
      provider: 'openai', model: 'gpt-5-mini', model_alias: 'smart', deployment: 'smart-fallback#0', attempts: 2,
      attempt_log: [
        { alias: 'smart', deployment: 'smart#0', provider: 'anthropic', model: 'claude-sonnet-4-6', status: 529, start_ms: 1.5, latency_ms: 120, error_code: 'overloaded_error', error: 'Overloaded' },
        { alias: 'smart-fallback', deployment: 'smart-fallback#0', provider: 'openai', model: 'gpt-5-mini', status: 200, start_ms: 122, latency_ms: 270, error_code: '', error: '' },
      ],
    });
    const before = receiver.spans.length;
    t.afterStore(row)?.();
    await t.flush();
    const spans = receiver.spans.slice(before);
    expect(spans).toHaveLength(3);
    const call = spans.find((s) => s.spanId === '5555555555555555')!;
    expect(call.attributes).toMatchObject({ 'sightline.model_alias': 'smart', 'sightline.deployment': 'smart-fallback#0', 'sightline.attempts': 2 });
    const children = spans.filter((s) => s.parentSpanId === '5555555555555555').sort((a, b) => Number(a.startNs - b.startNs));
    expect(children.map((c) => [c.name, c.attributes['gen_ai.provider.name'], c.attributes['http.response.status_code'], c.status.code])).toEqual([
      ['chat claude-sonnet-4-6 (smart#0)', 'anthropic', 529, 2],
      ['chat gpt-5-mini (smart-fallback#0)', 'openai', 200, 0],
    ]);
    expect(children[0]!.attributes['error.type']).toBe('overloaded_error');
    expect(children[0]!.startNs).toBe(1_741_964_966_536_500_000n);
    expect(children[0]!.endNs).toBe(1_741_964_966_656_500_000n);
    expect(new Set(children.map((c) => c.spanId)).size).toBe(2);
    expect(children.every((c) => /^[0-9a-f]{16}$/.test(c.spanId) && c.traceId === TRACE)).toBe(true);
    await t.shutdown();
  });
});

describe('ingest telemetry', () => {
  it('marks failed calls ERROR with error.type, and records their duration under it', async () => {
    const t = telemetry({});
    const before = receiver.spans.length;
    const metricsBefore = receiver.metrics.length;
    t.afterStore(makeEvent({ trace_id: TRACE, span_id: '5555555555555555', trace_sampled: true, status: 429, error_type: 'rate_limit_exceeded', prompt_tokens: 0, completion_tokens: 0 }))?.();
    await t.shutdown();
    const span = receiver.spans.slice(before).find((s) => s.spanId === '5555555555555555')!;
    expect(span.status).toEqual({ code: 2, message: 'rate_limit_exceeded' });
    expect(span.attributes['error.type']).toBe('rate_limit_exceeded');
    const duration = receiver.metrics.slice(metricsBefore).find((m) => m.name === 'gen_ai.client.operation.duration')!;
    expect(duration.points[0]!.attributes['error.type']).toBe('rate_limit_exceeded');
    // A failed call has no tokens to report.
    expect(receiver.metrics.slice(metricsBefore).find((m) => m.name === 'gen_ai.client.token.usage')).toBeUndefined();
  });

  it('is off without an endpoint, and each signal can be switched off alone', () => {
    expect(startIngestTelemetry(parseConfig(undefined, {}))).toBeUndefined();
    expect(startIngestTelemetry(parseConfig(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: 'true' }))).toBeUndefined();
    expect(startIngestTelemetry(parseConfig(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' }))).toBeUndefined();
  });
});
