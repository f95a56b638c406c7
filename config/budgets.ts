// Budgets and rate limits as the config, the key store and the admin API write them. A budget is `<usd>/<period>`
// (`200/month`, `$10/day`, `5000/week`); periods reset on calendar boundaries in `budgets.timezone`. A rate limit is
// Helicone's policy grammar, `<quota>;w=<window seconds>;u=<request|token|cents>;s=<user|<property>>`, so the same
// string works in `Sightline-RateLimit-Policy` / `Helicone-RateLimit-Policy` and in the config.
import { z } from 'zod';

export const BUDGET_PERIODS = ['day', 'week', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export interface Budget {
  usd: number;
  period: BudgetPeriod;
}

const BUDGET_RE = /^\s*\$?(\d+(?:\.\d+)?)\s*\/\s*(day|week|month)\s*$/;

export function parseBudget(text: string): Budget | string {
  const m = BUDGET_RE.exec(text);
  if (m === null) return `"${text}" is not a budget: write <usd>/<day|week|month>, e.g. 200/month or $10/day`;
  return { usd: Number(m[1]), period: m[2] as BudgetPeriod };
}

/** A string field read by a parser that returns its value, or a message saying what to write instead. */
function parsedString<T>(parse: (text: string) => T | string) {
  return z.string().transform((text, ctx) => {
    const parsed = parse(text);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  });
}

export const BudgetSchema = parsedString(parseBudget);

export const RATE_UNITS = ['request', 'token', 'cents'] as const;
export type RateUnit = (typeof RATE_UNITS)[number];

export interface RatePolicy {
  quota: number;
  windowS: number;
  unit: RateUnit;
  /** '' = the whole key (or organisation); 'user'; or a property name. */
  segment: string;
  /** The policy as written, for the RateLimit-Policy header. */
  text: string;
}

/** Helicone's grammar: `1000;w=3600;u=request;s=user`. Returns a message naming what is wrong otherwise. */
export function parseRatePolicy(text: string): RatePolicy | string {
  const parts = text.split(';').map((p) => p.trim());
  const quota = Number(parts[0]);
  const grammar = 'write <quota>;w=<window seconds>[;u=request|token|cents][;s=user|<property>], e.g. 1000;w=3600;u=request;s=user';
  if (!Number.isInteger(quota) || quota <= 0) return `quota "${parts[0] ?? ''}" must be a positive integer; ${grammar}`;
  let windowS: number | undefined;
  let unit: RateUnit = 'request';
  let segment = '';
  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    const k = eq === -1 ? part : part.slice(0, eq);
    const v = eq === -1 ? '' : part.slice(eq + 1);
    if (k === 'w') {
      windowS = Number(v);
      if (!Number.isInteger(windowS) || windowS < 1 || windowS > 31_536_000) return `w=${v} must be a window in whole seconds (1 to 31536000); ${grammar}`;
    } else if (k === 'u') {
      if (!(RATE_UNITS as readonly string[]).includes(v)) return `u=${v} must be request, token or cents; ${grammar}`;
      unit = v as RateUnit;
    } else if (k === 's') {
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(v)) return `s=${v} must be user or a property name; ${grammar}`;
      segment = v;
    } else {
      return `"${part}" is not part of the grammar; ${grammar}`;
    }
  }
  if (windowS === undefined) return `the window w= is missing; ${grammar}`;
  return { quota, windowS, unit, segment, text: text.trim() };
}

export const RatePolicySchema = parsedString(parseRatePolicy);

export const BudgetsSchema = z.strictObject({
  /** IANA timezone the day / week / month boundaries are in. */
  timezone: z.string().refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'expected an IANA timezone such as UTC or Europe/Berlin').default('UTC'),
  teams: z.record(z.string(), BudgetSchema).default({}),
  organizations: z.record(z.string(), BudgetSchema).default({}),
  /** Shares of a budget at which a warning header and a metric say so. */
  alert_thresholds: z.array(z.number().positive().max(1)).default([0.5, 0.8, 1]),
  /** Output tokens a call without max_tokens is assumed to allow, for the reservation it makes. */
  default_max_tokens: z.coerce.number().int().positive().default(4096),
});
export type BudgetsConfig = z.infer<typeof BudgetsSchema>;
