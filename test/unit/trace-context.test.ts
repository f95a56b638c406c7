// W3C Trace Context on the request path (proxy/trace.ts): the traceparent parser against the spec's rules, the
// samplers, and what the proxy decides per call with tracing on and off.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../config/index.ts';
import { metricsUrl, parseKeyValues, traceUrl, tracesUrl } from '../../config/tracing.ts';
import { createSampler, createTraceStarter, newSpanId, newTraceId, parseTraceparent, traceparentOf } from '../../proxy/trace.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const valid = `00-${TRACE}-${PARENT}-01`;

const tracing = (env: Record<string, string>) => parseConfig(undefined, env).tracing;

describe('parseTraceparent', () => {
  it('reads a version 00 header', () => {
    expect(parseTraceparent(valid)).toEqual({ traceId: TRACE, parentId: PARENT, flags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.flags).toBe(0);
  });

  it.each([
    ['missing', undefined],
    ['several headers', [valid, valid]],
    ['too short', `00-${TRACE}-${PARENT}-1`],
    ['version 00 with more after it', `${valid}-extra`],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['uppercase hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['not hex', `00-${TRACE.slice(0, 31)}g-${PARENT}-01`],
    ['wrong separators', `00_${TRACE}-${PARENT}-01`],
    ['non-hex flags', `00-${TRACE}-${PARENT}-0x`],
    ['a later version followed by no dash', `01-${TRACE}-${PARENT}-01x`],
  ])('refuses %s', (_what, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it('reads the first four fields of a later version, as the spec asks for forward compatibility', () => {
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-holds`)).toEqual({ traceId: TRACE, parentId: PARENT, flags: 1 });
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-03`)?.flags).toBe(3);
  });
});

describe('ids', () => {
  it('are lowercase hex of the right length, never all zeros, and do not repeat', () => {
    const spans = new Set(Array.from({ length: 2000 }, newSpanId));
    expect(spans.size).toBe(2000);
    for (const id of spans) expect(id).toMatch(/^[0-9a-f]{16}$/);
    const traces = Array.from({ length: 600 }, newTraceId);
    expect(new Set(traces).size).toBe(600);
    for (const id of traces) expect(id).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
  });
});

describe('samplers', () => {
  const parent = (flags: number) => ({ traceId: TRACE, parentId: PARENT, flags });

  it('parent-based ones follow the parent\'s sampled flag and decide roots themselves', () => {
    expect(createSampler('parentbased_always_on', 1)(TRACE, parent(0))).toBe(false);
    expect(createSampler('parentbased_always_on', 1)(TRACE, parent(1))).toBe(true);
    expect(createSampler('parentbased_always_on', 1)(TRACE, undefined)).toBe(true);
    expect(createSampler('parentbased_always_off', 1)(TRACE, undefined)).toBe(false);
    expect(createSampler('parentbased_always_off', 1)(TRACE, parent(1))).toBe(true);
    expect(createSampler('always_off', 1)(TRACE, parent(1))).toBe(false);
  });

  it('traceidratio samples that share of trace ids, the same way for the same id', () => {
    const ratio = createSampler('traceidratio', 0.25);
    const ids = Array.from({ length: 4000 }, newTraceId);
    const share = ids.filter((id) => ratio(id, undefined)).length / ids.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
    for (const id of ids.slice(0, 50)) expect(ratio(id, undefined)).toBe(ratio(id, undefined));
    expect(createSampler('traceidratio', 0)(TRACE, undefined)).toBe(false);
    expect(createSampler('traceidratio', 1)(TRACE, undefined)).toBe(true);
    // Not parent-based: the ratio decides even under a sampled parent.
    expect(ids.filter((id) => createSampler('traceidratio', 0)(id, parent(1))).length).toBe(0);
    const based = createSampler('parentbased_traceidratio', 0);
    expect(based(TRACE, parent(1))).toBe(true);
    expect(based(TRACE, undefined)).toBe(false);
  });
});

describe('createTraceStarter', () => {
  const on = createTraceStarter(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }));
  const off = createTraceStarter(tracing({}));

  it('tracing off and no traceparent: nothing at all', () => {
    expect(off({})).toBeUndefined();
    expect(off({ traceparent: 'garbage' })).toBeUndefined();
  });

  it('tracing off with a traceparent: a child span of the caller\'s, sampled as the caller decided', () => {
    const t = off({ traceparent: `00-${TRACE}-${PARENT}-00` })!;
    expect(t).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, sampled: false, flags: 0 });
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(t.spanId).not.toBe(PARENT);
    expect(traceparentOf(t)).toBe(`00-${TRACE}-${t.spanId}-00`);
  });

  it('tracing on: a child of a valid parent, else a new root trace, sampled by the configured sampler', () => {
    const child = on({ traceparent: valid })!;
    expect(child).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, sampled: true });
    const root = on({})!;
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(root).toMatchObject({ parentSpanId: '', sampled: true, flags: 1 });
    // An invalid traceparent restarts the trace.
    expect(on({ traceparent: `00-${TRACE}-${PARENT}` })).toMatchObject({ parentSpanId: '', sampled: true });
    const never = createTraceStarter(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_SAMPLER: 'always_off' }));
    expect(never({ traceparent: valid })).toMatchObject({ traceId: TRACE, sampled: false, flags: 0 });
  });

  it('keeps the caller\'s other flag bits (level 2 random-trace-id) and sets only the sampled bit', () => {
    expect(on({ traceparent: `00-${TRACE}-${PARENT}-02` })).toMatchObject({ sampled: false, flags: 2 });
    const t = on({ traceparent: `00-${TRACE}-${PARENT}-03` })!;
    expect(traceparentOf(t)).toBe(`00-${TRACE}-${t.spanId}-03`);
  });

  it('OTEL_SDK_DISABLED switches starting traces off, endpoint or not', () => {
    const disabled = createTraceStarter(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }));
    expect(disabled({})).toBeUndefined();
  });
});

describe('the tracing config', () => {
  it('maps the standard OTEL_* variables, environment over the YAML', () => {
    const t = parseConfig('tracing:\n  service_name: from-yaml\n  sampler: always_off\n  trace_url_template: "http://jaeger:16686/trace/{trace_id}"\n', {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=acme',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.version=1.2',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    }).tracing;
    expect(t).toMatchObject({
      service_name: 'from-yaml',
      headers: { authorization: 'Bearer abc', 'x-tenant': 'acme' },
      resource_attributes: { 'deployment.environment': 'prod', 'service.version': '1.2' },
      sampler: 'parentbased_traceidratio',
      sampler_arg: 0.25,
      capture_message_content: true,
      protocol: 'http/json',
    });
    expect(tracesUrl(t)).toBe('http://collector:4318/v1/traces');
    expect(metricsUrl(t)).toBe('http://collector:4318/v1/metrics');
    expect(traceUrl(t, TRACE, PARENT)).toBe(`http://jaeger:16686/trace/${TRACE}`);
    expect(traceUrl(t, '')).toBeUndefined();
  });

  it('signal endpoints are used as they are; none means off', () => {
    const t = tracing({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/otlp/v1/traces' });
    expect(tracesUrl(t)).toBe('http://tempo:4318/otlp/v1/traces');
    expect(metricsUrl(t)).toBeUndefined();
    expect(tracesUrl(tracing({}))).toBeUndefined();
    expect(metricsUrl(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRICS_EXPORTER: 'none' }))).toBeUndefined();
  });

  it('names the field of a bad value', () => {
    expect(() => parseConfig(undefined, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/tracing\.protocol/);
    expect(() => parseConfig(undefined, { OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(ConfigError);
    expect(() => parseConfig(undefined, { OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/tracing\.sampler_arg/);
    expect(() => parseConfig('tracing:\n  trace_url_template: "http://jaeger/trace"\n', {})).toThrow(/trace_url_template/);
  });

  it('parses k=v lists as the spec defines them', () => {
    expect(parseKeyValues('a=1, b = x%3Dy ,broken,=nokey,c=%E0%A4%A')).toEqual({ a: '1', b: 'x=y', c: '%E0%A4%A' });
  });
});
