// W3C Trace Context on the request path: the caller's `traceparent` is read, the call gets its own span id, and
// `traceparent` goes upstream naming that span. Nothing else happens here: the span itself is built and exported
// by ingest from the stored row (otel/), which has the exact tokens and cost the proxy never computes. So this
// costs a header check and, for a traced call, one 55-character parse and one id from a pooled random buffer.
// `tracestate` and `baggage` are not touched: they travel upstream as the caller sent them.
import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { TracingConfig } from '../config/tracing.ts';
import { tracesUrl } from '../config/tracing.ts';

/** The call's place in a trace, decided when it arrives. */
export interface TraceContext {
  traceId: string;
  /** The proxy's own span: the parent named in the traceparent sent upstream. */
  spanId: string;
  /** The caller's span ('' when the proxy started the trace). */
  parentSpanId: string;
  /** trace-flags as sent upstream (bit 0: sampled). */
  flags: number;
  sampled: boolean;
}

export interface Traceparent {
  traceId: string;
  parentId: string;
  flags: number;
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const DASH = 0x2d;
const SAMPLED = 0x01;

/** Value of a lowercase hex digit by char code, -1 otherwise (the spec allows no uppercase). */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x61 + i] = 10 + i;

function hexAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c < 128 ? HEX[c]! : -1;
}

function isHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (hexAt(s, i) < 0) return false;
  return true;
}

/**
 * Parses a traceparent header as W3C Trace Context says: version 00 is exactly `00-<32 hex>-<16 hex>-<2 hex>`
 * with neither id all zeros; a later version (not ff) may carry more after a dash, and its first four fields are
 * read the same way. Anything else is undefined (then a traced proxy starts a new trace).
 */
export function parseTraceparent(v: string | string[] | undefined): Traceparent | undefined {
  // Several traceparent headers are invalid; Node hands repeated unknown headers over as one joined string anyway.
  if (typeof v !== 'string' || v.length < 55) return undefined;
  const hi = hexAt(v, 0);
  const lo = hexAt(v, 1);
  if (hi < 0 || lo < 0) return undefined;
  const version = hi * 16 + lo;
  if (version === 0xff) return undefined;
  if (version === 0 ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== DASH) return undefined;
  if (v.charCodeAt(2) !== DASH || v.charCodeAt(35) !== DASH || v.charCodeAt(52) !== DASH) return undefined;
  if (!isHex(v, 3, 35) || !isHex(v, 36, 52) || !isHex(v, 53, 55)) return undefined;
  const traceId = v.slice(3, 35);
  const parentId = v.slice(36, 52);
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, flags: hexAt(v, 53) * 16 + hexAt(v, 54) };
}

// Ids come from one random buffer refilled when used up: one getrandom call per 256 span ids, not one per id.
const pool = Buffer.allocUnsafe(4096);
let poolAt = pool.length;

function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (poolAt + bytes > pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    const id = pool.toString('hex', poolAt, poolAt + bytes);
    poolAt += bytes;
    if (id !== zero) return id; // an all-zero id is invalid (odds 2^-64, but cheap to rule out)
  }
}

export const newSpanId = (): string => randomHex(8, ZERO_SPAN);
export const newTraceId = (): string => randomHex(16, ZERO_TRACE);

/** Whether a trace is sampled: from its id (deterministic, so every hop decides alike) and the caller's flag. */
export type Sampler = (traceId: string, parent: Traceparent | undefined) => boolean;

/** The ratio decision on the trace id's last 13 hex digits (52 bits, exact as a double; the random part of a W3C id). */
function byRatio(ratio: number): (traceId: string) => boolean {
  const bound = ratio * 2 ** 52;
  return (traceId) => parseInt(traceId.slice(19), 16) < bound;
}

export function createSampler(name: TracingConfig['sampler'], arg: number): Sampler {
  const ratio = byRatio(arg);
  const parentSampled = (p: Traceparent) => (p.flags & SAMPLED) !== 0;
  switch (name) {
    case 'always_on': return () => true;
    case 'always_off': return () => false;
    case 'traceidratio': return (id) => ratio(id);
    case 'parentbased_always_on': return (_id, p) => (p ? parentSampled(p) : true);
    case 'parentbased_always_off': return (_id, p) => (p ? parentSampled(p) : false);
    case 'parentbased_traceidratio': return (id, p) => (p ? parentSampled(p) : ratio(id));
  }
}

/** Decides a call's trace from its headers: undefined when there is nothing to do. */
export type TraceStarter = (headers: IncomingHttpHeaders) => TraceContext | undefined;

/**
 * With tracing on (an OTLP traces endpoint configured), every call is traced: a child of the caller's span, else
 * the root of a new trace, sampled as the sampler says. With tracing off, a call that brought a valid traceparent
 * still gets its span id and is propagated (the row then links to the app's trace, sampled as the app decided);
 * one without does nothing at all.
 */
export function createTraceStarter(tracing: TracingConfig): TraceStarter {
  const enabled = tracesUrl(tracing) !== undefined;
  const sampler = enabled ? createSampler(tracing.sampler, tracing.sampler_arg) : undefined;
  return (headers) => {
    const raw = headers.traceparent;
    if (raw === undefined && !enabled) return undefined;
    const parent = parseTraceparent(raw);
    if (parent === undefined && !enabled) return undefined;
    const traceId = parent?.traceId ?? newTraceId();
    const sampled = sampler ? sampler(traceId, parent) : (parent!.flags & SAMPLED) !== 0;
    // Flags other than sampled (e.g. level 2's random-trace-id bit) are kept as the caller set them.
    const flags = ((parent?.flags ?? 0) & ~SAMPLED) | (sampled ? SAMPLED : 0);
    return { traceId, spanId: newSpanId(), parentSpanId: parent?.parentId ?? '', flags, sampled };
  };
}

/** The traceparent sent upstream: the call's trace, the proxy's span as the parent. */
export function traceparentOf(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags < 16 ? '0' : ''}${t.flags.toString(16)}`;
}
