// Usage in each provider's shape, built from the adapters' normalised Usage (providers/index.ts states the
// convention: prompt_tokens counts every input token, cached ones included; completion_tokens every output token,
// reasoning included), which is already OpenAI's convention. So the adapters' readers are reused as they are and
// only the writers live here.
import { anthropicUsage } from '../anthropic.ts';
import { asCount, asObject, makeUsage } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import type { Usage } from '../types.ts';

/**
 * OpenAI `usage`. Prompt-cache writes (Anthropic only) have no OpenAI field: they are in prompt_tokens as OpenAI
 * counts them, and reported apart as `prompt_tokens_details.cache_write_tokens` when there were any.
 */
export function openAiUsageBody(u: Usage): JsonObject {
  const promptDetails: JsonObject = { cached_tokens: u.cache_read_tokens };
  if (u.cache_write_tokens > 0) promptDetails.cache_write_tokens = u.cache_write_tokens;
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    prompt_tokens_details: promptDetails,
    completion_tokens_details: { reasoning_tokens: u.reasoning_tokens },
  };
}

/** Anthropic `usage`: input_tokens excludes the cached reads and writes it reports beside it. */
export function anthropicUsageBody(u: Usage): JsonObject {
  return {
    input_tokens: u.prompt_tokens - u.cache_read_tokens - u.cache_write_tokens,
    cache_creation_input_tokens: u.cache_write_tokens,
    cache_read_input_tokens: u.cache_read_tokens,
    output_tokens: u.completion_tokens,
  };
}

/**
 * Anthropic usage read by the adapter, plus the thinking tokens recent API versions report apart
 * (`output_tokens_details.thinking_tokens`, already inside output_tokens), which OpenAI calls reasoning tokens.
 */
export function anthropicAnswerUsage(raw: unknown): Usage | null {
  const usage = anthropicUsage(raw);
  if (!usage) return null;
  const thinking = asCount(asObject(asObject(raw)?.output_tokens_details)?.thinking_tokens);
  if (thinking === 0) return usage;
  return makeUsage(usage.prompt_tokens, usage.completion_tokens, usage.cache_read_tokens, usage.cache_write_tokens, thinking);
}
