// Azure OpenAI: the OpenAI wire format behind `/azure/{resource}/openai/...`. The resource names the
// host (https://{resource}.openai.azure.com) and the deployment in the path stands in for the model.
import { azureRoute } from './gateway-routes.ts';
import { createOpenAiCompatibleAdapter } from './openai.ts';
import { clip, joinTarget } from './shared.ts';
import type { ProviderAdapter, UpstreamTarget } from './types.ts';

// Lowercase DNS label characters only: the name is substituted into a host name.
const RESOURCE_NAME = /^[a-z0-9-]+$/;
const MAX_RESOURCE_NAME = 63;

export function azureTarget(rest: string, query: string, baseUrl: string): UpstreamTarget | string {
  const slash = rest.indexOf('/', 1);
  const resource = rest.startsWith('/') ? rest.slice(1, slash < 0 ? undefined : slash) : '';
  if (resource === '' || resource.length > MAX_RESOURCE_NAME || !RESOURCE_NAME.test(resource)) {
    return `Invalid Azure resource name "${clip(resource)}": use /azure/{resource}/openai/... where {resource} is lowercase letters, digits and hyphens.`;
  }
  const remainder = slash < 0 ? '' : rest.slice(slash);
  if (remainder === '' || remainder === '/') return `Missing path after the Azure resource: use /azure/${resource}/openai/deployments/{deployment}/chat/completions?api-version=...`;
  // A base without the placeholder is a fixed host (a test mock, or a private endpoint): the rest is appended.
  const base = baseUrl.includes('{resource}') ? baseUrl.replaceAll('{resource}', resource) : baseUrl;
  return joinTarget(base, remainder, query, deploymentOf(remainder));
}

function deploymentOf(path: string): string {
  const marker = '/deployments/';
  const at = path.indexOf(marker);
  if (at < 0) return '';
  const start = at + marker.length;
  const end = path.indexOf('/', start);
  const raw = path.slice(start, end < 0 ? undefined : end).split('?')[0] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export const azureAdapter: ProviderAdapter = createOpenAiCompatibleAdapter({
  id: 'azure',
  prefix: 'azure',
  defaultBaseUrl: 'https://{resource}.openai.azure.com',
  target: azureTarget,
  injectUsage: false,
  gateway: azureRoute,
});
