// Native output for clickhouse-go v2 over HTTP (Grafana's ClickHouse datasource in HTTP mode).
//
// clickhouse-go itself cannot run here (no Go toolchain that can fetch modules), so the client side is this
// file: requests shaped as its conn_http.go sends them, and a decoder that reads the block layout per
// ClickHouse's native-protocol spec (BlockInfo when revision > 0, a custom-serialization byte when
// revision >= 54454), the way its lib/proto/block.go does. Column data is checked against chDB's own output of
// each column queried alone, so the split of a multi-column block does not rest on the code under test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request, type IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseHttp, type ClickHouseHttpServer } from '../../analytics/http-server.ts';
import { migrate } from '../../analytics/migrate.ts';
import { cityHash128 } from '../../analytics/native-compress.ts';
import { NativeFormatError, nativeForRevision, parseTypeName, readNativeBlocks, writeNativeBlocks } from '../../analytics/native.ts';
import { createWriter } from '../../ingest/writer.ts';
import { freshClickHouse, type TestClickHouse } from '../helpers/clickhouse.ts';
import { makeEvent } from '../helpers/events.ts';

const embeddedOnly = Boolean(process.env.CLICKHOUSE_URL);

// clickhouse-go v2: client_info.go ClientTCPProtocolVersion = proto.DBMS_TCP_PROTOCOL_VERSION = 54460.
const CLICKHOUSE_GO_REVISION = 54460;
const BLOCK_INFO_SPEC = Buffer.from([1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0]);

const COLUMNS = `
  u32 UInt32, u8 UInt8, u16 UInt16, u64 UInt64, i8 Int8, i16 Int16, i32 Int32, i64 Int64, i128 Int128, u256 UInt256,
  f32 Float32, f64 Float64, b Bool, s String, fs FixedString(3),
  d Date, d32 Date32, dt DateTime, dtz DateTime('Europe/Berlin'), dt64 DateTime64(3), dt64z DateTime64(6, 'UTC'),
  uuid UUID, dec Decimal(10, 2), dec18 Decimal(18, 4), dec38 Decimal(38, 10), dec76 Decimal(50, 5),
  ns Nullable(String), ni Nullable(Int32), nd Nullable(DateTime64(3, 'UTC')),
  ai Array(UInt32), ans Array(Nullable(String)), aa Array(Array(String)),
  m Map(String, UInt64), mlc Map(LowCardinality(String), Array(String)),
  t Tuple(UInt8, String), nt Tuple(a String, b Nullable(Float64)),
  lc LowCardinality(String), lcn LowCardinality(Nullable(String)), alc Array(LowCardinality(String)), lcfs LowCardinality(FixedString(2)),
  e8 Enum8('a' = 1, 'b,c' = 2, 'd''e(' = -3), e16 Enum16('x' = 1000, 'y' = -1000),
  ip4 IPv4, ip6 IPv6, pt Point, ring Ring, saf SimpleAggregateFunction(sum, UInt64)`;

const ROWS = `
  (1, 255, 65535, 18446744073709551615, -128, -32768, -2147483648, -9223372036854775808, -170141183460469231731687303715884105728, 115792089237316195423570985008687907853269984665640564039457584007913129639935,
   1.5, -2.25, true, 'héllo\\tworld', 'abc', '2024-02-29', '1900-01-01', '2024-05-06 07:08:09', '2024-05-06 07:08:09', '2024-05-06 07:08:09.123', '2024-05-06 07:08:09.123456',
   '5b0d2a7e-6f6e-4c1a-9a6b-2f0f4a1b2c3d', 12345678.91, -12345678901234.5678, 1234567890123456789012345678.0123456789, -123456789012345678901234567890123456789012345.12345,
   'x', -5, '2024-01-01 00:00:00.001', [1, 2, 3], ['a', NULL, ''], [['x'], [], ['y', 'z']],
   {'k1': 1, 'k2': 2}, {'lk': ['v1', 'v2']}, (7, 'seven'), ('named', 0.5),
   'red', 'maybe', ['p', 'q', 'p'], 'zz', 'b,c', 'y', '10.0.0.1', '2001:db8::1', (1.5, -2.5), [(0, 0), (1, 1)], 42),
  (2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, false, '', '', '1970-01-01', '2299-12-31', '1970-01-01 00:00:01', '2000-01-01 00:00:00', '1970-01-01 00:00:00.000', '2100-01-01 00:00:00.000001',
   '00000000-0000-0000-0000-000000000000', 0, 0, 0, 0,
   NULL, NULL, NULL, [], [], [], {}, {}, (0, ''), ('', NULL),
   '', NULL, [], 'ab', 'a', 'x', '0.0.0.0', '::', (0, 0), [], 0),
  (3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3.25, 1e300, true, repeat('long ', 40), 'xyz', '2024-12-31', '2024-12-31', '2024-12-31 23:59:59', '2024-12-31 23:59:59', '2024-12-31 23:59:59.999', '2024-12-31 23:59:59.999999',
   'ffffffff-ffff-ffff-ffff-ffffffffffff', -0.01, 0.0001, -1, 1,
   'y', 2147483647, '2024-06-01 12:00:00.500', [4294967295], [NULL], [[]], {'': 0}, {'a': [], 'b': ['c']}, (255, 'x'), ('n', -1e-9),
   'red', 'maybe', [], 'ab', 'd''e(', 'x', '255.255.255.255', 'ffff::ffff', (-1, 1), [(2, 3)], 18446744073709551615)`;

let ch: TestClickHouse;
let http: ClickHouseHttpServer;
let base: string;
let tmp: string;
let COLUMN_NAMES: string[];
const minute = 60_000;
const start = Math.floor(Date.now() / minute) * minute - 10 * minute;
const events = [0, 0, 1, 3, 3, 3].map((m, i) => makeEvent({ created_at: new Date(start + m * minute + i * 1000).toISOString() }));

async function nativeOf(client: ClickHouseClient, sql: string): Promise<Buffer> {
  const result = await client.exec({ query: `${sql} FORMAT Native` });
  const chunks: Buffer[] = [];
  for await (const c of result.stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  if (embeddedOnly) return;
  ch = await freshClickHouse();
  await migrate(ch.client);
  await createWriter(ch.client).insert(events);
  await ch.client.command({ query: 'CREATE DATABASE native_test' });
  await ch.client.command({ query: `CREATE TABLE native_test.t (${COLUMNS}) ENGINE = MergeTree ORDER BY u32` });
  await ch.client.command({ query: `INSERT INTO native_test.t VALUES ${ROWS}` });
  COLUMN_NAMES = (await (await ch.client.query({ query: "SELECT name FROM system.columns WHERE database = 'native_test' AND table = 't' ORDER BY position", format: 'JSONEachRow' })).json<{ name: string }>()).map((r) => r.name);
  // 300 more rows, the rest copied from row 1: more than 255 distinct LowCardinality keys in one block need
  // UInt16 indexes; some all-NULL and all-empty stretches.
  const generators: Record<string, string> = {
    u32: 'toUInt32(number + 100)',
    s: 'toString(number)',
    lc: 'toString(number)',
    lcn: 'if(number % 3 = 0, NULL, toString(number % 7))',
    alc: 'arrayMap(x -> toString(x), range(number % 4))',
    ns: 'if(number % 2 = 0, NULL, toString(number))',
  };
  const generated = COLUMN_NAMES.map((c) => generators[c] ?? `(SELECT ${c} FROM native_test.t WHERE u32 = 1)`).join(', ');
  await ch.client.command({ query: `INSERT INTO native_test.t SELECT ${generated} FROM numbers(300)` });
  await ch.client.command({ query: 'OPTIMIZE TABLE native_test.t FINAL' });
  http = await startClickHouseHttp(ch.connect(), { host: '127.0.0.1', port: 0, readOnly: true });
  base = `http://127.0.0.1:${http.port}`;
  tmp = mkdtempSync(path.join(tmpdir(), 'sightline-native-'));
});
afterAll(async () => {
  if (embeddedOnly) return;
  await http.close();
  await ch.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Minimal reader for the test's side of the wire. */
class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  byte(): number { if (this.pos >= this.buf.length) throw new Error('EOF'); return this.buf[this.pos++]!; }
  varUInt(): number { let v = 0; for (let s = 0; ; s += 7) { const b = this.byte(); v += (b & 0x7f) * 2 ** s; if (!(b & 0x80)) return v; } }
  bytes(n: number): Buffer { if (this.pos + n > this.buf.length) throw new Error('EOF'); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b; }
  string(): string { return this.bytes(this.varUInt()).toString('utf8'); }
}

/** One column of `sql` queried alone over chDB: its name, type and data bytes, per block. */
function singleColumnBlocks(native: Buffer): { rows: number; name: string; type: string; data: Buffer }[] {
  // A one-column result of one block: everything after the header is that column's data.
  const r = new Reader(native);
  expect(r.varUInt()).toBe(1);
  const rows = r.varUInt();
  const name = r.string();
  const type = r.string();
  return [{ rows, name, type, data: native.subarray(r.pos) }];
}

/**
 * Walks a versioned Native stream per the protocol spec and returns it without BlockInfo and the
 * custom-serialization bytes. Column data lengths come from `dataLengths` (chDB's own per-column output).
 */
function stripVersioned(buf: Buffer, revision: number, dataLengths: number[][]): Buffer {
  const r = new Reader(buf);
  const out: Buffer[] = [];
  for (let block = 0; r.pos < buf.length; block++) {
    if (revision > 0) {
      const infoStart = r.pos;
      for (;;) {
        const field = r.varUInt();
        if (field === 0) break;
        if (field === 1) expect(r.byte()).toBe(0); // is_overflows
        else if (field === 2) expect(r.bytes(4).readInt32LE()).toBe(-1); // bucket_num
        else throw new Error(`unknown BlockInfo field ${field}`);
      }
      expect(buf.subarray(infoStart, r.pos)).toEqual(BLOCK_INFO_SPEC);
    }
    const headStart = r.pos;
    const columns = r.varUInt();
    const rows = r.varUInt();
    out.push(buf.subarray(headStart, r.pos));
    for (let c = 0; c < columns; c++) {
      const colStart = r.pos;
      r.string();
      r.string();
      out.push(buf.subarray(colStart, r.pos));
      if (revision >= 54454) expect(r.byte()).toBe(0);
      out.push(r.bytes(rows > 0 ? dataLengths[block]![c]! : 0));
    }
  }
  return Buffer.concat(out);
}

type Value = string | number | bigint | boolean | null;
/** Decodes the few types Grafana's health check and time series return, per block, for a versioned stream. */
function decodeVersioned(buf: Buffer, revision: number): { names: string[]; types: string[]; rows: Value[][] } {
  const r = new Reader(buf);
  const result = { names: [] as string[], types: [] as string[], rows: [] as Value[][] };
  while (r.pos < buf.length) {
    if (revision > 0) expect(r.bytes(BLOCK_INFO_SPEC.length)).toEqual(BLOCK_INFO_SPEC);
    const columns = r.varUInt();
    const rows = r.varUInt();
    const blockRows: Value[][] = Array.from({ length: rows }, () => []);
    result.names = [];
    result.types = [];
    for (let c = 0; c < columns; c++) {
      result.names.push(r.string());
      const type = r.string();
      result.types.push(type);
      if (revision >= 54454) expect(r.byte()).toBe(0);
      for (let i = 0; i < rows; i++) {
        let v: Value;
        if (type === 'String') v = r.string();
        else if (type === 'UInt8') v = r.byte();
        else if (type === 'UInt32') v = r.bytes(4).readUInt32LE();
        else if (type === 'UInt64') v = r.bytes(8).readBigUInt64LE();
        else if (/^DateTime(\(|$)/.test(type)) v = new Date(r.bytes(4).readUInt32LE() * 1000).toISOString();
        else if (/^DateTime64\(3/.test(type)) v = new Date(Number(r.bytes(8).readBigInt64LE())).toISOString();
        else throw new Error(`test decoder: no rule for ${type}`);
        blockRows[i]!.push(v);
      }
    }
    result.rows.push(...blockRows);
  }
  return result;
}

describe('CityHash128 v1.0.2', () => {
  // Expected values from ClickHouse's own CityHash_v1_0_2::CityHash128 (Debian's libclickhouse.so 18.16.1, called
  // through ctypes) over bytes (i * 31 + 7) & 0xff; they cover every length branch (<8, 8..15, 16..127 via
  // CityMurmur, >= 128 with and without a tail, several 128-byte rounds).
  const vectors: [number, string, string][] = [
    [0, '3df09dfc64c09a2b', '3cb540c392e51e29'],
    [7, 'd7ba2459ab7c2913', '53dd430b513ca460'],
    [12, '8450aab120e0ccdc', '8a990d2011469548'],
    [16, '3f3a3275564b7f48', 'b48a2a7a16bac60b'],
    [17, 'aee34bf68bb2e0a2', 'e0d6910555f00b87'],
    [127, 'c244dc8a06ce8c41', 'f30e2cf6b33629a6'],
    [128, 'ba863c0c70f32346', '24b156fc6f3c170a'],
    [255, 'c87d0f456f6a514b', 'f35b13ec94eb8a52'],
    [300, '0ad7d1f77d7e62c5', '0702d3372375ccf2'],
    [1000, '597ff4957972ad7e', '7f39a4abd7c010e1'],
    [4099, '286e2453ac5859e7', '1d1946f92861294f'],
  ];
  it('matches ClickHouse for every length branch', () => {
    for (const [n, low, high] of vectors) {
      const input = Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff));
      expect(cityHash128(input).map((h) => h.toString(16).padStart(16, '0')), `length ${n}`).toEqual([low, high]);
    }
  });
});

describe('type names', () => {
  it('parses nested, named, quoted and literal arguments', () => {
    expect(parseTypeName("Map(LowCardinality(String), Array(Nullable(DateTime64(3, 'UTC'))))")).toEqual({
      name: 'Map', args: [
        { kind: 'type', type: { name: 'LowCardinality', args: [{ kind: 'type', type: { name: 'String', args: [] } }] } },
        { kind: 'type', type: { name: 'Array', args: [{ kind: 'type', type: { name: 'Nullable', args: [{ kind: 'type', type: { name: 'DateTime64', args: [{ kind: 'literal', text: '3' }, { kind: 'literal', text: "'UTC'" }] } }] } }] } },
      ],
    });
    expect(parseTypeName("Enum8('a,)' = 1, 'b''c' = -2)").args).toEqual([{ kind: 'literal', text: "'a,)' = 1" }, { kind: 'literal', text: "'b''c' = -2" }]);
    expect(parseTypeName('Tuple(a String, `b c` Nullable(Float64))').args.map((a) => a.kind === 'type' && a.elementName)).toEqual(['a', '`b c`']);
    expect(() => parseTypeName('Array(String')).toThrow(NativeFormatError);
  });
});

describe.skipIf(embeddedOnly)('Native at a protocol revision, against chDB', () => {
  // A Native stream is blocks back to back, and chDB's own block sizes vary with parts and plans, so a
  // multi-block stream is made deterministic by concatenating one query per block (LIMIT/OFFSET ranges).
  // The expected data of each block × column is that column queried alone over the same rows.
  async function expectation(blockRows: number, totalRows = 303) {
    const range = (cols: string, offset: number) => `SELECT ${cols} FROM native_test.t ORDER BY u32 LIMIT ${Math.min(blockRows, totalRows - offset)} OFFSET ${offset}`;
    const parts: Buffer[] = [];
    const perBlock: { rows: number; name: string; type: string; data: Buffer }[][] = [];
    for (let offset = 0; offset < totalRows; offset += blockRows) {
      parts.push(await nativeOf(ch.client, range('*', offset)));
      const cols = [];
      for (const name of COLUMN_NAMES) cols.push(singleColumnBlocks(await nativeOf(ch.client, range(name, offset)))[0]!);
      perBlock.push(cols);
    }
    const full = Buffer.concat(parts);
    return { full, blocks: readNativeBlocks(full), perBlock, totalRows };
  }

  it('splits chDB output into the same column data as each column queried alone; rewrites it byte-identically', async () => {
    for (const [blockRows, rowLimit, blockCount] of [[303, 303, 1], [2, 12, 6]] as const) {
      const { full, blocks, perBlock } = await expectation(blockRows, rowLimit);
      // One block of 303 rows: 303 distinct LowCardinality keys need UInt16 indexes. Blocks of 2: one has only
      // empty arrays, so its Array(LowCardinality) writes no dictionary at all.
      expect(blocks.length).toBe(blockCount);
      blocks.forEach((block, b) => {
        expect(block.columns.map((c) => c.name)).toEqual(COLUMN_NAMES);
        expect(block.rows).toBe(perBlock[b]![0]!.rows);
        block.columns.forEach((col, c) => {
          expect(col.type).toBe(perBlock[b]![c]!.type);
          expect(col.data.equals(perBlock[b]![c]!.data), `block ${b} column ${col.name}`).toBe(true);
        });
      });
      expect(writeNativeBlocks(blocks, 0).equals(full)).toBe(true);
      expect(nativeForRevision(full, 0)).toBe(full);
    }
  });

  it('the versioned stream is the revision-0 stream plus exactly BlockInfo and custom-serialization bytes', async () => {
    const { full, perBlock } = await expectation(2, 12);
    const lengths = perBlock.map((cols) => cols.map((c) => c.data.length));
    for (const revision of [CLICKHOUSE_GO_REVISION, 54513, 54453, 54405]) {
      const versioned = nativeForRevision(full, revision);
      const blockCount = perBlock.length;
      const extra = blockCount * BLOCK_INFO_SPEC.length + (revision >= 54454 ? blockCount * COLUMN_NAMES.length : 0);
      expect(versioned.length - full.length).toBe(extra);
      expect(stripVersioned(versioned, revision, lengths).equals(full), `revision ${revision}`).toBe(true);
    }
    // Clients older than LowCardinality would need plain columns, which chDB cannot be asked for: refused.
    expect(() => nativeForRevision(full, 54404)).toThrow(/LowCardinality column/);
    // DateTime's time zone parameter is dropped for clients older than it, as a server does.
    const old = nativeForRevision(await nativeOf(ch.client, "SELECT toDateTime(0, 'UTC') AS x"), 54336);
    expect(old.includes(Buffer.from("DateTime('UTC')"))).toBe(false);
    expect(old.includes(Buffer.from('\x08DateTime'))).toBe(true);
  });

  it('the stripped versioned stream inserts back into chDB as the same rows', async () => {
    const { full, perBlock } = await expectation(303);
    const stripped = stripVersioned(nativeForRevision(full, CLICKHOUSE_GO_REVISION), CLICKHOUSE_GO_REVISION, perBlock.map((cols) => cols.map((c) => c.data.length)));
    const file = path.join(tmp, 'rows.native');
    writeFileSync(file, stripped);
    await ch.client.command({ query: `CREATE TABLE native_test.copy (${COLUMNS}) ENGINE = MergeTree ORDER BY u32` });
    await ch.client.command({ query: `INSERT INTO native_test.copy SELECT * FROM file('${file}', Native)` });
    const dump = async (table: string) => (await ch.client.query({ query: `SELECT * FROM native_test.${table} ORDER BY u32`, format: 'JSONEachRow' })).text();
    const original = await dump('t');
    expect(original.split('\n').length).toBe(304);
    expect(await dump('copy')).toBe(original);
  });

  it('refuses types whose encoding it cannot walk, with NOT_IMPLEMENTED', async () => {
    for (const sql of ['SELECT sumState(1) AS s', 'SELECT 1::Dynamic AS d', "SELECT 1::Variant(UInt8, String) AS v"]) {
      const native = await nativeOf(ch.client, sql);
      expect(() => nativeForRevision(native, CLICKHOUSE_GO_REVISION), sql).toThrow(NativeFormatError);
    }
    // Truncated data fails loudly instead of producing a short block.
    const native = await nativeOf(ch.client, 'SELECT number, toString(number) FROM numbers(10)');
    expect(() => nativeForRevision(native.subarray(0, native.length - 3), CLICKHOUSE_GO_REVISION)).toThrow(/ends early/);
  });
});

describe.skipIf(embeddedOnly)('over HTTP, as clickhouse-go v2 asks', () => {
  // conn_http.go: POST, query in the body, default_format=Native and client_protocol_version in the URL,
  // credentials in X-ClickHouse-User/Key; Grafana configures gzip, so Accept-Encoding: gzip.
  async function goQuery(sql: string, params: Record<string, string> = {}) {
    const qs = new URLSearchParams({ client_protocol_version: String(CLICKHOUSE_GO_REVISION), database: 'default', default_format: 'Native', ...params });
    const headers = { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': '', 'User-Agent': 'clickhouse-datasource/4.0 clickhouse-go/2.40 (lv:go/1.24; os:linux)', 'Accept-Encoding': 'gzip' };
    // node:http, not fetch: fetch would undo the gzip itself and hide whether it was applied.
    const res = await new Promise<IncomingMessage & { raw: Buffer }>((resolve, reject) => {
      const req = request(`${base}/?${qs}`, { method: 'POST', headers }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve(Object.assign(r, { raw: Buffer.concat(chunks) })));
      });
      req.on('error', reject);
      req.end(sql);
    });
    const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(res.raw) : res.raw;
    return { status: res.statusCode, header: (name: string) => res.headers[name] as string | undefined, body };
  }

  it('answers the connection hello and ping with versioned blocks', async () => {
    const hello = await goQuery('SELECT displayName(), version(), revision(), timezone()');
    expect(hello.status).toBe(200);
    expect(hello.header('x-clickhouse-format')).toBe('Native');
    expect(hello.header('content-type')).toBe('application/octet-stream');
    const decoded = decodeVersioned(hello.body, CLICKHOUSE_GO_REVISION);
    expect(decoded.types).toEqual(['String', 'String', 'UInt32', 'String']);
    const [displayName, version, revision, tz] = decoded.rows[0]!;
    expect(typeof displayName).toBe('string');
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    // clickhouse-go decodes later responses at this revision: it must keep the same layout thresholds.
    expect(revision).toBeGreaterThanOrEqual(54454);
    expect(tz).toMatch(/UTC$/);

    const ping = await goQuery('SELECT 1');
    expect(decodeVersioned(ping.body, CLICKHOUSE_GO_REVISION)).toEqual({ names: ['1'], types: ['UInt8'], rows: [[1]] });
  });

  it("Grafana's typical queries", async () => {
    expect(decodeVersioned((await goQuery('SELECT version()')).body, CLICKHOUSE_GO_REVISION).rows[0]![0]).toMatch(/^\d+\./);
    const dbs = decodeVersioned((await goQuery('SHOW DATABASES')).body, CLICKHOUSE_GO_REVISION);
    expect(dbs.rows.map((r) => r[0])).toEqual(expect.arrayContaining(['sightline', 'system', 'default']));
    const tables = decodeVersioned((await goQuery("SELECT name FROM system.tables WHERE database = 'sightline'")).body, CLICKHOUSE_GO_REVISION);
    expect(tables.rows.map((r) => r[0])).toContain('requests');

    const series = await goQuery('SELECT toStartOfInterval(created_at, INTERVAL 1 minute) AS t, count() FROM sightline.requests GROUP BY t ORDER BY t');
    expect(series.status).toBe(200);
    const decoded = decodeVersioned(series.body, CLICKHOUSE_GO_REVISION);
    expect(decoded.names).toEqual(['t', 'count()']);
    const iso = (m: number) => new Date(start + m * minute).toISOString();
    expect(decoded.rows).toEqual([[iso(0), 2n], [iso(1), 1n], [iso(3), 3n]]);
  });

  it('gzip when enable_http_compression=1, empty results as an empty body, plain curl Native unchanged', async () => {
    const sql = 'SELECT request_id, model, created_at FROM sightline.requests ORDER BY created_at';
    const gz = await goQuery(sql, { enable_http_compression: '1' });
    expect(gz.header('content-encoding')).toBe('gzip');
    const chdb = await nativeOf(ch.connect(), sql);
    expect(gz.body.equals(nativeForRevision(chdb, CLICKHOUSE_GO_REVISION))).toBe(true);

    const empty = await goQuery('SELECT 1 WHERE 0');
    expect(empty.status).toBe(200);
    expect(empty.header('content-length')).toBe('0'); // clickhouse-go: ContentLength == 0 → empty result

    const curl = await fetch(`${base}/?query=${encodeURIComponent(`${sql} FORMAT Native`)}`);
    expect(Buffer.from(await curl.arrayBuffer()).equals(chdb)).toBe(true);
  });

  it('compress=1 (clickhouse-go with LZ4/ZSTD): ClickHouse compressed blocks whose CityHash128 checks out', async () => {
    const sql = "SELECT number, repeat('x', number % 50) AS s FROM numbers(40000)";
    const framed = await goQuery(sql, { compress: '1' });
    expect(framed.status).toBe(200);
    // As ch-go's compress.Reader reads them: checksum(16) method(1) size-with-header(4) payload-size(4) payload.
    const payloads: Buffer[] = [];
    for (let at = 0; at < framed.body.length;) {
      const method = framed.body[at + 16];
      const size = framed.body.readUInt32LE(at + 17);
      const dataSize = framed.body.readUInt32LE(at + 21);
      expect(method).toBe(0x02);
      expect(size).toBe(9 + dataSize);
      const [low, high] = cityHash128(framed.body.subarray(at + 16, at + 16 + size));
      expect([framed.body.readBigUInt64LE(at), framed.body.readBigUInt64LE(at + 8)]).toEqual([low, high]);
      payloads.push(framed.body.subarray(at + 25, at + 16 + size));
      at += 16 + size;
    }
    expect(payloads.length).toBeGreaterThan(1); // > 1 MiB of Native: several blocks
    expect(Buffer.concat(payloads).equals(nativeForRevision(await nativeOf(ch.connect(), sql), CLICKHOUSE_GO_REVISION))).toBe(true);
  });

  it('errors: unsupported types and bad revisions are ClickHouse exceptions, not garbage', async () => {
    const agg = await goQuery('SELECT sumState(1)');
    expect(agg.status).toBe(501);
    expect(agg.header('x-clickhouse-exception-code')).toBe('48');
    expect(agg.body.toString()).toMatch(/^Code: 48\. DB::Exception: Native encoding of type AggregateFunction is not supported.*\(NOT_IMPLEMENTED\) \(version [\d.]+\)\n$/s);
    // Non-Native formats ignore client_protocol_version, as on a server.
    expect((await goQuery('SELECT sumState(1) FORMAT TSV')).status).toBe(200);
    const bad = await goQuery('SELECT 1', { client_protocol_version: 'abc' });
    expect(bad.status).toBe(400);
    expect(bad.header('x-clickhouse-exception-code')).toBe('36');
  });
});
