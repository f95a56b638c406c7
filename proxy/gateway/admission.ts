// Gateway layer II, before any upstream is asked, in this order:
//
//   key (authenticated in prepare) → model allowlist → rate limits → budgets
//
// A refusal is the caller's provider error shape with a stable code; every call, refused or not, is logged. Rate
// limits count requests here, and tokens / cents when ingest settles the call. Budgets reserve the call's maximum
// cost (its max_tokens at the model's price) and ingest settles the real one, so concurrent calls on every replica
// see what the others have committed: spend can pass a budget by at most the calls in flight when it was crossed.
// The windows and the budgets are one operation of the spend store (one Redis script; in memory, no promise at all).
import type { Config } from '../../config/index.ts';
import type { Budget, RatePolicy } from '../../config/budgets.ts';
import type { PeriodWindow, SpendScope } from '../../contracts/spend.ts';
import { periodOf, scopeName, spendCounter } from '../../contracts/spend.ts';
import type { Coster } from '../../ledger/cost.ts';
import type { AdmitRequest, AdmitResult, BudgetCheck, SpendStore, UsageCounter, WindowCheck } from '../../ledger/spend-store.ts';
import type { RequestCtx } from '../context.ts';
import { SightlineError } from '../errors.ts';

/** A reservation outlives any call (the forwarder's own timeout is the longest a call runs) and then lapses. */
const RESERVATION_SLACK_MS = 60_000;
/** How long a budgeted call waits for spend to be restored after a restart before it is refused (503). */
const RESTORE_WAIT_MS = 5000;

export interface AdmissionDeps {
  config: Config;
  store: SpendStore;
  /** True while the store answers; a failing store is handled by redis.on_unavailable. */
  shared: boolean;
  /** Resolves once spend is restored after a restart (embedded: from the ledger); budgets wait for it. */
  restored: Promise<void>;
  onWarn?: (message: string) => void;
}

/** The models a call may reach, for its budget reservation's maximum cost. */
export type Candidates = () => readonly { provider: string; model: string }[];

export interface Admission {
  /**
   * Refuses with SightlineError (403 / 429 / 503), thrown or as the promise's rejection, when the call may not start;
   * puts the rate-limit and budget headers in ctx.answerHeaders. Undefined when the call was admitted without waiting (the
   * in-process store) or nothing applies to it (at no cost); a promise only when Redis is asked or spend is still
   * being restored.
   */
  admit(ctx: RequestCtx, candidates: Candidates): Promise<void> | undefined;
  metrics(): Record<string, number>;
}

/** A rate limit as this call meets it: the window it counts in, and what its tokens or cents count once settled. */
interface Limit {
  policy: RatePolicy;
  check: WindowCheck;
  usage: UsageCounter | undefined;
}

/** A budget that applies to this call, with its scope's counter for the current period (remembered per scope). */
interface Budgeted {
  scope: SpendScope;
  name: string;
  budget: Budget;
}

/** What a key's own settings ask for, worked out once per key (a key object is replaced when it changes). */
interface KeyPlan {
  limits: Limit[];
  windows: WindowCheck[];
  usage: UsageCounter[];
  budget: Budgeted | undefined;
}

const limitOf = (policy: RatePolicy, counter: string): Limit => ({
  policy,
  check: { counter, windowMs: policy.windowS * 1000, quota: policy.quota, amount: policy.unit === 'request' ? 1 : 0 },
  usage: policy.unit === 'request' ? undefined : { counter, windowMs: policy.windowS * 1000, unit: policy.unit },
});

export function createAdmission({ config, store, shared, restored, onWarn = () => {} }: AdmissionDeps): Admission {
  const tz = config.budgets.timezone;
  const thresholds = [...config.budgets.alert_thresholds].sort((a, b) => a - b);
  const ttlMs = config.limits.upstream_timeout_ms + RESERVATION_SLACK_MS;
  const metrics: Record<string, number> = {};
  const count = (name: string, by = 1) => {
    metrics[name] = (metrics[name] ?? 0) + by;
  };
  // Metric names per scope, made once (the ratio is set on every budgeted call).
  const ratioNames = new Map<string, string>();
  const ratioMetric = (scope: string): string => {
    let name = ratioNames.get(scope);
    if (name === undefined) {
      name = `sightline_budget_used_ratio{scope="${scope}"}`;
      if (ratioNames.size < 100_000) ratioNames.set(scope, name);
    }
    return name;
  };
  // The ledger's prices, loaded on the first budgeted call (a gateway without budgets never loads them).
  let cost: Coster | undefined;
  let costLoading: Promise<void> | undefined;
  const loadCost = () => (costLoading ??= import('../../ledger/cost.ts').then((c) => {
    cost = c.createCoster({ overrides: config.prices });
  }));
  let isRestored = false;
  void restored.then(() => {
    isRestored = true;
  });
  const waitRestored = () => Promise.race([restored, new Promise((resolve) => setTimeout(resolve, RESTORE_WAIT_MS).unref())]).then(() => {
    if (!isRestored) throw new SightlineError('sightline_budget_unavailable', 503, 'Budgets are not restored yet after a restart (the ledger has not answered); retry shortly.', { retryable: true, type: 'api_error' });
  });

  const keyPlans = new WeakMap<object, KeyPlan>();
  function planOfKey(p: NonNullable<RequestCtx['principal']>): KeyPlan | undefined {
    const key = p.key;
    if (key === undefined) return undefined;
    let plan = keyPlans.get(key);
    if (plan !== undefined) return plan;
    const limits: Limit[] = [];
    if (key.rpm !== undefined) limits.push(limitOf({ quota: key.rpm, windowS: 60, unit: 'request', segment: 'key', text: `${key.rpm};w=60;u=request;s=key` }, `rl:key:${p.key_id}:request:60`));
    if (key.tpm !== undefined) limits.push(limitOf({ quota: key.tpm, windowS: 60, unit: 'token', segment: 'key', text: `${key.tpm};w=60;u=token;s=key` }, `rl:key:${p.key_id}:token:60`));
    const scope: SpendScope = { kind: 'key', id: p.key_id };
    plan = {
      limits,
      windows: limits.map((l) => l.check),
      usage: limits.flatMap((l) => (l.usage === undefined ? [] : [l.usage])),
      budget: key.budget === undefined ? undefined : { scope, name: scopeName(scope), budget: key.budget },
    };
    keyPlans.set(key, plan);
    return plan;
  }

  /** The policies that apply to this call: the key's own, then config's and the request's (those it has a segment for). */
  function limitsOf(ctx: RequestCtx, own: KeyPlan | undefined): Limit[] {
    const headerPolicy = ctx.optIn?.rateLimit;
    const base = own?.limits ?? NO_LIMITS;
    if (config.rate_limits.length === 0 && headerPolicy === undefined) return base;
    const out: Limit[] = [...base];
    const org = ctx.principal!.organization_id;
    const policies = headerPolicy === undefined ? config.rate_limits : [...config.rate_limits, headerPolicy];
    for (const policy of policies) {
      const segment = segmentValue(ctx, policy.segment);
      if (segment !== undefined) out.push(limitOf(policy, `rl:org:${org}:${policy.text}:${segment}`));
    }
    return out;
  }

  const orgOrTeamBudgets = Object.keys(config.budgets.teams).length + Object.keys(config.budgets.organizations).length > 0;
  function budgetsOf(ctx: RequestCtx, own: KeyPlan | undefined): Budgeted[] {
    const keyBudget = own?.budget;
    if (!orgOrTeamBudgets) return keyBudget === undefined ? NONE : [keyBudget];
    const p = ctx.principal!;
    const out: Budgeted[] = keyBudget === undefined ? [] : [keyBudget];
    const team = p.team === '' ? undefined : config.budgets.teams[`${p.organization_id}/${p.team}`] ?? config.budgets.teams[p.team];
    if (team !== undefined) {
      const scope: SpendScope = { kind: 'team', organization: p.organization_id, team: p.team };
      out.push({ scope, name: scopeName(scope), budget: team });
    }
    const org = config.budgets.organizations[p.organization_id];
    if (org !== undefined) {
      const scope: SpendScope = { kind: 'org', organization: p.organization_id };
      out.push({ scope, name: scopeName(scope), budget: org });
    }
    return out;
  }

  /** Each scope's counter for its current period, made once per period rather than on every call. */
  const counters = new Map<string, { period: string; counter: string }>();
  function counterOf(b: Budgeted, window: PeriodWindow): string {
    const memoKey = `${b.name}|${b.budget.period}`;
    const hit = counters.get(memoKey);
    if (hit !== undefined && hit.period === window.id) return hit.counter;
    const counter = spendCounter(b.scope, window);
    if (hit !== undefined || counters.size < 100_000) counters.set(memoKey, { period: window.id, counter });
    return counter;
  }

  /**
   * USD per input and per output token of a model, from the ledger's prices (and overrides) for a million of each:
   * long-context tiers make that the dearer rate, so the reservation stays an upper bound. Remembered per model.
   */
  const rates = new Map<string, { input: number; output: number } | null>();
  function ratesOf(price: Coster, provider: string, model: string): { input: number; output: number } | null {
    const memoKey = `${provider}|${model}`;
    const hit = rates.get(memoKey);
    if (hit !== undefined) return hit;
    const at = Date.now();
    const usd = (prompt: number, completion: number) => price(provider as Parameters<Coster>[0], model, { prompt_tokens: prompt, completion_tokens: completion, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 }, at);
    const input = usd(1_000_000, 0);
    const output = usd(0, 1_000_000);
    const found = input.cost_known && output.cost_known ? { input: input.cost_usd / 1_000_000, output: output.cost_usd / 1_000_000 } : null;
    if (rates.size < 10_000) rates.set(memoKey, found);
    return found;
  }

  function maxCostUsd(ctx: RequestCtx, price: Coster, candidates: readonly { provider: string; model: string }[]): number {
    const body = ctx.parsedBody as Record<string, unknown> | undefined;
    let output = config.budgets.default_max_tokens;
    for (const k of ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const) {
      const v = body?.[k];
      if (typeof v === 'number' && v > 0) {
        output = v;
        break;
      }
    }
    // A token is at least one byte of the prompt: counting bytes as tokens bounds the input from above.
    let max = 0;
    for (const c of candidates) {
      const r = ratesOf(price, c.provider, c.model);
      if (r !== null) max = Math.max(max, ctx.requestBody.length * r.input + output * r.output);
    }
    return max;
  }

  function admitNow(ctx: RequestCtx, candidates: Candidates): Promise<void> | undefined {
    const p = ctx.principal!;
    const key = p.key;
    // 1. The key's model allowlist: aliases and provider models, globs allowed.
    if (key?.models !== undefined && key.models.length > 0) {
      const asked = [ctx.gateway?.alias ?? '', ctx.model].filter((m) => m !== '');
      if (!asked.some((m) => key.models!.some((pattern) => globMatch(pattern, m)))) {
        throw new SightlineError('sightline_model_not_allowed', 403, `Key "${p.key_id}" may not call "${asked[0] ?? '(no model)'}"; it may call: ${key.models.join(', ')}.`, { type: 'permission_error' });
      }
    }
    const own = planOfKey(p);
    const limits = limitsOf(ctx, own);
    const budgets = budgetsOf(ctx, own);
    if (limits.length === 0 && budgets.length === 0) return undefined;
    if (budgets.length > 0) {
      // Once after a restart and once per process: then every budgeted call goes straight through.
      if (!isRestored) return waitRestored().then(() => admitNow(ctx, candidates));
      if (cost === undefined) return loadCost().then(() => admitNow(ctx, candidates));
    }
    const now = Date.now();
    // 2. Rate limits and 3. budgets (key, team, organisation), in one operation of the store.
    const periods: PeriodWindow[] = [];
    const checks: BudgetCheck[] = [];
    for (const b of budgets) {
      const window = periodOf(b.budget.period, tz, now);
      periods.push(window);
      checks.push({ counter: counterOf(b, window), limitUsd: b.budget.usd });
    }
    const fromKeyOnly = limits === own?.limits;
    const request: AdmitRequest = {
      requestId: ctx.requestId,
      windows: fromKeyOnly ? own!.windows : limits.map((l) => l.check),
      budgets: checks,
      amountUsd: budgets.length === 0 ? 0 : maxCostUsd(ctx, cost!, candidates()),
      usageCounters: fromKeyOnly ? own!.usage : limits.flatMap((l) => (l.usage === undefined ? [] : [l.usage])),
      ttlMs,
    };
    let result: AdmitResult | Promise<AdmitResult>;
    try {
      result = store.admit(request, now);
    } catch (err) {
      return unavailable(err, limits, budgets);
    }
    if (result instanceof Promise) return result.then((r) => decide(ctx, limits, budgets, periods, r, now), (err: unknown) => unavailable(err, limits, budgets));
    decide(ctx, limits, budgets, periods, result, now);
    return undefined;
  }

  /** The store failed (Redis unreachable or slow): redis.on_unavailable decides, for limits and budgets each. */
  function unavailable(err: unknown, limits: readonly Limit[], budgets: readonly Budgeted[]): undefined {
    const message = err instanceof Error ? err.message : String(err);
    if (limits.length > 0) {
      count('sightline_redis_failures_total{use="rate_limit"}');
      if (config.redis.on_unavailable.rate_limits === 'closed') {
        throw new SightlineError('sightline_rate_limit_unavailable', 503, 'Rate limits cannot be checked right now (their store is unavailable) and redis.on_unavailable.rate_limits is "closed"; retry shortly.', { retryable: true, type: 'api_error' });
      }
    }
    if (budgets.length > 0) {
      count('sightline_redis_failures_total{use="budget"}');
      if (config.redis.on_unavailable.budgets === 'closed') {
        throw new SightlineError('sightline_budget_unavailable', 503, `Budgets cannot be checked right now (${shared ? 'Redis is unavailable' : 'their store failed'}) and redis.on_unavailable.budgets is "closed"; retry shortly.`, { retryable: true, type: 'api_error' });
      }
    }
    const unchecked = [limits.length > 0 ? 'rate limits' : '', budgets.length > 0 ? 'budgets' : ''].filter((s) => s !== '').join(' and ');
    onWarn(`${unchecked} not checked, Redis unavailable (failing open): ${message}`);
    return undefined;
  }

  /** The store's answer: a refusal thrown, or the headers of an admitted call (the tightest limit, budget warnings). */
  function decide(ctx: RequestCtx, limits: readonly Limit[], budgets: readonly Budgeted[], periods: readonly PeriodWindow[], result: AdmitResult, now: number): void {
    if (!result.ok && result.refused === 'window') {
      const policy = limits[result.index]!.policy;
      count('sightline_rate_limited_total');
      setRateHeaders(ctx, policy, 0, result.resetMs);
      answerHeader(ctx, 'retry-after', String(Math.max(1, Math.ceil(result.resetMs / 1000))));
      throw new SightlineError('sightline_rate_limited', 429, `Rate limit ${policy.text} reached (${describeSegment(policy)}); retry in ${Math.ceil(result.resetMs / 1000)} s.`, { type: 'rate_limit_error', retryable: true });
    }
    if (!result.ok) {
      const b = budgets[result.index]!;
      const window = periods[result.index]!;
      count(`sightline_budget_refused_total{scope="${b.name}"}`);
      answerHeader(ctx, 'retry-after', String(Math.max(1, Math.ceil((window.resetsAt - now) / 1000))));
      throw new SightlineError('sightline_budget_exceeded', 429, `Budget of ${describeScope(b.scope)} exceeded: $${fmt(b.budget.usd)}/${b.budget.period}, spent $${fmt(result.spentUsd)}${result.reservedUsd > 0 ? ` (+$${fmt(result.reservedUsd)} in flight)` : ''}; resets ${new Date(window.resetsAt).toISOString()}.`, { type: 'rate_limit_error' });
    }
    // The window with the least room left is the one the headers describe.
    let tightest = -1;
    let room = Infinity;
    for (let i = 0; i < limits.length; i++) {
      const left = (limits[i]!.policy.quota - result.windows[i]!.used) / limits[i]!.policy.quota;
      if (left < room) {
        room = left;
        tightest = i;
      }
    }
    if (tightest >= 0) {
      const policy = limits[tightest]!.policy;
      const w = result.windows[tightest]!;
      setRateHeaders(ctx, policy, Math.max(0, Math.floor(policy.quota - w.used)), w.resetMs);
    }
    // Soft limits: the highest threshold each budget has reached, as a header and a metric.
    let warnings: string | undefined;
    for (let i = 0; i < budgets.length; i++) {
      const b = budgets[i]!;
      const spent = result.spentUsd[i] ?? 0;
      const ratio = spent / b.budget.usd;
      metrics[ratioMetric(b.name)] = Math.round(ratio * 10_000) / 10_000;
      let reached: number | undefined;
      for (let t = thresholds.length - 1; t >= 0 && reached === undefined; t--) if (ratio >= thresholds[t]!) reached = thresholds[t];
      if (reached === undefined) continue;
      count(`sightline_budget_alerts_total{scope="${b.name}",threshold="${reached}"}`);
      const warning = `${Math.round(reached * 100)}% of ${describeScope(b.scope)}'s $${fmt(b.budget.usd)}/${b.budget.period} used ($${fmt(spent)}); resets ${new Date(periods[i]!.resetsAt).toISOString()}`;
      warnings = warnings === undefined ? warning : `${warnings}; ${warning}`;
    }
    if (warnings !== undefined) answerHeader(ctx, 'sightline-budget-warning', warnings);
  }

  return {
    admit(ctx, candidates) {
      const p = ctx.principal;
      if (p === undefined || (p.key === undefined && !orgOrTeamBudgets && config.rate_limits.length === 0 && ctx.optIn?.rateLimit === undefined)) return undefined;
      return admitNow(ctx, candidates);
    },
    metrics: () => metrics,
  };
}

const NONE: Budgeted[] = [];
const NO_LIMITS: Limit[] = [];

/** The policy's own header values, made once per policy (config's live as long as the config). */
const policyHeaders = new WeakMap<RatePolicy, { policy: string; limit: string }>();

const answerHeader = (ctx: RequestCtx, name: string, value: string) => {
  (ctx.answerHeaders ??= {})[name] = value;
};

function setRateHeaders(ctx: RequestCtx, policy: RatePolicy, remaining: number, resetMs: number): void {
  const reset = Math.max(0, Math.ceil(resetMs / 1000));
  let fixed = policyHeaders.get(policy);
  if (fixed === undefined) policyHeaders.set(policy, (fixed = { policy: `${policy.quota};w=${policy.windowS}`, limit: String(policy.quota) }));
  // IETF draft (RateLimit header fields for HTTP), and Helicone's names for migrating users.
  const h = (ctx.answerHeaders ??= {});
  h['ratelimit-policy'] = fixed.policy;
  h.ratelimit = `limit=${fixed.limit}, remaining=${remaining}, reset=${reset}`;
  h['helicone-ratelimit-limit'] = fixed.limit;
  h['helicone-ratelimit-remaining'] = String(remaining);
  h['helicone-ratelimit-policy'] = policy.text;
}

/** The value a policy's segment takes for this call, or undefined when the call has none (the policy then does not apply). */
function segmentValue(ctx: RequestCtx, segment: string): string | undefined {
  const p = ctx.principal!;
  if (segment === '') return '*';
  if (segment === 'key') return p.key_id === '' ? undefined : `key=${p.key_id}`;
  if (segment === 'team') return p.team === '' ? undefined : `team=${p.team}`;
  if (segment === 'user') return ctx.optIn?.userId ? `user=${ctx.optIn.userId}` : undefined;
  if (segment === 'model') return `model=${ctx.gateway?.alias ?? ctx.model}`;
  const v = ctx.optIn?.properties[segment];
  return v === undefined ? undefined : `${segment}=${v}`;
}

function describeSegment(p: RatePolicy): string {
  if (p.segment === '') return 'for the organisation';
  if (p.segment === 'key' || p.segment === 'team' || p.segment === 'user' || p.segment === 'model') return `per ${p.segment}`;
  return `per value of property ${p.segment}`;
}

function describeScope(s: SpendScope): string {
  if (s.kind === 'key') return `key "${s.id}"`;
  if (s.kind === 'team') return `team "${s.team}" of "${s.organization}"`;
  return `organisation "${s.organization}"`;
}

const fmt = (usd: number) => usd.toFixed(usd < 1 ? 4 : 2);

/** `claude-*`, `openai/*`, `*`: `*` matches any run of characters. */
export function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}
