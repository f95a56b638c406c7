// How the gateway reaches each provider when it serves an alias (proxy/gateway/): the API it speaks (for
// translation), the header carrying a key, the URL of an endpoint on a deployment's base, and which 4xx answers
// mean "the prompt is too long" or "the content was refused" (for context-window and content-policy fallbacks).
// One descriptor per provider, used by its adapter; nothing outside providers/ branches on a provider id.
import type { FailureKind, GatewayRoute } from './types.ts';

const CONTEXT_WINDOW = /context_length_exceeded|maximum context length|prompt is too long|exceed(?:s|ed)? (?:the )?context (?:limit|window)|input token count .* exceeds|exceeds the maximum number of tokens/i;
const CONTENT_POLICY = /content_policy_violation|content_filter|content management policy|responsible ?ai|blocked by content filtering|SAFETY|PROHIBITED_CONTENT/;

/** The same two patterns fit every provider's wording; a provider's adapter may pass its own. */
export function failureKindOf(status: number, body: string): FailureKind | undefined {
  if (status !== 400 && status !== 413 && status !== 422) return undefined;
  if (CONTEXT_WINDOW.test(body)) return 'context_window';
  if (CONTENT_POLICY.test(body)) return 'content_policy';
  return undefined;
}

/** Translation names OpenAI endpoints by their full path (`/v1/chat/completions`); an SDK base already ends in /v1. */
function sdkRelative(endpoint: string): string {
  return endpoint.startsWith('/v1/') ? endpoint.slice(3) : endpoint;
}

function trimmed(base: string, suffixes: readonly RegExp[]): string {
  let out = base.replace(/\/+$/, '');
  for (const s of suffixes) out = out.replace(s, '');
  return out;
}

/**
 * OpenAI's API (OpenAI and any compatible server). An explicit api_base is an SDK base URL, as LiteLLM and the
 * OpenAI SDK read it (`https://host/v1`): endpoints join onto it. The configured provider base (`upstreams.openai`)
 * is a host, so `/v1` comes first.
 */
export const openAiRoute: GatewayRoute = {
  api: 'openai',
  credential: (key) => ['authorization', `Bearer ${key}`],
  url: (base, explicit, endpoint) => `${trimmed(base, [])}${explicit ? '' : '/v1'}${sdkRelative(endpoint)}`,
  failureKind: failureKindOf,
};

/** Azure OpenAI: the deployment name is the model, in the path, with the api-version the config names. */
export const azureRoute: GatewayRoute = {
  api: 'openai',
  credential: (key) => ['api-key', key],
  url: (base, _explicit, endpoint, model, apiVersion) =>
    `${trimmed(base, [/\/openai$/])}/openai/deployments/${encodeURIComponent(model)}${sdkRelative(endpoint)}?api-version=${encodeURIComponent(apiVersion)}`,
  failureKind: failureKindOf,
};

/** Anthropic: translation names the path (`/v1/messages`); a base given with its `/v1` (or whole path) is cut back. */
export const anthropicRoute: GatewayRoute = {
  api: 'anthropic',
  credential: (key) => ['x-api-key', key],
  url: (base, _explicit, path) => `${trimmed(base, [/\/v1\/messages$/, /\/v1$/])}${path}`,
  failureKind: failureKindOf,
};

/** Gemini: the key goes in x-goog-api-key (never the query, which would be logged by intermediaries). */
export const geminiRoute: GatewayRoute = {
  api: 'gemini',
  credential: (key) => ['x-goog-api-key', key],
  url: (base, _explicit, path) => `${trimmed(base, [/\/v1beta$/, /\/v1$/])}${path}`,
  failureKind: failureKindOf,
};
