// ClickHouse's own block compression framing, for HTTP responses to `compress=1` (clickhouse-go v2 asks for it
// when configured with LZ4 or ZSTD; its reader, ch-go's compress.Reader, accepts any method byte it knows and
// verifies each block's CityHash128). Blocks are sent with method 0x02 (stored, no compression): the framing
// and checksum are what the client requires, and loopback needs no byte savings.
//
// Block: 16-byte checksum (CityHash v1.0.2 128-bit of everything after it, low 64 bits first), method byte,
// UInt32 size of method+sizes+payload, UInt32 payload size, payload.

const M64 = (1n << 64n) - 1n;
const k0 = 0xc3a5c85c97cb3127n;
const k1 = 0xb492b66fbe98f273n;
const k2 = 0x9ae16a3b2f90404fn;
const k3 = 0xc949d7c7509e6557n;
const kMul = 0x9ddfea08eb382d69n;

const mul = (a: bigint, b: bigint): bigint => (a * b) & M64;
const add = (...xs: bigint[]): bigint => xs.reduce((s, x) => s + x, 0n) & M64;
const rotate = (v: bigint, shift: number): bigint => (shift === 0 ? v : ((v >> BigInt(shift)) | (v << BigInt(64 - shift))) & M64);
const shiftMix = (v: bigint): bigint => v ^ (v >> 47n);

function hashLen16(u: bigint, v: bigint): bigint {
  let a = mul(u ^ v, kMul);
  a ^= a >> 47n;
  let b = mul(v ^ a, kMul);
  b ^= b >> 47n;
  return mul(b, kMul);
}

type Pair = [bigint, bigint];

function weakHashLen32WithSeeds(s: Buffer, at: number, a0: bigint, b0: bigint): Pair {
  const w = fetch64(s, at), x = fetch64(s, at + 8), y = fetch64(s, at + 16), z = fetch64(s, at + 24);
  let a = add(a0, w);
  let b = rotate(add(b0, a, z), 21);
  const c = a;
  a = add(a, x, y);
  b = add(b, rotate(a, 44));
  return [add(a, z), add(b, c)];
}

const fetch64 = (s: Buffer, at: number): bigint => s.readBigUInt64LE(at);
const fetch32 = (s: Buffer, at: number): bigint => BigInt(s.readUInt32LE(at));

function hashLen0to16(s: Buffer, at: number, len: number): bigint {
  const n = BigInt(len);
  if (len > 8) {
    const a = fetch64(s, at);
    const b = fetch64(s, at + len - 8);
    return hashLen16(a, rotate(add(b, n), len)) ^ b;
  }
  if (len >= 4) return hashLen16(add(n, (fetch32(s, at) << 3n) & M64), fetch32(s, at + len - 4));
  if (len > 0) {
    const y = BigInt(s[at]!) + (BigInt(s[at + (len >> 1)]!) << 8n);
    const z = n + (BigInt(s[at + len - 1]!) << 2n);
    return mul(shiftMix(mul(y, k2) ^ mul(z, k3)), k2);
  }
  return k2;
}

function cityMurmur(s: Buffer, at: number, len: number, seed: Pair): Pair {
  let [a, b] = seed;
  let c: bigint;
  let d: bigint;
  let l = len - 16;
  if (l <= 0) {
    a = mul(shiftMix(mul(a, k1)), k1);
    c = add(mul(b, k1), hashLen0to16(s, at, len));
    d = shiftMix(add(a, len >= 8 ? fetch64(s, at) : c));
  } else {
    c = hashLen16(add(fetch64(s, at + len - 8), k1), a);
    d = hashLen16(add(b, BigInt(len)), add(c, fetch64(s, at + len - 16)));
    a = add(a, d);
    let p = at;
    do {
      a ^= mul(shiftMix(mul(fetch64(s, p), k1)), k1);
      a = mul(a, k1);
      b ^= a;
      c ^= mul(shiftMix(mul(fetch64(s, p + 8), k1)), k1);
      c = mul(c, k1);
      d ^= c;
      p += 16;
      l -= 16;
    } while (l > 0);
  }
  a = hashLen16(a, c);
  b = hashLen16(d, b);
  return [a ^ b, hashLen16(b, a)];
}

function cityHash128WithSeed(s: Buffer, at: number, length: number, seed: Pair): Pair {
  if (length < 128) return cityMurmur(s, at, length, seed);
  let len = length;
  let [x, y] = seed;
  let z = mul(BigInt(len), k1);
  let v: Pair = [0n, 0n];
  let w: Pair = [0n, 0n];
  v[0] = add(mul(rotate(y ^ k1, 49), k1), fetch64(s, at));
  v[1] = add(mul(rotate(v[0], 42), k1), fetch64(s, at + 8));
  w[0] = add(mul(rotate(add(y, z), 35), k1), x);
  w[1] = mul(rotate(add(x, fetch64(s, at + 88)), 53), k1);
  let p = at;
  do {
    for (let half = 0; half < 2; half++) {
      x = mul(rotate(add(x, y, v[0], fetch64(s, p + 16)), 37), k1);
      y = mul(rotate(add(y, v[1], fetch64(s, p + 48)), 42), k1);
      x ^= w[1];
      y ^= v[0];
      z = rotate(z ^ w[0], 33);
      v = weakHashLen32WithSeeds(s, p, mul(v[1], k1), add(x, w[0]));
      w = weakHashLen32WithSeeds(s, p + 32, add(z, w[1]), y);
      [z, x] = [x, z];
      p += 64;
    }
    len -= 128;
  } while (len >= 128);
  y = add(y, mul(rotate(w[0], 37), k0), z);
  x = add(x, mul(rotate(add(v[0], z), 49), k0));
  for (let tailDone = 0; tailDone < len;) {
    tailDone += 32;
    y = add(mul(rotate((y - x) & M64, 42), k0), v[1]);
    w[0] = add(w[0], fetch64(s, p + len - tailDone + 16));
    x = add(mul(rotate(x, 49), k0), w[0]);
    w[0] = add(w[0], v[0]);
    v = weakHashLen32WithSeeds(s, p + len - tailDone, v[0], v[1]);
  }
  x = hashLen16(x, v[0]);
  y = hashLen16(y, w[0]);
  return [add(hashLen16(add(x, v[1]), w[1]), y), hashLen16(add(x, w[1]), add(y, v[1]))];
}

/** CityHash v1.0.2 CityHash128 (the version ClickHouse checksums compressed blocks with): [low64, high64]. */
export function cityHash128(s: Buffer): Pair {
  const len = s.length;
  if (len >= 16) return cityHash128WithSeed(s, 16, len - 16, [fetch64(s, 0) ^ k3, fetch64(s, 8)]);
  if (len >= 8) return cityHash128WithSeed(s, 0, 0, [fetch64(s, 0) ^ mul(BigInt(len), k0), fetch64(s, len - 8) ^ k1]);
  return cityHash128WithSeed(s, 0, len, [k0, k1]);
}

const METHOD_NONE = 0x02;
const HEADER_AFTER_CHECKSUM = 9;
/** ClickHouse's default buffer size: how much one compressed block carries at most. */
const MAX_BLOCK_PAYLOAD = 1024 * 1024;

/** `data` as a sequence of ClickHouse compressed blocks (stored, method 0x02). */
export function compressedBlocks(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += MAX_BLOCK_PAYLOAD) {
    const payload = data.subarray(off, off + MAX_BLOCK_PAYLOAD);
    const framed = Buffer.alloc(16 + HEADER_AFTER_CHECKSUM + payload.length);
    framed[16] = METHOD_NONE;
    framed.writeUInt32LE(HEADER_AFTER_CHECKSUM + payload.length, 17);
    framed.writeUInt32LE(payload.length, 21);
    payload.copy(framed, 25);
    const [low, high] = cityHash128(framed.subarray(16));
    framed.writeBigUInt64LE(low, 0);
    framed.writeBigUInt64LE(high, 8);
    parts.push(framed);
  }
  return Buffer.concat(parts);
}
