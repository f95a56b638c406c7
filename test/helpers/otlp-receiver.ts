// An OTLP/HTTP receiver for tests: a node:http server taking POST /v1/traces and /v1/metrics in both encodings the
// spec defines, JSON and protobuf. The OpenTelemetry JS packages ship a protobuf writer but no definitions to
// decode with, so protobuf is read here by a small wire-format decoder over the subset of the OTLP messages the
// tests look at. Both encodings come out in one shape (the OTLP JSON mapping: camelCase, hex ids), then simplified.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 3 = CLIENT. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  resource: Record<string, unknown>;
}

export interface MetricPoint {
  attributes: Record<string, unknown>;
  /** Sum / gauge value. */
  value?: number;
  /** Histogram count, sum, bounds and bucket counts. */
  count?: number;
  sum?: number;
  bounds?: number[];
  buckets?: number[];
}

export interface ReceivedMetric {
  name: string;
  unit: string;
  kind: 'histogram' | 'sum' | 'gauge';
  points: MetricPoint[];
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** Base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
  url: string;
  spans: ReceivedSpan[];
  metrics: ReceivedMetric[];
  /** Content types of the requests received, per path. */
  contentTypes: Map<string, Set<string>>;
  waitForSpans(n: number, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

// --- protobuf wire format ---------------------------------------------------------------------------------------

type Scalar = 'string' | 'bytes' | 'hex' | 'varint' | 'bool' | 'fixed64' | 'sfixed64' | 'fixed32' | 'double';
interface Field { name: string; type: Scalar | Schema; repeated?: boolean }
type Schema = { [field: number]: Field };
type Decoded = Record<string, unknown>;

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(n: number): Buffer {
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function scalar(type: Scalar, r: Reader, wire: number): unknown {
  switch (type) {
    case 'varint': return Number(r.varint());
    case 'bool': return r.varint() !== 0n;
    case 'fixed64': return r.bytes(8).readBigUInt64LE().toString();
    case 'sfixed64': return Number(r.bytes(8).readBigInt64LE());
    case 'fixed32': return r.bytes(4).readUInt32LE();
    case 'double': return r.bytes(8).readDoubleLE();
    default: {
      if (wire !== 2) throw new Error(`field of type ${type} with wire type ${wire}`);
      const b = r.bytes(Number(r.varint()));
      return type === 'string' ? b.toString('utf8') : type === 'hex' ? b.toString('hex') : b.toString('base64');
    }
  }
}

function decode(buf: Buffer, schema: Schema): Decoded {
  const r = new Reader(buf);
  const out: Decoded = {};
  while (r.pos < buf.length) {
    const tag = Number(r.varint());
    const [num, wire] = [tag >>> 3, tag & 7];
    const field = schema[num];
    if (field === undefined) {
      // Skip fields the tests do not read.
      if (wire === 0) r.varint();
      else if (wire === 1) r.bytes(8);
      else if (wire === 5) r.bytes(4);
      else if (wire === 2) r.bytes(Number(r.varint()));
      else throw new Error(`wire type ${wire}`);
      continue;
    }
    const values: unknown[] = [];
    if (typeof field.type === 'object') values.push(decode(r.bytes(Number(r.varint())), field.type));
    else if (wire === 2 && field.repeated && field.type !== 'string' && field.type !== 'bytes' && field.type !== 'hex') {
      // A packed repeated scalar.
      const inner = new Reader(r.bytes(Number(r.varint())));
      while (inner.pos < inner.buf.length) values.push(scalar(field.type, inner, field.type === 'fixed64' || field.type === 'double' ? 1 : 0));
    } else values.push(scalar(field.type, r, wire));
    if (field.repeated) out[field.name] = [...((out[field.name] as unknown[] | undefined) ?? []), ...values];
    else out[field.name] = values[0];
  }
  return out;
}

const ANY_VALUE: Schema = {};
const KEY_VALUE: Schema = { 1: { name: 'key', type: 'string' }, 2: { name: 'value', type: ANY_VALUE } };
Object.assign(ANY_VALUE, {
  1: { name: 'stringValue', type: 'string' },
  2: { name: 'boolValue', type: 'bool' },
  3: { name: 'intValue', type: 'varint' },
  4: { name: 'doubleValue', type: 'double' },
  5: { name: 'arrayValue', type: { 1: { name: 'values', type: ANY_VALUE, repeated: true } } },
  6: { name: 'kvlistValue', type: { 1: { name: 'values', type: KEY_VALUE, repeated: true } } },
  7: { name: 'bytesValue', type: 'bytes' },
} satisfies Schema);
const ATTRIBUTES = (n: number): Schema => ({ [n]: { name: 'attributes', type: KEY_VALUE, repeated: true } });
const RESOURCE: Field = { name: 'resource', type: ATTRIBUTES(1) };
const SPAN: Schema = {
  1: { name: 'traceId', type: 'hex' },
  2: { name: 'spanId', type: 'hex' },
  4: { name: 'parentSpanId', type: 'hex' },
  5: { name: 'name', type: 'string' },
  6: { name: 'kind', type: 'varint' },
  7: { name: 'startTimeUnixNano', type: 'fixed64' },
  8: { name: 'endTimeUnixNano', type: 'fixed64' },
  ...ATTRIBUTES(9),
  15: { name: 'status', type: { 2: { name: 'message', type: 'string' }, 3: { name: 'code', type: 'varint' } } },
};
const TRACES_REQUEST: Schema = {
  1: { name: 'resourceSpans', repeated: true, type: { 1: RESOURCE, 2: { name: 'scopeSpans', repeated: true, type: { 2: { name: 'spans', type: SPAN, repeated: true } } } } },
};
const NUMBER_POINT: Schema = { ...ATTRIBUTES(7), 4: { name: 'asDouble', type: 'double' }, 6: { name: 'asInt', type: 'sfixed64' } };
const HISTOGRAM_POINT: Schema = {
  ...ATTRIBUTES(9),
  4: { name: 'count', type: 'fixed64' },
  5: { name: 'sum', type: 'double' },
  6: { name: 'bucketCounts', type: 'fixed64', repeated: true },
  7: { name: 'explicitBounds', type: 'double', repeated: true },
};
const points = (point: Schema): Schema => ({ 1: { name: 'dataPoints', type: point, repeated: true } });
const METRIC: Schema = {
  1: { name: 'name', type: 'string' },
  3: { name: 'unit', type: 'string' },
  5: { name: 'gauge', type: points(NUMBER_POINT) },
  7: { name: 'sum', type: points(NUMBER_POINT) },
  9: { name: 'histogram', type: points(HISTOGRAM_POINT) },
};
const METRICS_REQUEST: Schema = {
  1: { name: 'resourceMetrics', repeated: true, type: { 1: RESOURCE, 2: { name: 'scopeMetrics', repeated: true, type: { 2: { name: 'metrics', type: METRIC, repeated: true } } } } },
};

// --- the OTLP JSON shape, simplified ----------------------------------------------------------------------------

type Obj = Record<string, unknown>;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});
const toNum = (v: unknown): number => (typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : 0);

function anyValue(v: Obj): unknown {
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return toNum(v.intValue);
  if ('doubleValue' in v) return toNum(v.doubleValue);
  if ('arrayValue' in v) return list(obj(v.arrayValue).values).map(anyValue);
  return undefined;
}

function attributes(v: unknown): Record<string, unknown> {
  return Object.fromEntries(list(v).map((kv) => [String(kv.key), anyValue(obj(kv.value))]));
}

/** JSON encodes ids as hex (the OTLP JSON mapping); an empty parent id may be absent or ''. */
const hex = (v: unknown): string => (typeof v === 'string' ? v : '');

function spansOf(req: Obj): ReceivedSpan[] {
  return list(req.resourceSpans).flatMap((rs) => {
    const resource = attributes(obj(rs.resource).attributes);
    return list(rs.scopeSpans).flatMap((ss) => list(ss.spans).map((s) => ({
      traceId: hex(s.traceId),
      spanId: hex(s.spanId),
      parentSpanId: hex(s.parentSpanId),
      name: String(s.name),
      kind: toNum(s.kind),
      startNs: BigInt(String(s.startTimeUnixNano ?? 0)),
      endNs: BigInt(String(s.endTimeUnixNano ?? 0)),
      attributes: attributes(s.attributes),
      status: { code: toNum(obj(s.status).code), message: String(obj(s.status).message ?? '') },
      resource,
    })));
  });
}

function metricsOf(req: Obj): ReceivedMetric[] {
  return list(req.resourceMetrics).flatMap((rm) => {
    const resource = attributes(obj(rm.resource).attributes);
    return list(rm.scopeMetrics).flatMap((sm) => list(sm.metrics).map((m): ReceivedMetric => {
      const kind = m.histogram !== undefined ? 'histogram' : m.sum !== undefined ? 'sum' : 'gauge';
      const data = obj(m[kind]);
      return {
        name: String(m.name),
        unit: String(m.unit ?? ''),
        kind,
        resource,
        points: list(data.dataPoints).map((p) => kind === 'histogram'
          ? { attributes: attributes(p.attributes), count: toNum(p.count), sum: toNum(p.sum), bounds: list(p.explicitBounds).map(toNum), buckets: list(p.bucketCounts).map(toNum) }
          : { attributes: attributes(p.attributes), value: toNum(p.asDouble ?? p.asInt) }),
      };
    }));
  });
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  const contentTypes = new Map<string, Set<string>>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      const path = req.url ?? '';
      if (!contentTypes.has(path)) contentTypes.set(path, new Set());
      contentTypes.get(path)!.add(type);
      const json = type.includes('json');
      try {
        if (req.method === 'POST' && path === '/v1/traces') spans.push(...spansOf(json ? JSON.parse(body.toString('utf8')) as Obj : decode(body, TRACES_REQUEST)));
        else if (req.method === 'POST' && path === '/v1/metrics') metrics.push(...metricsOf(json ? JSON.parse(body.toString('utf8')) as Obj : decode(body, METRICS_REQUEST)));
        else {
          res.writeHead(404).end();
          return;
        }
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end((err as Error).message);
        return;
      }
      // An empty ExportServiceResponse: a full success in either encoding.
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    metrics,
    contentTypes,
    async waitForSpans(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (spans.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} spans, got ${spans.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return spans;
    },
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
