// Tools and streams through the façade, both API shapes, with the official SDKs as callers and each provider's
// recorded wire format upstream: parallel tool calls streamed from Anthropic to an OpenAI caller, Gemini streams
// and function calls to an OpenAI caller, and OpenAI tool calls to an Anthropic caller.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { WEATHER_TOOL } from '../helpers/translation.ts';

const YAML = `
models:
  - { name: claude, model: anthropic/claude-sonnet-4-6, api_key: k-ant }
  - { name: flash, model: gemini/gemini-2.5-flash, api_key: k-gem }
  - { name: mini, model: openai/gpt-4o-mini, api_key: k-oai }
`;
const weather: OpenAI.Chat.ChatCompletionTool = WEATHER_TOOL;
const anthropicWeather: Anthropic.Tool = { name: WEATHER_TOOL.function.name, description: WEATHER_TOOL.function.description, input_schema: structuredClone(WEATHER_TOOL.function.parameters) as unknown as Anthropic.Tool.InputSchema };

describe('tools and streams through the gateway', () => {
  let gw: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    gw = await startTestGateway({ yaml: YAML });
    openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'x', maxRetries: 0 });
  });
  afterAll(() => gw.close());
  beforeEach(() => {
    gw.mock.requests.length = 0;
  });

  it('streams Anthropic\'s parallel tool uses to the OpenAI SDK as tool_calls deltas, assembled by the SDK', async () => {
    const stream = openai.chat.completions.stream({
      model: 'claude',
      messages: [{ role: 'user', content: 'Weather in Paris and Tokyo?' }],
      tools: [weather],
      parallel_tool_calls: true,
    }, { headers: { 'x-mock-fixture': 'anthropic/messages-tools.sse' } });
    const final = await stream.finalChatCompletion();
    const message = final.choices[0]!.message;
    expect(message.content).toBe("I'll check the weather in both cities at once.");
    expect(message.tool_calls?.map((c) => c.type === 'function' ? [c.function.name, JSON.parse(c.function.arguments)] : [])).toEqual([
      ['get_weather', { location: 'Paris, France', unit: 'celsius' }],
      ['get_weather', { location: 'Tokyo, Japan', unit: 'celsius' }],
    ]);
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    const sent = JSON.parse(gw.mock.requests[0]!.body.toString('utf8')) as { tools: { name: string; input_schema: unknown }[]; stream: boolean };
    expect(sent.stream).toBe(true);
    expect(sent.tools[0]).toMatchObject({ name: 'get_weather', input_schema: WEATHER_TOOL.function.parameters });
    const [row] = await gw.waitForEvents(1);
    expect(row).toMatchObject({ provider: 'anthropic', model_alias: 'claude', stream: true, finish_reason: 'tool_use', prompt_tokens: 472, completion_tokens: 118 });
  });

  it('streams Gemini to the OpenAI SDK (thinking tokens in the usage) and its function calls as tool_calls', async () => {
    const stream = await openai.chat.completions.create({ model: 'flash', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('héllo 世界 👋');
    expect(usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 191, completion_tokens_details: { reasoning_tokens: 185 } });
    expect(gw.mock.requests[0]!.url).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');

    const calls = await openai.chat.completions.stream({ model: 'flash', messages: [{ role: 'user', content: 'Weather in Paris and Tokyo?' }], tools: [weather] },
      { headers: { 'x-mock-fixture': 'gemini/stream-function-call.sse' } }).finalChatCompletion();
    expect(calls.choices[0]!.message.tool_calls?.map((c) => (c.type === 'function' ? JSON.parse(c.function.arguments) : {}))).toEqual([
      { location: 'Paris, France', unit: 'celsius' }, { location: 'Tokyo, Japan', unit: 'celsius' },
    ]);
    expect(calls.choices[0]!.finish_reason).toBe('tool_calls');
    const rows = (await gw.waitForEvents(3)).slice(-2);
    expect(rows.map((r) => [r.provider, r.model, r.reasoning_tokens])).toEqual([['gemini', 'gemini-2.5-flash', 185], ['gemini', 'gemini-2.5-flash', 121]]);
  });

  it('gives the Anthropic SDK OpenAI\'s tool calls as tool_use blocks, streamed and not', async () => {
    const tools: Anthropic.Tool[] = [anthropicWeather];
    const message = await anthropic.messages.create({ model: 'mini', max_tokens: 200, tools, messages: [{ role: 'user', content: 'Weather in Paris?' }] },
      { headers: { 'x-mock-fixture': 'openai/chat-tools.json' } });
    const uses = message.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(uses.map((u) => [u.name, u.input])).toEqual([['get_weather', { location: 'Paris, France', unit: 'celsius' }], ['get_weather', { location: 'Tokyo, Japan', unit: 'celsius' }]]);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.usage).toMatchObject({ input_tokens: 81, output_tokens: 54 });
    const sent = JSON.parse(gw.mock.requests[0]!.body.toString('utf8')) as { tools: { type: string; function: { name: string } }[] };
    expect(sent.tools).toEqual([expect.objectContaining({ type: 'function', function: expect.objectContaining({ name: 'get_weather' }) })]);

    const streamed = await anthropic.messages.stream({ model: 'mini', max_tokens: 200, tools, messages: [{ role: 'user', content: 'Weather in Paris?' }] },
      { headers: { 'x-mock-fixture': 'openai/chat-tools.sse' } }).finalMessage();
    const streamedUses = streamed.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    expect(streamedUses.map((u) => [u.name, u.input])).toEqual([['get_weather', { location: 'Paris, France' }]]);
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.usage).toMatchObject({ input_tokens: 64, output_tokens: 15 });
  });

  it('serves the Responses API from Anthropic: input items, instructions, tools and function calls, whole and streamed', async () => {
    const whole = await openai.responses.create({ model: 'claude', instructions: 'Be brief.', input: 'hi' });
    expect(whole.object).toBe('response');
    expect(whole.status).toBe('completed');
    expect(whole.output_text).toBe("Hello! I'm doing well, thank you for asking. How can I help you today?");
    expect(whole.usage).toMatchObject({ input_tokens: 12, output_tokens: 21, total_tokens: 33 });
    const sent = JSON.parse(gw.mock.requests.at(-1)!.body.toString('utf8')) as { system: unknown; messages: unknown[]; model: string };
    expect(sent.model).toBe('claude-sonnet-4-6');
    expect(JSON.stringify(sent.system)).toContain('Be brief.');
    expect(sent.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);

    const tools: OpenAI.Responses.Tool[] = [{ type: 'function', name: 'get_weather', description: 'Current weather for a city', parameters: WEATHER_TOOL.function.parameters as unknown as Record<string, unknown>, strict: false }];
    const called = await openai.responses.create({ model: 'claude', tools, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Weather in Paris and Tokyo?' }] }] }, { headers: { 'x-mock-fixture': 'anthropic/messages-tools.json' } });
    const calls = called.output.filter((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');
    expect(calls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([['get_weather', { location: 'San Francisco, CA', unit: 'fahrenheit' }]]);
    expect(called.output[0]!.type).toBe('message');
    // Outputs go back as function_call_output items: two parallel calls are one assistant turn, then the results.
    calls.push({ ...calls[0]!, call_id: 'toolu_second', arguments: '{"location":"Tokyo"}' });
    await openai.responses.create({ model: 'claude', tools, input: [
      { role: 'user', content: 'Weather in Paris and Tokyo?' },
      ...calls.map((c) => ({ type: 'function_call' as const, call_id: c.call_id, name: c.name, arguments: c.arguments })),
      ...calls.map((c) => ({ type: 'function_call_output' as const, call_id: c.call_id, output: '{"temp": 18}' })),
    ] });
    const followUp = JSON.parse(gw.mock.requests.at(-1)!.body.toString('utf8')) as { messages: { role: string; content: { type: string }[] }[] };
    expect(followUp.messages.map((m) => [m.role, m.content.map((b) => b.type).join(',')])).toEqual([['user', 'text'], ['assistant', 'tool_use,tool_use'], ['user', 'tool_result,tool_result']]);

    const events: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    const stream = await openai.responses.create({ model: 'claude', input: 'hi', stream: true });
    for await (const e of stream) {
      events.push(e.type);
      if (e.type === 'response.output_text.delta') text += e.delta;
      if (e.type === 'response.completed') completed = e.response;
    }
    expect(events[0]).toBe('response.created');
    expect(events.at(-1)).toBe('response.completed');
    expect(events).toContain('response.function_call_arguments.delta');
    expect(text).toBe('héllo 世界 👋');
    expect(completed!.usage).toMatchObject({ input_tokens: 1038, output_tokens: 41, input_tokens_details: { cached_tokens: 1024 } });
    expect(completed!.output.map((o) => o.type)).toEqual(['message', 'function_call']);
    const rows = await gw.waitForEvents(gw.written.length);
    expect(rows.at(-1)).toMatchObject({ endpoint: 'responses', provider: 'anthropic', model_alias: 'claude', stream: true, prompt_tokens: 1038 });

    const stateful = await openai.responses.create({ model: 'claude', input: 'and then?', previous_response_id: 'resp_123' }).catch((e: unknown) => e);
    expect(stateful).toBeInstanceOf(OpenAI.BadRequestError);
    expect((stateful as InstanceType<typeof OpenAI.APIError>).param).toBe('previous_response_id');
  });

  it('answers an Anthropic caller\'s error in Anthropic\'s shape when OpenAI refuses, status kept', async () => {
    const err = await anthropic.messages.create({ model: 'mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-mock-fixture': 'openai/error-429.json' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
  });
});
