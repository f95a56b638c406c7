// ClickHouse Native format at a client's protocol revision.
//
// chDB writes Native as a server does for revision 0 (what a plain `curl … FORMAT Native` gets): per block
// varuint columns, varuint rows, then per column name, type and data. Clients that speak the TCP protocol's
// block layout over HTTP (clickhouse-go v2, hence Grafana's ClickHouse datasource) pass
// `client_protocol_version=<rev>` and decode the layout of that revision, as ClickHouse's NativeWriter writes it:
//   rev > 0       BlockInfo before each block: field 1 is_overflows (bool false), field 2 bucket_num (Int32 -1), 0
//   rev >= 54454  one "has custom serialization" byte (0 = dense) after each column's type name
// Column data is identical in both layouts, so instead of re-encoding values this walks chDB's revision-0 output
// and copies each column's data verbatim. Walking needs each type's byte length rule; a type without one here
// (Dynamic, Variant, JSON, AggregateFunction, …: their encodings vary with revision or state) is refused with
// NOT_IMPLEMENTED rather than guessed, since a wrong length would hand the client garbage.

/** Code 48 NOT_IMPLEMENTED, as a ClickHouse server names it. */
export class NativeFormatError extends Error {
  readonly code = 48;
  readonly type = 'NOT_IMPLEMENTED';
}

/** ClickHouse's Protocol.h revisions that change the block layout or names. */
export const REVISION_WITH_TIME_ZONE_PARAMETER_IN_DATETIME = 54337;
export const REVISION_WITH_LOW_CARDINALITY_TYPE = 54405;
export const REVISION_WITH_CUSTOM_SERIALIZATION = 54454;

export interface TypeNode {
  name: string;
  /** Type arguments; literal arguments (Enum values, precisions, time zones) are kept as raw text. */
  args: TypeArg[];
}
export type TypeArg = { kind: 'type'; type: TypeNode; elementName?: string } | { kind: 'literal'; text: string };

type Token = { kind: 'ident' | 'number' | 'string' | 'quoted-ident' | 'punct'; text: string };

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (/\s/.test(ch)) { i++; continue; }
    if ('(),='.includes(ch)) { out.push({ kind: 'punct', text: ch }); i++; continue; }
    if (ch === "'" || ch === '`' || ch === '"') {
      let j = i + 1;
      // Backslash escapes and doubled quotes ('d''e') stay inside the token.
      while (j < s.length && (s[j] !== ch || s[j + 1] === ch)) j += s[j] === '\\' || s[j] === ch ? 2 : 1;
      if (j >= s.length) throw new NativeFormatError(`Cannot parse type name ${s}: unterminated quote`);
      out.push({ kind: ch === "'" ? 'string' : 'quoted-ident', text: s.slice(i, j + 1) });
      i = j + 1;
      continue;
    }
    const word = /^(-?[0-9][0-9.eE+-]*|[A-Za-z_][A-Za-z0-9_]*)/.exec(s.slice(i));
    if (!word) throw new NativeFormatError(`Cannot parse type name ${s} at ${i}`);
    out.push({ kind: /^-?[0-9]/.test(word[0]) ? 'number' : 'ident', text: word[0] });
    i += word[0].length;
  }
  return out;
}

/** Parses a ClickHouse type name such as `Map(String, Array(Nullable(DateTime64(3, 'UTC'))))`. */
export function parseTypeName(typeName: string): TypeNode {
  const tokens = tokenize(typeName);
  let pos = 0;
  const peek = (k = 0): Token | undefined => tokens[pos + k];
  const fail = (): never => { throw new NativeFormatError(`Cannot parse type name ${typeName}`); };

  function parseType(): TypeNode {
    const head = peek();
    if (head?.kind !== 'ident') return fail();
    pos++;
    const node: TypeNode = { name: head.text, args: [] };
    if (peek()?.text !== '(') return node;
    pos++;
    if (peek()?.text === ')') { pos++; return node; }
    for (;;) {
      node.args.push(parseArg());
      const sep = peek();
      pos++;
      if (sep?.text === ')') return node;
      if (sep?.text !== ',') return fail();
    }
  }

  function parseArg(): TypeArg {
    const first = peek();
    const second = peek(1);
    // A named tuple element: `name Type`.
    if ((first?.kind === 'ident' || first?.kind === 'quoted-ident') && second?.kind === 'ident') {
      pos++;
      return { kind: 'type', type: parseType(), elementName: first.text };
    }
    if (first?.kind === 'ident') return { kind: 'type', type: parseType() };
    // A literal argument runs to the next top-level ',' or ')': `'a' = 1`, `3`, `'UTC'`.
    const start = pos;
    let depth = 0;
    while (pos < tokens.length) {
      const t = tokens[pos]!.text;
      if (depth === 0 && (t === ',' || t === ')')) break;
      if (t === '(') depth++;
      if (t === ')') depth--;
      pos++;
    }
    if (pos === start) fail();
    return { kind: 'literal', text: tokens.slice(start, pos).map((t) => t.text).join(' ') };
  }

  const node = parseType();
  if (pos !== tokens.length) fail();
  return node;
}

const FIXED_WIDTH: Record<string, number> = {
  UInt8: 1, Int8: 1, Bool: 1, Enum8: 1, Nothing: 1,
  UInt16: 2, Int16: 2, Date: 2, Enum16: 2, BFloat16: 2,
  UInt32: 4, Int32: 4, Float32: 4, Date32: 4, DateTime: 4, IPv4: 4, Decimal32: 4, Time: 4,
  UInt64: 8, Int64: 8, Float64: 8, DateTime64: 8, Decimal64: 8, Time64: 8,
  UInt128: 16, Int128: 16, UUID: 16, IPv6: 16, Decimal128: 16,
  UInt256: 32, Int256: 32, Decimal256: 32,
  IntervalNanosecond: 8, IntervalMicrosecond: 8, IntervalMillisecond: 8, IntervalSecond: 8, IntervalMinute: 8,
  IntervalHour: 8, IntervalDay: 8, IntervalWeek: 8, IntervalMonth: 8, IntervalQuarter: 8, IntervalYear: 8,
};

// Geo types are aliases whose Native encoding is that of the type they stand for.
const GEO_ALIASES: Record<string, string> = {
  Point: 'Tuple(Float64, Float64)',
  Ring: 'Array(Point)',
  LineString: 'Array(Point)',
  MultiLineString: 'Array(Ring)',
  Polygon: 'Array(Ring)',
  MultiPolygon: 'Array(Polygon)',
};

function typeArgs(node: TypeNode): TypeNode[] {
  return node.args.map((a) => {
    if (a.kind !== 'type') throw new NativeFormatError(`Unexpected argument in ${node.name}`);
    return a.type;
  });
}

function onlyTypeArg(node: TypeNode): TypeNode {
  const args = typeArgs(node);
  if (args.length !== 1) throw new NativeFormatError(`${node.name} takes one type argument`);
  return args[0]!;
}

function fixedWidth(node: TypeNode): number | undefined {
  if (node.name === 'FixedString') {
    const n = node.args[0]?.kind === 'literal' ? Number(node.args[0].text) : NaN;
    if (!Number.isInteger(n) || n <= 0) throw new NativeFormatError('FixedString needs a positive length');
    return n;
  }
  if (node.name === 'Decimal') {
    const p = node.args[0]?.kind === 'literal' ? Number(node.args[0].text) : NaN;
    if (!Number.isInteger(p) || p < 1 || p > 76) throw new NativeFormatError('Decimal needs a precision of 1..76');
    return p <= 9 ? 4 : p <= 18 ? 8 : p <= 38 ? 16 : 32;
  }
  return FIXED_WIDTH[node.name];
}

/** Reads chDB's revision-0 Native bytes; every read is bounds-checked so a wrong length rule fails loudly. */
class Cursor {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done(): boolean { return this.pos >= this.buf.length; }
  need(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.buf.length) {
      throw new NativeFormatError(`Native data ends early at byte ${this.pos} (needs ${n} more of ${this.buf.length})`);
    }
  }
  skip(n: number): void { this.need(n); this.pos += n; }
  varUInt(): number {
    let value = 0;
    for (let shift = 0; shift < 63; shift += 7) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
    }
    throw new NativeFormatError(`Bad varint at byte ${this.pos}`);
  }
  uint64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new NativeFormatError(`UInt64 ${v} out of range at byte ${this.pos - 8}`);
    return Number(v);
  }
  string(): string {
    const len = this.varUInt();
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
}

function stripNullable(node: TypeNode): TypeNode {
  return node.name === 'Nullable' ? onlyTypeArg(node) : node;
}

/** The type whose encoding `node` uses, with aliases resolved. */
function resolve(node: TypeNode): TypeNode {
  const alias = GEO_ALIASES[node.name];
  if (alias !== undefined && node.args.length === 0) return parseTypeName(alias);
  if (node.name === 'SimpleAggregateFunction') {
    const last = node.args[node.args.length - 1];
    if (last?.kind !== 'type') throw new NativeFormatError('SimpleAggregateFunction needs a value type');
    return resolve(last.type);
  }
  // Nested(a T, b U) is sent as Array(Tuple(a T, b U)).
  if (node.name === 'Nested') return { name: 'Array', args: [{ kind: 'type', type: { name: 'Tuple', args: node.args } }] };
  return node;
}

const LC_SHARED_DICTIONARIES_WITH_ADDITIONAL_KEYS = 1;
const LC_NEED_GLOBAL_DICTIONARY = 1 << 8;
const LC_HAS_ADDITIONAL_KEYS = 1 << 9;
const LC_INDEX_WIDTH = [1, 2, 4, 8];

// serializeBinaryBulkStatePrefix: written once per column before its data, outermost type first.
function skipStatePrefix(cur: Cursor, raw: TypeNode): void {
  const node = resolve(raw);
  switch (node.name) {
    case 'LowCardinality': {
      const version = cur.uint64();
      if (version !== LC_SHARED_DICTIONARIES_WITH_ADDITIONAL_KEYS) throw new NativeFormatError(`LowCardinality keys version ${version} is not supported`);
      return;
    }
    case 'Array': case 'Nullable': case 'Map': case 'Tuple':
      for (const t of typeArgs(node)) skipStatePrefix(cur, t);
      return;
    default:
      return;
  }
}

// serializeBinaryBulkWithMultipleStreams over `rows` values, all streams in one buffer.
function skipData(cur: Cursor, raw: TypeNode, rows: number): void {
  const node = resolve(raw);
  const width = fixedWidth(node);
  if (width !== undefined) { cur.skip(width * rows); return; }
  switch (node.name) {
    case 'String':
      for (let i = 0; i < rows; i++) cur.skip(cur.varUInt());
      return;
    case 'Nullable':
      cur.skip(rows);
      skipData(cur, onlyTypeArg(node), rows);
      return;
    case 'Array':
    case 'Map': {
      if (rows === 0) return;
      cur.skip(8 * (rows - 1));
      const total = cur.uint64();
      for (const t of typeArgs(node)) skipData(cur, t, total);
      return;
    }
    case 'Tuple':
      for (const t of typeArgs(node)) skipData(cur, t, rows);
      return;
    case 'LowCardinality': {
      const dictionaryType = stripNullable(onlyTypeArg(node));
      let left = rows;
      while (left > 0) {
        const flags = cur.uint64();
        if (flags & LC_NEED_GLOBAL_DICTIONARY) throw new NativeFormatError('LowCardinality with a global dictionary is not supported');
        const indexWidth = LC_INDEX_WIDTH[flags & 0xff];
        if (indexWidth === undefined) throw new NativeFormatError(`LowCardinality index type ${flags & 0xff} is unknown`);
        if (flags & LC_HAS_ADDITIONAL_KEYS) skipData(cur, dictionaryType, cur.uint64());
        const granule = cur.uint64();
        if (granule === 0 || granule > left) throw new NativeFormatError(`LowCardinality granule of ${granule} rows where ${left} remain`);
        cur.skip(granule * indexWidth);
        left -= granule;
      }
      return;
    }
    default:
      throw new NativeFormatError(`Native encoding of type ${node.name} is not supported by this server's protocol translation`);
  }
}

export interface NativeColumn {
  name: string;
  type: string;
  /** The column's bytes (state prefix and values) inside the source buffer. */
  data: Buffer;
}
export interface NativeBlock {
  rows: number;
  columns: NativeColumn[];
}

/** Splits revision-0 Native bytes (chDB's output) into blocks and columns. */
export function readNativeBlocks(rev0: Buffer): NativeBlock[] {
  const cur = new Cursor(rev0);
  const blocks: NativeBlock[] = [];
  while (!cur.done) {
    const columnCount = cur.varUInt();
    const rows = cur.varUInt();
    const columns: NativeColumn[] = [];
    for (let i = 0; i < columnCount; i++) {
      const name = cur.string();
      const type = cur.string();
      const start = cur.pos;
      if (rows > 0) {
        const node = parseTypeName(type);
        skipStatePrefix(cur, node);
        skipData(cur, node, rows);
      }
      columns.push({ name, type, data: rev0.subarray(start, cur.pos) });
    }
    blocks.push({ rows, columns });
  }
  return blocks;
}

function varUInt(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v >= 0x80) { bytes.push((v % 0x80) | 0x80); v = Math.floor(v / 0x80); }
  bytes.push(v);
  return Buffer.from(bytes);
}

function varString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([varUInt(b.length), b]);
}

// BlockInfo as ClickHouse writes it for a plain result: is_overflows = false, bucket_num = -1, end of fields.
const BLOCK_INFO = Buffer.from([1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0]);
const DENSE_SERIALIZATION = Buffer.from([0]);

function typeNameAt(type: string, revision: number): string {
  if (revision < REVISION_WITH_TIME_ZONE_PARAMETER_IN_DATETIME && type.startsWith('DateTime(')) return 'DateTime';
  return type;
}

/** Native blocks laid out for `revision` (0 = chDB's own layout, unchanged). */
export function writeNativeBlocks(blocks: NativeBlock[], revision: number): Buffer {
  const parts: Buffer[] = [];
  for (const block of blocks) {
    if (revision > 0) parts.push(BLOCK_INFO);
    parts.push(varUInt(block.columns.length), varUInt(block.rows));
    for (const col of block.columns) {
      if (revision > 0 && revision < REVISION_WITH_LOW_CARDINALITY_TYPE && col.type.includes('LowCardinality(')) {
        // A server converts these to the plain type for such old clients; chDB's Native output cannot be asked to
        // (low_cardinality_allow_in_native_format does not apply to it), and no current client is that old.
        throw new NativeFormatError(`LowCardinality column ${col.name} for a client of revision ${revision}`);
      }
      parts.push(varString(col.name), varString(typeNameAt(col.type, revision)));
      if (revision >= REVISION_WITH_CUSTOM_SERIALIZATION) parts.push(DENSE_SERIALIZATION);
      parts.push(col.data);
    }
  }
  return Buffer.concat(parts);
}

/** chDB's revision-0 Native output re-laid for a client of protocol `revision`. */
export function nativeForRevision(rev0: Buffer, revision: number): Buffer {
  if (revision === 0) return rev0;
  return writeNativeBlocks(readNativeBlocks(rev0), revision);
}
