// Where budget spend, reservations and rate-limit windows live: Redis when replicas share them (each operation one
// Lua script, so concurrent callers on any replica see one consistent count), or this process's memory in the
// embedded default. The proxy reserves and checks; ingest settles (the real cost, once the row is stored). Both
// stores keep the same semantics, so the tests that hold for one hold for the other.
import type { Redis } from 'ioredis';
import type { Settlement } from '../contracts/spend.ts';
import { countersOf } from '../contracts/spend.ts';

export interface Reservation {
  requestId: string;
  /** Spend counters and the budget each must stay under. */
  budgets: { counter: string; limitUsd: number }[];
  amountUsd: number;
  /** Rate-limit windows this call's tokens or cents count in once it is settled. */
  usageCounters: { counter: string; windowMs: number; unit: 'token' | 'cents' }[];
  ttlMs: number;
}

/** Admitted: each budget's spend before this call (for the warning thresholds), in the reservation's order. */
export type ReserveResult = { ok: true; spentUsd: number[] } | { ok: false; counter: string; spentUsd: number; reservedUsd: number; limitUsd: number };

export interface WindowResult {
  allowed: boolean;
  /** The sliding-window count after this call (before it, when refused). */
  used: number;
  /** ms until the current fixed window ends. */
  resetMs: number;
}

export interface SpendStore {
  /** Admits the call when every budget still has room (spent + reserved below its limit), reserving its maximum cost. */
  reserve(r: Reservation, now: number): Promise<ReserveResult>;
  /** Counts `amount` in a sliding window of `windowMs` unless that would exceed `quota` (amount 0: only checks). */
  hit(counter: string, windowMs: number, quota: number, amount: number, now: number): Promise<WindowResult>;
  /** Stored rows: their reservations released, their real cost added to every counter of their scopes. */
  settle(rows: readonly Settlement[], timezone: string): Promise<void>;
  /** Spent and reserved now, for the admin API and metrics. */
  read(counter: string, now: number): Promise<{ spentUsd: number; reservedUsd: number }>;
  /** Embedded default after a restart: spend as the ledger has it (replaces what the counters say). */
  restore(spent: Readonly<Record<string, number>>): void;
}

/** Counters of a sliding window: the current and the previous fixed window. */
function windowKeys(counter: string, windowMs: number, now: number): { cur: string; prev: string; elapsed: number } {
  const index = Math.floor(now / windowMs);
  return { cur: `${counter}:${index}`, prev: `${counter}:${index - 1}`, elapsed: now - index * windowMs };
}

export function memorySpendStore(): SpendStore {
  const spent = new Map<string, number>();
  // Per counter: the running total of live reservations (O(1) to read on every call) and the entries making it up.
  const reserved = new Map<string, { sum: number; entries: Map<string, { amount: number; until: number }>; sweptAt: number }>();
  const reservations = new Map<string, Reservation & { until: number }>();
  const windows = new Map<string, { value: number; until: number }>();

  const release = (counter: string, id: string) => {
    const r = reserved.get(counter);
    const e = r?.entries.get(id);
    if (r === undefined || e === undefined) return;
    r.entries.delete(id);
    r.sum = r.entries.size === 0 ? 0 : r.sum - e.amount;
  };
  /**
   * Lapsed reservations (calls that never settled) leave the total; swept at most once a second per counter. A Map
   * iterates in insertion order and every reservation lasts the same time, so the sweep stops at the first live one:
   * it costs what lapsed, not what is in flight.
   */
  const reservedOf = (counter: string, now: number): number => {
    const r = reserved.get(counter);
    if (r === undefined) return 0;
    if (now - r.sweptAt >= 1000) {
      r.sweptAt = now;
      for (const [id, e] of r.entries) {
        if (e.until > now) break;
        release(counter, id);
      }
    }
    return r.sum;
  };
  const windowValue = (key: string, now: number): number => {
    const w = windows.get(key);
    if (w === undefined) return 0;
    if (w.until <= now) {
      windows.delete(key);
      return 0;
    }
    return w.value;
  };
  const addWindow = (counter: string, windowMs: number, amount: number, now: number) => {
    const { cur } = windowKeys(counter, windowMs, now);
    windows.set(cur, { value: windowValue(cur, now) + amount, until: (Math.floor(now / windowMs) + 2) * windowMs });
  };

  return {
    async reserve(r, now) {
      const before: number[] = [];
      for (const b of r.budgets) {
        const s = spent.get(b.counter) ?? 0;
        const held = reservedOf(b.counter, now);
        if (s + held >= b.limitUsd) return { ok: false, counter: b.counter, spentUsd: s, reservedUsd: held, limitUsd: b.limitUsd };
        before.push(s);
      }
      const until = now + r.ttlMs;
      for (const b of r.budgets) {
        let held = reserved.get(b.counter);
        if (held === undefined) reserved.set(b.counter, (held = { sum: 0, entries: new Map(), sweptAt: now }));
        held.entries.set(r.requestId, { amount: r.amountUsd, until });
        held.sum += r.amountUsd;
      }
      reservations.set(r.requestId, { ...r, until });
      return { ok: true, spentUsd: before };
    },
    async hit(counter, windowMs, quota, amount, now) {
      const { cur, prev, elapsed } = windowKeys(counter, windowMs, now);
      const used = windowValue(prev, now) * (1 - elapsed / windowMs) + windowValue(cur, now);
      const resetMs = windowMs - elapsed;
      if (used + amount > quota || (amount === 0 && used >= quota)) return { allowed: false, used, resetMs };
      if (amount > 0) addWindow(counter, windowMs, amount, now);
      return { allowed: true, used: used + amount, resetMs };
    },
    async settle(rows, timezone) {
      const now = Date.now();
      for (const row of rows) {
        const r = reservations.get(row.request_id);
        if (r !== undefined) {
          reservations.delete(row.request_id);
          for (const b of r.budgets) release(b.counter, row.request_id);
          for (const u of r.usageCounters) addWindow(u.counter, u.windowMs, u.unit === 'token' ? row.tokens : row.cost_usd * 100, now);
        }
        if (row.cost_usd > 0) for (const c of countersOf(row, timezone)) spent.set(c, (spent.get(c) ?? 0) + row.cost_usd);
      }
    },
    async read(counter, now) {
      return { spentUsd: spent.get(counter) ?? 0, reservedUsd: reservedOf(counter, now) };
    },
    restore(values) {
      spent.clear();
      for (const [counter, usd] of Object.entries(values)) spent.set(counter, usd);
    },
  };
}

// Reservations per counter: a running total (resv-sum, read in O(1) on every call), each call's amount (resv-amt)
// and when it lapses (resv, a sorted set swept of lapsed calls that never settled).
// KEYS: the spend counters; ARGV: now, ttl, request id, amount, prefix, the reservation record (what settling the
// call releases), then one limit per counter.
const RESERVE = `
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local id = ARGV[3]
local amount = tonumber(ARGV[4])
local prefix = ARGV[5]
local before = {0}
for i, counter in ipairs(KEYS) do
  local zset = prefix .. 'resv:' .. counter
  local amounts = prefix .. 'resv-amt:' .. counter
  local total = prefix .. 'resv-sum:' .. counter
  local lapsed = redis.call('ZRANGEBYSCORE', zset, '-inf', now)
  if #lapsed > 0 then
    local gone = 0
    for _, v in ipairs(redis.call('HMGET', amounts, unpack(lapsed))) do gone = gone + (tonumber(v) or 0) end
    redis.call('HDEL', amounts, unpack(lapsed))
    redis.call('ZREMRANGEBYSCORE', zset, '-inf', now)
    redis.call('INCRBYFLOAT', total, -gone)
  end
  local held = tonumber(redis.call('GET', total) or '0')
  if held < 1e-9 then held = 0 end
  local spent = tonumber(redis.call('GET', prefix .. counter) or '0')
  local limit = tonumber(ARGV[6 + i])
  if spent + held >= limit then return {i, tostring(spent), tostring(held)} end
  before[i + 1] = tostring(spent)
end
for _, counter in ipairs(KEYS) do
  redis.call('ZADD', prefix .. 'resv:' .. counter, now + ttl, id)
  redis.call('HSET', prefix .. 'resv-amt:' .. counter, id, amount)
  redis.call('INCRBYFLOAT', prefix .. 'resv-sum:' .. counter, amount)
  for _, k in ipairs({'resv:', 'resv-amt:', 'resv-sum:'}) do redis.call('PEXPIRE', prefix .. k .. counter, ttl * 2) end
end
redis.call('SET', prefix .. 'resv-of:' .. id, ARGV[6], 'PX', ttl)
return before
`;

// KEYS: current and previous window; ARGV: quota, window ms, elapsed ms, amount.
const HIT = `
local quota = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local used = tonumber(redis.call('GET', KEYS[2]) or '0') * (1 - elapsed / window) + tonumber(redis.call('GET', KEYS[1]) or '0')
if used + amount > quota or (amount == 0 and used >= quota) then return {0, tostring(used)} end
if amount > 0 then
  redis.call('INCRBYFLOAT', KEYS[1], amount)
  redis.call('PEXPIRE', KEYS[1], window * 2)
end
return {1, tostring(used + amount)}
`;

// KEYS: the counters the row's cost goes to; ARGV: prefix, request id, cost, tokens, now.
const SETTLE = `
local prefix = ARGV[1]
local id = ARGV[2]
local cost = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local record = redis.call('GET', prefix .. 'resv-of:' .. id)
if record then
  local r = cjson.decode(record)
  for _, counter in ipairs(r.budgets) do
    local held = redis.call('HGET', prefix .. 'resv-amt:' .. counter, id)
    if held then
      redis.call('INCRBYFLOAT', prefix .. 'resv-sum:' .. counter, -tonumber(held))
      redis.call('HDEL', prefix .. 'resv-amt:' .. counter, id)
      redis.call('ZREM', prefix .. 'resv:' .. counter, id)
    end
  end
  for _, u in ipairs(r.usage) do
    local key = prefix .. u.counter .. ':' .. math.floor(now / u.window)
    local amount = tokens
    if u.unit == 'cents' then amount = cost * 100 end
    redis.call('INCRBYFLOAT', key, amount)
    redis.call('PEXPIRE', key, u.window * 2)
  end
  redis.call('DEL', prefix .. 'resv-of:' .. id)
end
if cost > 0 then
  for _, counter in ipairs(KEYS) do
    redis.call('INCRBYFLOAT', prefix .. counter, cost)
    redis.call('PEXPIRE', prefix .. counter, 3456000000)
  end
end
return 0
`;

/** The scripts, loaded once per connection and called by their SHA (EVALSHA), so a call sends arguments, not Lua. */
interface SpendScripts {
  slReserve(numKeys: number, ...args: (string | number)[]): Promise<(number | string)[]>;
  slHit(cur: string, prev: string, quota: number, windowMs: number, elapsed: number, amount: number): Promise<[number, string]>;
  slSettle(numKeys: number, ...args: (string | number)[]): Promise<number>;
}

function scriptsOf(redis: Redis): SpendScripts {
  const defined = redis as Redis & Partial<SpendScripts>;
  if (defined.slReserve === undefined) {
    redis.defineCommand('slReserve', { lua: RESERVE });
    redis.defineCommand('slHit', { lua: HIT, numberOfKeys: 2 });
    redis.defineCommand('slSettle', { lua: SETTLE });
  }
  return redis as Redis & SpendScripts;
}

/** Spend counters outlive their period comfortably (40 days: a month plus slack); windows live two windows. */
export function redisSpendStore(redis: Redis, prefix: string): SpendStore {
  const scripts = scriptsOf(redis);
  return {
    async reserve(r, now) {
      const record = JSON.stringify({ budgets: r.budgets.map((b) => b.counter), usage: r.usageCounters.map((u) => ({ counter: u.counter, window: u.windowMs, unit: u.unit })) });
      if (r.budgets.length === 0) {
        // Only token / cents windows to count once the call is settled.
        if (r.usageCounters.length > 0) await redis.set(`${prefix}resv-of:${r.requestId}`, record, 'PX', r.ttlMs);
        return { ok: true, spentUsd: [] };
      }
      const result = await scripts.slReserve(r.budgets.length, ...r.budgets.map((b) => b.counter), now, r.ttlMs, r.requestId, r.amountUsd, prefix, record, ...r.budgets.map((b) => b.limitUsd));
      if (result[0] !== 0) {
        const b = r.budgets[Number(result[0]) - 1]!;
        return { ok: false, counter: b.counter, spentUsd: Number(result[1]), reservedUsd: Number(result[2]), limitUsd: b.limitUsd };
      }
      return { ok: true, spentUsd: result.slice(1).map(Number) };
    },
    async hit(counter, windowMs, quota, amount, now) {
      const { cur, prev, elapsed } = windowKeys(counter, windowMs, now);
      const [allowed, used] = await scripts.slHit(prefix + cur, prefix + prev, quota, windowMs, elapsed, amount);
      return { allowed: allowed === 1, used: Number(used), resetMs: windowMs - elapsed };
    },
    async settle(rows, timezone) {
      if (rows.length === 0) return;
      const now = Date.now();
      const pipeline = redis.pipeline() as ReturnType<Redis['pipeline']> & { slSettle(numKeys: number, ...args: (string | number)[]): unknown };
      for (const row of rows) {
        const counters = row.cost_usd > 0 ? countersOf(row, timezone) : [];
        pipeline.slSettle(counters.length, ...counters, prefix, row.request_id, row.cost_usd, row.tokens, now);
      }
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed) throw failed[0];
    },
    async read(counter, now) {
      const [spent, live] = await Promise.all([redis.get(prefix + counter), redis.zrangebyscore(`${prefix}resv:${counter}`, `(${now}`, '+inf')]);
      // Summed from the live entries (not the running total), so a lapsed one that was not swept yet does not show.
      const amounts = live.length === 0 ? [] : await redis.hmget(`${prefix}resv-amt:${counter}`, ...live);
      return { spentUsd: Number(spent ?? 0), reservedUsd: amounts.reduce((a, v) => a + Number(v ?? 0), 0) };
    },
    restore() {
      // Redis is the source of truth in production: it survives restarts itself (AOF).
    },
  };
}
