// The opt-in request headers. `Sightline-*` and their `Helicone-*` twins mean the same thing, so a
// Helicone user switches by changing the host only; when both are sent, Sightline's wins.
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { RatePolicy } from '../config/budgets.ts';
import { parseRatePolicy } from '../config/budgets.ts';
import { invalidHeader } from './errors.ts';

const PREFIXES = ['sightline-', 'helicone-'] as const;
const PROPERTY = 'property-';
export const MAX_PROPERTY_VALUE_BYTES = 1024;
const MAX_ID_LENGTH = 512;
const PROPERTY_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

const boolHeader = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const idHeader = z.string().max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`);

const OptIn = z.object({
  auth: z.string().regex(/^Bearer\s+\S+$/i, 'must be "Bearer <key>"').optional(),
  'user-id': idHeader.optional(),
  'session-id': idHeader.optional(),
  'session-path': idHeader.regex(/^\//, 'must start with "/" (e.g. /parent/child)').optional(),
  'session-name': idHeader.optional(),
  'request-id': z.uuid('must be a UUID (e.g. 3f2b8a6e-0c4d-4e8f-9a1b-2c3d4e5f6a7b)').optional(),
  'target-url': z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' }).optional(),
  'omit-request': boolHeader.optional(),
  'omit-response': boolHeader.optional(),
  fallbacks: z.string().regex(/^\s*[^,\s]+(\s*,\s*[^,\s]+)*\s*$/, 'must be a comma-separated list of model aliases (e.g. smart-fallback,cheap)').optional(),
  'retry-enabled': boolHeader.optional(),
  'retry-num': z.coerce.number().int().min(0, 'must be 0-10').max(10, 'must be 0-10').optional(),
  'retry-factor': z.coerce.number().min(1, 'must be a number >= 1').max(10, 'must be at most 10').optional(),
  'retry-min-timeout': z.coerce.number().int().min(0, 'must be milliseconds >= 0').max(600_000, 'must be at most 600000 ms').optional(),
  'ratelimit-policy': z.string().optional(),
  'retry-max-timeout': z.coerce.number().int().min(0, 'must be milliseconds >= 0').max(600_000, 'must be at most 600000 ms').optional(),
  'cache-enabled': boolHeader.optional(),
  'cache-seed': idHeader.optional(),
  'cache-bucket-max-size': z.coerce.number().int().min(1, 'must be 1-20').max(20, 'must be 1-20').optional(),
  'cache-ignore-keys': z.string().regex(/^\s*[^,\s]+(\s*,\s*[^,\s]+)*\s*$/, 'must be a comma-separated list of JSON keys (e.g. request_id,timestamp)').optional(),
  'cache-semantic': boolHeader.optional(),
});

/** Per-request retries (Sightline-Retry-* / Helicone-Retry-*), Helicone's defaults when enabled: 5 retries, 1 s doubling to 10 s. */
export interface RetryRequest {
  retries: number;
  factor: number;
  minMs: number;
  maxMs: number;
}

export interface OptInHeaders {
  authKey: string | undefined;
  userId: string;
  sessionId: string;
  sessionPath: string;
  sessionName: string;
  requestId: string | undefined;
  targetUrl: string | undefined;
  omitRequest: boolean;
  omitResponse: boolean;
  properties: Record<string, string>;
  /** Sightline-Fallbacks: aliases to try, in order, after the requested one ([] when absent). */
  fallbacks: readonly string[];
  /** Sightline-Retry-*: undefined unless Retry-Enabled is true (then it replaces the router's retries). */
  retry: RetryRequest | undefined;
  /** Sightline-Cache-*: what the call asks of the response cache (proxy/gateway/cache.ts). */
  cache: CacheRequest;
  /** Sightline-RateLimit-Policy (Helicone's grammar), beside the configured limits. */
  rateLimit: RatePolicy | undefined;
}

/** Sightline-Cache-Enabled (undefined when not sent: the alias, key or config decides), -Seed, -Bucket-Max-Size, -Ignore-Keys, -Semantic. */
export interface CacheRequest {
  enabled: boolean | undefined;
  seed: string;
  bucketMaxSize: number;
  ignoreKeys: readonly string[];
  semantic: boolean | undefined;
}

const NO_FALLBACKS: readonly string[] = Object.freeze([]);

/**
 * Reads the opt-in headers. Throws SightlineError(sightline_invalid_header) naming the header and what to fix.
 * Unknown `Sightline-*`/`Helicone-*` headers (e.g. Helicone-LLM-Security-Enabled) are ignored here.
 */
export function parseOptInHeaders(headers: IncomingHttpHeaders): OptInHeaders {
  const fields: Record<string, string> = {};
  const fieldSource: Record<string, string> = {};
  const properties: Record<string, string> = {};
  for (const name in headers) {
    const prefix = PREFIXES.find((p) => name.startsWith(p));
    if (prefix === undefined) continue;
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw.join(', ') : raw ?? '';
    const key = name.slice(prefix.length);
    const sightlineWins = prefix === 'sightline-';
    if (key.startsWith(PROPERTY)) {
      const prop = key.slice(PROPERTY.length);
      if (!PROPERTY_NAME.test(prop)) throw invalidHeader(`Header ${displayName(name)}: property names may use letters, digits, "_", "-" and "." (1–128 characters).`);
      if (Buffer.byteLength(value) > MAX_PROPERTY_VALUE_BYTES) {
        throw invalidHeader(`Header ${displayName(name)}: property values may be at most ${MAX_PROPERTY_VALUE_BYTES} bytes; this one is ${Buffer.byteLength(value)}.`);
      }
      if (sightlineWins || !(prop in properties)) properties[prop] = value;
      continue;
    }
    if (sightlineWins || !(key in fields)) {
      fields[key] = value;
      fieldSource[key] = name;
    }
  }
  const parsed = OptIn.safeParse(fields);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? '');
    const header = fieldSource[key] ?? `Sightline-${key}`;
    throw invalidHeader(`Header ${displayName(header)}: ${issue?.message ?? 'invalid value'}.`);
  }
  const h = parsed.data;
  let rateLimit: RatePolicy | undefined;
  if (h['ratelimit-policy'] !== undefined) {
    const policy = parseRatePolicy(h['ratelimit-policy']);
    if (typeof policy === 'string') throw invalidHeader(`Header ${displayName(fieldSource['ratelimit-policy'] ?? 'sightline-ratelimit-policy')}: ${policy}.`);
    rateLimit = policy;
  }
  return {
    authKey: h.auth?.replace(/^Bearer\s+/i, ''),
    userId: h['user-id'] ?? '',
    sessionId: h['session-id'] ?? '',
    sessionPath: h['session-path'] ?? '',
    sessionName: h['session-name'] ?? '',
    requestId: h['request-id'],
    targetUrl: h['target-url'],
    omitRequest: h['omit-request'] ?? false,
    omitResponse: h['omit-response'] ?? false,
    properties,
    fallbacks: h.fallbacks === undefined ? NO_FALLBACKS : h.fallbacks.split(',').map((a) => a.trim()),
    retry: h['retry-enabled'] === true
      ? { retries: h['retry-num'] ?? 5, factor: h['retry-factor'] ?? 2, minMs: h['retry-min-timeout'] ?? 1000, maxMs: h['retry-max-timeout'] ?? 10_000 }
      : undefined,
    cache: {
      enabled: h['cache-enabled'],
      seed: h['cache-seed'] ?? '',
      bucketMaxSize: h['cache-bucket-max-size'] ?? 1,
      ignoreKeys: h['cache-ignore-keys'] === undefined ? [] : h['cache-ignore-keys'].split(',').map((k) => k.trim()),
      semantic: h['cache-semantic'],
    },
    rateLimit,
  };
}

/** True for headers that belong to Sightline (or Helicone) and must never reach the upstream. */
export function isOptInHeader(name: string): boolean {
  return name.startsWith('sightline-') || name.startsWith('helicone-');
}

function displayName(lower: string): string {
  return lower.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}
