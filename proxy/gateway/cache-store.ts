// Where the response cache keeps its answers: Redis when one is configured (replicas share every entry), else
// this process's memory, bounded in bytes with the least recently used keys evicted first. A key holds a small
// list of answers (Helicone's cache bucket, up to MAX_CACHE_BUCKET); each entry is opaque bytes that carry their
// own expiry, so both stores give an entry exactly its TTL. Every Redis command has the connection's deadline
// (gateway/redis.ts): a store that cannot answer throws, and the cache then bypasses — it never waits longer.
import { MAX_CACHE_BUCKET } from '../../config/cache.ts';
import type { SharedRedis } from './redis.ts';

export interface CacheStore {
  /** The sealed entries under `key` (at most MAX_CACHE_BUCKET), oldest first (liveEntries() reads them); throws when the store cannot say. */
  get(key: string): Promise<Buffer[]>;
  /** Appends a payload that expires at `expiresAt` (ms since epoch). */
  add(key: string, entry: Buffer, expiresAt: number): Promise<void>;
  /** True when other replicas see the same entries. */
  readonly shared: boolean;
  stats(): { keys: number; bytes: number; evictions: number };
}

/** An entry on the wire: 8 bytes of expiry (ms since epoch, big-endian double), then the payload. */
export function sealEntry(payload: Buffer, expiresAt: number): Buffer {
  const out = Buffer.allocUnsafe(8 + payload.length);
  out.writeDoubleBE(expiresAt, 0);
  payload.copy(out, 8);
  return out;
}

const PAYLOADS = new WeakMap<Buffer, Buffer>();

/** The payloads of the entries still live at `now` (the same Buffer for the same stored entry, so readers may memoise). */
export function liveEntries(entries: readonly Buffer[], now = Date.now()): Buffer[] {
  const out: Buffer[] = [];
  for (const e of entries) {
    if (e.length < 8 || e.readDoubleBE(0) <= now) continue;
    let p = PAYLOADS.get(e);
    if (p === undefined) {
      p = e.subarray(8);
      PAYLOADS.set(e, p);
    }
    out.push(p);
  }
  return out;
}

interface Slot {
  entries: Buffer[];
  bytes: number;
}

const ADD_LUA = `redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1`;

/** This process only: a Map in recency order (a read moves the key to the end), evicting from the front past `maxBytes`. */
export function createMemoryStore(maxBytes: number): CacheStore {
  const slots = new Map<string, Slot>();
  let total = 0;
  let evictions = 0;
  const drop = (key: string, slot: Slot) => {
    slots.delete(key);
    total -= slot.bytes;
  };
  return {
    shared: false,
    get(key) {
      const slot = slots.get(key);
      if (slot === undefined) return Promise.resolve([]);
      const now = Date.now();
      const live = slot.entries.filter((e) => e.readDoubleBE(0) > now);
      if (live.length === 0) {
        drop(key, slot);
        return Promise.resolve([]);
      }
      if (live.length !== slot.entries.length) {
        const bytes = live.reduce((n, e) => n + e.length, 0);
        total -= slot.bytes - bytes;
        slot.entries = live;
        slot.bytes = bytes;
      }
      slots.delete(key);
      slots.set(key, slot);
      return Promise.resolve(live);
    },
    add(key, payload, expiresAt) {
      const entry = sealEntry(payload, expiresAt);
      if (entry.length > maxBytes) return Promise.resolve();
      const slot = slots.get(key) ?? { entries: [], bytes: 0 };
      slots.delete(key);
      slot.entries.push(entry);
      slot.bytes += entry.length;
      total += entry.length;
      while (slot.entries.length > MAX_CACHE_BUCKET) {
        const old = slot.entries.shift()!;
        slot.bytes -= old.length;
        total -= old.length;
      }
      slots.set(key, slot);
      for (const [k, s] of slots) {
        if (total <= maxBytes) break;
        drop(k, s);
        evictions++;
      }
      return Promise.resolve();
    },
    stats: () => ({ keys: slots.size, bytes: total, evictions }),
  };
}

/**
 * Shared by every replica: one Redis list per key (RPUSH, trimmed to the newest MAX_CACHE_BUCKET), whose own
 * expiry is the newest entry's so Redis reclaims it; each entry's embedded expiry is what a read honours. Memory
 * in Redis is bounded by its `maxmemory` policy (allkeys-lru suits a cache), not by this process.
 */
export function createRedisStore(redis: SharedRedis, prefix: string): CacheStore {
  const name = (key: string) => `${prefix}cache:${key}`;
  return {
    shared: true,
    async get(key) {
      return redis.lrangeBuffer(name(key), 0, -1);
    },
    async add(key, payload, expiresAt) {
      // One command (one round trip, one reply) for the append, the trim and the expiry; Redis keeps the compiled script.
      await redis.eval(ADD_LUA, 1, name(key), sealEntry(payload, expiresAt), MAX_CACHE_BUCKET, Math.ceil(expiresAt));
    },
    stats: () => ({ keys: 0, bytes: 0, evictions: 0 }),
  };
}
