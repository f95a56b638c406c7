// OpenAI caller, Gemini upstream: the request out (URL and stream choice included), and every kind of answer back,
// driven by requests typed against the official OpenAI SDK and by recorded Gemini answers.
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { loadFixture } from '../../test/fixtures/index.ts';
import { chatCompletion, chatHi, CITY_IMAGES_QUESTION, framesOf, onlyChoice, openAiUsageOf, translateStream, translationError, WEATHER_TOOL as WEATHER } from '../../test/helpers/translation.ts';
import { finishFromGemini } from './finish-reasons.ts';
import { geminiToOpenAiResponse } from './gemini-to-openai-response.ts';
import { GeminiToOpenAiStream } from './gemini-to-openai-stream.ts';
import { openAiToGeminiRequest } from './openai-to-gemini-request.ts';
import { toStreamTranslator } from './sse-frames.ts';
import type { OpenAiAnswerContext } from './types.ts';
import { geminiErrorToOpenAi } from './upstream-errors.ts';

const NOW = 1_753_364_800_000;
const CREATED = NOW / 1000;
type ChatParams = OpenAI.Chat.ChatCompletionCreateParams;

const toGemini = (body: ChatParams | Record<string, unknown>, model = 'gemini-2.5-flash') => openAiToGeminiRequest(body, { now: NOW, model });
const bodyOf = (body: ChatParams | Record<string, unknown>) => toGemini(body).request.body;
const hi = chatHi;
const refusal = translationError;

// The shared weather tool as an OpenAI strict-mode caller declares it.
const WEATHER_TOOL = {
  type: 'function',
  function: { ...WEATHER.function, parameters: { ...WEATHER.function.parameters, additionalProperties: false }, strict: true },
} as const satisfies OpenAI.Chat.ChatCompletionTool;

describe('OpenAI request → Gemini generateContent request', () => {
  it('picks :generateContent or :streamGenerateContent?alt=sse, the model in the path', () => {
    expect(toGemini(hi()).request).toMatchObject({ path: '/v1beta/models/gemini-2.5-flash:generateContent', stream: false, headers: {} });
    expect(toGemini(hi({ stream: true })).request).toMatchObject({ path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', stream: true });
    expect(toGemini(hi(), 'models/gemini-2.5-pro').request.path).toBe('/v1beta/models/gemini-2.5-pro:generateContent');
    expect(toGemini(hi(), 'tunedModels/my-tune-7').request.path).toBe('/v1beta/tunedModels/my-tune-7:generateContent');
    expect(openAiToGeminiRequest({ model: 'gemini-2.0-flash', messages: [{ role: 'user', content: 'hi' }] }).request.path).toBe('/v1beta/models/gemini-2.0-flash:generateContent');
  });

  it('translates a whole tool-using conversation: systemInstruction, images, parallel calls answered by name, sampling', () => {
    const request = {
      model: 'smart',
      messages: [
        { role: 'system', content: 'You are a concise travel assistant.' },
        { role: 'developer', content: 'Answer in metric units.' },
        CITY_IMAGES_QUESTION,
        {
          role: 'assistant',
          content: 'Let me check both cities.',
          tool_calls: [
            { id: 'call_kP6_0_0', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' }, extra_content: { google: { thought_signature: 'CiQBcsjafHw0Yx5R' } } } as OpenAI.Chat.ChatCompletionMessageToolCall,
            { id: 'call_kP6_0_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo, Japan","unit":"celsius"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_kP6_0_0', content: '{"temp_c":18,"conditions":"cloudy"}' },
        { role: 'tool', tool_call_id: 'call_kP6_0_1', content: 'sunny, 24C' },
        { role: 'user', content: 'Which one is warmer?' },
      ],
      tools: [WEATHER_TOOL],
      tool_choice: 'required',
      temperature: 1.3,
      top_p: 0.9,
      max_completion_tokens: 512,
      stop: 'END',
      seed: 7,
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      n: 2,
      reasoning_effort: 'medium',
    } satisfies OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
    const { request: out, context } = toGemini(request);
    expect(out.body).toEqual({
      systemInstruction: { parts: [{ text: 'You are a concise travel assistant.' }, { text: 'Answer in metric units.' }] },
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'What is the weather in these two cities?' },
            { fileData: { mimeType: 'image/jpeg', fileUri: 'https://upload.example.org/paris.jpg' } },
            { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgoAAAANSUhEUg==' } },
          ],
        },
        {
          role: 'model',
          parts: [
            { text: 'Let me check both cities.' },
            { functionCall: { name: 'get_weather', args: { location: 'Paris, France', unit: 'celsius' } }, thoughtSignature: 'CiQBcsjafHw0Yx5R' },
            { functionCall: { name: 'get_weather', args: { location: 'Tokyo, Japan', unit: 'celsius' } } },
          ],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { temp_c: 18, conditions: 'cloudy' } } },
            { functionResponse: { name: 'get_weather', response: { content: 'sunny, 24C' } } },
            { text: 'Which one is warmer?' },
          ],
        },
      ],
      tools: [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Current weather for a city',
              parameters: { type: 'OBJECT', properties: { location: { type: 'STRING' }, unit: { type: 'STRING', enum: ['celsius', 'fahrenheit'] } }, required: ['location'] },
            },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
      generationConfig: {
        temperature: 1.3,
        topP: 0.9,
        candidateCount: 2,
        maxOutputTokens: 512,
        stopSequences: ['END'],
        presencePenalty: 0.1,
        frequencyPenalty: 0.2,
        seed: 7,
        thinkingConfig: { thinkingBudget: 8192 },
      },
    });
    expect(out.approximated).toEqual(['tools[0].function.strict']);
    expect(context).toEqual({ model: 'smart', created: CREATED, includeUsage: false, jsonTool: null });
  });

  it('maps tool_choice to functionCallingConfig modes', () => {
    const config = (extra: Partial<ChatParams>) => bodyOf(hi({ tools: [WEATHER_TOOL], ...extra })).toolConfig;
    expect(config({})).toBeUndefined();
    expect(config({ tool_choice: 'auto' })).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(config({ tool_choice: 'none' })).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(config({ tool_choice: { type: 'function', function: { name: 'get_weather' } } })).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
    expect(toGemini(hi({ tools: [WEATHER_TOOL], parallel_tool_calls: false })).request.approximated).toContain('parallel_tool_calls');
  });

  it('declares a function without parameters with none (Gemini refuses an empty OBJECT)', () => {
    const tools = bodyOf(hi({ tools: [{ type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } }] })).tools;
    expect(tools).toEqual([{ functionDeclarations: [{ name: 'now' }] }]);
  });

  it('response_format → responseMimeType + responseSchema (converted), json_object → the mime type alone', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, temperature_c: { type: 'number' } }, required: ['city', 'temperature_c'], additionalProperties: false };
    expect(bodyOf(hi({ response_format: { type: 'json_schema', json_schema: { name: 'weather_report', schema, strict: true } } })).generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseSchema: { type: 'OBJECT', properties: { city: { type: 'STRING' }, temperature_c: { type: 'NUMBER' } }, required: ['city', 'temperature_c'] },
    });
    expect(bodyOf(hi({ response_format: { type: 'json_object' } })).generationConfig).toEqual({ responseMimeType: 'application/json' });
    const fmt = toGemini(hi({ response_format: { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'object', properties: { e: { type: 'string', format: 'email' } } } } } }));
    expect(fmt.request.approximated).toEqual(['response_format.json_schema.schema.properties.e.format']);
  });

  it('reasoning_effort → thinkingBudget (none = 0, xhigh / max = dynamic, noted)', () => {
    const budget = (effort: ChatParams['reasoning_effort']) => (bodyOf(hi({ reasoning_effort: effort })).generationConfig as { thinkingConfig: unknown }).thinkingConfig;
    expect(['none', 'minimal', 'low', 'medium', 'high', 'xhigh'].map((e) => budget(e as ChatParams['reasoning_effort']))).toEqual([
      { thinkingBudget: 0 }, { thinkingBudget: 1024 }, { thinkingBudget: 1024 }, { thinkingBudget: 8192 }, { thinkingBudget: 24576 }, { thinkingBudget: -1 },
    ]);
    expect(toGemini(hi({ reasoning_effort: 'xhigh' })).request.approximated).toEqual(['reasoning_effort']);
  });

  it('sends audio and PDFs inline; guesses a remote file\'s type from its extension (noted when it cannot)', () => {
    const { request } = toGemini(hi({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'input_audio', input_audio: { data: 'UklGRiQAAABXQVZF', format: 'wav' } },
            { type: 'file', file: { filename: 'contract.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } },
            { type: 'image_url', image_url: { url: 'https://cdn.example.org/chart.webp?v=2' } },
            { type: 'image_url', image_url: { url: 'https://cdn.example.org/render?id=9' } },
          ],
        },
      ],
    }));
    expect((request.body.contents as { parts: unknown[] }[])[0]?.parts).toEqual([
      { inlineData: { mimeType: 'audio/wav', data: 'UklGRiQAAABXQVZF' } },
      { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0xLjQK' } },
      { fileData: { mimeType: 'image/webp', fileUri: 'https://cdn.example.org/chart.webp?v=2' } },
      { fileData: { mimeType: 'image/jpeg', fileUri: 'https://cdn.example.org/render?id=9' } },
    ]);
    expect(request.approximated).toEqual(['messages[0].content[3].image_url.url']);
  });

  it('notes what Gemini drops (user, cache_control, thinking blocks), refuses what it cannot take', () => {
    const { request } = toGemini({
      model: 'smart',
      user: 'user-42',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Long policy…', cache_control: { type: 'ephemeral' } }] },
        { role: 'assistant', content: 'ok', thinking_blocks: [{ type: 'thinking', thinking: 'x', signature: 'y' }] },
      ],
    });
    expect(request.approximated).toEqual(['user', 'messages[0].content[0].cache_control', 'messages[1].thinking_blocks']);
    expect(refusal(() => bodyOf(hi({ logprobs: true }))).message).toBe('logprobs is not supported when the model is served by Gemini: log probabilities are not translated');
    expect(refusal(() => bodyOf(hi({ service_tier: 'priority' }))).param).toBe('service_tier');
    expect(
      refusal(() => bodyOf({ model: 'smart', messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'call_unknown', content: '1' }] })).message,
    ).toBe('messages[1].tool_call_id: matches no tool call of an earlier assistant message (Gemini answers a function by its name)');
  });
});

const ctx = (extra: Partial<OpenAiAnswerContext> = {}): OpenAiAnswerContext => ({ model: 'smart', created: CREATED, includeUsage: false, jsonTool: null, ...extra });
const json = (name: string): unknown => JSON.parse(loadFixture('gemini', name).body.toString('utf8'));

describe('Gemini response → OpenAI chat.completion', () => {
  it('generate.json: text, stop, usage', () => {
    const choices = onlyChoice({ content: 'AI learns patterns from data to make predictions or decisions.' }, 'stop');
    expect(geminiToOpenAiResponse(json('generate.json'), ctx())).toEqual(chatCompletion({ id: 'md2UaLXRCaKTmNAPrsSpgAo', model: 'gemini-2.0-flash', created: CREATED, choices, usage: openAiUsageOf(8, 12) }));
  });

  it('generate-thinking.json: thoughts count as reasoning inside completion_tokens, cached tokens as cached_tokens', () => {
    expect(geminiToOpenAiResponse(json('generate-thinking.json'), ctx()).usage).toEqual(openAiUsageOf(4127, 311, 4096, 282));
  });

  it('generate-function-call.json: parallel function calls → tool_calls with made-up ids, the signature handed out, finish tool_calls', () => {
    const out = geminiToOpenAiResponse(json('generate-function-call.json'), ctx());
    expect(out.choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            {
              id: 'call_gP6LaY3tCIGtxN8Pk5yFoQ4_0_0',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' },
              extra_content: { google: { thought_signature: 'CiQBcsjafHw0Yx5RTyr2ZFgPEe2GDHN0wLsU9HiB7ZvH9bM3WqAKXgFyyNp8lBv4' } },
            },
            { id: 'call_gP6LaY3tCIGtxN8Pk5yFoQ4_0_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo, Japan","unit":"celsius"}' } },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it('keeps the model\'s own call ids, and answers a blocked prompt with content_filter', () => {
    const withId = { candidates: [{ content: { role: 'model', parts: [{ functionCall: { id: 'fc_7', name: 'f', args: {} } }] }, finishReason: 'STOP' }], responseId: 'r' };
    expect(JSON.stringify(geminiToOpenAiResponse(withId, ctx()).choices)).toContain('"id":"fc_7"');
    const blocked = { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 }, modelVersion: 'gemini-2.5-flash', responseId: 'b1' };
    expect(geminiToOpenAiResponse(blocked, ctx()).choices).toEqual(onlyChoice({ content: null }, 'content_filter'));
    expect(['STOP', 'MAX_TOKENS', 'SAFETY', 'RECITATION', 'PROHIBITED_CONTENT', 'MALFORMED_FUNCTION_CALL', 'OTHER'].map((r) => finishFromGemini(r, false))).toEqual([
      'stop', 'length', 'content_filter', 'content_filter', 'content_filter', 'stop', 'stop',
    ]);
  });

  it('maps several candidates to several choices (n)', () => {
    const body = { candidates: [0, 1].map((index) => ({ content: { role: 'model', parts: [{ text: `answer ${index}` }] }, finishReason: 'STOP', index })), responseId: 'n2' };
    expect((geminiToOpenAiResponse(body, ctx()).choices as { index: number; message: { content: string } }[]).map((c) => [c.index, c.message.content])).toEqual([[0, 'answer 0'], [1, 'answer 1']]);
  });
});

const streamOf = (name: string, extra: Partial<OpenAiAnswerContext> = {}) =>
  framesOf(translateStream(toStreamTranslator(new GeminiToOpenAiStream(ctx(extra))), loadFixture('gemini', name).body));
const deltasOf = (frames: ReturnType<typeof streamOf>) =>
  frames.map((f) => (f.json as { choices?: { delta: unknown; finish_reason: unknown }[] } | undefined)?.choices?.[0]).map((c) => c && { delta: c.delta, finish: c.finish_reason });

describe('Gemini stream → OpenAI chunks', () => {
  it('stream.sse: text deltas, finish, then at the end the usage chunk (when asked) and [DONE]', () => {
    const frames = streamOf('stream.sse', { includeUsage: true });
    const base = { id: 'bH6LaZW8Fp_3nsEPqtaSwQ4', object: 'chat.completion.chunk', created: CREATED, model: 'gemini-2.5-flash' };
    expect(frames.map((f) => f.json)).toEqual([
      { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'héllo' }, logprobs: null, finish_reason: null }], usage: null },
      { ...base, choices: [{ index: 0, delta: { content: ' 世界' }, logprobs: null, finish_reason: null }], usage: null },
      { ...base, choices: [{ index: 0, delta: { content: ' 👋' }, logprobs: null, finish_reason: null }], usage: null },
      { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], usage: null },
      { ...base, choices: [], usage: openAiUsageOf(9, 191, 0, 185) },
      undefined,
    ]);
  });

  it('stream-function-call.sse: whole function calls become one tool_calls delta each, finish tool_calls', () => {
    expect(deltasOf(streamOf('stream-function-call.sse'))).toEqual([
      { delta: { role: 'assistant', content: 'Let me check' }, finish: null },
      { delta: { content: ' both cities.' }, finish: null },
      {
        delta: {
          tool_calls: [
            {
              index: 0,
              id: 'call_kP6LaeWyNuWlxN8Pq8S7mQ0_0_0',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' },
              extra_content: { google: { thought_signature: 'CiQBcsjafHw0Yx5RTyr2ZFgPEe2GDHN0wLsU9HiB7ZvH9bM3WqAKXgFyyNp8lBv4' } },
            },
            { index: 1, id: 'call_kP6LaeWyNuWlxN8Pq8S7mQ0_0_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo, Japan","unit":"celsius"}' } },
          ],
        },
        finish: null,
      },
      { delta: {}, finish: 'tool_calls' },
      undefined,
    ]);
  });

  it('stream-thoughts.sse: thought summaries → reasoning_content; usage keeps cached and reasoning tokens', () => {
    const frames = streamOf('stream-thoughts.sse', { includeUsage: true });
    expect(deltasOf(frames).slice(0, 4)).toEqual([
      { delta: { role: 'assistant', reasoning_content: '**Counting the letters**\n\nI\'m spelling out "strawberry" and marking each r: there is one after the t and two before the final y.\n' }, finish: null },
      { delta: { content: 'There are **3**' }, finish: null },
      { delta: { content: ' r\'s in "strawberry".' }, finish: null },
      { delta: {}, finish: 'stop' },
    ]);
    expect((frames[4]?.json as { usage: unknown }).usage).toEqual(openAiUsageOf(2150, 257, 2048, 244));
  });

  it('an error frame ends the stream with an OpenAI error frame; a cut stream gets no [DONE]', () => {
    const error = 'data: {"error": {"code": 503,"message": "The model is overloaded. Please try again later.","status": "UNAVAILABLE"}}\r\n\r\n';
    const body = Buffer.concat([loadFixture('gemini', 'stream.sse').body.subarray(0, 300), Buffer.from(`\r\n\r\n${error}`)]);
    const frames = framesOf(translateStream(toStreamTranslator(new GeminiToOpenAiStream(ctx())), body));
    expect(frames.at(-1)?.json).toEqual({ error: { message: 'The model is overloaded. Please try again later.', type: 'api_error', param: null, code: 'UNAVAILABLE' } });
    const cut = loadFixture('gemini', 'stream.sse').body;
    const first = framesOf(translateStream(toStreamTranslator(new GeminiToOpenAiStream(ctx())), cut.subarray(0, cut.indexOf('\r\n\r\n') + 4)));
    expect(first.map((f) => f.json === undefined)).toEqual([false]);
  });

  it('several candidates stream as several choices, each starting with its role', () => {
    const frame = (parts: Record<string, unknown>[]) => `data: ${JSON.stringify({ candidates: parts, responseId: 'n2', modelVersion: 'gemini-2.5-flash' })}\r\n\r\n`;
    const body = Buffer.from(
      frame([{ content: { role: 'model', parts: [{ text: 'A' }] }, index: 0 }, { content: { role: 'model', parts: [{ text: 'B' }] }, index: 1 }]) +
        frame([{ content: { role: 'model', parts: [{ text: '!' }] }, finishReason: 'STOP', index: 0 }, { content: { role: 'model', parts: [] }, finishReason: 'MAX_TOKENS', index: 1 }]),
    );
    const choices = framesOf(translateStream(toStreamTranslator(new GeminiToOpenAiStream(ctx())), body)).map((f) => (f.json as { choices?: unknown[] } | undefined)?.choices?.[0]);
    expect(choices).toEqual([
      { index: 0, delta: { role: 'assistant', content: 'A' }, logprobs: null, finish_reason: null },
      { index: 1, delta: { role: 'assistant', content: 'B' }, logprobs: null, finish_reason: null },
      { index: 0, delta: { content: '!' }, logprobs: null, finish_reason: null },
      { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' },
      { index: 1, delta: {}, logprobs: null, finish_reason: 'length' },
      undefined,
    ]);
  });
});

describe('Gemini error → OpenAI error', () => {
  it('error-429.json: status kept, gRPC status as code, RetryInfo as retry-after', () => {
    const fx = loadFixture('gemini', 'error-429.json');
    expect(geminiErrorToOpenAi(fx.status, JSON.parse(fx.body.toString('utf8')))).toEqual({
      status: 429,
      body: { error: { message: expect.stringMatching(/^You exceeded your current quota/), type: 'rate_limit_error', param: null, code: 'RESOURCE_EXHAUSTED' } },
      headers: { 'retry-after': '34' },
    });
  });

  it('an error sent as a one-element array, and a non-JSON body', () => {
    const body = [{ error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT' } }];
    expect(geminiErrorToOpenAi(400, body).body).toEqual({ error: { message: 'API key not valid. Please pass a valid API key.', type: 'invalid_request_error', param: null, code: 'INVALID_ARGUMENT' } });
    expect(geminiErrorToOpenAi(500, 'upstream connect error').body).toEqual({ error: { message: 'upstream connect error', type: 'api_error', param: null, code: 'api_error' } });
  });
});
