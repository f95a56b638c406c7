// Gateway layer II, before any upstream is asked, in this order:
//
//   key (authenticated in prepare) → model allowlist → rate limits → budgets
//
// A refusal is the caller's provider error shape with a stable code; every call, refused or not, is logged. Rate
// limits count requests here, and tokens / cents when ingest settles the call. Budgets reserve the call's maximum
// cost (its max_tokens at the model's price) and ingest settles the real one, so concurrent calls on every replica
// see what the others have committed: spend can pass a budget by at most the calls in flight when it was crossed.
import type { ServerResponse } from 'node:http';
import type { Config } from '../../config/index.ts';
import type { Budget, RatePolicy } from '../../config/budgets.ts';
import type { SpendScope } from '../../contracts/spend.ts';
import { periodOf, scopeName, spendCounter } from '../../contracts/spend.ts';
import type { Coster } from '../../ledger/cost.ts';
import type { Reservation, SpendStore } from '../../ledger/spend-store.ts';
import type { RequestCtx } from '../context.ts';
import { SightlineError } from '../errors.ts';

/** A reservation outlives any call (the forwarder's own timeout is the longest a call runs) and then lapses. */
const RESERVATION_SLACK_MS = 60_000;

export interface AdmissionDeps {
  config: Config;
  store: SpendStore;
  /** True while the store answers; a failing store is handled by redis.on_unavailable. */
  shared: boolean;
  /** Resolves once spend is restored after a restart (embedded: from the ledger); budgets wait for it. */
  restored: Promise<void>;
  onWarn?: (message: string) => void;
}

export interface Admission {
  /**
   * Rejects with SightlineError (403 / 429 / 503) when the call may not start; sets the rate-limit and budget headers
   * on res. Undefined, at no cost, for a call no key, limit or budget applies to (the models it may reach, for the
   * budget's reservation, are asked for only when one does).
   */
  admit(ctx: RequestCtx, res: ServerResponse, candidates: () => readonly { provider: string; model: string }[]): Promise<void> | undefined;
  metrics(): Record<string, number>;
}

interface Limit {
  policy: RatePolicy;
  counter: string;
}

export function createAdmission({ config, store, shared, restored, onWarn = () => {} }: AdmissionDeps): Admission {
  const tz = config.budgets.timezone;
  const thresholds = [...config.budgets.alert_thresholds].sort((a, b) => a - b);
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
  let coster: Promise<Coster> | undefined;
  const loadCoster = () => (coster ??= import('../../ledger/cost.ts').then((c) => c.createCoster({ overrides: config.prices })));
  let isRestored = false;
  void restored.then(() => {
    isRestored = true;
  });

  /** The policies that apply to this call and the counter each counts in. */
  function limitsOf(ctx: RequestCtx, headerPolicy: RatePolicy | undefined): Limit[] {
    const p = ctx.principal!;
    const own = limitsOfKey(p);
    if (config.rate_limits.length === 0 && headerPolicy === undefined) return own;
    const out: Limit[] = [...own];
    const policies = headerPolicy === undefined ? config.rate_limits : [...config.rate_limits, headerPolicy];
    for (const policy of policies) {
      const segment = segmentValue(ctx, policy.segment);
      if (segment === undefined) continue;
      out.push({ policy, counter: `rl:org:${p.organization_id}:${policy.text}:${segment}` });
    }
    return out;
  }

  function budgetsOf(ctx: RequestCtx): { scope: SpendScope; budget: Budget }[] {
    const p = ctx.principal!;
    const out: { scope: SpendScope; budget: Budget }[] = [];
    if (p.key?.budget !== undefined) out.push({ scope: { kind: 'key', id: p.key_id }, budget: p.key.budget });
    const team = p.team === '' ? undefined : config.budgets.teams[`${p.organization_id}/${p.team}`] ?? config.budgets.teams[p.team];
    if (team !== undefined) out.push({ scope: { kind: 'team', organization: p.organization_id, team: p.team }, budget: team });
    const org = config.budgets.organizations[p.organization_id];
    if (org !== undefined) out.push({ scope: { kind: 'org', organization: p.organization_id }, budget: org });
    return out;
  }

  /**
   * USD per input and per output token of a model, from the ledger's prices (and overrides) for a million of each:
   * long-context tiers make that the dearer rate, so the reservation stays an upper bound. Remembered per model.
   */
  const rates = new Map<string, { input: number; output: number } | null>();
  async function ratesOf(provider: string, model: string): Promise<{ input: number; output: number } | null> {
    const memoKey = `${provider}|${model}`;
    const hit = rates.get(memoKey);
    if (hit !== undefined) return hit;
    const cost = await loadCoster();
    const at = Date.now();
    const price = (prompt: number, completion: number) => cost(provider as Parameters<Coster>[0], model, { prompt_tokens: prompt, completion_tokens: completion, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 }, at);
    const input = price(1_000_000, 0);
    const output = price(0, 1_000_000);
    const found = input.cost_known && output.cost_known ? { input: input.cost_usd / 1_000_000, output: output.cost_usd / 1_000_000 } : null;
    if (rates.size < 10_000) rates.set(memoKey, found);
    return found;
  }

  async function maxCostUsd(ctx: RequestCtx, candidates: readonly { provider: string; model: string }[]): Promise<number> {
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
      const r = await ratesOf(c.provider, c.model);
      if (r !== null) max = Math.max(max, ctx.requestBody.length * r.input + output * r.output);
    }
    return max;
  }

  /** What a key's own settings ask for, worked out once per key (a key object is replaced when it changes). */
  const keyLimits = new WeakMap<object, Limit[]>();
  function limitsOfKey(p: NonNullable<RequestCtx['principal']>): Limit[] {
    const key = p.key;
    if (key === undefined) return [];
    let out = keyLimits.get(key);
    if (out !== undefined) return out;
    out = [];
    if (key.rpm !== undefined) out.push({ policy: { quota: key.rpm, windowS: 60, unit: 'request', segment: 'key', text: `${key.rpm};w=60;u=request;s=key` }, counter: `rl:key:${p.key_id}:request:60` });
    if (key.tpm !== undefined) out.push({ policy: { quota: key.tpm, windowS: 60, unit: 'token', segment: 'key', text: `${key.tpm};w=60;u=token;s=key` }, counter: `rl:key:${p.key_id}:token:60` });
    keyLimits.set(key, out);
    return out;
  }

  const orgOrTeamBudgets = Object.keys(config.budgets.teams).length + Object.keys(config.budgets.organizations).length > 0;

  async function admitNow(ctx: RequestCtx, res: ServerResponse, candidates: () => readonly { provider: string; model: string }[]): Promise<void> {
    const p = ctx.principal!;
    const key = p.key;
    // 1. The key's model allowlist: aliases and provider models, globs allowed.
    if (key?.models !== undefined && key.models.length > 0) {
      const asked = [ctx.gateway?.alias ?? '', ctx.model].filter((m) => m !== '');
      if (!asked.some((m) => key.models!.some((pattern) => globMatch(pattern, m)))) {
        throw new SightlineError('sightline_model_not_allowed', 403, `Key "${p.key_id}" may not call "${asked[0] ?? '(no model)'}"; it may call: ${key.models.join(', ')}.`, { type: 'permission_error' });
      }
    }
    const now = Date.now();
    // 2. Rate limits.
    const limits = limitsOf(ctx, ctx.optIn?.rateLimit);
    let tightest: { limit: Limit; remaining: number; resetMs: number } | undefined;
    const usageCounters: Reservation['usageCounters'] = [];
    for (const limit of limits) {
      const windowMs = limit.policy.windowS * 1000;
      const amount = limit.policy.unit === 'request' ? 1 : 0;
      let result;
      try {
        result = await store.hit(limit.counter, windowMs, limit.policy.quota, amount, now);
      } catch (err) {
        count('sightline_redis_failures_total{use="rate_limit"}');
        if (config.redis.on_unavailable.rate_limits === 'open') {
          onWarn(`rate limit not checked, Redis unavailable (failing open): ${(err as Error).message}`);
          continue;
        }
        throw new SightlineError('sightline_rate_limit_unavailable', 503, 'Rate limits cannot be checked right now (their store is unavailable) and redis.on_unavailable.rate_limits is "closed"; retry shortly.', { retryable: true, type: 'api_error' });
      }
      const remaining = Math.max(0, Math.floor(limit.policy.quota - result.used));
      if (!result.allowed) {
        count('sightline_rate_limited_total');
        setRateHeaders(res, limit.policy, 0, result.resetMs);
        res.setHeader('retry-after', String(Math.max(1, Math.ceil(result.resetMs / 1000))));
        throw new SightlineError('sightline_rate_limited', 429, `Rate limit ${limit.policy.text} reached (${describeSegment(limit.policy)}); retry in ${Math.ceil(result.resetMs / 1000)} s.`, { type: 'rate_limit_error', retryable: true });
      }
      if (limit.policy.unit !== 'request') usageCounters.push({ counter: limit.counter, windowMs, unit: limit.policy.unit });
      if (tightest === undefined || remaining / limit.policy.quota < tightest.remaining / tightest.limit.policy.quota) tightest = { limit, remaining, resetMs: result.resetMs };
    }
    if (tightest !== undefined) setRateHeaders(res, tightest.limit.policy, tightest.remaining, tightest.resetMs);

    // 3. Budgets: key, team, organisation.
    const budgets = budgetsOf(ctx);
    if (budgets.length === 0 && usageCounters.length === 0) return;
    if (!isRestored) {
      await Promise.race([restored, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      if (!isRestored) throw new SightlineError('sightline_budget_unavailable', 503, 'Budgets are not restored yet after a restart (the ledger has not answered); retry shortly.', { retryable: true, type: 'api_error' });
    }
    const windows = budgets.map((b) => ({ ...b, window: periodOf(b.budget.period, tz, now) }));
    const reservation: Reservation = {
      requestId: ctx.requestId,
      budgets: windows.map((b) => ({ counter: spendCounter(b.scope, b.window), limitUsd: b.budget.usd })),
      amountUsd: budgets.length === 0 ? 0 : await maxCostUsd(ctx, candidates()),
      usageCounters,
      ttlMs: config.limits.upstream_timeout_ms + RESERVATION_SLACK_MS,
    };
    let result;
    try {
      result = await store.reserve(reservation, now);
    } catch (err) {
      count('sightline_redis_failures_total{use="budget"}');
      if (config.redis.on_unavailable.budgets === 'open') {
        onWarn(`budget not checked, Redis unavailable (failing open): ${(err as Error).message}`);
        return;
      }
      throw new SightlineError('sightline_budget_unavailable', 503, `Budgets cannot be checked right now (${shared ? 'Redis is unavailable' : 'their store failed'}) and redis.on_unavailable.budgets is "closed"; retry shortly.`, { retryable: true, type: 'api_error' });
    }
    if (!result.ok) {
      const b = windows.find((w) => spendCounter(w.scope, w.window) === result.counter)!;
      count(`sightline_budget_refused_total{scope="${scopeName(b.scope)}"}`);
      res.setHeader('retry-after', String(Math.max(1, Math.ceil((b.window.resetsAt - now) / 1000))));
      throw new SightlineError('sightline_budget_exceeded', 429, `Budget of ${describeScope(b.scope)} exceeded: $${fmt(b.budget.usd)}/${b.budget.period}, spent $${fmt(result.spentUsd)}${result.reservedUsd > 0 ? ` (+$${fmt(result.reservedUsd)} in flight)` : ''}; resets ${new Date(b.window.resetsAt).toISOString()}.`, { type: 'rate_limit_error' });
    }
    // Soft limits: the highest threshold each budget has reached, as a header and a metric.
    let warnings: string | undefined;
    for (let i = 0; i < windows.length; i++) {
      const b = windows[i]!;
      const ratio = (result.spentUsd[i] ?? 0) / b.budget.usd;
      const name = scopeName(b.scope);
      metrics[ratioMetric(name)] = Math.round(ratio * 10_000) / 10_000;
      let reached: number | undefined;
      for (let t = thresholds.length - 1; t >= 0 && reached === undefined; t--) if (ratio >= thresholds[t]!) reached = thresholds[t];
      if (reached === undefined) continue;
      count(`sightline_budget_alerts_total{scope="${name}",threshold="${reached}"}`);
      const warning = `${Math.round(reached * 100)}% of ${describeScope(b.scope)}'s $${fmt(b.budget.usd)}/${b.budget.period} used ($${fmt(result.spentUsd[i] ?? 0)}); resets ${new Date(b.window.resetsAt).toISOString()}`;
      warnings = warnings === undefined ? warning : `${warnings}; ${warning}`;
    }
    if (warnings !== undefined) res.setHeader('sightline-budget-warning', warnings);
  }

  return {
    admit(ctx, res, candidates) {
      const p = ctx.principal;
      if (p === undefined || (p.key === undefined && !orgOrTeamBudgets && config.rate_limits.length === 0 && ctx.optIn?.rateLimit === undefined)) return undefined;
      return admitNow(ctx, res, candidates);
    },
    metrics: () => metrics,
  };
}

function setRateHeaders(res: ServerResponse, policy: RatePolicy, remaining: number, resetMs: number): void {
  const reset = Math.max(0, Math.ceil(resetMs / 1000));
  // IETF draft (RateLimit header fields for HTTP), and Helicone's names for migrating users.
  res.setHeader('ratelimit-policy', `${policy.quota};w=${policy.windowS}`);
  res.setHeader('ratelimit', `limit=${policy.quota}, remaining=${remaining}, reset=${reset}`);
  res.setHeader('helicone-ratelimit-limit', String(policy.quota));
  res.setHeader('helicone-ratelimit-remaining', String(remaining));
  res.setHeader('helicone-ratelimit-policy', policy.text);
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
