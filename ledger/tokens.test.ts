// Expected counts come from OpenAI's cookbook "How to count tokens with tiktoken", whose numbers were
// checked there against the usage the OpenAI API returned.
import { createRequire } from 'node:module';
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { describe, expect, it } from 'vitest';
import { encodingForModel, estimateCompletionTokens, estimatePromptTokens } from './tokens.ts';

// Resolved from proxy/ so the paths match what tokens.ts loads.
const requireFromProxy = createRequire(new URL('./tokens.ts', import.meta.url));

describe('loading', () => {
  // First in the file: vitest runs each file in its own process, so nothing has loaded the ranks yet.
  it('importing the module loads no encoding; the first estimate does', () => {
    const o200kPath = requireFromProxy.resolve('js-tiktoken/ranks/o200k_base');
    const cl100kPath = requireFromProxy.resolve('js-tiktoken/ranks/cl100k_base');
    expect(requireFromProxy.cache[o200kPath]).toBeUndefined();
    expect(requireFromProxy.cache[cl100kPath]).toBeUndefined();
    estimateCompletionTokens('gpt-4o', 'hi');
    expect(requireFromProxy.cache[o200kPath]).toBeDefined();
    expect(requireFromProxy.cache[cl100kPath]).toBeUndefined();
  });
});

const cookbookMessages = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

const weatherTools = [
  {
    type: 'function',
    function: {
      name: 'get_current_weather',
      description: 'Get the current weather in a given location',
      parameters: {
        type: 'object',
        properties: {
          location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
          unit: { type: 'string', description: 'The unit of temperature to return', enum: ['celsius', 'fahrenheit'] },
        },
        required: ['location'],
      },
    },
  },
];
const weatherMessages = [
  { role: 'system', content: 'You are a helpful assistant that can answer to questions about the weather.' },
  { role: 'user', content: "What's the weather like in San Francisco?" },
];

describe('OpenAI cookbook counts', () => {
  it.each([
    ['gpt-3.5-turbo', 129],
    ['gpt-4-0613', 129],
    ['gpt-4', 129],
    ['gpt-4o', 124],
    ['gpt-4o-mini', 124],
    ['gpt-4o-mini-2024-07-18', 124],
  ])('chat messages with names, %s: %i', (model, expected) => {
    expect(estimatePromptTokens(model, { model, messages: cookbookMessages })).toBe(expected);
  });

  it.each([
    ['gpt-3.5-turbo', 105],
    ['gpt-4', 105],
    ['gpt-4o', 101],
    ['gpt-4o-mini', 101],
  ])('messages with a function tool, %s: %i', (model, expected) => {
    expect(estimatePromptTokens(model, { model, messages: weatherMessages, tools: weatherTools })).toBe(expected);
  });

  it.each([
    ['gpt-4o', 'tiktoken is great!', 6],
    ['gpt-4o', 'antidisestablishmentarianism', 6],
    ['gpt-4', 'antidisestablishmentarianism', 6],
    ['gpt-4o', '2 + 2 = 4', 7],
    ['gpt-4', '2 + 2 = 4', 7],
    ['gpt-4o', 'お誕生日おめでとう', 8],
    ['gpt-4', 'お誕生日おめでとう', 9],
  ])('completion text, %s %j: %i', (model, text, expected) => {
    expect(estimateCompletionTokens(model, text)).toBe(expected);
  });
});

describe('encoding by model', () => {
  it.each([
    ['gpt-4o', 'o200k_base'],
    ['gpt-4o-mini-2024-07-18', 'o200k_base'],
    ['gpt-4.1', 'o200k_base'],
    ['gpt-4.5-preview', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o3-mini', 'o200k_base'],
    ['o4-mini', 'o200k_base'],
    ['gpt-5-mini', 'o200k_base'],
    ['chatgpt-4o-latest', 'o200k_base'],
    ['openai/gpt-4o', 'o200k_base'],
    ['claude-sonnet-4-5', 'o200k_base'],
    ['gemini-2.5-pro', 'o200k_base'],
    ['meta-llama/Llama-3.1-8B', 'o200k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-4-0613', 'cl100k_base'],
    ['gpt-4-turbo-2024-04-09', 'cl100k_base'],
    ['gpt-3.5-turbo', 'cl100k_base'],
    ['gpt-35-turbo', 'cl100k_base'],
    ['text-embedding-3-small', 'cl100k_base'],
    ['text-embedding-ada-002', 'cl100k_base'],
  ])('%s → %s', (model, encoding) => {
    expect(encodingForModel(model)).toBe(encoding);
  });
});

describe('request shapes', () => {
  const model = 'gpt-4o';
  const chat = (messages: unknown[]) => estimatePromptTokens(model, { model, messages });

  it('chat content parts count their text; images are not counted', () => {
    const parts = [
      { type: 'text', text: 'Describe this picture.' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
    ];
    expect(chat([{ role: 'user', content: parts }])).toBe(chat([{ role: 'user', content: 'Describe this picture.' }]));
  });

  it('assistant tool calls count their function name and arguments', () => {
    const withCall = chat([{ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"weather"}' } }] }]);
    // 3 per message + "assistant" (1) + "lookup" (1) + '{"q":"weather"}' (5 in o200k) + 3 priming
    expect(withCall).toBe(3 + 1 + estimateCompletionTokens(model, 'lookup') + estimateCompletionTokens(model, '{"q":"weather"}') + 3);
  });

  it('Responses API: instructions + string input count as a system and a user message', () => {
    const responses = estimatePromptTokens(model, { model, instructions: 'Be brief.', input: 'What is 2 + 2?' });
    const equivalent = chat([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 2 + 2?' },
    ]);
    expect(responses).toBe(equivalent);
    const items = estimatePromptTokens(model, {
      model,
      input: [{ type: 'message', id: 'msg_1', role: 'user', content: [{ type: 'input_text', text: 'What is 2 + 2?' }] }],
    });
    expect(items).toBe(chat([{ role: 'user', content: 'What is 2 + 2?' }]));
  });

  it('Anthropic messages: system and text blocks, approximated with o200k_base', () => {
    const anthropic = estimatePromptTokens('claude-sonnet-4-5-20250929', {
      model: 'claude-sonnet-4-5-20250929',
      system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Name three primes.' }] }],
      max_tokens: 100,
    });
    expect(anthropic).toBe(chat([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Name three primes.' },
    ]));
  });

  it('Gemini contents with systemInstruction', () => {
    const gemini = estimatePromptTokens('gemini-2.5-flash', {
      systemInstruction: { parts: [{ text: 'You are terse.' }] },
      contents: [{ role: 'user', parts: [{ text: 'Name three primes.' }] }],
    });
    expect(gemini).toBe(chat([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Name three primes.' },
    ]));
  });

  it('tools in Anthropic, Responses and Gemini shapes count like the cookbook function', () => {
    const fn = weatherTools[0]!.function;
    const openai = estimatePromptTokens(model, { messages: weatherMessages, tools: weatherTools });
    expect(estimatePromptTokens(model, { messages: weatherMessages, tools: [{ name: fn.name, description: fn.description, input_schema: fn.parameters }] })).toBe(openai);
    expect(estimatePromptTokens(model, { messages: weatherMessages, tools: [{ type: 'function', ...fn }] })).toBe(openai);
    expect(estimatePromptTokens(model, { messages: weatherMessages, tools: [{ functionDeclarations: [fn] }] })).toBe(openai);
  });

  it('embeddings: strings without chat framing, token-id input counted as given', () => {
    const m = 'text-embedding-3-small';
    expect(estimatePromptTokens(m, { model: m, input: 'antidisestablishmentarianism' })).toBe(6);
    expect(estimatePromptTokens(m, { model: m, input: ['2 + 2 = 4', 'antidisestablishmentarianism'] })).toBe(13);
    expect(estimatePromptTokens(m, { model: m, input: [[1, 2, 3], [4, 5]] })).toBe(5);
    expect(estimatePromptTokens(m, { model: m, input: [1, 2, 3] })).toBe(3);
  });

  it('legacy completions prompt', () => {
    expect(estimatePromptTokens('gpt-3.5-turbo-instruct', { prompt: ['2 + 2 = 4', 'antidisestablishmentarianism'] })).toBe(13);
  });

  it('special-token text in content is plain text, never an error', () => {
    expect(estimateCompletionTokens(model, '<|endoftext|>')).toBeGreaterThan(1);
    expect(() => chat([{ role: 'user', content: 'a <|im_start|> b <|endoftext|>' }])).not.toThrow();
  });

  it('bodies of any other shape count 0 and never throw', () => {
    for (const body of [null, undefined, 42, 'text', [], {}, { messages: 'x' }, { messages: [null, 1, []] }, { tools: [null, { function: 3 }] }]) {
      expect(estimatePromptTokens(model, body)).toBe(0);
    }
    expect(estimateCompletionTokens(model, '')).toBe(0);
  });
});

describe('bounded work', () => {
  const reference = new Tiktoken(o200k);

  it('counts exactly what js-tiktoken itself encodes (the rank table is filled by tokens.ts, not its constructor)', () => {
    const texts = [
      'The quick brown fox jumps over the lazy dog.',
      'héllo 世界 👋 — ¿Qué tal? 日本語のテキスト。 Привет, мир! مرحبا',
      'function f(x) { return x ** 2 + 0x1F; } // 1234567890 3.14159',
      '  leading spaces\n\n\ttabs and\r\nCRLF, "quotes", \'apostrophes\' and it\'s they\'re',
      '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}',
    ];
    for (const text of texts) expect(estimateCompletionTokens('gpt-4o', text)).toBe(reference.encode(text, [], []).length);
  });

  it('a degenerate 200k-character run finishes fast (js-tiktoken alone is quadratic on it)', () => {
    const started = performance.now();
    // 16 "a" are 2 tokens in o200k_base, so slicing at 16 matches the exact count (8 per token).
    expect(estimateCompletionTokens('gpt-4o', 'a'.repeat(200_000))).toBe(25_000);
    // Unguarded, 16,000 "a" alone took 25 s on this machine.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('long prose is extrapolated past the exact budget within 1% of the exact count', () => {
    const prose = 'The quick brown fox jumps over the lazy dog; Sightline logs 1234 calls. ¿Qué tal? 日本語のテキスト。\n'.repeat(4_000);
    const exact = reference.encode(prose, [], []).length;
    const estimate = estimateCompletionTokens('gpt-4o', prose);
    expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.01);
  });

  it('below the budget, long words and whitespace runs stay within a token per cut of exact', () => {
    const text = `see ${'x'.repeat(40)} and ${' '.repeat(50)}then https://example.com/${'abc123'.repeat(10)}`;
    const exact = reference.encode(text, [], []).length;
    const estimate = estimateCompletionTokens('gpt-4o', text);
    expect(Math.abs(estimate - exact)).toBeLessThanOrEqual(6);
  });
});
