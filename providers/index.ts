// The only registry of provider adapters. Code outside providers/ picks an adapter here and
// never branches on a provider id.
//
// Usage convention (every adapter normalises to it; see each adapter's header for its provider):
//   prompt_tokens      = ALL input tokens, cached ones included
//                        (OpenAI/Azure/compatible and Gemini report it that way; Anthropic's input_tokens
//                        excludes cache reads/writes, so its adapter adds them back);
//   cache_read_tokens  ⊆ prompt_tokens (read from a prompt cache, usually billed cheaper);
//   cache_write_tokens ⊆ prompt_tokens (written to a prompt cache; Anthropic only);
//   completion_tokens  = ALL output tokens, reasoning included
//                        (OpenAI includes reasoning; Gemini's candidatesTokenCount excludes
//                        thoughtsTokenCount, so its adapter adds them);
//   reasoning_tokens   ⊆ completion_tokens.
// Cost = (prompt − cache_read − cache_write)·input + cache_read·cached + cache_write·write + completion·output.
import { anthropicAdapter } from './anthropic.ts';
import { azureAdapter } from './azure.ts';
import { customAdapter } from './custom.ts';
import { geminiAdapter } from './gemini.ts';
import { openaiAdapter } from './openai.ts';
import type { ProviderId } from '../contracts/event.ts';
import type { ProviderAdapter } from './types.ts';

export { customAdapter };

export const adapters: readonly ProviderAdapter[] = Object.freeze([openaiAdapter, anthropicAdapter, geminiAdapter, azureAdapter, customAdapter]);

const byPrefix: ReadonlyMap<string, ProviderAdapter> = new Map(adapters.map((a) => [a.prefix, a]));
const byId: ReadonlyMap<ProviderId, ProviderAdapter> = new Map(adapters.map((a) => [a.id, a]));

/** The adapter of a provider id as recorded in an event. */
export function adapterById(id: ProviderId): ProviderAdapter {
  return byId.get(id) ?? customAdapter;
}

/** `openai` → the OpenAI adapter; undefined for an unknown prefix. */
export function adapterForPrefix(prefix: string): ProviderAdapter | undefined {
  return byPrefix.get(prefix);
}

/**
 * Helicone's provider hosts take bare provider paths (oai.helicone.ai/v1/…, anthropic.helicone.ai/v1/messages,
 * gateway hosts for Gemini), so a Helicone user who changes only the host sends paths with no prefix. They are
 * recognised by shape; Anthropic's SDK always sends `anthropic-version`, which settles /v1/ paths both share.
 */
const BARE_PATHS: readonly (readonly [RegExp, ProviderAdapter])[] = [
  [/^\/v1\/(messages|complete)(\/|$)/, anthropicAdapter],
  [/^\/v1(beta|alpha)?\/models\/[^/]+:/, geminiAdapter],
  [/^\/v1\//, openaiAdapter],
];

export function adapterForBarePath(path: string, headers: Readonly<Record<string, string | string[] | undefined>>): ProviderAdapter | undefined {
  if (path.startsWith('/v1/') && headers['anthropic-version'] !== undefined) return anthropicAdapter;
  return BARE_PATHS.find(([shape]) => shape.test(path))?.[1];
}
