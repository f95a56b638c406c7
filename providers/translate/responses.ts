// OpenAI's Responses API (`POST /v1/responses`) served by a provider that has none (Anthropic, Gemini): the request
// becomes a Chat Completions request, which the chat translators carry on to the provider; the answer comes back
// through them as Chat Completions and is turned into a Response (whole, or as Responses stream events). Stateless
// only: what needs OpenAI's stored conversations (previous_response_id, background) is refused by name.
import type { JsonObject } from '../shared.ts';
import { asArray, asObject, asString } from '../shared.ts';
import type { SseFrame } from '../types.ts';
import { at, invalidRequest, untranslatable } from './errors.ts';
import type { FrameTranslator } from './sse-frames.ts';

const SCALARS = ['temperature', 'top_p', 'parallel_tool_calls'] as const;
/** Fields that change nothing a stateless answer can honour: carried as approximated, never silently. */
const APPROXIMATED = new Set(['store', 'metadata', 'user', 'truncation', 'service_tier']);

export interface ResponsesContext {
  model: string;
  created: number;
  instructions: string | null;
  tools: readonly unknown[];
}

/** The Chat Completions request a Responses request stands for, with what it could only approximate. */
export function responsesToChatRequest(body: unknown, served: string, now = Date.now()): { chat: JsonObject; approximated: string[]; context: ResponsesContext } {
  const req = asObject(body);
  if (req === undefined) throw invalidRequest('body', 'expected a JSON object');
  const approximated: string[] = [];
  const known = new Set(['model', 'input', 'instructions', 'tools', 'tool_choice', 'max_output_tokens', 'text', 'reasoning', 'stream', ...SCALARS]);
  for (const key of Object.keys(req)) {
    if (known.has(key)) continue;
    if (APPROXIMATED.has(key)) approximated.push(key);
    else throw untranslatable(key, served, key === 'previous_response_id' || key === 'background' ? 'it needs the conversation OpenAI stores; send the whole input instead' : '');
  }
  const model = asString(req.model);
  if (model === '') throw invalidRequest('model', 'expected the model name');
  const messages: JsonObject[] = [];
  const instructions = typeof req.instructions === 'string' ? req.instructions : null;
  if (instructions !== null) messages.push({ role: 'system', content: instructions });
  if (typeof req.input === 'string') messages.push({ role: 'user', content: req.input });
  else if (Array.isArray(req.input)) messages.push(...inputMessages(req.input, served));
  else throw invalidRequest('input', 'expected a string or a list of input items');

  const chat: JsonObject = { model, messages, stream: req.stream === true };
  if (req.stream === true) chat.stream_options = { include_usage: true };
  for (const key of SCALARS) if (req[key] !== undefined && req[key] !== null) chat[key] = req[key];
  if (typeof req.max_output_tokens === 'number') chat.max_completion_tokens = req.max_output_tokens;
  const tools = asArray(req.tools);
  if (tools.length > 0) {
    chat.tools = tools.map((t, i) => {
      const tool = asObject(t);
      if (tool?.type !== 'function') throw untranslatable(`tools[${i}]`, served, `only function tools translate (this one is ${String(tool?.type)})`);
      return { type: 'function', function: { name: tool.name, ...(tool.description !== undefined ? { description: tool.description } : {}), parameters: tool.parameters ?? { type: 'object', properties: {} }, ...(tool.strict !== undefined ? { strict: tool.strict } : {}) } };
    });
  }
  const choice = req.tool_choice;
  if (typeof choice === 'string') chat.tool_choice = choice;
  else if (asObject(choice)?.type === 'function') chat.tool_choice = { type: 'function', function: { name: asObject(choice)!.name } };
  else if (choice !== undefined) throw untranslatable('tool_choice', served);
  const format = asObject(asObject(req.text)?.format);
  if (format?.type === 'json_schema') chat.response_format = { type: 'json_schema', json_schema: { name: format.name ?? 'response', schema: format.schema, ...(format.strict !== undefined ? { strict: format.strict } : {}) } };
  else if (format?.type === 'json_object') chat.response_format = { type: 'json_object' };
  else if (format !== undefined && format.type !== 'text') throw untranslatable('text.format', served);
  const effort = asObject(req.reasoning)?.effort;
  if (typeof effort === 'string') chat.reasoning_effort = effort;
  return { chat, approximated, context: { model, created: Math.floor(now / 1000), instructions, tools } };
}

function inputMessages(items: readonly unknown[], served: string): JsonObject[] {
  const out: JsonObject[] = [];
  items.forEach((raw, i) => {
    const item = asObject(raw);
    const path = at('input', i);
    if (item === undefined) throw invalidRequest(path, 'expected an input item');
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = asString(item.role);
      if (!['user', 'assistant', 'system', 'developer'].includes(role)) throw invalidRequest(at(path, 'role'), 'expected user, assistant, system or developer');
      out.push({ role, content: typeof item.content === 'string' ? item.content : asArray(item.content).map((p, j) => contentPart(p, at(at(path, 'content'), j), served)) });
    } else if (type === 'function_call') {
      const call = { id: asString(item.call_id), type: 'function', function: { name: asString(item.name), arguments: asString(item.arguments) } };
      const last = out.at(-1);
      // Parallel calls are consecutive items in Responses and one assistant message in Chat Completions.
      if (last?.role === 'assistant' && Array.isArray(last.tool_calls)) (last.tool_calls as unknown[]).push(call);
      else out.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      out.push({ role: 'tool', tool_call_id: asString(item.call_id), content: typeof item.output === 'string' ? item.output : JSON.stringify(item.output) });
    } else {
      throw untranslatable(path, served, `${String(type)} items have no equivalent`);
    }
  });
  return out;
}

function contentPart(raw: unknown, path: string, served: string): JsonObject {
  const part = asObject(raw);
  if (part?.type === 'input_text' || part?.type === 'output_text') return { type: 'text', text: asString(part.text) };
  if (part?.type === 'input_image' && typeof part.image_url === 'string') return { type: 'image_url', image_url: { url: part.image_url, ...(part.detail !== undefined ? { detail: part.detail } : {}) } };
  throw untranslatable(path, served, `${String(part?.type)} content has no equivalent`);
}

function usageOf(u: JsonObject | undefined): JsonObject {
  const input = Number(u?.prompt_tokens ?? 0);
  const output = Number(u?.completion_tokens ?? 0);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: Number(asObject(u?.prompt_tokens_details)?.cached_tokens ?? 0) },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: Number(asObject(u?.completion_tokens_details)?.reasoning_tokens ?? 0) },
    total_tokens: input + output,
  };
}

function responseShell(ctx: ResponsesContext, id: string, status: string, output: JsonObject[], usage: JsonObject | null, finish: string): JsonObject {
  return {
    id, object: 'response', created_at: ctx.created, status, model: ctx.model, output, usage, error: null,
    incomplete_details: finish === 'length' ? { reason: 'max_output_tokens' } : null,
    instructions: ctx.instructions, tools: ctx.tools, parallel_tool_calls: true, tool_choice: 'auto', metadata: {},
    text: { format: { type: 'text' } },
  };
}

/** A whole chat.completion → a Response. */
export function chatToResponse(chat: JsonObject, ctx: ResponsesContext): JsonObject {
  const choice = asObject(asArray(chat.choices)[0]);
  const message = asObject(choice?.message);
  const id = `resp_${asString(chat.id) || Date.now().toString(36)}`;
  const output: JsonObject[] = [];
  const text = asString(message?.content);
  if (text !== '') output.push({ type: 'message', id: `msg_${id.slice(5)}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] });
  for (const raw of asArray(message?.tool_calls)) {
    const call = asObject(raw);
    const fn = asObject(call?.function);
    output.push({ type: 'function_call', id: `fc_${asString(call?.id)}`, call_id: asString(call?.id), name: asString(fn?.name), arguments: asString(fn?.arguments), status: 'completed' });
  }
  const finish = asString(choice?.finish_reason);
  return responseShell(ctx, id, finish === 'length' ? 'incomplete' : 'completed', output, usageOf(asObject(chat.usage)), finish);
}

interface OpenItem {
  outputIndex: number;
  item: JsonObject;
  /** Text or arguments so far. */
  text: string;
}

/** chat.completion.chunk frames → Responses stream events (`response.created` … `response.completed`). */
export class ChatToResponsesStream implements FrameTranslator {
  private seq = 0;
  private id = '';
  private started = false;
  private message: OpenItem | undefined;
  private readonly calls = new Map<number, OpenItem>();
  private readonly done: JsonObject[] = [];
  private usage: JsonObject | null = null;
  private finish = '';
  private ended = false;

  constructor(private readonly ctx: ResponsesContext) {}

  private event(type: string, fields: JsonObject): SseFrame {
    return { event: type, json: { type, sequence_number: this.seq++, ...fields } };
  }

  private nextIndex(): number {
    return this.done.length + (this.message ? 1 : 0) + this.calls.size;
  }

  push(frame: SseFrame): SseFrame[] {
    const out: SseFrame[] = [];
    const chunk = asObject(frame.json);
    if (frame.json === undefined) return this.end();
    if (chunk === undefined) return out;
    const error = asObject(chunk.error);
    if (error !== undefined) {
      this.ended = true;
      out.push(this.event('error', { code: error.code ?? error.type ?? null, message: asString(error.message), param: error.param ?? null }));
      return out;
    }
    if (!this.started) {
      this.started = true;
      this.id = `resp_${asString(chunk.id) || Date.now().toString(36)}`;
      const shell = responseShell(this.ctx, this.id, 'in_progress', [], null, '');
      out.push(this.event('response.created', { response: shell }), this.event('response.in_progress', { response: shell }));
    }
    if (asObject(chunk.usage) !== undefined) this.usage = usageOf(asObject(chunk.usage));
    const choice = asObject(asArray(chunk.choices)[0]);
    const delta = asObject(choice?.delta);
    const text = asString(delta?.content);
    if (text !== '') {
      if (this.message === undefined) {
        const item = { type: 'message', id: `msg_${this.id.slice(5)}`, status: 'in_progress', role: 'assistant', content: [] };
        this.message = { outputIndex: this.nextIndex(), item, text: '' };
        out.push(this.event('response.output_item.added', { output_index: this.message.outputIndex, item }));
        out.push(this.event('response.content_part.added', { item_id: item.id, output_index: this.message.outputIndex, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
      }
      this.message.text += text;
      out.push(this.event('response.output_text.delta', { item_id: this.message.item.id, output_index: this.message.outputIndex, content_index: 0, delta: text }));
    }
    for (const raw of asArray(delta?.tool_calls)) {
      const call = asObject(raw);
      const index = Number(call?.index ?? 0);
      const fn = asObject(call?.function);
      let open = this.calls.get(index);
      if (open === undefined) {
        if (this.message !== undefined) out.push(...this.closeMessage());
        const callId = asString(call?.id);
        const item = { type: 'function_call', id: `fc_${callId}`, call_id: callId, name: asString(fn?.name), arguments: '', status: 'in_progress' };
        open = { outputIndex: this.nextIndex(), item, text: '' };
        this.calls.set(index, open);
        out.push(this.event('response.output_item.added', { output_index: open.outputIndex, item }));
      }
      const args = asString(fn?.arguments);
      if (args !== '') {
        open.text += args;
        out.push(this.event('response.function_call_arguments.delta', { item_id: open.item.id, output_index: open.outputIndex, delta: args }));
      }
    }
    if (typeof choice?.finish_reason === 'string') this.finish = choice.finish_reason;
    return out;
  }

  private closeMessage(): SseFrame[] {
    const m = this.message!;
    this.message = undefined;
    const part = { type: 'output_text', text: m.text, annotations: [] };
    const item = { ...m.item, status: 'completed', content: [part] };
    this.done.push(item);
    return [
      this.event('response.output_text.done', { item_id: m.item.id, output_index: m.outputIndex, content_index: 0, text: m.text }),
      this.event('response.content_part.done', { item_id: m.item.id, output_index: m.outputIndex, content_index: 0, part }),
      this.event('response.output_item.done', { output_index: m.outputIndex, item }),
    ];
  }

  end(): SseFrame[] {
    // A stream cut before its end stays cut: nothing is invented for it.
    if (this.ended || !this.started || this.finish === '') return [];
    this.ended = true;
    const out: SseFrame[] = [];
    if (this.message !== undefined) out.push(...this.closeMessage());
    for (const open of [...this.calls.values()].sort((a, b) => a.outputIndex - b.outputIndex)) {
      const item = { ...open.item, arguments: open.text, status: 'completed' };
      this.done.push(item);
      out.push(this.event('response.function_call_arguments.done', { item_id: open.item.id, output_index: open.outputIndex, arguments: open.text }));
      out.push(this.event('response.output_item.done', { output_index: open.outputIndex, item }));
    }
    this.calls.clear();
    const status = this.finish === 'length' ? 'incomplete' : 'completed';
    out.push(this.event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseShell(this.ctx, this.id, status, this.done, this.usage, this.finish) }));
    return out;
  }
}
