// Any OpenAI-compatible server (vLLM, Together, Ollama's /v1, OpenRouter, LM Studio…), reached via
// `/custom/<rest>` with the `Sightline-Target-Url` header as the base URL (the proxy passes the header
// value as `baseUrl`; allowed_targets is checked there). Same wire format as OpenAI, so same code.
import { openAiRoute } from './gateway-routes.ts';
import { createOpenAiCompatibleAdapter } from './openai.ts';
import { joinTarget } from './shared.ts';
import type { ProviderAdapter } from './types.ts';

export const customAdapter: ProviderAdapter = createOpenAiCompatibleAdapter({
  id: 'custom',
  prefix: 'custom',
  // No default: without Sightline-Target-Url there is nowhere to send the request.
  defaultBaseUrl: '',
  target: (rest, query, baseUrl) =>
    baseUrl === '' ? 'Custom routes need a Sightline-Target-Url header naming the OpenAI-compatible server.' : joinTarget(baseUrl, rest, query, ''),
  injectUsage: true,
  gateway: openAiRoute,
});
