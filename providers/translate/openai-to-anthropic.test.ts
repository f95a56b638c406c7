// OpenAI caller, Anthropic upstream: the request out, and every kind of answer back (whole body, stream, error),
// driven by requests typed against the official OpenAI SDK and by recorded Anthropic answers.
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { loadFixture } from '../../test/fixtures/index.ts';
import { chatCompletion, chatHi, CITY_IMAGES_QUESTION_ANTHROPIC, framesOf, onlyChoice, openAiUsageOf, translateStream, translationError, WEATHER_TOOL, weatherToolUses } from '../../test/helpers/translation.ts';
import { anthropicToOpenAiResponse } from './anthropic-to-openai-response.ts';
import { AnthropicToOpenAiStream } from './anthropic-to-openai-stream.ts';
import { finishFromAnthropic } from './finish-reasons.ts';
import { DEFAULT_ANTHROPIC_MAX_TOKENS, openAiToAnthropicRequest } from './openai-to-anthropic-request.ts';
import type { AnthropicRequestOptions } from './openai-to-anthropic-request.ts';
import { toStreamTranslator } from './sse-frames.ts';
import type { OpenAiAnswerContext } from './types.ts';
import { anthropicErrorToOpenAi } from './upstream-errors.ts';

const NOW = 1_753_364_800_000;
const CREATED = NOW / 1000;

type ChatParams = OpenAI.Chat.ChatCompletionCreateParams;

const toAnthropic = (body: ChatParams | Record<string, unknown>, opts: AnthropicRequestOptions = {}) => openAiToAnthropicRequest(body, { now: NOW, model: 'claude-sonnet-4-6', ...opts });
const bodyOf = (body: ChatParams | Record<string, unknown>, opts: AnthropicRequestOptions = {}) => toAnthropic(body, opts).request.body;
const hi = chatHi;
const refusal = translationError;

describe('OpenAI request → Anthropic request', () => {
  it('translates a whole tool-using conversation: system + developer, images, parallel calls, tool results, sampling', () => {
    const request = {
      model: 'smart',
      messages: [
        { role: 'system', content: 'You are a concise travel assistant.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in metric units.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is the weather in these two cities?' },
            { type: 'image_url', image_url: { url: 'https://upload.example.org/paris.jpg' } },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==', detail: 'high' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_Qm8dX2b1uYfW7pLk3sVnR0aE', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris, France","unit":"celsius"}' } },
            { id: 'call_J4nT9cHq2WzE6vBx1yKpL8sD', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo, Japan","unit":"celsius"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_Qm8dX2b1uYfW7pLk3sVnR0aE', content: '{"temp_c":18,"conditions":"cloudy"}' },
        { role: 'tool', tool_call_id: 'call_J4nT9cHq2WzE6vBx1yKpL8sD', content: [{ type: 'text', text: '{"temp_c":24,"conditions":"sunny"}' }] },
        { role: 'user', content: 'Which one is warmer?' },
      ],
      tools: [WEATHER_TOOL],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      temperature: 0.2,
      top_p: 0.9,
      max_completion_tokens: 512,
      stop: ['\n\nUser:'],
      user: 'user-42',
      stream: true,
      stream_options: { include_usage: true },
    } satisfies OpenAI.Chat.ChatCompletionCreateParamsStreaming;

    const { request: out, context } = toAnthropic(request);
    expect(out.path).toBe('/v1/messages');
    expect(out.headers).toEqual({ 'anthropic-version': '2023-06-01' });
    expect(out.stream).toBe(true);
    expect(out.body).toEqual({
      model: 'claude-sonnet-4-6',
      system: [
        { type: 'text', text: 'You are a concise travel assistant.' },
        { type: 'text', text: 'Answer in metric units.' },
      ],
      messages: [
        CITY_IMAGES_QUESTION_ANTHROPIC,
        { role: 'assistant', content: weatherToolUses(['call_Qm8dX2b1uYfW7pLk3sVnR0aE', 'call_J4nT9cHq2WzE6vBx1yKpL8sD']) },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_Qm8dX2b1uYfW7pLk3sVnR0aE', content: '{"temp_c":18,"conditions":"cloudy"}' },
            { type: 'tool_result', tool_use_id: 'call_J4nT9cHq2WzE6vBx1yKpL8sD', content: '{"temp_c":24,"conditions":"sunny"}' },
            { type: 'text', text: 'Which one is warmer?' },
          ],
        },
      ],
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ['\n\nUser:'],
      metadata: { user_id: 'user-42' },
      max_tokens: 512,
      tools: [{ name: 'get_weather', description: 'Current weather for a city', input_schema: WEATHER_TOOL.function.parameters }],
      tool_choice: { type: 'auto' },
      stream: true,
    });
    expect(out.approximated).toEqual(['messages[2].content[2].image_url.detail']);
    expect(context).toEqual({ model: 'smart', created: CREATED, includeUsage: true, jsonTool: null });
  });

  it('shares the caller\'s strings instead of copying them (a base64 image is not re-serialised)', () => {
    const data = 'A'.repeat(1 << 20);
    const body = bodyOf(hi({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/jpeg;base64,${data}` } }] }] }));
    const messages = body.messages as { content: { source: { data: string } }[] }[];
    expect(messages[0]?.content[0]?.source.data).toBe(data);
  });

  it('uses the documented default max_tokens, and the body model when no upstream model is given', () => {
    const { request } = openAiToAnthropicRequest(hi(), { now: NOW });
    expect(request.body).toEqual({ model: 'smart', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS });
    expect(DEFAULT_ANTHROPIC_MAX_TOKENS).toBe(4096);
    expect(bodyOf(hi({ max_tokens: 100 })).max_tokens).toBe(100);
    expect(bodyOf(hi({ max_tokens: 100, max_completion_tokens: 200 })).max_tokens).toBe(200);
    expect(bodyOf(hi(), { defaultMaxTokens: 8192 }).max_tokens).toBe(8192);
    expect(request.stream).toBe(false);
  });

  it('maps tool_choice auto / none / required / named, and parallel_tool_calls false', () => {
    const choice = (extra: Partial<ChatParams>) => bodyOf(hi({ tools: [WEATHER_TOOL], ...extra })).tool_choice;
    expect(choice({})).toBeUndefined();
    expect(choice({ tool_choice: 'auto' })).toEqual({ type: 'auto' });
    expect(choice({ tool_choice: 'none' })).toEqual({ type: 'none' });
    expect(choice({ tool_choice: 'required' })).toEqual({ type: 'any' });
    expect(choice({ tool_choice: { type: 'function', function: { name: 'get_weather' } } })).toEqual({ type: 'tool', name: 'get_weather' });
    expect(choice({ parallel_tool_calls: false })).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(choice({ tool_choice: 'required', parallel_tool_calls: false })).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(choice({ tool_choice: 'none', parallel_tool_calls: false })).toEqual({ type: 'none' });
    // no tools: none/auto mean nothing; a required call is the caller's mistake
    expect(bodyOf(hi({ tool_choice: 'none' })).tool_choice).toBeUndefined();
    expect(refusal(() => bodyOf(hi({ tool_choice: 'required' }))).param).toBe('tool_choice');
    expect(refusal(() => bodyOf(hi({ tools: [WEATHER_TOOL], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } }))).message).toBe(
      "tool_choice.type is not supported when the model is served by Anthropic: allowed_tools tool choice is OpenAI's own",
    );
  });

  it('maps the legacy functions / function_call / function role like tools', () => {
    const body = bodyOf({
      model: 'smart',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
        { role: 'function', name: 'get_weather', content: '18C' },
      ],
      functions: [WEATHER_TOOL.function],
      function_call: { name: 'get_weather' },
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_legacy_1', name: 'get_weather', input: { location: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_legacy_1', content: '18C' }] },
    ]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'get_weather' });
  });

  it('response_format: a forced tool carries the JSON (json_schema and json_object), or output_config natively', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, temperature_c: { type: 'number' } }, required: ['city', 'temperature_c'], additionalProperties: false };
    const format = { type: 'json_schema', json_schema: { name: 'weather_report', description: 'A weather report', schema, strict: true } } as const;
    const { request, context } = toAnthropic(hi({ response_format: format }));
    expect(request.body.tools).toEqual([{ name: 'weather_report', description: 'A weather report', input_schema: schema }]);
    expect(request.body.tool_choice).toEqual({ type: 'tool', name: 'weather_report' });
    expect(context.jsonTool).toBe('weather_report');
    expect(request.approximated).toEqual(['response_format']);

    const object = toAnthropic(hi({ response_format: { type: 'json_object' } }));
    expect(object.request.body.tools).toEqual([{ name: 'json_object', description: 'Answer with the JSON the conversation asks for.', input_schema: { type: 'object' } }]);
    expect(object.context.jsonTool).toBe('json_object');

    const native = toAnthropic(hi({ response_format: format }), { structuredOutput: 'native' });
    expect(native.request.body.output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(native.request.body.tools).toBeUndefined();
    expect(native.context.jsonTool).toBeNull();
    expect(bodyOf(hi({ response_format: { type: 'text' } })).tools).toBeUndefined();
  });

  it('refuses JSON mode where the forced tool cannot work, naming response_format', () => {
    const format = { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'object' } } } as const;
    expect(refusal(() => bodyOf(hi({ response_format: format, tools: [WEATHER_TOOL] }))).param).toBe('response_format');
    expect(refusal(() => bodyOf(hi({ response_format: format, reasoning_effort: 'low' }))).message).toMatch(/^response_format is not supported when the model is served by Anthropic: .*native/);
    const array = { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'array', items: { type: 'string' } } } } as const;
    expect(refusal(() => bodyOf(hi({ response_format: array }))).param).toBe('response_format.json_schema.schema');
    // natively, thinking and JSON go together
    expect(bodyOf(hi({ response_format: format, reasoning_effort: 'low' }), { structuredOutput: 'native' }).thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
  });

  it('reasoning_effort becomes a thinking budget inside max_tokens', () => {
    expect(bodyOf(hi({ reasoning_effort: 'medium' }))).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 8192 }, max_tokens: 8192 + 4096 });
    expect(bodyOf(hi({ reasoning_effort: 'high', max_completion_tokens: 32000 }))).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 24576 }, max_tokens: 32000 });
    expect(bodyOf(hi({ reasoning_effort: 'minimal' })).thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(bodyOf(hi({ reasoning_effort: 'none' }))).toMatchObject({ thinking: { type: 'disabled' }, max_tokens: 4096 });
    // a cap below the level's budget wins, and is noted
    const capped = toAnthropic(hi({ reasoning_effort: 'high', max_completion_tokens: 5000 })).request;
    expect(capped.body).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 4999 }, max_tokens: 5000 });
    expect(capped.approximated).toEqual(['reasoning_effort']);
    expect(refusal(() => bodyOf(hi({ reasoning_effort: 'low', max_completion_tokens: 1000 }))).message).toBe(
      "max_completion_tokens is not supported when the model is served by Anthropic: with reasoning_effort it must exceed 1024, Anthropic's smallest thinking budget",
    );
  });

  it('carries thinking blocks handed out by an earlier answer back to Anthropic (a tool loop with thinking needs them)', () => {
    const thinking = { type: 'thinking', thinking: 'Need the weather first.', signature: 'EqQBCgIYAhIM' };
    const body = bodyOf({
      model: 'smart',
      reasoning_effort: 'low',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, reasoning_content: 'Need the weather first.', thinking_blocks: [thinking], tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18C' },
      ],
      tools: [WEATHER_TOOL],
    });
    expect((body.messages as unknown[])[1]).toEqual({ role: 'assistant', content: [thinking, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } }] });
  });

  it('keeps LiteLLM-style cache_control on content parts and turns PDF files into documents', () => {
    const body = bodyOf(hi({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Long policy text…', cache_control: { type: 'ephemeral' } } as OpenAI.Chat.ChatCompletionContentPartText] },
        { role: 'user', content: [{ type: 'file', file: { filename: 'contract.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } }, { type: 'text', text: 'Summarise it.' }] },
      ],
    }));
    expect(body.system).toEqual([{ type: 'text', text: 'Long policy text…', cache_control: { type: 'ephemeral' } }]);
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQK' }, title: 'contract.pdf' }, { type: 'text', text: 'Summarise it.' }] },
    ]);
  });

  it('notes a system message moved to the top, names dropped, and an empty assistant turn left out', () => {
    const { request } = toAnthropic({
      model: 'smart',
      messages: [
        { role: 'user', content: 'hi', name: 'alice' },
        { role: 'assistant', content: '' },
        { role: 'system', content: 'From now on, answer in French.' },
        { role: 'user', content: 'bonjour' },
      ],
    });
    expect(request.body.system).toEqual([{ type: 'text', text: 'From now on, answer in French.' }]);
    expect(request.body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'text', text: 'bonjour' }] }]);
    expect(request.approximated).toEqual(['messages[0].name', 'messages[1]', 'messages[2]']);
  });

  it('refuses what Anthropic cannot take, naming the field', () => {
    const cases: [ChatParams | Record<string, unknown>, string, string][] = [
      [hi({ logit_bias: { '50256': -100 } }), 'logit_bias', 'logit_bias is not supported when the model is served by Anthropic: no token biasing'],
      [hi({ n: 3 }), 'n', 'n is not supported when the model is served by Anthropic: Anthropic returns one completion per request'],
      [hi({ temperature: 1.5 }), 'temperature', "temperature is not supported when the model is served by Anthropic: 1.5 is outside Anthropic's range of 0 to 1"],
      [hi({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'UklGR', format: 'wav' } }] }] }), 'messages[0].content[0]', 'messages[0].content[0] is not supported when the model is served by Anthropic: Anthropic takes no audio input'],
      [hi({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] }), 'messages[0].content[0].file.file_id', 'messages[0].content[0].file.file_id is not supported when the model is served by Anthropic: files uploaded to OpenAI are not reachable from other providers; send file_data'],
      [hi({ tools: [{ type: 'custom', custom: { name: 'grep' } }] }), 'tools[0].type', "tools[0].type is not supported when the model is served by Anthropic: custom tools are OpenAI's own"],
      [{ ...hi(), reasoning: { effort: 'low' } }, 'reasoning', 'reasoning is not supported when the model is served by Anthropic: not a Chat Completions parameter Sightline knows how to translate'],
    ];
    for (const [body, param, message] of cases) {
      const err = refusal(() => bodyOf(body));
      expect({ code: err.code, param: err.param, message: err.message, status: err.status }).toEqual({ code: 'sightline_untranslatable', param, message, status: 400 });
    }
    // the API's default values are no request at all
    expect(() => bodyOf(hi({ n: 1, logit_bias: {}, logprobs: false, presence_penalty: 0, frequency_penalty: 0, service_tier: 'auto', modalities: ['text'] }))).not.toThrow();
  });

  it('rejects what is not a Chat Completions request, naming the field', () => {
    const invalid = (body: unknown) => refusal(() => openAiToAnthropicRequest(body));
    expect(invalid({ model: 'smart' })).toMatchObject({ code: 'sightline_invalid_request', param: 'messages' });
    expect(invalid({ ...hi(), temperature: 'warm' })).toMatchObject({ param: 'temperature' });
    expect(invalid({ ...hi(), tool_choice: { type: 'function', function: {} } })).toMatchObject({ param: 'tool_choice' });
    expect(invalid({ model: 'smart', messages: [{ role: 'narrator', content: 'x' }] })).toMatchObject({ param: 'messages[0].role' });
    expect(
      invalid({ model: 'smart', messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"unterminated' } }] }] }),
    ).toMatchObject({ param: 'messages[0].tool_calls[0].function.arguments' });
    expect(invalid('not json at all')).toMatchObject({ param: 'body' });
  });
});

/** The thinking recorded in messages-thinking.json / .sse. */
const THINKING = 'The user wants the number of r\'s in "strawberry". Let me spell it: s-t-r-a-w-b-e-r-r-y. Positions 3, 8 and 9 are r, so there are 3.';
const SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds2YhgqKLAsdT5PFDyYxA1WMvlfYB1Vr1IoPSxQjB/WJ2Uw4vWCK1MKn2Jw==';

const ctx = (extra: Partial<OpenAiAnswerContext> = {}): OpenAiAnswerContext => ({ model: 'smart', created: CREATED, includeUsage: false, jsonTool: null, ...extra });
const json = (provider: 'anthropic', name: string): unknown => JSON.parse(loadFixture(provider, name).body.toString('utf8'));

describe('Anthropic response → OpenAI chat.completion', () => {
  it('messages.json: text, stop, usage', () => {
    const choices = onlyChoice({ content: "Hello! I'm doing well, thank you for asking. How can I help you today?" }, 'stop');
    expect(anthropicToOpenAiResponse(json('anthropic', 'messages.json'), ctx())).toEqual(
      chatCompletion({ id: 'msg_01XFDUDYJgAACzvnptvVoYEL', model: 'claude-sonnet-4-5-20250929', created: CREATED, choices, usage: openAiUsageOf(12, 21) }),
    );
  });

  it('messages-tools.json: text and a tool call, finish_reason tool_calls', () => {
    const out = anthropicToOpenAiResponse(json('anthropic', 'messages-tools.json'), ctx());
    expect(out.choices).toEqual(
      onlyChoice(
        {
          content: "I'll check the current weather in San Francisco for you.",
          tool_calls: [{ id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"fahrenheit"}' } }],
        },
        'tool_calls',
      ),
    );
  });

  it('messages-cache.json: cache reads and writes count in prompt_tokens, reads as cached_tokens', () => {
    expect(anthropicToOpenAiResponse(json('anthropic', 'messages-cache.json'), ctx()).usage).toEqual({ ...openAiUsageOf(2260, 17), prompt_tokens_details: { cached_tokens: 2051, cache_write_tokens: 188 } });
  });

  it('messages-thinking.json: thinking as reasoning_content and thinking_blocks (signature kept)', () => {
    const out = anthropicToOpenAiResponse(json('anthropic', 'messages-thinking.json'), ctx());
    expect(out.choices).toEqual(
      onlyChoice({ content: 'There are **3** r\'s in "strawberry".', reasoning_content: THINKING, thinking_blocks: [{ type: 'thinking', thinking: THINKING, signature: SIGNATURE }] }, 'stop'),
    );
  });

  it('messages-json-tool.json: the forced tool\'s input is the content, finish_reason stop', () => {
    const out = anthropicToOpenAiResponse(json('anthropic', 'messages-json-tool.json'), ctx({ jsonTool: 'weather_report' }));
    expect(out.choices).toEqual(onlyChoice({ content: '{"city":"Paris","temperature_c":18,"conditions":"partly cloudy"}' }, 'stop'));
    // without the context it is an ordinary tool call
    expect((out.choices as { message: { tool_calls?: unknown } }[])[0]?.message.tool_calls).toBeUndefined();
    expect(JSON.stringify(anthropicToOpenAiResponse(json('anthropic', 'messages-json-tool.json'), ctx()))).toContain('"tool_calls"');
  });

  it('reports thinking tokens when Anthropic reports them apart, and maps every stop_reason', () => {
    const body = { ...(json('anthropic', 'messages-thinking.json') as object), usage: { input_tokens: 46, output_tokens: 97, output_tokens_details: { thinking_tokens: 70 } } };
    expect((anthropicToOpenAiResponse(body, ctx()).usage as { completion_tokens_details: unknown }).completion_tokens_details).toEqual({ reasoning_tokens: 70 });
    expect(['end_turn', 'stop_sequence', 'max_tokens', 'tool_use', 'refusal', 'pause_turn', 'model_context_window_exceeded'].map((r) => finishFromAnthropic(r, false))).toEqual([
      'stop', 'stop', 'length', 'tool_calls', 'content_filter', 'stop', 'length',
    ]);
  });

  it('refuses a body that is not an Anthropic message with a 502', () => {
    expect(refusal(() => anthropicToOpenAiResponse({ type: 'error', error: {} }, ctx()))).toMatchObject({ status: 502, param: 'body' });
  });
});

const streamOf = (name: string, extra: Partial<OpenAiAnswerContext> = {}) =>
  framesOf(translateStream(toStreamTranslator(new AnthropicToOpenAiStream(ctx(extra))), loadFixture('anthropic', name).body));
const chunk = (delta: Record<string, unknown>, finish: string | null = null, usage?: null) => ({
  id: 'msg_01QC4g3HwBThD4BaNtBckFDJ',
  object: 'chat.completion.chunk',
  created: CREATED,
  model: 'claude-sonnet-4-5-20250929',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  ...(usage === null ? { usage: null } : {}),
});

describe('Anthropic stream → OpenAI chunks', () => {
  it('messages.sse: text deltas, a tool call (id and name first, then argument pieces), finish, usage chunk, [DONE]', () => {
    const frames = streamOf('messages.sse', { includeUsage: true });
    expect(frames.map((f) => f.json)).toEqual([
      chunk({ role: 'assistant', content: '' }, null, null),
      chunk({ content: 'hé' }, null, null),
      chunk({ content: 'llo 世' }, null, null),
      chunk({ content: '界 👋' }, null, null),
      chunk({ tool_calls: [{ index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, null, null),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] }, null, null),
      chunk({ tool_calls: [{ index: 0, function: { arguments: ' "Paris"}' } }] }, null, null),
      chunk({}, 'tool_calls', null),
      { ...chunk({}), choices: [], usage: openAiUsageOf(1038, 41, 1024) },
      undefined,
    ]);
    expect(frames.every((f) => f.event === '')).toBe(true);
  });

  it('sends no usage chunk (and no usage: null) unless include_usage was asked for', () => {
    const frames = streamOf('messages.sse');
    expect(frames.some((f) => JSON.stringify(f.json ?? {}).includes('"usage"'))).toBe(false);
    expect(frames.at(-1)).toEqual({ event: '', json: undefined });
    expect(frames.at(-2)?.json).toEqual(chunk({}, 'tool_calls'));
  });

  it('messages-tools.sse: parallel tool calls get indexes 0 and 1, their empty first deltas skipped', () => {
    const deltas = streamOf('messages-tools.sse').map((f) => (f.json as { choices?: { delta: { tool_calls?: unknown[] } }[] } | undefined)?.choices?.[0]?.delta.tool_calls?.[0]);
    expect(deltas.filter((d) => d !== undefined)).toEqual([
      { index: 0, id: 'toolu_01HdMqnRLBwzvN7TyX2k9cPf', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 0, function: { arguments: '{"location": "Par' } },
      { index: 0, function: { arguments: 'is, France", "unit"' } },
      { index: 0, function: { arguments: ': "celsius"}' } },
      { index: 1, id: 'toolu_01WsE4aJ8yVt3LrKqH6mZbNd', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 1, function: { arguments: '{"location": "T' } },
      { index: 1, function: { arguments: 'okyo, Japan", "unit": "celsius"}' } },
    ]);
  });

  it('messages-thinking.sse: thinking_delta → reasoning_content, the finished block → thinking_blocks with its signature', () => {
    const deltas = streamOf('messages-thinking.sse').map((f) => (f.json as { choices?: { delta: unknown }[] } | undefined)?.choices?.[0]?.delta);
    expect(deltas).toEqual([
      { role: 'assistant', content: '' },
      { reasoning_content: 'The user wants the number of r\'s in "strawberry". Let me spell it: s-t-r-a-w-b-e-r-r-y.' },
      { reasoning_content: ' Positions 3, 8 and 9 are r, so there are 3.' },
      { thinking_blocks: [{ type: 'thinking', thinking: THINKING, signature: SIGNATURE }] },
      { content: 'There are **3** r\'s in' },
      { content: ' "strawberry".' },
      {},
      undefined,
    ]);
  });

  it('messages-stream-error.sse: the error event becomes an OpenAI error frame and the stream ends without [DONE]', () => {
    const frames = streamOf('messages-stream-error.sse');
    expect(frames.map((f) => f.json)).toEqual([
      { ...chunk({ role: 'assistant', content: '' }), id: 'msg_01HcV7pQ2nX8sLk4Tm9bWy3R', model: 'claude-3-5-haiku-20241022' },
      { ...chunk({ content: 'Sure, here' }), id: 'msg_01HcV7pQ2nX8sLk4Tm9bWy3R', model: 'claude-3-5-haiku-20241022' },
      { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: 'overloaded_error' } },
    ]);
  });

  it('a stream cut before message_stop stays cut: no finish and no [DONE] are invented', () => {
    const body = loadFixture('anthropic', 'messages.sse').body;
    const cut = body.subarray(0, body.indexOf('event: message_delta'));
    const frames = framesOf(translateStream(toStreamTranslator(new AnthropicToOpenAiStream(ctx())), cut));
    expect(frames.at(-1)?.json).toEqual(chunk({ tool_calls: [{ index: 0, function: { arguments: ' "Paris"}' } }] }));
  });

  it('the forced JSON tool streams as content, finish_reason stop', () => {
    const frames = streamOf('messages.sse', { jsonTool: 'get_weather' });
    const deltas = frames.map((f) => (f.json as { choices?: { delta: unknown; finish_reason: unknown }[] } | undefined)?.choices?.[0]);
    // text around the forced tool is left out, as in the whole answer: the content is the JSON alone
    expect(deltas.map((d) => d?.delta)).toEqual([{ role: 'assistant', content: '' }, { content: '{"location":' }, { content: ' "Paris"}' }, {}, undefined]);
    expect(deltas[3]?.finish_reason).toBe('stop');
  });
});

describe('Anthropic error → OpenAI error', () => {
  it('keeps the status and the message; the Anthropic type is the type and the code', () => {
    const fx = loadFixture('anthropic', 'error-429.json');
    const out = anthropicErrorToOpenAi(fx.status, JSON.parse(fx.body.toString('utf8')));
    expect(out.status).toBe(429);
    expect(out.body).toEqual({ error: { message: expect.stringMatching(/^This request would exceed the rate limit/), type: 'rate_limit_error', param: null, code: 'rate_limit_error' } });
    expect(anthropicErrorToOpenAi(529, JSON.parse(loadFixture('anthropic', 'error-529.json').body.toString('utf8')))).toEqual({
      status: 529,
      body: { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: 'overloaded_error' } },
      headers: {},
    });
  });

  it('a body that is not Anthropic JSON still gives an OpenAI error with the status', () => {
    expect(anthropicErrorToOpenAi(502, '<html>Bad gateway</html>').body).toEqual({ error: { message: '<html>Bad gateway</html>', type: 'api_error', param: null, code: 'api_error' } });
    expect(anthropicErrorToOpenAi(503, undefined).body).toEqual({ error: { message: 'The upstream answered HTTP 503.', type: 'api_error', param: null, code: 'api_error' } });
  });
});
