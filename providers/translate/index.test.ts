// The field tables, as code and as documentation: every parameter of each table behaves as its row says (maps,
// approximated and noted, or refused by name) for each serving provider, and the README's tables say the same.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MESSAGES_FIELDS } from './anthropic-to-openai-request.ts';
import type { Support } from './field-policy.ts';
import { translateCall, translationErrorBody, TranslationError } from './index.ts';
import type { CallerApi, UpstreamApi } from './index.ts';
import { CHAT_FIELDS } from './openai-request.ts';

const WEATHER = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } };

/** A value for every Chat Completions parameter that is not the API's default (so refusals and notes must show). */
const CHAT_SAMPLES: Record<string, unknown> = {
  model: 'smart', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true, include_obfuscation: false },
  temperature: 0.5, top_p: 0.5, top_k: 5, max_tokens: 100, max_completion_tokens: 100, n: 2, stop: ['END'], presence_penalty: 0.5,
  frequency_penalty: 0.5, logit_bias: { '50256': -100 }, logprobs: true, top_logprobs: 2, seed: 7, response_format: { type: 'json_object' },
  tools: [WEATHER], tool_choice: 'auto', parallel_tool_calls: false, functions: [WEATHER.function], function_call: 'auto', reasoning_effort: 'low',
  user: 'u1', safety_identifier: 's1', metadata: { team: 'search' }, store: true, service_tier: 'flex', prompt_cache_key: 'k1',
  prompt_cache_retention: '24h', prompt_cache_options: { mode: 'auto' }, verbosity: 'low', modalities: ['text', 'audio'],
  audio: { voice: 'alloy', format: 'wav' }, prediction: { type: 'content', content: 'x' }, web_search_options: {}, moderation: { mode: 'strict' },
};

const MESSAGES_SAMPLES: Record<string, unknown> = {
  model: 'smart', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], system: 'Be brief.', stream: true, temperature: 0.5, top_p: 0.5,
  top_k: 5, stop_sequences: ['END'], metadata: { user_id: 'u1' }, tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }],
  tool_choice: { type: 'auto' }, thinking: { type: 'enabled', budget_tokens: 2048 }, output_config: { effort: 'low' }, cache_control: { type: 'ephemeral' },
  service_tier: 'standard_only', speed: 'fast', diagnostics: { level: 'full' }, user_profile_id: 'p1', workspace_id: 'w1', inference_geo: 'eu',
  container: 'container_01', mcp_servers: [], context_management: { edits: [] },
};

const SERVED: Record<UpstreamApi, string> = { openai: 'OpenAI', anthropic: 'Anthropic', gemini: 'Gemini' };

function outcome(caller: CallerApi, upstream: UpstreamApi, body: Record<string, unknown>, field: string): 'maps' | 'approximated' | string {
  try {
    const t = translateCall(caller, upstream, body);
    return t?.request.approximated.includes(field) ? 'approximated' : 'maps';
  } catch (err) {
    if (!(err instanceof TranslationError)) throw err;
    return `${err.code} ${err.param}: ${err.message}`;
  }
}

function expected(support: Support, field: string, upstream: UpstreamApi): string {
  if (support.kind !== 'refused') return support.kind;
  return `sightline_untranslatable ${field}: ${field} is not supported when the model is served by ${SERVED[upstream]}: ${support.why}`;
}

const rows = <K extends string>(table: Readonly<Record<string, Readonly<Record<K, Support>>>>, column: K) => Object.entries(table).map(([field, row]) => [field, row[column]] as const);

describe('every parameter does what its row says', () => {
  const base = { model: 'smart', messages: [{ role: 'user', content: 'hi' }] };
  it.each(rows(CHAT_FIELDS, 'anthropic'))('Chat Completions %s, served by Anthropic', (field, support) => {
    expect(outcome('openai', 'anthropic', { ...base, [field]: CHAT_SAMPLES[field] }, field)).toBe(expected(support, field, 'anthropic'));
  });
  it.each(rows(CHAT_FIELDS, 'gemini'))('Chat Completions %s, served by Gemini', (field, support) => {
    expect(outcome('openai', 'gemini', { ...base, [field]: CHAT_SAMPLES[field] }, field)).toBe(expected(support, field, 'gemini'));
  });
  const messagesBase = { model: 'smart', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };
  it.each(rows(MESSAGES_FIELDS, 'openai'))('Messages %s, served by OpenAI', (field, support) => {
    expect(outcome('anthropic', 'openai', { ...messagesBase, [field]: MESSAGES_SAMPLES[field] }, field)).toBe(expected(support, field, 'openai'));
  });
  it.each(rows(MESSAGES_FIELDS, 'gemini'))('Messages %s, served by Gemini', (field, support) => {
    expect(outcome('anthropic', 'gemini', { ...messagesBase, [field]: MESSAGES_SAMPLES[field] }, field)).toBe(expected(support, field, 'gemini'));
  });

  it('has a sample for every parameter, and refuses parameters it does not know', () => {
    expect(Object.keys(CHAT_SAMPLES).sort()).toEqual(Object.keys(CHAT_FIELDS).sort());
    expect(Object.keys(MESSAGES_SAMPLES).sort()).toEqual(Object.keys(MESSAGES_FIELDS).sort());
    expect(outcome('openai', 'anthropic', { ...base, frobnicate: true }, 'frobnicate')).toBe(
      'sightline_untranslatable frobnicate: frobnicate is not supported when the model is served by Anthropic: not a Chat Completions parameter Sightline knows how to translate',
    );
    expect(outcome('anthropic', 'openai', { ...messagesBase, frobnicate: true }, 'frobnicate')).toMatch(/^sightline_untranslatable frobnicate: .*not a Messages parameter/);
  });
});

describe('translateCall', () => {
  it('leaves same-API calls alone (they pass through) and routes the others', () => {
    expect(translateCall('openai', 'openai', {})).toBeUndefined();
    expect(translateCall('anthropic', 'anthropic', {})).toBeUndefined();
    const chat = { model: 'smart', messages: [{ role: 'user', content: 'hi' }] };
    expect(translateCall('openai', 'anthropic', chat, { model: 'claude-haiku-4-5' })?.request.path).toBe('/v1/messages');
    expect(translateCall('openai', 'gemini', chat, { model: 'gemini-2.5-flash' })?.request.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    const messages = { model: 'smart', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], stream: true };
    expect(translateCall('anthropic', 'openai', messages)?.request).toMatchObject({ path: '/v1/chat/completions', stream: true });
    expect(translateCall('anthropic', 'gemini', messages, { model: 'gemini-2.5-pro' })?.request.path).toBe('/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
  });

  it('renders a refusal in the caller\'s shape: OpenAI\'s with param, Anthropic\'s with its error type', () => {
    const err = new TranslationError('sightline_untranslatable', 'top_k', 'top_k is not supported when the model is served by OpenAI: OpenAI has no top-k sampling');
    expect(translationErrorBody(err, 'openai')).toEqual({ status: 400, body: { error: { message: err.message, type: 'invalid_request_error', param: 'top_k', code: 'sightline_untranslatable' } } });
    expect(translationErrorBody(err, 'anthropic')).toEqual({ status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: err.message, code: 'sightline_untranslatable' } } });
  });
});

describe('the README documents every parameter as the tables decide it', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

  /** The first table under a heading: field → its cells. */
  function tableUnder(heading: string): Map<string, string[]> {
    const start = readme.indexOf(`\n${heading}\n`);
    expect(start, heading).toBeGreaterThan(0);
    const lines = readme.slice(start + heading.length + 2).split('\n');
    const first = lines.findIndex((l) => l.startsWith('|'));
    const table = new Map<string, string[]>();
    for (const line of lines.slice(first + 2)) {
      if (!line.startsWith('|')) break;
      const [field = '', ...cells] = line.split(' | ').map((c) => c.replace(/^\| /, '').replace(/ \|$/, ''));
      table.set(field.replace(/`/g, ''), cells);
    }
    return table;
  }

  function check<K extends string>(heading: string, table: Readonly<Record<string, Readonly<Record<K, Support>>>>, columns: readonly K[]): void {
    const documented = tableUnder(heading);
    expect([...documented.keys()].sort()).toEqual(Object.keys(table).sort());
    for (const [field, row] of Object.entries(table)) {
      columns.forEach((column, i) => expect(documented.get(field)?.[i]?.split(/[:;, ]/)[0], `${field} (${column})`).toBe(row[column].kind));
    }
  }

  it('Chat Completions parameters', () => check('### Chat Completions request → Anthropic Messages / Gemini generateContent', CHAT_FIELDS, ['anthropic', 'gemini']));
  it('Messages parameters', () => check('### Messages request → Chat Completions (OpenAI, and Gemini through it)', MESSAGES_FIELDS, ['openai', 'gemini']));
});
