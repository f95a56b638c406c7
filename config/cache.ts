// The response cache's config section (issue #16 §4), parsed with the rest of the config by config/index.ts.
// A call uses the cache when it opts in (Sightline-Cache-Enabled / Helicone-Cache-Enabled), when its alias says
// `cache: true` (models[]), when its key does, or when `all_calls` is on (LiteLLM's `litellm_settings.cache: true`).
import { z } from 'zod';

/** Helicone's default and ceiling: 7 days, 365 days. */
export const DEFAULT_CACHE_TTL_S = 7 * 24 * 3600;
export const MAX_CACHE_TTL_S = 365 * 24 * 3600;
/** Helicone's ceiling for Cache-Bucket-Max-Size. */
export const MAX_CACHE_BUCKET = 20;

export const CacheSchema = z.strictObject({
  /** Every call uses the cache, as if it sent Sightline-Cache-Enabled: true. */
  all_calls: z.boolean().default(false),
  /** TTL of an entry when the call sends no `Cache-Control: max-age=…`. */
  ttl_s: z.coerce.number().int().positive().max(MAX_CACHE_TTL_S).default(DEFAULT_CACHE_TTL_S),
  /** In-memory store (no Redis): total bytes kept; the least recently used entries go first. */
  memory_max_bytes: z.coerce.number().int().positive().default(64 * 1024 * 1024),
  /** A response larger than this is served but not cached. */
  max_entry_bytes: z.coerce.number().int().positive().default(1024 * 1024),
  /** No prompt in which the PII detectors (ledger/pii, with the `redaction` policy) find anything is cached or served from the cache. */
  skip_if_pii: z.boolean().default(false),
  semantic: z.strictObject({
    /** Every cached call also looks up by meaning (else only calls sending Sightline-Cache-Semantic: true). */
    enabled: z.boolean().default(false),
    /** The embeddings alias (in models) that embeds the last user message, called through the gateway itself. */
    embeddings_model: z.string().min(1).optional(),
    /** Asked of the embeddings model when set (OpenAI's text-embedding-3 take `dimensions`): 256 keeps 100k vectors in ~100 MB, 1536 in ~600 MB. */
    dimensions: z.coerce.number().int().positive().optional(),
    /** Cosine similarity at or above which a stored answer serves. */
    threshold: z.coerce.number().min(0).max(1).default(0.95),
    /** The embeddings call's deadline; past it the call is looked up exactly only. */
    timeout_ms: z.coerce.number().int().positive().default(2000),
    /** Vectors kept in this process; the oldest go first. */
    max_entries: z.coerce.number().int().positive().default(100_000),
  }).prefault({}),
});
export type CacheConfig = z.infer<typeof CacheSchema>;

/** The semantic cache's embeddings model must be a configured alias (a typo would otherwise surface only on a call). */
export function checkCache(cache: CacheConfig, models: readonly { name: string }[]): string[] {
  const name = cache.semantic.embeddings_model;
  if (name === undefined) return cache.semantic.enabled ? ['cache.semantic.embeddings_model: required when cache.semantic.enabled is true'] : [];
  return models.some((m) => m.name === name) ? [] : [`cache.semantic.embeddings_model: no model named "${name}" in models`];
}
