// The Responses API carried over Chat Completions: the request mapping, and what is refused or approximated by name.
import { describe, expect, it } from 'vitest';
import { ChatToResponsesStream, chatToResponse, responsesToChatRequest } from './responses.ts';

describe('Responses → Chat Completions', () => {
  it('maps instructions, input items, function tools, tool_choice, text.format and reasoning effort', () => {
    const { chat, approximated } = responsesToChatRequest({
      model: 'm', instructions: 'sys', stream: true, max_output_tokens: 50, temperature: 0.2, store: true,
      input: [{ role: 'developer', content: 'dev' }, { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }, { type: 'input_image', image_url: 'https://x/y.png', detail: 'low' }] }],
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }], tool_choice: { type: 'function', name: 'f' },
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } }, reasoning: { effort: 'low' },
    }, 'Anthropic');
    expect(chat).toEqual({
      model: 'm', stream: true, stream_options: { include_usage: true }, temperature: 0.2, max_completion_tokens: 50,
      messages: [{ role: 'system', content: 'sys' }, { role: 'developer', content: 'dev' }, { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: 'https://x/y.png', detail: 'low' } }] }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }], tool_choice: { type: 'function', function: { name: 'f' } },
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, strict: true } }, reasoning_effort: 'low',
    });
    expect(approximated).toEqual(['store']);
  });

  it('refuses hosted tools, stored conversations and unknown items by name', () => {
    expect(() => responsesToChatRequest({ model: 'm', input: 'x', tools: [{ type: 'web_search' }] }, 'Gemini')).toThrow(expect.objectContaining({ param: 'tools[0]' }));
    expect(() => responsesToChatRequest({ model: 'm', input: 'x', previous_response_id: 'r' }, 'Gemini')).toThrow(/previous_response_id is not supported when the model is served by Gemini: it needs the conversation OpenAI stores/);
    expect(() => responsesToChatRequest({ model: 'm', input: [{ type: 'reasoning', summary: [] }] }, 'Gemini')).toThrow(expect.objectContaining({ param: 'input[0]' }));
  });

  it('turns a length-cut answer into an incomplete Response, and a cut stream into no completion', () => {
    const ctx = { model: 'm', created: 1, instructions: null, tools: [] };
    const r = chatToResponse({ id: 'x', choices: [{ message: { content: 'abc' }, finish_reason: 'length' }], usage: { prompt_tokens: 1, completion_tokens: 2 } }, ctx);
    expect(r).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, usage: { total_tokens: 3 } });
    const s = new ChatToResponsesStream(ctx);
    const frames = s.push({ event: '', json: { id: 'x', choices: [{ delta: { content: 'a' } }] } });
    expect(frames.map((f) => f.event)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta']);
    expect(frames.map((f) => (f.json as { sequence_number: number }).sequence_number)).toEqual([0, 1, 2, 3, 4]);
    expect(s.end()).toEqual([]);
  });
});
