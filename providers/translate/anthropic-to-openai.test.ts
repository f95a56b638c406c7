// The reverse direction: an Anthropic caller (`POST /v1/messages`) served by OpenAI, or by Gemini through the OpenAI
// form. Requests are typed against the official Anthropic SDK; answers are recorded OpenAI and Gemini fixtures.
import type Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { loadFixture } from '../../test/fixtures/index.ts';
import { anthropicMessage, CITY_IMAGES_QUESTION, CITY_IMAGES_QUESTION_ANTHROPIC, framesOf, translateStream, translationError, weatherToolUses } from '../../test/helpers/translation.ts';
import { anthropicToGeminiRequest, geminiErrorToAnthropic, geminiToAnthropicResponse, geminiToAnthropicStream } from './anthropic-to-gemini.ts';
import { anthropicToOpenAiRequest } from './anthropic-to-openai-request.ts';
import { openAiToAnthropicResponse } from './openai-to-anthropic-response.ts';
import { OpenAiToAnthropicStream } from './openai-to-anthropic-stream.ts';
import { toStreamTranslator } from './sse-frames.ts';
import { openAiErrorToAnthropic } from './upstream-errors.ts';

type MessageParams = Anthropic.MessageCreateParams;
const NOW = 1_753_364_800_000;

const toOpenAi = (body: MessageParams | Record<string, unknown>) => anthropicToOpenAiRequest(body, { model: 'gpt-5-mini', now: NOW });
const hi = (extra: Partial<MessageParams> = {}): MessageParams => ({ model: 'smart', max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }], ...extra }) as MessageParams;

const refusal = translationError;

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
} as const satisfies Anthropic.Tool;

describe('Anthropic request → OpenAI request', () => {
  it('translates a tool-using conversation: system, images, tool_use / tool_result, sampling, stream with usage', () => {
    const request = {
      model: 'smart',
      max_tokens: 2048,
      system: [{ type: 'text', text: 'You are a concise travel assistant.', cache_control: { type: 'ephemeral' } }],
      messages: [
        CITY_IMAGES_QUESTION_ANTHROPIC,
        {
          role: 'assistant',
          content: [
            { type: 'text', text: "I'll check both." },
            ...weatherToolUses(['toolu_01HdMqnRLBwzvN7TyX2k9cPf', 'toolu_01WsE4aJ8yVt3LrKqH6mZbNd']),
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01HdMqnRLBwzvN7TyX2k9cPf', content: '18C, cloudy' },
            { type: 'tool_result', tool_use_id: 'toolu_01WsE4aJ8yVt3LrKqH6mZbNd', content: [{ type: 'text', text: '24C, sunny' }] },
            { type: 'text', text: 'Which one is warmer?' },
          ],
        },
      ],
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      stop_sequences: ['\n\nHuman:'],
      metadata: { user_id: 'user-42' },
      stream: true,
    } satisfies Anthropic.MessageCreateParamsStreaming;
    // Sampling parameters of anthropic-version 2023-06-01, which SDK 1.x (API 2026-10-21) no longer types or sends.
    const { request: out, context } = toOpenAi({ ...request, temperature: 0.3, top_p: 0.95 });
    expect(out).toMatchObject({ path: '/v1/chat/completions', headers: {}, stream: true });
    expect(out.body).toEqual({
      model: 'gpt-5-mini',
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'You are a concise travel assistant.' }] },
        CITY_IMAGES_QUESTION,
        {
          role: 'assistant',
          content: "I'll check both.",
          tool_calls: [
            { id: 'toolu_01HdMqnRLBwzvN7TyX2k9cPf', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' } },
            { id: 'toolu_01WsE4aJ8yVt3LrKqH6mZbNd', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo, Japan","unit":"celsius"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_01HdMqnRLBwzvN7TyX2k9cPf', content: '18C, cloudy' },
        { role: 'tool', tool_call_id: 'toolu_01WsE4aJ8yVt3LrKqH6mZbNd', content: '24C, sunny' },
        { role: 'user', content: [{ type: 'text', text: 'Which one is warmer?' }] },
      ],
      max_completion_tokens: 2048,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.3,
      top_p: 0.95,
      stop: ['\n\nHuman:'],
      user: 'user-42',
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Current weather for a city', parameters: WEATHER_TOOL.input_schema } }],
      tool_choice: 'auto',
      parallel_tool_calls: false,
    });
    expect(out.approximated).toEqual(['system[0].cache_control']);
    expect(context).toEqual({ model: 'smart' });
  });

  it('maps tool_choice any / tool / none, thinking budgets and output_config', () => {
    const withTools = (extra: Partial<MessageParams>) => toOpenAi(hi({ tools: [WEATHER_TOOL], ...extra })).request.body;
    expect(withTools({ tool_choice: { type: 'any' } }).tool_choice).toBe('required');
    expect(withTools({ tool_choice: { type: 'tool', name: 'get_weather' } }).tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    expect(withTools({ tool_choice: { type: 'none' } }).tool_choice).toBe('none');
    const effort = (thinking: MessageParams['thinking']) => toOpenAi(hi({ max_tokens: 32000, thinking })).request;
    expect([1024, 4000, 8192, 16000, 30000].map((budget_tokens) => effort({ type: 'enabled', budget_tokens }).body.reasoning_effort)).toEqual(['low', 'medium', 'medium', 'high', 'high']);
    expect(effort({ type: 'enabled', budget_tokens: 2048 }).approximated).toEqual(['thinking']);
    expect(effort({ type: 'disabled' })).toMatchObject({ approximated: [], body: { max_completion_tokens: 32000 } });
    expect(effort({ type: 'disabled' }).body.reasoning_effort).toBeUndefined();
    expect(effort({ type: 'adaptive' }).approximated).toEqual(['thinking']);
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    expect(toOpenAi(hi({ output_config: { effort: 'high', format: { type: 'json_schema', schema } } })).request.body).toMatchObject({
      reasoning_effort: 'high',
      response_format: { type: 'json_schema', json_schema: { name: 'response', schema, strict: true } },
    });
  });

  it('drops earlier thinking (noted), sends PDFs as file parts and text documents as text', () => {
    const { request } = toOpenAi(hi({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' }, title: 'contract.pdf' },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Clause 4: notice is 30 days.' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'Look at clause 4.', signature: 'EqQB' }, { type: 'text', text: '30 days.' }] },
      ],
    }));
    expect(request.body.messages).toEqual([
      { role: 'user', content: [{ type: 'file', file: { filename: 'contract.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } }, { type: 'text', text: 'Clause 4: notice is 30 days.' }] },
      { role: 'assistant', content: '30 days.' },
    ]);
    expect(request.approximated).toEqual(['messages[1].content[0]']);
  });

  it('refuses what OpenAI cannot take, naming the Anthropic field', () => {
    expect(refusal(() => toOpenAi({ ...hi(), top_k: 40 })).message).toBe('top_k is not supported when the model is served by OpenAI: OpenAI has no top-k sampling');
    expect(refusal(() => toOpenAi(hi({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }))).message).toBe(
      'tools[0].type is not supported when the model is served by OpenAI: web_search_20250305 is an Anthropic server tool',
    );
    const imageResult = hi({ messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }] }] });
    expect(refusal(() => toOpenAi(imageResult)).param).toBe('messages[0].content[0].content[0]');
    expect(refusal(() => toOpenAi(hi({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_011' } }] }] }))).param).toBe('messages[0].content[0].source.type');
    expect(refusal(() => toOpenAi({ ...hi(), mcp_servers: [{ type: 'url', url: 'https://mcp.example', name: 'x' }] })).param).toBe('mcp_servers');
    expect(refusal(() => toOpenAi({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] }))).toMatchObject({ code: 'sightline_invalid_request', param: 'max_tokens' });
  });
});

describe('Anthropic request → Gemini request (through the OpenAI form)', () => {
  it('keeps top_k (Gemini has it), answers tools by name, and names Anthropic fields in refusals', () => {
    const { request, context } = anthropicToGeminiRequest(
      {
        ...hi(),
        top_k: 40,
        stream: true,
        metadata: { user_id: 'u1' },
        tools: [WEATHER_TOOL],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"temp_c":18}' }] },
        ],
      } satisfies Omit<Anthropic.MessageCreateParams, 'top_k'> & { top_k: number },
      { model: 'gemini-2.5-flash', now: NOW },
    );
    expect(request.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(request.body).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { location: 'Paris' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp_c: 18 } } }] },
      ],
      tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather for a city', parameters: { type: 'OBJECT', properties: { location: { type: 'STRING' } }, required: ['location'] } }] }],
      generationConfig: { topK: 40, maxOutputTokens: 1024 },
    });
    expect(request.approximated).toEqual(['metadata']);
    expect(context).toEqual({ openai: { model: 'smart', created: NOW / 1000, includeUsage: true, jsonTool: null }, anthropic: { model: 'smart' } });
    expect(refusal(() => anthropicToGeminiRequest({ ...hi(), inference_geo: 'eu' })).message).toBe(
      'inference_geo is not supported when the model is served by Gemini: data residency cannot be guaranteed elsewhere',
    );
  });
});

const answer = { model: 'smart' };

describe('OpenAI response → Anthropic message', () => {
  it('chat-tools.json: parallel tool calls → tool_use blocks with parsed input, stop_reason tool_use', () => {
    expect(openAiToAnthropicResponse(JSON.parse(loadFixture('openai', 'chat-tools.json').body.toString('utf8')), answer)).toEqual(
      anthropicMessage({
        id: 'chatcmpl-BwJAKd0f5sU9c2vWbT7yN1hQm3RzX',
        model: 'gpt-4o-mini-2024-07-18',
        content: weatherToolUses(['call_Qm8dX2b1uYfW7pLk3sVnR0aE', 'call_J4nT9cHq2WzE6vBx1yKpL8sD']),
        stop_reason: 'tool_use',
        usage: { input_tokens: 81, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 54 },
      }),
    );
  });

  it('chat-cached-reasoning.json: cached tokens become cache reads, out of input_tokens', () => {
    const out = openAiToAnthropicResponse(JSON.parse(loadFixture('openai', 'chat-cached-reasoning.json').body.toString('utf8')), answer);
    expect(out.content).toEqual([{ type: 'text', text: 'There are 3 r’s in “strawberry”.' }]);
    expect(out.stop_reason).toBe('end_turn');
    expect(out.usage).toEqual({ input_tokens: 262, cache_creation_input_tokens: 0, cache_read_input_tokens: 2048, output_tokens: 531 });
  });

  it('maps finish reasons and refusals; refuses tool arguments that are not a JSON object with a 502', () => {
    const body = (message: Record<string, unknown>, finish_reason: string) => ({ id: 'c1', model: 'gpt-4o', choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason }] });
    expect(openAiToAnthropicResponse(body({ content: 'cut' }, 'length'), answer).stop_reason).toBe('max_tokens');
    expect(openAiToAnthropicResponse(body({ content: null, refusal: "I can't help with that." }, 'stop'), answer)).toMatchObject({ stop_reason: 'refusal', content: [{ type: 'text', text: "I can't help with that." }] });
    expect(openAiToAnthropicResponse(body({ content: 'x' }, 'content_filter'), answer).stop_reason).toBe('refusal');
    const bad = body({ content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"a":' } }] }, 'tool_calls');
    expect(refusal(() => openAiToAnthropicResponse(bad, answer))).toMatchObject({ status: 502, param: 'choices[0].message.tool_calls[0].function.arguments' });
  });
});

const reverseStream = (name: string) => framesOf(translateStream(toStreamTranslator(new OpenAiToAnthropicStream(answer)), loadFixture('openai', name).body));
const events = (frames: ReturnType<typeof reverseStream>) => frames.map((f) => [f.event, f.json] as const);

describe('OpenAI stream → Anthropic events', () => {
  it('chat.sse: message_start, one text block, message_delta with usage, message_stop', () => {
    expect(events(reverseStream('chat.sse'))).toEqual([
      ['message_start', { type: 'message_start', message: { id: 'chatcmpl-BwJDfLx4pR2nK8sT0qWv6yZa3Ue1o', type: 'message', role: 'assistant', model: 'gpt-4o-mini-2024-07-18', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'h' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'éllo' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' 世' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '界' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' 👋' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 11, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 6 } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
  });

  it('chat-tools-parallel.sse: each tool call its own tool_use block, arguments as input_json_delta', () => {
    const frames = events(reverseStream('chat-tools-parallel.sse')).map(([event, json]) => {
      const j = json as Record<string, unknown>;
      return event === 'content_block_start' ? ['start', j.index, j.content_block] : event === 'content_block_delta' ? ['delta', j.index, j.delta] : [event];
    });
    expect(frames).toEqual([
      ['message_start'],
      ['start', 0, { type: 'tool_use', id: 'call_Rt5mK2wQ9xLb7NvY3sHd8PcA', name: 'get_weather', input: {} }],
      ['delta', 0, { type: 'input_json_delta', partial_json: '{"lo' }],
      ['delta', 0, { type: 'input_json_delta', partial_json: 'cation": "Paris, France"' }],
      ['delta', 0, { type: 'input_json_delta', partial_json: ', "unit": "celsius"}' }],
      ['content_block_stop'],
      ['start', 1, { type: 'tool_use', id: 'call_Jw4nE8qT1zXv6KbM2yLr9FsU', name: 'get_weather', input: {} }],
      ['delta', 1, { type: 'input_json_delta', partial_json: '{"location": "Tok' }],
      ['delta', 1, { type: 'input_json_delta', partial_json: 'yo, Japan", "unit": "celsius"}' }],
      ['content_block_stop'],
      ['message_delta'],
      ['message_stop'],
    ]);
    expect((events(reverseStream('chat-tools-parallel.sse'))[10]?.[1] as { delta: unknown }).delta).toEqual({ stop_reason: 'tool_use', stop_sequence: null });
  });

  it('chat-no-usage.sse: without a usage chunk, message_delta comes at [DONE] with zero usage', () => {
    const frames = events(reverseStream('chat-no-usage.sse'));
    expect(frames.slice(-2)).toEqual([
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
  });

  it('stream-error.sse: the error frame becomes an Anthropic error event, nothing after it', () => {
    const frames = events(reverseStream('stream-error.sse'));
    expect(frames.at(-1)).toEqual(['error', { type: 'error', error: { type: 'api_error', message: 'The server had an error while processing your request. Sorry about that!', code: 'server_error' } }]);
    expect(frames.map(([e]) => e)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'error']);
  });

  it('a stream cut before its finish stays cut; one that finished without [DONE] is closed at the end', () => {
    const body = loadFixture('openai', 'chat.sse').body;
    const cut = framesOf(translateStream(toStreamTranslator(new OpenAiToAnthropicStream(answer)), body.subarray(0, body.indexOf('"finish_reason":"stop"') - 200)));
    expect(cut.some((f) => f.event === 'message_stop')).toBe(false);
    const noDone = framesOf(translateStream(toStreamTranslator(new OpenAiToAnthropicStream(answer)), body.subarray(0, body.indexOf('data: [DONE]'))));
    expect(noDone.map((f) => f.event).slice(-2)).toEqual(['message_delta', 'message_stop']);
  });
});

describe('OpenAI error → Anthropic error', () => {
  it('error-429.json / error-500.json: status kept, type by status, OpenAI code kept', () => {
    const fx = loadFixture('openai', 'error-429.json');
    expect(openAiErrorToAnthropic(429, JSON.parse(fx.body.toString('utf8')))).toEqual({
      status: 429,
      body: { type: 'error', error: { type: 'rate_limit_error', message: expect.stringMatching(/^Rate limit reached for gpt-4o-mini/), code: 'rate_limit_exceeded' } },
      headers: {},
    });
    expect(openAiErrorToAnthropic(500, JSON.parse(loadFixture('openai', 'error-500.json').body.toString('utf8'))).body).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'The server had an error while processing your request. Sorry about that!', code: 'server_error' },
    });
  });
});

describe('Gemini answers → Anthropic (through the OpenAI form)', () => {
  const ctx = { openai: { model: 'smart', created: 1, includeUsage: true, jsonTool: null }, anthropic: { model: 'smart' } };

  it('generate-function-call.json → tool_use blocks; usage with thoughts in output_tokens', () => {
    const body = JSON.parse(loadFixture('gemini', 'generate-function-call.json').body.toString('utf8')) as unknown;
    const ids = ['call_gP6LaY3tCIGtxN8Pk5yFoQ4_0_0', 'call_gP6LaY3tCIGtxN8Pk5yFoQ4_0_1'] as const;
    const usage = { input_tokens: 86, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 151 };
    expect(geminiToAnthropicResponse(body, ctx)).toEqual(anthropicMessage({ id: 'gP6LaY3tCIGtxN8Pk5yFoQ4', model: 'gemini-2.5-flash', content: weatherToolUses(ids), stop_reason: 'tool_use', usage }));
  });

  it('stream-thoughts.sse → thinking block, text block, message_delta with Gemini usage, message_stop', () => {
    const frames = framesOf(translateStream(toStreamTranslator(geminiToAnthropicStream(ctx)), loadFixture('gemini', 'stream-thoughts.sse').body));
    expect(frames.map((f) => f.event)).toEqual([
      'message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    expect(frames[8]?.json).toEqual({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 102, cache_creation_input_tokens: 0, cache_read_input_tokens: 2048, output_tokens: 257 } });
  });

  it('error-429.json → Anthropic rate_limit_error, retry-after kept', () => {
    const fx = loadFixture('gemini', 'error-429.json');
    expect(geminiErrorToAnthropic(429, JSON.parse(fx.body.toString('utf8')))).toEqual({
      status: 429,
      body: { type: 'error', error: { type: 'rate_limit_error', message: expect.stringMatching(/^You exceeded your current quota/), code: 'RESOURCE_EXHAUSTED' } },
      headers: { 'retry-after': '34' },
    });
  });
});
