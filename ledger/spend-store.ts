// Where budget spend, reservations and rate-limit windows live: Redis when replicas share them (a call's whole
// admission is one Lua script, so concurrent callers on any replica see one consistent count), or this process's
// memory in the embedded default. The proxy admits (windows, then budgets); ingest settles (the real cost, once the
// row is stored). Both stores keep the same semantics, so the tests that hold for one hold for the other.
import type { Redis } from 'ioredis';
import type { Settlement } from '../contracts/spend.ts';
import { countersOf } from '../contracts/spend.ts';

/** A sliding window the call counts in: `amount` (0: only checked; tokens and cents are counted when settled). */
export interface WindowCheck { counter: string; windowMs: number; quota: number; amount: number }
/** A spend counter and the budget it must stay under. */
export interface BudgetCheck { counter: string; limitUsd: number }
/** A rate-limit window this call's tokens or cents count in once it is settled. */
export interface UsageCounter { counter: string; windowMs: number; unit: 'token' | 'cents' }

export interface AdmitRequest {
  requestId: string;
  windows: readonly WindowCheck[];
  budgets: readonly BudgetCheck[];
  /** The call's maximum cost, reserved on every budget until it is settled. */
  amountUsd: number;
  usageCounters: readonly UsageCounter[];
  /** How long the reservation holds if the call is never settled. */
  ttlMs: number;
}

/** A window as the call left it: its count (this call included when admitted) and ms until the fixed window ends. */
export interface WindowState { used: number; resetMs: number }

export type AdmitResult =
  /** Admitted: every window's state, and each budget's spend before this call (for the warning thresholds). */
  | { ok: true; windows: WindowState[]; spentUsd: number[] }
  /** windows[index] is full: nothing was counted. */
  | { ok: false; refused: 'window'; index: number; used: number; resetMs: number }
  /** budgets[index] is spent (spend + reservations at its limit): the windows counted the call, nothing was reserved. */
  | { ok: false; refused: 'budget'; index: number; spentUsd: number; reservedUsd: number };

export interface SpendStore {
  /**
   * One call's admission, atomically: every window is checked, then counted; then every budget is checked and the
   * call's maximum cost reserved on each. The in-process store answers synchronously (no promise on the request
   * path); Redis answers with one script.
   */
  admit(r: AdmitRequest, now: number): AdmitResult | Promise<AdmitResult>;
  /** Stored rows: their reservations released, their real cost added to every counter of their scopes. */
  settle(rows: readonly Settlement[], timezone: string): Promise<void>;
  /** Spent and reserved now, for the admin API and metrics. */
  read(counter: string, now: number): Promise<{ spentUsd: number; reservedUsd: number }>;
  /** Embedded default after a restart: spend as the ledger has it (replaces what the counters say). */
  restore(spent: Readonly<Record<string, number>>): void;
}

/** The sliding-window count: the previous fixed window weighs by how much of it still overlaps. */
const slidingCount = (prev: number, cur: number, elapsed: number, windowMs: number) => prev * (1 - elapsed / windowMs) + cur;
const refusedBy = (used: number, quota: number, amount: number) => used + amount > quota || (amount === 0 && used >= quota);
/** The call leaves something for its settlement to do: budget reservations to release, tokens or cents to count. */
const settlesLater = (r: AdmitRequest): boolean => r.budgets.length > 0 || r.usageCounters.length > 0;

/** How often lapsed reservations (calls never settled) leave the totals, and how often idle windows are forgotten. */
const SWEEP_MS = 1000;
const WINDOW_SWEEP_MS = 10_000;

export function memorySpendStore(): SpendStore {
  const spent = new Map<string, number>();
  /** Per spend counter: the total of its live reservations. */
  const held = new Map<string, number>();
  /**
   * Live reservations by request id. A Map iterates in insertion order and reservations last the same time, so the
   * sweep stops at the first live one: it costs what lapsed, not what is in flight.
   */
  const reservations = new Map<string, { r: AdmitRequest; until: number }>();
  /** Per window counter: its current fixed window's index and count, and the previous one's count. */
  const windows = new Map<string, { windowMs: number; index: number; cur: number; prev: number }>();
  let sweptAt = 0;
  let windowsSweptAt = 0;

  const release = (r: AdmitRequest) => {
    for (const b of r.budgets) {
      const left = (held.get(b.counter) ?? 0) - r.amountUsd;
      if (left < 1e-9) held.delete(b.counter);
      else held.set(b.counter, left);
    }
  };
  const sweep = (now: number) => {
    if (now - sweptAt < SWEEP_MS) return;
    sweptAt = now;
    for (const [id, e] of reservations) {
      if (e.until > now) break;
      reservations.delete(id);
      release(e.r);
    }
    if (now - windowsSweptAt < WINDOW_SWEEP_MS) return;
    windowsSweptAt = now;
    for (const [counter, w] of windows) if (w.index < Math.floor(now / w.windowMs) - 1) windows.delete(counter);
  };
  /** The window's entry rolled forward to now's fixed window. */
  const windowAt = (counter: string, windowMs: number, now: number) => {
    const index = Math.floor(now / windowMs);
    let w = windows.get(counter);
    if (w === undefined) windows.set(counter, (w = { windowMs, index, cur: 0, prev: 0 }));
    else if (index > w.index) {
      w.prev = index === w.index + 1 ? w.cur : 0;
      w.cur = 0;
      w.index = index;
    }
    return w;
  };
  const count = (counter: string, windowMs: number, amount: number, now: number) => {
    windowAt(counter, windowMs, now).cur += amount;
  };

  return {
    admit(r, now) {
      sweep(now);
      // A request id the caller sent twice (Sightline-Request-Id): the earlier call's reservation is let go rather
      // than left in the totals with nothing to release it.
      const prior = reservations.get(r.requestId);
      if (prior !== undefined) {
        reservations.delete(r.requestId);
        release(prior.r);
      }
      const states: WindowState[] = [];
      for (let i = 0; i < r.windows.length; i++) {
        const c = r.windows[i]!;
        const w = windowAt(c.counter, c.windowMs, now);
        const elapsed = now - w.index * c.windowMs;
        const used = slidingCount(w.prev, w.cur, elapsed, c.windowMs);
        const resetMs = c.windowMs - elapsed;
        if (refusedBy(used, c.quota, c.amount)) return { ok: false, refused: 'window', index: i, used, resetMs };
        states.push({ used: used + c.amount, resetMs });
      }
      for (const c of r.windows) if (c.amount > 0) count(c.counter, c.windowMs, c.amount, now);
      const before: number[] = [];
      for (let i = 0; i < r.budgets.length; i++) {
        const b = r.budgets[i]!;
        const s = spent.get(b.counter) ?? 0;
        const h = held.get(b.counter) ?? 0;
        if (s + h >= b.limitUsd) return { ok: false, refused: 'budget', index: i, spentUsd: s, reservedUsd: h };
        before.push(s);
      }
      if (settlesLater(r)) {
        for (const b of r.budgets) held.set(b.counter, (held.get(b.counter) ?? 0) + r.amountUsd);
        reservations.set(r.requestId, { r, until: now + r.ttlMs });
      }
      return { ok: true, windows: states, spentUsd: before };
    },
    async settle(rows, timezone) {
      const now = Date.now();
      for (const row of rows) {
        const e = reservations.get(row.request_id);
        if (e !== undefined) {
          reservations.delete(row.request_id);
          release(e.r);
          for (const u of e.r.usageCounters) count(u.counter, u.windowMs, u.unit === 'token' ? row.tokens : row.cost_usd * 100, now);
        }
        if (row.cost_usd > 0) for (const c of countersOf(row, timezone)) spent.set(c, (spent.get(c) ?? 0) + row.cost_usd);
      }
    },
    async read(counter, now) {
      sweep(now);
      return { spentUsd: spent.get(counter) ?? 0, reservedUsd: held.get(counter) ?? 0 };
    },
    restore(values) {
      spent.clear();
      for (const [counter, usd] of Object.entries(values)) spent.set(counter, usd);
    },
  };
}

// One call's admission. Windows: KEYS holds each window's current and previous fixed window (2 per window); ARGV
// per window: quota, window ms, ms elapsed in the current one, amount. Budgets: KEYS then holds the spend counters
// (unprefixed, as the reservation record names them); reservations per counter are a running total (resv-sum, read
// in O(1)), each call's amount (resv-amt) and when it lapses (resv, a sorted set swept of calls that never settled).
// ARGV: now, ttl, request id, amount, prefix, the reservation record ('' for none: what settling releases), the
// number of windows, the windows' arguments, then one limit per spend counter.
// Returns {0, used per window…, spent per budget…}, {1, window, used} or {2, budget, spent, held}.
const ADMIT = `
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local id = ARGV[3]
local amount = tonumber(ARGV[4])
local prefix = ARGV[5]
local record = ARGV[6]
local nw = tonumber(ARGV[7])
local out = {0}
for i = 1, nw do
  local a = 7 + (i - 1) * 4
  local quota = tonumber(ARGV[a + 1])
  local window = tonumber(ARGV[a + 2])
  local elapsed = tonumber(ARGV[a + 3])
  local n = tonumber(ARGV[a + 4])
  local used = tonumber(redis.call('GET', KEYS[2 * i]) or '0') * (1 - elapsed / window) + tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  if used + n > quota or (n == 0 and used >= quota) then return {1, i, tostring(used)} end
  out[i + 1] = tostring(used + n)
end
for i = 1, nw do
  local a = 7 + (i - 1) * 4
  local n = tonumber(ARGV[a + 4])
  if n > 0 then
    redis.call('INCRBYFLOAT', KEYS[2 * i - 1], n)
    redis.call('PEXPIRE', KEYS[2 * i - 1], tonumber(ARGV[a + 2]) * 2)
  end
end
local limits = 7 + nw * 4
local nb = #KEYS - 2 * nw
-- A request id sent twice: the earlier reservation is let go (not counted now, and out of the total once replaced)
-- rather than left in the total with nothing to release it.
local prior = {}
for j = 1, nb do
  local counter = KEYS[2 * nw + j]
  local zset = prefix .. 'resv:' .. counter
  local amounts = prefix .. 'resv-amt:' .. counter
  local total = prefix .. 'resv-sum:' .. counter
  prior[j] = tonumber(redis.call('HGET', amounts, id) or '0')
  local lapsed = redis.call('ZRANGEBYSCORE', zset, '-inf', now)
  if #lapsed > 0 then
    local gone = 0
    for _, v in ipairs(redis.call('HMGET', amounts, unpack(lapsed))) do gone = gone + (tonumber(v) or 0) end
    redis.call('HDEL', amounts, unpack(lapsed))
    redis.call('ZREMRANGEBYSCORE', zset, '-inf', now)
    redis.call('INCRBYFLOAT', total, -gone)
  end
  local held = tonumber(redis.call('GET', total) or '0') - prior[j]
  if held < 1e-9 then held = 0 end
  local spent = tonumber(redis.call('GET', prefix .. counter) or '0')
  if spent + held >= tonumber(ARGV[limits + j]) then return {2, j, tostring(spent), tostring(held)} end
  out[nw + 1 + j] = tostring(spent)
end
for j = 1, nb do
  local counter = KEYS[2 * nw + j]
  redis.call('ZADD', prefix .. 'resv:' .. counter, now + ttl, id)
  redis.call('HSET', prefix .. 'resv-amt:' .. counter, id, amount)
  redis.call('INCRBYFLOAT', prefix .. 'resv-sum:' .. counter, amount - prior[j])
  for _, k in ipairs({'resv:', 'resv-amt:', 'resv-sum:'}) do redis.call('PEXPIRE', prefix .. k .. counter, ttl * 2) end
end
if record ~= '' then redis.call('SET', prefix .. 'resv-of:' .. id, record, 'PX', ttl) end
return out
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
  slAdmit(numKeys: number, ...args: (string | number)[]): Promise<(number | string)[]>;
  slSettle(numKeys: number, ...args: (string | number)[]): Promise<number>;
}

function scriptsOf(redis: Redis): SpendScripts {
  const defined = redis as Redis & Partial<SpendScripts>;
  if (defined.slAdmit === undefined) {
    redis.defineCommand('slAdmit', { lua: ADMIT });
    redis.defineCommand('slSettle', { lua: SETTLE });
  }
  return redis as Redis & SpendScripts;
}

/** Spend counters outlive their period comfortably (40 days: a month plus slack); windows live two windows. */
export function redisSpendStore(redis: Redis, prefix: string): SpendStore {
  const scripts = scriptsOf(redis);
  return {
    async admit(r, now) {
      const keys: string[] = [];
      const windowArgs: number[] = [];
      const resetMs: number[] = [];
      for (const w of r.windows) {
        const index = Math.floor(now / w.windowMs);
        const elapsed = now - index * w.windowMs;
        keys.push(`${prefix}${w.counter}:${index}`, `${prefix}${w.counter}:${index - 1}`);
        windowArgs.push(w.quota, w.windowMs, elapsed, w.amount);
        resetMs.push(w.windowMs - elapsed);
      }
      for (const b of r.budgets) keys.push(b.counter);
      const record = settlesLater(r)
        ? JSON.stringify({ budgets: r.budgets.map((b) => b.counter), usage: r.usageCounters.map((u) => ({ counter: u.counter, window: u.windowMs, unit: u.unit })) })
        : '';
      const out = await scripts.slAdmit(keys.length, ...keys, now, r.ttlMs, r.requestId, r.amountUsd, prefix, record, r.windows.length, ...windowArgs, ...r.budgets.map((b) => b.limitUsd));
      const n = r.windows.length;
      if (out[0] === 1) {
        const index = Number(out[1]) - 1;
        return { ok: false, refused: 'window', index, used: Number(out[2]), resetMs: resetMs[index]! };
      }
      if (out[0] === 2) return { ok: false, refused: 'budget', index: Number(out[1]) - 1, spentUsd: Number(out[2]), reservedUsd: Number(out[3]) };
      return { ok: true, windows: resetMs.map((ms, i) => ({ used: Number(out[i + 1]), resetMs: ms })), spentUsd: out.slice(n + 1).map(Number) };
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
