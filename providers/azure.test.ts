import { describe, expect, it } from 'vitest';
import { describeFixtures } from '../test/fixtures/spec.ts';
import { azureAdapter } from './azure.ts';
import { openaiAdapter } from './openai.ts';

describeFixtures(azureAdapter, 'azure', ['chat.json', 'chat.sse']);

const REST = '/contoso-eu-2/openai/deployments/gpt-4o-prod/chat/completions';
const QUERY = 'api-version=2024-10-21';

describe('azure routing', () => {
  it('substitutes the resource into the default host and takes the deployment as model', () => {
    expect(azureAdapter.target(REST, QUERY, azureAdapter.defaultBaseUrl)).toEqual({
      url: 'https://contoso-eu-2.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21',
      modelFromPath: 'gpt-4o-prod',
    });
  });

  it('appends the rest to a base without {resource} (a local mock or private endpoint)', () => {
    expect(azureAdapter.target(REST, QUERY, 'http://127.0.0.1:4012')).toEqual({
      url: 'http://127.0.0.1:4012/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21',
      modelFromPath: 'gpt-4o-prod',
    });
  });

  it('rejects resource names that are not lowercase DNS labels', () => {
    for (const rest of ['/Contoso/openai/x', '/evil.example/openai/x', '/a@b/openai/x', '/a_b/openai/x', '//openai/x', '/', '', `/${'a'.repeat(64)}/openai/x`, '/attacker.example#/openai/x']) {
      const t = azureAdapter.target(rest, QUERY, azureAdapter.defaultBaseUrl);
      expect(typeof t, rest).toBe('string');
    }
    expect(azureAdapter.target('/contoso', QUERY, azureAdapter.defaultBaseUrl)).toMatch(/Missing path/);
  });

  it('handles the v1 API path, where the model is in the body', () => {
    const t = azureAdapter.target('/contoso/openai/v1/chat/completions', '', azureAdapter.defaultBaseUrl);
    expect(t).toEqual({ url: 'https://contoso.openai.azure.com/openai/v1/chat/completions', modelFromPath: '' });
    if (typeof t === 'string') throw new Error(t);
    expect(azureAdapter.requestModel({ model: 'gpt-4.1-mini' }, t)).toBe('gpt-4.1-mini');
  });

  it('uses the deployment when the body names no model', () => {
    const t = azureAdapter.target(REST, QUERY, azureAdapter.defaultBaseUrl);
    if (typeof t === 'string') throw new Error(t);
    expect(azureAdapter.requestModel({ messages: [] }, t)).toBe('gpt-4o-prod');
  });

  it('classifies endpoints like OpenAI', () => {
    expect(azureAdapter.endpoint('/contoso/openai/deployments/gpt-4o/chat/completions')).toBe('chat');
    expect(azureAdapter.endpoint('/contoso/openai/deployments/emb/embeddings')).toBe('embeddings');
    expect(azureAdapter.endpoint('/contoso/openai/v1/responses')).toBe('responses');
  });

  it('does not inject stream_options (older api-versions reject it)', () => {
    expect(azureAdapter.rewriteRequest).toBeUndefined();
    expect(azureAdapter.fromBody).toBe(openaiAdapter.fromBody);
  });
});
