// Budget spend, as the proxy reserves it and ingest settles it: the counters are named here once so both sides (and
// both stores, Redis and in-process) agree. Spend is the ledger's cost, the number the row gets; the proxy reserves
// a call's maximum cost when it starts, and ingest replaces the reservation with the real cost once the row is stored.
import { BUDGET_PERIODS } from '../config/budgets.ts';
import type { BudgetPeriod } from '../config/budgets.ts';

/** What a stored row settles: its id (releases the reservation), who spent, when, and how much. */
export interface Settlement {
  request_id: string;
  organization_id: string;
  team: string;
  key_id: string;
  /** Epoch ms of created_at: the period the spend belongs to. */
  at: number;
  cost_usd: number;
  tokens: number;
}

/** A budgeted scope: a key, a team within an organisation, or an organisation. */
export type SpendScope = { kind: 'key'; id: string } | { kind: 'team'; organization: string; team: string } | { kind: 'org'; organization: string };

export function scopeName(s: SpendScope): string {
  if (s.kind === 'key') return `key:${s.id}`;
  if (s.kind === 'team') return `team:${s.organization}/${s.team}`;
  return `org:${s.organization}`;
}

/** The scopes a row's spend counts against: its key, its team, its organisation (those it has). */
export function scopesOf(s: Pick<Settlement, 'organization_id' | 'team' | 'key_id'>): SpendScope[] {
  const out: SpendScope[] = [];
  if (s.key_id !== '') out.push({ kind: 'key', id: s.key_id });
  if (s.organization_id !== '' && s.team !== '') out.push({ kind: 'team', organization: s.organization_id, team: s.team });
  if (s.organization_id !== '') out.push({ kind: 'org', organization: s.organization_id });
  return out;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function partsIn(tz: string, at: number): { y: number; m: number; d: number; weekday: number; offsetMs: number } {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', hourCycle: 'h23', weekday: 'short' });
    formatters.set(tz, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(at)) p[part.type] = part.value;
  const y = Number(p.year);
  const m = Number(p.month);
  const d = Number(p.day);
  const wall = Date.UTC(y, m - 1, d, Number(p.hour), Number(p.minute), Number(p.second));
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(p.weekday ?? '');
  return { y, m, d, weekday, offsetMs: wall - Math.floor(at / 1000) * 1000 };
}

/** The instant of local midnight of y-m-d in tz (the offset looked up at that instant, so DST days come out right). */
function localMidnight(tz: string, y: number, m: number, d: number): number {
  const guess = Date.UTC(y, m - 1, d);
  const first = guess - partsIn(tz, guess).offsetMs;
  return guess - partsIn(tz, first).offsetMs;
}

const pad = (n: number) => String(n).padStart(2, '0');

export interface PeriodWindow {
  /** `month:2026-12`, `week:2026-11-30` (its Monday), `day:2026-12-01`. */
  id: string;
  /** When the next period starts, epoch ms. */
  resetsAt: number;
}

/** The last answer per period and timezone, with the instant it starts: calls arrive in order, so most hit it. */
const recent = new Map<string, { window: PeriodWindow; from: number }>();

/** The calendar period containing `at` in `tz`. */
export function periodOf(period: BudgetPeriod, tz: string, at: number): PeriodWindow {
  const memoKey = `${period}|${tz}`;
  const hit = recent.get(memoKey);
  if (hit !== undefined && at >= hit.from && at < hit.window.resetsAt) return hit.window;
  const window = computePeriod(period, tz, at);
  // The period began at the previous one's reset: at most a month ago; found by stepping back from `at`.
  recent.set(memoKey, { window, from: startOf(period, tz, at, window.id) });
  return window;
}

/** Epoch ms when the period with this id, containing `at`, began (in tz). */
function startOf(period: BudgetPeriod, tz: string, at: number, id: string): number {
  let t = at;
  for (const step of [86_400_000, 3_600_000, 60_000, 1000]) {
    while (computePeriod(period, tz, t - step).id === id) t -= step;
  }
  return Math.floor(t / 1000) * 1000;
}

/** Epoch ms when the period containing `at` began (in tz). */
export function periodStartOf(period: BudgetPeriod, tz: string, at: number): number {
  return startOf(period, tz, at, computePeriod(period, tz, at).id);
}

function computePeriod(period: BudgetPeriod, tz: string, at: number): PeriodWindow {
  const { y, m, d, weekday } = partsIn(tz, at);
  if (period === 'month') {
    const next = m === 12 ? [y + 1, 1] : [y, m + 1];
    return { id: `month:${y}-${pad(m)}`, resetsAt: localMidnight(tz, next[0]!, next[1]!, 1) };
  }
  if (period === 'week') {
    const back = (weekday + 6) % 7; // days since Monday
    const start = new Date(Date.UTC(y, m - 1, d - back));
    const end = new Date(Date.UTC(y, m - 1, d - back + 7));
    return { id: `week:${start.getUTCFullYear()}-${pad(start.getUTCMonth() + 1)}-${pad(start.getUTCDate())}`, resetsAt: localMidnight(tz, end.getUTCFullYear(), end.getUTCMonth() + 1, end.getUTCDate()) };
  }
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  return { id: `day:${y}-${pad(m)}-${pad(d)}`, resetsAt: localMidnight(tz, next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate()) };
}

/** The counter a scope's spend in a period is kept under. */
export function spendCounter(scope: SpendScope, period: PeriodWindow): string {
  return `spend:${scopeName(scope)}:${period.id}`;
}

/** Every counter a settlement adds its cost to: each of its scopes, in each kind of period. */
export function countersOf(s: Settlement, tz: string): string[] {
  const periods = BUDGET_PERIODS.map((p) => periodOf(p, tz, s.at));
  return scopesOf(s).flatMap((scope) => periods.map((p) => spendCounter(scope, p)));
}
