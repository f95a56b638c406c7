// The official SDKs as callers, offline: each SDK gets a fetch that plays the gateway for one call (its request is
// translated with translateCall, a recorded upstream answer is translated back), so what the SDKs parse is exactly
// the bytes a caller would receive: the OpenAI SDK's stream parser and ChatCompletionStream accumulator, the
// Anthropic SDK's MessageStream, their error classes.
//
// The reassembly property is checked here too, with each SDK's own accumulator: a translated stream, accumulated by
// the caller's SDK, equals the whole-body translation of the same answer (the recorded stream accumulated by the
// upstream's SDK, or for Gemini by concatenating its parts).
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { listFixtures, loadFixture } from '../../test/fixtures/index.ts';
import type { Fixture, FixtureProvider } from '../../test/fixtures/index.ts';
import { gatewayFetch, translateStream } from '../../test/helpers/translation.ts';
import { parseSse } from '../sse.ts';
import { asArray, asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import { anthropicToOpenAiResponse } from './anthropic-to-openai-response.ts';
import { geminiToOpenAiResponse } from './gemini-to-openai-response.ts';
import { translateCall, translationErrorBody, TranslationError } from './index.ts';
import type { CallerApi, UpstreamApi } from './index.ts';
import { openAiToAnthropicResponse } from './openai-to-anthropic-response.ts';
import type { TranslatedRequest } from './types.ts';

const NOW = 1_753_364_800_000;
const UPSTREAM_MODEL: Record<UpstreamApi, string> = { openai: 'gpt-5-mini', anthropic: 'claude-sonnet-4-6', gemini: 'gemini-2.5-flash' };

/** One call through the in-process gateway: the fixture is the upstream's answer. */
function gateway(caller: CallerApi, upstream: UpstreamApi, fixture: Fixture, seen: { request?: TranslatedRequest } = {}): typeof fetch {
  return gatewayFetch((body) => {
    const t = translateCall(caller, upstream, body, { model: UPSTREAM_MODEL[upstream], now: NOW });
    if (!t) throw new Error('same API: nothing to translate');
    seen.request = t.request;
    if (fixture.status >= 400) {
      const e = t.error(fixture.status, JSON.parse(fixture.body.toString('utf8')));
      return { status: e.status, body: JSON.stringify(e.body), headers: e.headers };
    }
    if (fixture.sse) return { status: 200, body: translateStream(t.stream(), fixture.body, [61]) };
    return { status: 200, body: JSON.stringify(t.response(JSON.parse(fixture.body.toString('utf8')))) };
  });
}

const openai = (upstream: UpstreamApi, provider: FixtureProvider, name: string, seen?: { request?: TranslatedRequest }) =>
  new OpenAI({ apiKey: 'sk-test', baseURL: 'http://gateway.test/v1', maxRetries: 0, fetch: gateway('openai', upstream, loadFixture(provider, name), seen) });
const anthropic = (upstream: UpstreamApi, provider: FixtureProvider, name: string, seen?: { request?: TranslatedRequest }) =>
  new Anthropic({ apiKey: 'sk-ant-test', baseURL: 'http://gateway.test', maxRetries: 0, fetch: gateway('anthropic', upstream, loadFixture(provider, name), seen) });

/** A recorded stream, accumulated by the SDK of the provider that sent it (no translation involved). */
function replay(fixture: Fixture): typeof fetch {
  return gatewayFetch(() => ({ status: 200, body: fixture.body.toString('utf8') }));
}

const WEATHER: OpenAI.Chat.ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string' } }, required: ['location'] } },
};
const ASK: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris and Tokyo?' }];
const ANTHROPIC_WEATHER: Anthropic.Tool = { name: 'get_weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } };

describe('the OpenAI SDK served by Anthropic', () => {
  it('create(): a completion, and the request it sent arrives at Anthropic translated', async () => {
    const seen: { request?: TranslatedRequest } = {};
    const completion = await openai('anthropic', 'anthropic', 'messages.json', seen).chat.completions.create({
      model: 'smart',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello, how are you?' }],
      max_completion_tokens: 300,
    });
    expect(completion.choices[0]?.message.content).toBe("Hello! I'm doing well, thank you for asking. How can I help you today?");
    expect(completion.usage?.total_tokens).toBe(33);
    expect(seen.request?.body).toEqual({
      model: 'claude-sonnet-4-6',
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello, how are you?' }] }],
      max_tokens: 300,
    });
  });

  it('stream(): text and a tool call accumulate in ChatCompletionStream; the usage chunk arrives when asked', async () => {
    const stream = openai('anthropic', 'anthropic', 'messages.sse').chat.completions.stream({ model: 'smart', messages: ASK, tools: [WEATHER], stream_options: { include_usage: true } });
    const deltas: string[] = [];
    stream.on('content', (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    expect(deltas).toEqual(['hé', 'llo 世', '界 👋']);
    expect(final.choices[0]?.message).toMatchObject({
      role: 'assistant',
      content: 'héllo 世界 👋',
      tool_calls: [{ id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', type: 'function', function: { name: 'get_weather', arguments: '{"location": "Paris"}' } }],
    });
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(final.usage).toMatchObject({ prompt_tokens: 1038, completion_tokens: 41, prompt_tokens_details: { cached_tokens: 1024 } });
  });

  it('create({stream: true}): parallel tool calls arrive as indexed deltas', async () => {
    const chunks = await openai('anthropic', 'anthropic', 'messages-tools.sse').chat.completions.create({ model: 'smart', messages: ASK, tools: [WEATHER], stream: true });
    const calls = new Map<number, string>();
    for await (const chunk of chunks) for (const call of chunk.choices[0]?.delta.tool_calls ?? []) calls.set(call.index, (calls.get(call.index) ?? '') + (call.function?.arguments ?? ''));
    expect([...calls.entries()].map(([i, args]) => [i, JSON.parse(args) as unknown])).toEqual([
      [0, { location: 'Paris, France', unit: 'celsius' }],
      [1, { location: 'Tokyo, Japan', unit: 'celsius' }],
    ]);
  });

  it('parse() with a zod response_format: the forced tool\'s input comes back parsed', async () => {
    const Report = z.object({ city: z.string(), temperature_c: z.number(), conditions: z.string() });
    const seen: { request?: TranslatedRequest } = {};
    const completion = await openai('anthropic', 'anthropic', 'messages-json-tool.json', seen).chat.completions.parse({
      model: 'smart',
      messages: [{ role: 'user', content: 'Weather report for Paris.' }],
      response_format: zodResponseFormat(Report, 'weather_report'),
    });
    expect(completion.choices[0]?.message.parsed).toEqual({ city: 'Paris', temperature_c: 18, conditions: 'partly cloudy' });
    expect(seen.request?.body.tool_choice).toEqual({ type: 'tool', name: 'weather_report' });
  });

  it('errors keep their status, so the SDK raises its own classes (429 RateLimitError, 529 server error)', async () => {
    const limited = openai('anthropic', 'anthropic', 'error-429.json').chat.completions.create({ model: 'smart', messages: ASK });
    await expect(limited).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(limited).rejects.toMatchObject({ status: 429, code: 'rate_limit_error', type: 'rate_limit_error' });
    const overloaded = openai('anthropic', 'anthropic', 'error-529.json').chat.completions.create({ model: 'smart', messages: ASK });
    await expect(overloaded).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(overloaded).rejects.toMatchObject({ status: 529, message: '529 Overloaded' });
  });

  it('a mid-stream error event surfaces as the SDK\'s APIError after the text that came before it', async () => {
    const chunks = await openai('anthropic', 'anthropic', 'messages-stream-error.sse').chat.completions.create({ model: 'smart', messages: ASK, stream: true });
    let text = '';
    const consume = async () => {
      for await (const chunk of chunks) text += chunk.choices[0]?.delta.content ?? '';
    };
    await expect(consume()).rejects.toMatchObject({ message: 'Overloaded', type: 'overloaded_error' });
    expect(text).toBe('Sure, here');
  });

  it('a refused request never reaches the upstream: the gateway answers 400 naming the field', async () => {
    const client = new OpenAI({
      apiKey: 'sk-test',
      baseURL: 'http://gateway.test/v1',
      maxRetries: 0,
      fetch: gatewayFetch((body) => {
        try {
          translateCall('openai', 'anthropic', body);
        } catch (err) {
          if (!(err instanceof TranslationError)) throw err;
          const rendered = translationErrorBody(err, 'openai');
          return { status: rendered.status, body: JSON.stringify(rendered.body) };
        }
        throw new Error('expected a refusal');
      }),
    });
    await expect(client.chat.completions.create({ model: 'smart', messages: ASK, logit_bias: { '50256': -100 } })).rejects.toMatchObject({
      status: 400,
      param: 'logit_bias',
      code: 'sightline_untranslatable',
      message: '400 logit_bias is not supported when the model is served by Anthropic: no token biasing',
    });
  });
});

describe('the OpenAI SDK served by Gemini', () => {
  it('create() and stream(): text, usage with reasoning tokens, the model path in the URL', async () => {
    const seen: { request?: TranslatedRequest } = {};
    const completion = await openai('gemini', 'gemini', 'generate-thinking.json', seen).chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'How many r in strawberry?' }] });
    expect(completion.choices[0]?.message.content).toMatch(/^There are \*\*3\*\*/);
    expect(completion.usage?.completion_tokens_details?.reasoning_tokens).toBe(282);
    expect(seen.request?.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    const stream = openai('gemini', 'gemini', 'stream.sse', seen).chat.completions.stream({ model: 'smart', messages: ASK, stream_options: { include_usage: true } });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe('héllo 世界 👋');
    expect(final.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 191, total_tokens: 200 });
    expect(seen.request?.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  it('function calls: whole in create(), indexed deltas in a stream', async () => {
    const completion = await openai('gemini', 'gemini', 'generate-function-call.json').chat.completions.create({ model: 'smart', messages: ASK, tools: [WEATHER] });
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
    expect(completion.choices[0]?.message.tool_calls?.map((c) => (c.type === 'function' ? c.function.arguments : ''))).toEqual([
      '{"location":"Paris, France","unit":"celsius"}',
      '{"location":"Tokyo, Japan","unit":"celsius"}',
    ]);
    const final = await openai('gemini', 'gemini', 'stream-function-call.sse').chat.completions.stream({ model: 'smart', messages: ASK, tools: [WEATHER] }).finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe('Let me check both cities.');
    expect(final.choices[0]?.message.tool_calls).toHaveLength(2);
  });

  it('a 429 with RetryInfo: RateLimitError, with retry-after for the SDK\'s retry policy', async () => {
    const error = await openai('gemini', 'gemini', 'error-429.json').chat.completions.create({ model: 'smart', messages: ASK }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('34');
  });
});

describe('the Anthropic SDK served by OpenAI', () => {
  it('messages.create(): text and tool_use blocks, stop_reason, usage', async () => {
    const message = await anthropic('openai', 'openai', 'chat-tools.json').messages.create({ model: 'smart', max_tokens: 512, messages: [{ role: 'user', content: 'Weather in Paris and Tokyo?' }], tools: [ANTHROPIC_WEATHER] });
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content.map((b) => (b.type === 'tool_use' ? b.input : b.type))).toEqual([
      { location: 'Paris, France', unit: 'celsius' },
      { location: 'Tokyo, Japan', unit: 'celsius' },
    ]);
    expect(message.usage).toMatchObject({ input_tokens: 81, output_tokens: 54 });
  });

  it('messages.stream(): MessageStream accumulates the translated events; usage from message_delta', async () => {
    const seen: { request?: TranslatedRequest } = {};
    const stream = anthropic('openai', 'openai', 'chat.sse', seen).messages.stream({ model: 'smart', max_tokens: 512, messages: [{ role: 'user', content: 'Say hello' }] });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const message = await stream.finalMessage();
    expect(texts.join('')).toBe('héllo 世界 👋');
    expect(message).toMatchObject({ stop_reason: 'end_turn', content: [{ type: 'text', text: 'héllo 世界 👋' }], usage: { input_tokens: 11, output_tokens: 6 } });
    expect(seen.request?.body).toMatchObject({ model: 'gpt-5-mini', stream: true, stream_options: { include_usage: true }, max_completion_tokens: 512 });
  });

  it('errors: a 429 is RateLimitError, a mid-stream error event is an APIError', async () => {
    const limited = anthropic('openai', 'openai', 'error-429.json').messages.create({ model: 'smart', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    await expect(limited).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    const broken = anthropic('openai', 'openai', 'stream-error.sse').messages.stream({ model: 'smart', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    await expect(broken.finalMessage()).rejects.toMatchObject({ message: expect.stringContaining('The server had an error while processing your request') });
  });
});

describe('the Anthropic SDK served by Gemini', () => {
  it('messages.create() and messages.stream() with function calls', async () => {
    const message = await anthropic('gemini', 'gemini', 'generate.json').messages.create({ model: 'smart', max_tokens: 256, messages: [{ role: 'user', content: 'Explain AI in one line.' }] });
    expect(message.content).toEqual([{ type: 'text', text: 'AI learns patterns from data to make predictions or decisions.' }]);
    const final = await anthropic('gemini', 'gemini', 'stream-function-call.sse').messages.stream({ model: 'smart', max_tokens: 256, messages: [{ role: 'user', content: 'Weather?' }], tools: [ANTHROPIC_WEATHER] }).finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    expect(final.content.map((b) => b.type)).toEqual(['text', 'tool_use', 'tool_use']);
    expect(final.usage).toMatchObject({ input_tokens: 86, output_tokens: 158 });
  });
});

// ---- reassembly: stream accumulated by the caller's SDK == whole-body translation of the same answer ----

interface Normalised {
  content: string;
  toolCalls: { id: string; name: string; args: unknown }[];
  finish: string;
  usage: unknown;
}

function normaliseCompletion(c: OpenAI.Chat.ChatCompletion | JsonObject): Normalised {
  const choice = asObject(asArray((c as JsonObject).choices)[0]);
  const message = asObject(choice?.message);
  return {
    content: asString(message?.content),
    toolCalls: asArray(message?.tool_calls).map((raw) => {
      const call = asObject(raw);
      const fn = asObject(call?.function);
      return { id: asString(call?.id), name: asString(fn?.name), args: JSON.parse(asString(fn?.arguments) || '{}') as unknown };
    }),
    finish: asString(choice?.finish_reason),
    usage: (c as JsonObject).usage,
  };
}

/** A Gemini stream's frames folded into one GenerateContentResponse: parts concatenated, last finish and usage kept. */
function geminiWhole(body: Buffer): JsonObject {
  const parts: JsonObject[] = [];
  let last: JsonObject = {};
  let finishReason = '';
  for (const frame of parseSse(body)) {
    const j = asObject(frame.json);
    if (!j) continue;
    last = j;
    const candidate = asObject(asArray(j.candidates)[0]);
    finishReason = asString(candidate?.finishReason) || finishReason;
    for (const raw of asArray(asObject(candidate?.content)?.parts)) {
      const part = asObject(raw);
      const previous = parts[parts.length - 1];
      if (part && typeof part.text === 'string' && previous && typeof previous.text === 'string' && previous.thought === part.thought) previous.text += part.text;
      else if (part) parts.push({ ...part });
    }
  }
  return { ...last, candidates: [{ content: { role: 'model', parts }, finishReason, index: 0 }] };
}

const ctx = { model: 'smart', created: NOW / 1000, includeUsage: true, jsonTool: null };
const ok = (f: Fixture) => f.sse && f.expect.error_type === '';

describe('a translated stream accumulates to the whole-body translation of the same answer', () => {
  it.each(listFixtures('anthropic').filter(ok).map((f) => [f.name, f] as const))('anthropic/%s, through the OpenAI SDK', async (_name, fixture) => {
    const whole = await new Anthropic({ apiKey: 'k', maxRetries: 0, fetch: replay(fixture) }).messages.stream({ model: 'x', max_tokens: 1, messages: [] }).finalMessage();
    const expected = anthropicToOpenAiResponse(whole, ctx);
    const streamed = await openai('anthropic', 'anthropic', fixture.name).chat.completions.stream({ model: 'smart', messages: ASK, stream_options: { include_usage: true } }).finalChatCompletion();
    expect(normaliseCompletion(streamed)).toEqual(normaliseCompletion(expected));
    expect([streamed.id, streamed.model]).toEqual([expected.id, expected.model]);
  });

  it.each(listFixtures('gemini').filter(ok).map((f) => [f.name, f] as const))('gemini/%s, through the OpenAI SDK', async (_name, fixture) => {
    const expected = geminiToOpenAiResponse(geminiWhole(fixture.body), ctx);
    const streamed = await openai('gemini', 'gemini', fixture.name).chat.completions.stream({ model: 'smart', messages: ASK, stream_options: { include_usage: true } }).finalChatCompletion();
    expect(normaliseCompletion(streamed)).toEqual(normaliseCompletion(expected));
  });

  it.each(listFixtures('openai').filter((f) => ok(f) && f.name.startsWith('chat')).map((f) => [f.name, f] as const))('openai/%s, through the Anthropic SDK', async (_name, fixture) => {
    const whole = await new OpenAI({ apiKey: 'k', maxRetries: 0, fetch: replay(fixture) }).chat.completions.stream({ model: 'x', messages: ASK }).finalChatCompletion();
    const expected = openAiToAnthropicResponse(whole, { model: 'smart' });
    const streamed = await anthropic('openai', 'openai', fixture.name).messages.stream({ model: 'smart', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
    expect({ content: streamed.content, stop_reason: streamed.stop_reason, usage: streamed.usage, id: streamed.id, model: streamed.model }).toMatchObject({
      content: expected.content,
      stop_reason: expected.stop_reason,
      usage: expected.usage,
      id: expected.id,
      model: expected.model,
    });
  });
});
