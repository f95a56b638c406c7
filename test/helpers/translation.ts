// Drives the translators the way the request path will: upstream bytes in arbitrary chunks through the framer and a
// stream translator, and, for SDK tests, a fetch that plays the gateway in-process (the SDK's request is translated,
// a recorded upstream answer is translated back and returned as a Response), so the official clients parse exactly
// the bytes a caller would receive.
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { parseSse } from '../../providers/sse.ts';
import { TranslationError } from '../../providers/translate/errors.ts';
import { translateSseBytes } from '../../providers/translate/sse-frames.ts';
import type { StreamTranslator } from '../../providers/translate/sse-frames.ts';
import type { SseFrame } from '../../providers/types.ts';

/** The client-side text for `body` fed in chunks of `sizes` (cycled; default one chunk). */
export function translateStream(translator: StreamTranslator, body: Buffer, sizes: readonly number[] = [body.length]): string {
  let out = '';
  const pipe = translateSseBytes(translator, (text) => {
    out += text;
  });
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1);
    pipe.push(body.subarray(at, at + size));
    at += size;
  }
  pipe.end();
  return out;
}

/** The same, with the body cut in two at `cut`. */
export function translateSplit(translator: StreamTranslator, body: Buffer, cut: number): string {
  return translateStream(translator, body, [Math.max(1, cut), body.length]);
}

/** The translated stream's frames, parsed back (json undefined for `[DONE]`). */
export function framesOf(sse: string): SseFrame[] {
  return parseSse(sse);
}

/** A seeded pseudo-random chunking (mulberry32), so property checks are reproducible. */
export function randomSizes(seed: number, count: number, max: number): number[] {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => 1 + Math.floor(next() * max));
}

export interface FakeUpstreamAnswer {
  status: number;
  /** SSE text or JSON text, as the client must receive it. */
  body: string;
  headers?: Record<string, string>;
}

/**
 * A `fetch` for an SDK client: hands the SDK's JSON request body to `answer` and returns what it says, streamed in
 * small pieces when it is SSE (so the SDK's own framing is exercised across chunk boundaries).
 */
export function gatewayFetch(answer: (requestBody: unknown, url: string) => FakeUpstreamAnswer): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const requestBody: unknown = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const { status, body, headers = {} } = answer(requestBody, url);
    const sse = body.startsWith('data:') || body.startsWith('event:');
    const bytes = Buffer.from(body, 'utf8');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 37) controller.enqueue(new Uint8Array(bytes.subarray(at, at + 37)));
        controller.close();
      },
    });
    return new Response(stream, { status, headers: { 'content-type': sse ? 'text/event-stream' : 'application/json', ...headers } });
  };
}

/** The TranslationError `fn` throws (anything else, or nothing, fails the test). */
export function translationError(fn: () => unknown): TranslationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TranslationError) return err;
    throw err;
  }
  throw new Error('expected a TranslationError');
}

/** The weather tool most recorded fixtures call, as an OpenAI caller declares it. */
export const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['location'] },
  },
} as const satisfies OpenAI.Chat.ChatCompletionTool;

/** The two parallel calls the recorded tool fixtures make. */
export const PARIS_AND_TOKYO = [
  { location: 'Paris, France', unit: 'celsius' },
  { location: 'Tokyo, Japan', unit: 'celsius' },
] as const;

/** Anthropic tool_use blocks for PARIS_AND_TOKYO with the given ids. */
export function weatherToolUses(ids: readonly [string, string]): Anthropic.ToolUseBlockParam[] {
  return ids.map((id, i) => ({ type: 'tool_use', id, name: 'get_weather', input: { ...PARIS_AND_TOKYO[i] } }));
}

/** An OpenAI usage object as the translators write it. */
export function openAiUsageOf(prompt: number, completion: number, cached = 0, reasoning = 0): Record<string, unknown> {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached }, completion_tokens_details: { reasoning_tokens: reasoning } };
}

/** A chat.completion's `choices` with one assistant message. */
export function onlyChoice(message: Record<string, unknown>, finish: string): Record<string, unknown>[] {
  return [{ index: 0, message: { role: 'assistant', refusal: null, ...message }, logprobs: null, finish_reason: finish }];
}

/** A Chat Completions request saying hi, with `extra` parameters. */
export function chatHi(extra: Partial<OpenAI.Chat.ChatCompletionCreateParams> = {}): OpenAI.Chat.ChatCompletionCreateParams {
  return { model: 'smart', messages: [{ role: 'user', content: 'hi' }], ...extra } as OpenAI.Chat.ChatCompletionCreateParams;
}

/** A user question with an image by URL and one inline, as an OpenAI caller sends it. */
export const CITY_IMAGES_QUESTION = {
  role: 'user',
  content: [
    { type: 'text', text: 'What is the weather in these two cities?' },
    { type: 'image_url', image_url: { url: 'https://upload.example.org/paris.jpg' } },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==' } },
  ],
} as const satisfies OpenAI.Chat.ChatCompletionUserMessageParam;

/** An Anthropic message as the translators write it. */
export function anthropicMessage(m: { id: string; model: string; content: unknown[]; stop_reason: string; usage: Record<string, number> }): Record<string, unknown> {
  return { id: m.id, type: 'message', role: 'assistant', model: m.model, content: m.content, stop_reason: m.stop_reason, stop_sequence: null, usage: m.usage };
}

/** A chat.completion as the translators write it. */
export function chatCompletion(c: { id: string; model: string; created: number; choices: unknown[]; usage: unknown }): Record<string, unknown> {
  return { id: c.id, object: 'chat.completion', created: c.created, model: c.model, choices: c.choices, usage: c.usage };
}

/** CITY_IMAGES_QUESTION as an Anthropic caller sends it (and as it reaches Anthropic). */
export const CITY_IMAGES_QUESTION_ANTHROPIC: Anthropic.MessageParam = {
  role: 'user',
  content: [
    { type: 'text', text: 'What is the weather in these two cities?' },
    { type: 'image', source: { type: 'url', url: 'https://upload.example.org/paris.jpg' } },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgoAAAANSUhEUg==' } },
  ],
};
