// OpenTelemetry end to end on real parts: calls through the real gateway carrying (or not) a W3C traceparent, the
// bus events through the real ingest pipeline into chDB with the OTel hook, spans and metrics out over OTLP/HTTP
// (protobuf, the default) into an in-test receiver. The span joins the caller's trace with the GenAI attributes
// and exact tokens, the upstream sees traceparent naming the proxy's span, and the stored row has the same ids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { migrate } from '../../analytics/migrate.ts';
import type { Config } from '../../config/index.ts';
import { parseConfig } from '../../config/index.ts';
import { encodeBusEvent } from '../../contracts/sink.ts';
import type { Pipeline } from '../../ingest/pipeline.ts';
import { assembleDepsFromConfig, createPipeline, redactorFromConfig } from '../../ingest/pipeline.ts';
import { createWriter } from '../../ingest/writer.ts';
import type { IngestTelemetry } from '../../otel/ingest.ts';
import { startIngestTelemetry } from '../../otel/ingest.ts';
import type { TestClickHouse } from '../helpers/clickhouse.ts';
import { freshClickHouse } from '../helpers/clickhouse.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { startRealtimeUpstream } from '../helpers/realtime-upstream.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

let receiver: OtlpReceiver;
let gw: TestGateway;
let off: TestGateway;
let ch: TestClickHouse;
let config: Config;
let telemetry: IngestTelemetry;
let pipeline: Pipeline;
const ingested = new Map<TestGateway, number>();

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'sightline-test' };
  gw = await startTestGateway({ env });
  off = await startTestGateway();
  config = parseConfig(undefined, env);
  ch = await freshClickHouse();
  await migrate(ch.client);
  telemetry = startIngestTelemetry(config)!;
  pipeline = createPipeline({
    writer: createWriter(ch.client),
    deadLetters: { write: async (letters) => { throw new Error(`dead letters: ${letters.map((l) => l.reason).join(', ')}`); } },
    redact: redactorFromConfig(config.redaction),
    maxEventBytes: config.ingest.max_event_bytes,
    assemble: assembleDepsFromConfig(config),
    afterStore: telemetry.afterStore,
  });
});

let gwClosed = false;
afterAll(async () => {
  if (!gwClosed) await gw?.close();
  await off?.close();
  await telemetry?.shutdown();
  await ch?.close();
  await receiver?.close();
});

/** What the gateway wrote since last time, through ingest as production runs it; then the exporters flushed. */
async function ingest(from: TestGateway): Promise<void> {
  const start = ingested.get(from) ?? 0;
  const events = from.written.slice(start);
  ingested.set(from, start + events.length);
  await pipeline.handle(events.map((e) => {
    const raw = encodeBusEvent(e);
    return typeof raw === 'string' ? Buffer.from(raw) : raw;
  }));
  await telemetry.flush();
}

interface StoredRow { request_id: string; trace_id: string; span_id: string; parent_span_id: string; trace_sampled: boolean; prompt_tokens: string; completion_tokens: string; cost_usd: number; latency_ms: number; error_type: string; error_code: string; status: number }

async function row(requestId: string): Promise<StoredRow> {
  const rows = await (await ch.client.query({
    query: `SELECT request_id, trace_id, span_id, parent_span_id, trace_sampled, prompt_tokens, completion_tokens, cost_usd, latency_ms, error_type, error_code, status
            FROM sightline.requests FINAL WHERE request_id = {id:UUID}`,
    query_params: { id: requestId },
    format: 'JSONEachRow',
  })).json<StoredRow>();
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

const spanOf = (spanId: string): ReceivedSpan => {
  const found = receiver.spans.filter((s) => s.spanId === spanId);
  expect(found, `one span ${spanId}`).toHaveLength(1);
  return found[0]!;
};

async function call(g: TestGateway, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ res: Response; upstream: Record<string, string | string[] | undefined> }> {
  const seen = g.mock.requests.length;
  const events = g.written.length;
  const res = await fetch(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  await g.waitForEvents(events + 1);
  return { res, upstream: g.mock.requests[seen]?.headers ?? {} };
}

const CHAT = { model: 'gpt-4o-mini', max_tokens: 50, temperature: 0.3, top_p: 0.9, messages: [{ role: 'user', content: 'What is the capital of France?' }] };

describe('a call carrying a traceparent, tracing on', () => {
  it('joins the caller\'s trace: upstream traceparent names the proxy\'s span, and that span is exported with the GenAI attributes and exact tokens', async () => {
    const { res, upstream } = await call(gw, '/openai/v1/chat/completions', CHAT, {
      traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc', baggage: 'tenant=acme',
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('sightline-id')!;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(upstream.traceparent));
    expect(m?.[1]).toBe(TRACE);
    const proxySpan = m![2]!;
    expect(proxySpan).not.toBe(PARENT);
    // tracestate and baggage travel as the caller sent them.
    expect(upstream.tracestate).toBe('vendor=abc');
    expect(upstream.baggage).toBe('tenant=acme');

    await ingest(gw);
    const stored = await row(requestId);
    expect(stored).toMatchObject({ trace_id: TRACE, span_id: proxySpan, parent_span_id: PARENT, trace_sampled: true, prompt_tokens: '24', completion_tokens: '8' });

    const span = spanOf(proxySpan);
    expect(span).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, name: 'chat gpt-4o-mini', kind: 3, status: { code: 0 } });
    expect(span.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.request.max_tokens': 50,
      'gen_ai.request.temperature': 0.3,
      'gen_ai.request.top_p': 0.9,
      'gen_ai.response.id': 'chatcmpl-BwJ8qXhPZT3m2Lk0nJpZcYdE4aQ1f',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 24,
      'gen_ai.usage.output_tokens': 8,
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(gw.mock.url).port),
      'sightline.request_id': requestId,
      'sightline.cost_usd': stored.cost_usd,
    });
    expect(span.attributes).not.toHaveProperty('gen_ai.input.messages');
    expect(span.resource).toMatchObject({ 'service.name': 'sightline-test' });
    // The span covers the call: created_at to created_at + latency_ms.
    expect(Number(span.endNs - span.startNs) / 1e6).toBeCloseTo(stored.latency_ms, 2);
    expect([...receiver.contentTypes.get('/v1/traces')!]).toEqual(['application/x-protobuf']);
  });

  it('an upstream error is an ERROR span with error.type, as the row says', async () => {
    const { res, upstream } = await call(gw, '/openai/v1/chat/completions', CHAT, { traceparent: `00-${TRACE}-${PARENT}-01`, 'x-mock-fixture': 'openai/error-429.json' });
    expect(res.status).toBe(429);
    const proxySpan = String(upstream.traceparent).split('-')[2]!;
    await ingest(gw);
    const stored = await row(res.headers.get('sightline-id')!);
    expect(stored.span_id).toBe(proxySpan);
    const span = spanOf(proxySpan);
    expect(span.status.code).toBe(2);
    expect(span.attributes['error.type']).toBe(stored.error_type);
    expect(span.attributes['error.type']).not.toBe('');
    expect(span.attributes['http.response.status_code']).toBe(429);
    expect(span.parentSpanId).toBe(PARENT);
  });

  it('a call Sightline refuses itself is an ERROR span in the caller\'s trace too', async () => {
    const res = await fetch(`${gw.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', traceparent: `00-${TRACE}-${PARENT}-01` }, body: '{"model":' });
    expect(res.status).toBe(400);
    await gw.waitForEvents(ingested.get(gw)! + 1);
    await ingest(gw);
    const stored = await row(res.headers.get('sightline-id')!);
    expect(stored).toMatchObject({ trace_id: TRACE, parent_span_id: PARENT, error_code: 'sightline_invalid_json' });
    const span = spanOf(stored.span_id);
    expect(span.status.code).toBe(2);
    expect(span.attributes['error.type']).toBe(stored.error_type || stored.error_code);
  });
});

describe('a call without a traceparent, tracing on', () => {
  it('starts a new trace: the upstream and the row get the same new ids, and the span is a root with cache tokens', async () => {
    const { res, upstream } = await call(gw, '/anthropic/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'Summarise the contract.' }] }, {
      'anthropic-version': '2023-06-01', 'x-mock-fixture': 'anthropic/messages-cache.json',
    });
    expect(res.status).toBe(200);
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(upstream.traceparent));
    expect(m).not.toBeNull();
    await ingest(gw);
    const stored = await row(res.headers.get('sightline-id')!);
    expect(stored).toMatchObject({ trace_id: m![1], span_id: m![2], parent_span_id: '', trace_sampled: true });
    const span = spanOf(m![2]!);
    expect(span).toMatchObject({ traceId: m![1], parentSpanId: '', name: 'chat claude-sonnet-4-5' });
    // input tokens include the cached ones, as the conventions ask.
    expect(span.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.usage.input_tokens': 21 + 188 + 2051,
      'gen_ai.usage.output_tokens': 17,
      'gen_ai.usage.cache_read.input_tokens': 2051,
      'gen_ai.usage.cache_creation.input_tokens': 188,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.request.max_tokens': 1024,
    });
  });

  it('an invalid traceparent restarts the trace, and the caller\'s tracestate, which belonged to it, is not sent on', async () => {
    const { upstream } = await call(gw, '/openai/v1/chat/completions', CHAT, { traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01`, tracestate: 'vendor=abc', baggage: 'tenant=acme' });
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(upstream.traceparent));
    expect(m?.[1]).not.toBe(TRACE);
    expect(upstream.tracestate).toBeUndefined();
    expect(upstream.baggage).toBe('tenant=acme');
    await ingest(gw);
    expect(spanOf(m![2]!).parentSpanId).toBe('');
  });

  it('a stream: gen_ai.request.stream and the time to the first chunk', async () => {
    const { upstream } = await call(gw, '/openai/v1/chat/completions', { ...CHAT, stream: true });
    const spanId = String(upstream.traceparent).split('-')[2]!;
    await ingest(gw);
    const span = spanOf(spanId);
    expect(span.attributes['gen_ai.request.stream']).toBe(true);
    // The id comes from the stream's chunks (the ledger reads it; the stored body of a stream is its text).
    expect(span.attributes['gen_ai.response.id']).toMatch(/^chatcmpl-/);
    expect(span.attributes['gen_ai.response.time_to_first_chunk']).toEqual(expect.any(Number));
    expect(span.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
  });
});

describe('tracing off', () => {
  it('without a traceparent nothing happens: no header upstream, no ids, no trace fields in the exchange', async () => {
    const { res, upstream } = await call(off, '/openai/v1/chat/completions', CHAT);
    expect(res.status).toBe(200);
    expect(upstream.traceparent).toBeUndefined();
    const written = off.written.at(-1)!;
    expect(written).toMatchObject({ trace_id: '', span_id: '' });
    expect(JSON.stringify({ ...written, request_body: undefined, response_body: undefined })).not.toMatch(/parent_span_id|trace_sampled/);
    const spans = receiver.spans.length;
    await ingest(off);
    expect((await row(res.headers.get('sightline-id')!))).toMatchObject({ trace_id: '', span_id: '', parent_span_id: '', trace_sampled: false });
    expect(receiver.spans.length).toBe(spans);
  });

  it('with a traceparent the call is still a child span propagated upstream, sampled as the caller decided', async () => {
    const { res, upstream } = await call(off, '/openai/v1/chat/completions', CHAT, { traceparent: `00-${TRACE}-${PARENT}-00` });
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(String(upstream.traceparent));
    expect(m?.[1]).toBe(TRACE);
    const spans = receiver.spans.length;
    await ingest(off);
    expect(await row(res.headers.get('sightline-id')!)).toMatchObject({ trace_id: TRACE, span_id: m![2], parent_span_id: PARENT, trace_sampled: false });
    // Not sampled by the caller: no span, even though this ingest exports.
    expect(receiver.spans.length).toBe(spans);
  });
});

describe('a realtime session', () => {
  it('is a span of the caller\'s trace: the upstream handshake carries traceparent naming it, the session\'s row the ids', async () => {
    const upstream = await startRealtimeUpstream();
    const rt = await startTestGateway({ env: { SIGHTLINE_UPSTREAM_OPENAI: upstream.url, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_METRICS_EXPORTER: 'none' } });
    try {
      const ws = new WebSocket(`${rt.url.replace(/^http/, 'ws')}/openai/v1/realtime?model=gpt-realtime`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.close(1000);
      const [event] = await rt.waitForEvents(1);
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(upstream.handshakes.at(-1)!.headers.traceparent));
      expect(m?.[1]).toBe(TRACE);
      expect(event).toMatchObject({ endpoint: 'realtime', trace_id: TRACE, span_id: m![2], parent_span_id: PARENT, trace_sampled: true });
    } finally {
      await rt.close();
      await upstream.close();
    }
  });
});

describe('metrics', () => {
  it('ingest records the GenAI client metrics; the proxy exports its own counters (on shutdown at the latest)', async () => {
    const before = receiver.metrics.length;
    await telemetry.flush();
    const fromIngest = receiver.metrics.slice(before);
    const usage = fromIngest.find((m) => m.name === 'gen_ai.client.token.usage')!;
    const input = usage.points.find((p) => p.attributes['gen_ai.token.type'] === 'input' && p.attributes['gen_ai.provider.name'] === 'anthropic')!;
    expect(input).toMatchObject({ count: 1, sum: 21 + 188 + 2051 });
    expect(fromIngest.find((m) => m.name === 'gen_ai.client.operation.duration')!.points.some((p) => p.attributes['error.type'] !== undefined)).toBe(true);
    expect(fromIngest.find((m) => m.name === 'gen_ai.client.operation.time_to_first_chunk')).toBeDefined();

    await gw.close();
    gwClosed = true;
    const proxy = receiver.metrics.filter((m) => m.name === 'sightline.proxy.requests' && m.resource['sightline.component'] === 'proxy').at(-1)!;
    expect(proxy.kind).toBe('sum');
    const byOutcome = Object.fromEntries(proxy.points.map((p) => [p.attributes.outcome, p.value]));
    expect(byOutcome).toMatchObject({ completed: 5, rejected: 1 });
  });
});
