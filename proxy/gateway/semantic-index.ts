// The semantic cache's index: embeddings of last user messages, per scope (gateway/cache-key.ts semanticParts),
// each pointing at the exact-cache key whose answer it stands for. It lives in this process's memory: replicas do
// not share it (they share the answers, when the store is Redis). Lookup must stay within a few milliseconds at
// 100k entries (bench: `npm run bench -- proxy --modes cache`): a scope of up to EXACT_SCAN vectors is scanned
// whole (exact); a larger one is searched through random-hyperplane LSH (TABLES tables of BITS sign bits), and only
// the candidates sharing a bucket with the query are compared. At a 0.95 cosine threshold (≤ 18° apart) a neighbour
// shares one table's bucket with probability ≥ 0.9^14 ≈ 0.23, so it is found in at least one of 20 tables with
// probability ≥ 0.99; 14 bits keep the buckets small (16384 per table) so few vectors are compared.
const TABLES = 20;
const BITS = 14;
const EXACT_SCAN = 4096;

export interface SemanticMatch {
  key: string;
  score: number;
}

interface Entry {
  readonly scope: string;
  readonly key: string;
  slot: number;
}

interface Scope {
  /** Unit vectors, `dim` floats each, parallel to keys; an evicted slot's entry is undefined until compaction. */
  vectors: Float32Array;
  keys: (Entry | undefined)[];
  live: number;
  /** Per table: bucket → slots. Built once the scope outgrows EXACT_SCAN. */
  tables: Map<number, number[]>[] | undefined;
  /** The search that last compared each slot: a candidate in several tables is compared once, without a Set per search. */
  stamps: Uint32Array;
  stamp: number;
}

export interface SemanticIndex {
  add(scope: string, vector: readonly number[], key: string): void;
  /** The most similar entry at or above `threshold`, if any. */
  search(scope: string, vector: readonly number[], threshold: number): SemanticMatch | undefined;
  readonly size: number;
}

export function createSemanticIndex(maxEntries: number): SemanticIndex {
  const scopes = new Map<string, Scope>();
  /** Insertion order, for evicting the oldest past maxEntries. */
  const order: Entry[] = [];
  let head = 0;
  let size = 0;
  let dim = 0;
  let planes: Float32Array | undefined;

  const unit = (v: readonly number[]): Float32Array | undefined => {
    if (dim === 0) {
      dim = v.length;
      planes = hyperplanes(dim);
    }
    // Vectors of another dimension come from another model: they cannot be compared.
    if (v.length !== dim) return undefined;
    let n = 0;
    for (const x of v) n += x * x;
    if (n === 0) return undefined;
    const out = new Float32Array(dim);
    const inv = 1 / Math.sqrt(n);
    for (let i = 0; i < dim; i++) out[i] = v[i]! * inv;
    return out;
  };
  const hashes = (u: Float32Array, at = 0): number[] => {
    const out = new Array<number>(TABLES);
    for (let t = 0; t < TABLES; t++) {
      let h = 0;
      for (let b = 0; b < BITS; b++) {
        const p = (t * BITS + b) * dim;
        let d = 0;
        for (let i = 0; i < dim; i++) d += planes![p + i]! * u[at + i]!;
        if (d >= 0) h |= 1 << b;
      }
      out[t] = h;
    }
    return out;
  };
  const index = (s: Scope, slot: number) => {
    const hs = hashes(s.vectors, slot * dim);
    for (let t = 0; t < TABLES; t++) {
      const bucket = s.tables![t]!.get(hs[t]!);
      if (bucket === undefined) s.tables![t]!.set(hs[t]!, [slot]);
      else bucket.push(slot);
    }
  };
  const dot = (s: Scope, slot: number, q: Float32Array): number => {
    let d = 0;
    const o = slot * dim;
    for (let i = 0; i < dim; i++) d += s.vectors[o + i]! * q[i]!;
    return d;
  };
  const buildTables = (s: Scope) => {
    s.tables = Array.from({ length: TABLES }, () => new Map<number, number[]>());
    for (let i = 0; i < s.keys.length; i++) if (s.keys[i] !== undefined) index(s, i);
  };
  /** Drops evicted slots once they outnumber the live ones, so a long-lived scope does not grow without bound. */
  const compact = (s: Scope) => {
    const live = s.keys.filter((e): e is Entry => e !== undefined);
    const vectors = new Float32Array(Math.max(16, live.length * 2) * dim);
    live.forEach((e, i) => {
      vectors.set(s.vectors.subarray(e.slot * dim, (e.slot + 1) * dim), i * dim);
      e.slot = i;
    });
    s.vectors = vectors;
    s.keys = live;
    if (s.tables !== undefined) buildTables(s);
  };
  const evictOldest = () => {
    while (head < order.length) {
      const e = order[head++]!;
      const s = scopes.get(e.scope);
      if (s === undefined || s.keys[e.slot] !== e) continue;
      s.keys[e.slot] = undefined;
      s.live--;
      size--;
      if (s.live === 0) scopes.delete(e.scope);
      else if (s.keys.length > 2 * s.live + 64) compact(s);
      break;
    }
    // The consumed head of the queue is dropped once it dominates it.
    if (head > 1024 && head * 2 > order.length) {
      order.splice(0, head);
      head = 0;
    }
  };

  return {
    get size() {
      return size;
    },
    add(scope, vector, key) {
      const u = unit(vector);
      if (u === undefined) return;
      let s = scopes.get(scope);
      if (s === undefined) {
        s = { vectors: new Float32Array(dim * 16), keys: [], live: 0, tables: undefined, stamps: new Uint32Array(0), stamp: 0 };
        scopes.set(scope, s);
      }
      const slot = s.keys.length;
      if ((slot + 1) * dim > s.vectors.length) {
        const grown = new Float32Array(s.vectors.length * 2);
        grown.set(s.vectors);
        s.vectors = grown;
      }
      s.vectors.set(u, slot * dim);
      const entry: Entry = { scope, key, slot };
      s.keys.push(entry);
      s.live++;
      size++;
      order.push(entry);
      if (s.tables !== undefined) index(s, slot);
      else if (s.live > EXACT_SCAN) buildTables(s);
      while (size > maxEntries) evictOldest();
    },
    search(scope, vector, threshold) {
      const s = scopes.get(scope);
      if (s === undefined) return undefined;
      const q = unit(vector);
      if (q === undefined) return undefined;
      let best: SemanticMatch | undefined;
      const consider = (slot: number) => {
        const e = s.keys[slot];
        if (e === undefined) return;
        const score = dot(s, slot, q);
        if (score >= threshold && (best === undefined || score > best.score)) best = { key: e.key, score };
      };
      if (s.tables === undefined) {
        for (let i = 0; i < s.keys.length; i++) consider(i);
        return best;
      }
      if (s.stamps.length < s.keys.length) s.stamps = new Uint32Array(s.vectors.length / dim);
      const stamp = ++s.stamp;
      const hs = hashes(q);
      for (let t = 0; t < TABLES; t++) {
        const bucket = s.tables[t]!.get(hs[t]!);
        if (bucket === undefined) continue;
        for (const slot of bucket) {
          if (s.stamps[slot] === stamp) continue;
          s.stamps[slot] = stamp;
          consider(slot);
        }
      }
      return best;
    },
  };
}

/** TABLES × BITS random unit-normal hyperplanes, from a fixed seed: the same on every start (and every replica). */
function hyperplanes(dim: number): Float32Array {
  const out = new Float32Array(TABLES * BITS * dim);
  let state = 0x9e3779b9;
  const next = () => {
    // xorshift32: fast and good enough to pick directions.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < out.length; i++) {
    // Box–Muller: normal components make the plane's direction uniform on the sphere.
    out[i] = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  }
  return out;
}
