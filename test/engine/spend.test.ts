// Budget spend: calendar periods in a timezone (DST included), both stores' admission (windows and reservations in
// one operation), settlements and sliding windows, and the embedded default's restore from the ledger on chDB with known rows.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBudget, parseRatePolicy } from '../../config/budgets.ts';
import { countersOf, periodOf, periodStartOf } from '../../contracts/spend.ts';
import { settlementOf, spendFromLedger } from '../../ingest/settle.ts';
import { createWriter } from '../../ingest/writer.ts';
import type { AdmitRequest, SpendStore } from '../../ledger/spend-store.ts';
import { memorySpendStore, redisSpendStore } from '../../ledger/spend-store.ts';
import { makeEvent } from '../helpers/events.ts';
import { migratedStorePerFile } from '../helpers/clickhouse.ts';
import { startRedis } from '../helpers/redis.ts';

const store = migratedStorePerFile();
const at = (iso: string) => Date.parse(iso);

describe('calendar periods', () => {
  it('turn at local midnight in the configured timezone, weeks on Mondays, DST days included', () => {
    expect(periodOf('month', 'UTC', at('2026-12-31T23:59:59Z'))).toEqual({ id: 'month:2026-12', resetsAt: at('2027-01-01T00:00:00Z') });
    // 23:30 UTC on 31 Dec is already 1 Jan in Berlin.
    expect(periodOf('month', 'Europe/Berlin', at('2026-12-31T23:30:00Z'))).toEqual({ id: 'month:2027-01', resetsAt: at('2027-01-31T23:00:00Z') });
    expect(periodOf('week', 'UTC', at('2026-12-03T10:00:00Z'))).toEqual({ id: 'week:2026-11-30', resetsAt: at('2026-12-07T00:00:00Z') });
    // Berlin's clocks go forward on 29 March 2026: that day has 23 hours.
    const dst = periodOf('day', 'Europe/Berlin', at('2026-03-29T12:00:00Z'));
    expect(dst).toEqual({ id: 'day:2026-03-29', resetsAt: at('2026-03-29T22:00:00Z') });
    expect(periodStartOf('day', 'Europe/Berlin', at('2026-03-29T12:00:00Z'))).toBe(at('2026-03-28T23:00:00Z'));
    expect(periodStartOf('month', 'America/New_York', at('2026-12-15T00:00:00Z'))).toBe(at('2026-12-01T05:00:00Z'));
  });

  it('parse budgets and Helicone policies, saying what to write instead', () => {
    expect(parseBudget('$10/day')).toEqual({ usd: 10, period: 'day' });
    expect(parseBudget('200 / month')).toEqual({ usd: 200, period: 'month' });
    expect(parseBudget('200/year')).toMatch(/write <usd>\/<day\|week\|month>/);
    expect(parseRatePolicy('1000;w=3600;u=request;s=user')).toMatchObject({ quota: 1000, windowS: 3600, unit: 'request', segment: 'user' });
    expect(parseRatePolicy('500;w=60;u=cents')).toMatchObject({ unit: 'cents', segment: '' });
    expect(parseRatePolicy('10;w=60;u=bytes')).toMatch(/u=bytes must be request, token or cents/);
    expect(parseRatePolicy('10')).toMatch(/the window w= is missing/);
  });
});

// The same semantics from both stores: this process's memory (embedded default) and a real Redis (replicas).
const stores: [string, () => Promise<{ s: SpendStore; close(): Promise<void> }>][] = [
  ['in memory', async () => ({ s: memorySpendStore(), close: async () => {} })],
  ['on Redis', async () => {
    const server = await startRedis();
    const client = new Redis(server.url);
    return { s: redisSpendStore(client, 'test:'), close: async () => { client.disconnect(); await server.stop(); } };
  }],
];

const request = (id: string, over: Partial<AdmitRequest> = {}): AdmitRequest => ({ requestId: id, windows: [], budgets: [], amountUsd: 0, usageCounters: [], ttlMs: 60_000, ...over });
const MONTH = 'spend:key:k:month:2026-12';

describe.each(stores)('the spend store %s', (_name, open) => {
  let s: SpendStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ s, close } = await open());
  });
  afterAll(() => close());

  it('admits while spend plus reservations are under the limit, and settles the real cost in place of the reservation', async () => {
    const now = at('2026-12-01T10:00:00Z');
    const budget = (id: string) => request(id, { budgets: [{ counter: MONTH, limitUsd: 1 }], amountUsd: 0.6 });
    expect(await s.admit(budget('a'), now)).toEqual({ ok: true, windows: [], spentUsd: [0] });
    expect(await s.admit(budget('b'), now)).toEqual({ ok: true, windows: [], spentUsd: [0] });
    // Two calls in flight may cost $1.20: a third would start with the budget already committed.
    expect(await s.admit(budget('c'), now)).toEqual({ ok: false, refused: 'budget', index: 0, spentUsd: 0, reservedUsd: 1.2 });
    await s.settle([{ request_id: 'a', organization_id: 'acme', team: '', key_id: 'k', at: now, cost_usd: 0.25, tokens: 10 }], 'UTC');
    expect(await s.read(MONTH, now)).toEqual({ spentUsd: 0.25, reservedUsd: 0.6 });
    expect(await s.admit(budget('c'), now)).toEqual({ ok: true, windows: [], spentUsd: [0.25] });
    // A reservation whose call never settled lapses.
    expect(await s.read(MONTH, now + 60_001)).toEqual({ spentUsd: 0.25, reservedUsd: 0 });
    // Its call settling late adds its cost and releases nothing twice.
    expect(await s.admit(budget('d'), now + 60_002)).toMatchObject({ ok: true });
    await s.settle([{ request_id: 'b', organization_id: 'acme', team: '', key_id: 'k', at: now, cost_usd: 0.05, tokens: 10 }], 'UTC');
    expect(await s.read(MONTH, now + 60_003)).toEqual({ spentUsd: 0.3, reservedUsd: 0.6 });
  });

  it('counts a sliding window: the previous window weighs by how much of it still overlaps', async () => {
    const w = 60_000;
    const t0 = 10 * w;
    const hit = (at: number) => s.admit(request(`w${at}-${Math.random()}`, { windows: [{ counter: 'rl', windowMs: w, quota: 10, amount: 1 }] }), at);
    for (let i = 0; i < 10; i++) expect(await hit(t0 + i)).toEqual({ ok: true, windows: [{ used: i + 1, resetMs: w - i }], spentUsd: [] });
    expect(await hit(t0 + 20)).toEqual({ ok: false, refused: 'window', index: 0, used: 10, resetMs: w - 20 });
    // A quarter into the next window, 75 % of the last one still counts: 7.5 used, room for 2 more.
    const later = t0 + w + w / 4;
    expect(await hit(later)).toMatchObject({ ok: true, windows: [{ used: 8.5 }] });
    expect(await hit(later)).toMatchObject({ ok: true, windows: [{ used: 9.5 }] });
    expect(await hit(later)).toMatchObject({ ok: false, refused: 'window' });
  });

  it('is one operation: a full window counts nothing in the others, a spent budget reserves nothing but the windows count the call', async () => {
    const now = at('2026-12-02T10:00:00Z');
    const roomy = { counter: 'rl-roomy', windowMs: 60_000, quota: 100, amount: 1 };
    const full = { counter: 'rl-full', windowMs: 60_000, quota: 1, amount: 1 };
    expect(await s.admit(request('x1', { windows: [roomy, full] }), now)).toMatchObject({ ok: true, windows: [{ used: 1 }, { used: 1 }] });
    expect(await s.admit(request('x2', { windows: [roomy, full] }), now)).toMatchObject({ ok: false, refused: 'window', index: 1 });
    // x2 was refused by the second window: the first did not count it.
    expect(await s.admit(request('x3', { windows: [roomy] }), now)).toMatchObject({ ok: true, windows: [{ used: 2 }] });
    const spent = 'spend:key:spent:day:2026-12-02';
    await s.settle([{ request_id: 'none', organization_id: '', team: '', key_id: 'spent', at: now, cost_usd: 2, tokens: 0 }], 'UTC');
    expect(await s.admit(request('x4', { windows: [roomy], budgets: [{ counter: spent, limitUsd: 1 }], amountUsd: 0.5 }), now)).toEqual({ ok: false, refused: 'budget', index: 0, spentUsd: 2, reservedUsd: 0 });
    expect(await s.read(spent, now)).toEqual({ spentUsd: 2, reservedUsd: 0 });
    expect(await s.admit(request('x5', { windows: [roomy] }), now)).toMatchObject({ ok: true, windows: [{ used: 4 }] });
  });

  it('lets go of an earlier reservation when a request id comes twice, so settling leaves nothing held', async () => {
    const now = at('2026-12-03T10:00:00Z');
    const counter = 'spend:key:twice:day:2026-12-03';
    // A $1 budget and a $1 reservation: had the first one stayed held, the second (and every later call) would be refused.
    const twice = request('same-id', { budgets: [{ counter, limitUsd: 1 }], amountUsd: 1 });
    expect(await s.admit(twice, now)).toMatchObject({ ok: true });
    expect(await s.admit(twice, now)).toMatchObject({ ok: true });
    expect(await s.read(counter, now)).toEqual({ spentUsd: 0, reservedUsd: 1 });
    await s.settle([{ request_id: 'same-id', organization_id: 'acme', team: '', key_id: 'twice', at: now, cost_usd: 0, tokens: 1 }], 'UTC');
    expect(await s.read(counter, now)).toEqual({ spentUsd: 0, reservedUsd: 0 });
    expect(await s.admit(request('after', { budgets: [{ counter, limitUsd: 1 }], amountUsd: 1 }), now)).toEqual({ ok: true, windows: [], spentUsd: [0] });
  });

  it('counts tokens and cents in their windows when the call is settled, checking them at admission', async () => {
    const now = Date.now();
    const tokens = { counter: 'tpm', windowMs: 60_000, quota: 100, amount: 0 };
    const usage = [{ counter: 'tpm', windowMs: 60_000, unit: 'token' as const }];
    expect(await s.admit(request('t1', { windows: [tokens], usageCounters: usage }), now)).toMatchObject({ ok: true, windows: [{ used: 0 }] });
    await s.settle([{ request_id: 't1', organization_id: 'acme', team: '', key_id: 'k', at: now, cost_usd: 0, tokens: 120 }], 'UTC');
    // 120 tokens spent of 100: the next call is refused until the window slides.
    expect(await s.admit(request('t2', { windows: [tokens], usageCounters: usage }), Date.now())).toMatchObject({ ok: false, refused: 'window', used: 120 });
  });
});

describe('the in-process spend store', () => {
  it('answers without a promise, so an admitted call waits for nothing', () => {
    const s = memorySpendStore();
    const r = s.admit(request('sync', { windows: [{ counter: 'rl', windowMs: 1000, quota: 5, amount: 1 }], budgets: [{ counter: MONTH, limitUsd: 1 }], amountUsd: 0.1 }), at('2026-12-01T10:00:00Z'));
    expect(r).not.toBeInstanceOf(Promise);
    expect(r).toEqual({ ok: true, windows: [{ used: 1, resetMs: 1000 }], spentUsd: [0] });
  });
});

describe('restore from the ledger (embedded default)', () => {
  it('sums each key, team and organisation over the current day, week and month, each call once', async () => {
    const now = at('2026-12-03T12:00:00Z');
    const rows = [
      makeEvent({ key_id: 'k1', team: 'billing', organization_id: 'acme', created_at: '2026-12-03T09:00:00.000Z', cost_usd: 1.5 }),
      makeEvent({ key_id: 'k1', team: 'billing', organization_id: 'acme', created_at: '2026-12-01T09:00:00.000Z', cost_usd: 2 }),
      makeEvent({ key_id: 'k2', team: 'billing', organization_id: 'acme', created_at: '2026-11-30T09:00:00.000Z', cost_usd: 4 }),
      makeEvent({ key_id: 'k1', team: 'billing', organization_id: 'acme', created_at: '2026-11-20T09:00:00.000Z', cost_usd: 100 }),
    ];
    const writer = createWriter(store().client);
    await writer.insert(rows);
    // Delivered twice: FINAL counts it once.
    await writer.insert([rows[0]!]);
    const spent = await spendFromLedger(store().client, 'UTC', now);
    expect(spent['spend:key:k1:day:2026-12-03']).toBeCloseTo(1.5);
    expect(spent['spend:key:k1:week:2026-11-30']).toBeCloseTo(3.5);
    expect(spent['spend:key:k1:month:2026-12']).toBeCloseTo(3.5);
    expect(spent['spend:team:acme/billing:week:2026-11-30']).toBeCloseTo(7.5);
    expect(spent['spend:org:acme:month:2026-12']).toBeCloseTo(3.5);
    expect(spent['spend:key:k2:month:2026-12']).toBeUndefined();
    // The same counters the settlement of a new row adds to.
    expect(countersOf(settlementOf(rows[0]!), 'UTC')).toEqual(expect.arrayContaining(['spend:key:k1:day:2026-12-03', 'spend:team:acme/billing:week:2026-11-30', 'spend:org:acme:month:2026-12']));
    const restored = memorySpendStore();
    restored.restore(spent);
    expect(await restored.read('spend:key:k1:month:2026-12', now)).toEqual({ spentUsd: 3.5, reservedUsd: 0 });
  });
});
