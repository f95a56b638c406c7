// Anthropic Messages request → OpenAI Chat Completions request, for a caller of `POST /v1/messages` (the Anthropic
// SDK, Claude Code and other agents) whose model is served by OpenAI, or by Gemini through this same form
// (anthropic-to-gemini.ts).
//
// Decisions (README, Translation):
// - `system` (and system-role messages) become system messages; tool_result blocks become tool messages, placed
//   before the rest of their user turn as OpenAI wants tool answers right after the assistant's calls.
// - max_tokens → max_completion_tokens (OpenAI's current name; it counts reasoning, as Anthropic's counts thinking).
// - a stream always asks for stream_options.include_usage: Anthropic callers always get usage, and OpenAI sends it
//   only when asked.
// - thinking.budget_tokens → the reasoning_effort whose budget is nearest (reasoning.ts), noted as approximated;
//   output_config.effort maps by name. Earlier thinking blocks are dropped (noted): OpenAI takes no reasoning input.
// - cache_control markers are dropped (noted): OpenAI and Gemini cache prompts by themselves.
import { z } from 'zod';
import { asArray, asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import { at, invalidRequest, TranslationError, untranslatable } from './errors.ts';
import { approximated, checkFields, column, MAPS, oneOf, parseBody, refused } from './field-policy.ts';
import type { FieldCheck, Support } from './field-policy.ts';
import { toDataUrl } from './media.ts';
import { effortForBudget } from './reasoning.ts';
import type { AnthropicRequestTranslation, RequestOptions } from './types.ts';

const JsonSchemaObject = z.record(z.string(), z.unknown());

export const MessagesRequestSchema = z.looseObject({
  model: z.string(),
  max_tokens: z.number().int().positive(),
  messages: z.array(z.unknown()).min(1),
  system: z.union([z.string(), z.array(z.unknown())]).nullish(),
  stream: z.boolean().nullish(),
  temperature: z.number().min(0).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().nonnegative().nullish(),
  stop_sequences: z.array(z.string()).nullish(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).nullish(),
  tools: z
    .array(z.looseObject({ name: z.string().min(1), type: z.string().nullish(), description: z.string().nullish(), input_schema: JsonSchemaObject.nullish(), strict: z.boolean().nullish() }))
    .nullish(),
  tool_choice: z.looseObject({ type: z.enum(['auto', 'any', 'tool', 'none']), name: z.string().nullish(), disable_parallel_tool_use: z.boolean().nullish() }).nullish(),
  thinking: z.looseObject({ type: z.string(), budget_tokens: z.number().int().nullish() }).nullish(),
  output_config: z
    .looseObject({
      effort: z.enum(['low', 'medium', 'high', 'xhigh', 'max']).nullish(),
      format: z.looseObject({ type: z.literal('json_schema'), schema: JsonSchemaObject }).nullish(),
    })
    .nullish(),
});

export type MessagesRequest = z.infer<typeof MessagesRequestSchema>;

const isAuto = oneOf('auto');
const isDisabledThinking = (v: unknown): boolean => asObject(v)?.type === 'disabled';
const dropped = (what: string): Support => approximated(`dropped: ${what}`);

/** Every Messages parameter and what becomes of it when OpenAI (or Gemini, through the OpenAI form) serves the model. */
export const MESSAGES_FIELDS: Readonly<Record<string, { readonly openai: Support; readonly gemini: Support }>> = {
  model: { openai: MAPS, gemini: MAPS },
  max_tokens: { openai: MAPS, gemini: MAPS },
  messages: { openai: MAPS, gemini: MAPS },
  system: { openai: MAPS, gemini: MAPS },
  stream: { openai: MAPS, gemini: MAPS },
  temperature: { openai: MAPS, gemini: MAPS },
  top_p: { openai: MAPS, gemini: MAPS },
  top_k: { openai: refused('OpenAI has no top-k sampling'), gemini: MAPS },
  stop_sequences: { openai: MAPS, gemini: MAPS },
  metadata: { openai: MAPS, gemini: dropped('Gemini takes no end-user id') },
  tools: { openai: MAPS, gemini: MAPS },
  tool_choice: { openai: MAPS, gemini: MAPS },
  thinking: {
    openai: approximated('a budget becomes the nearest reasoning_effort level', isDisabledThinking),
    gemini: approximated('a budget becomes the nearest reasoning_effort level, then its Gemini budget', isDisabledThinking),
  },
  output_config: { openai: MAPS, gemini: MAPS },
  cache_control: { openai: dropped('OpenAI caches prompts by itself'), gemini: dropped('Gemini caches prompts by itself') },
  service_tier: { openai: approximated('dropped: the provider picks its standard tier', isAuto), gemini: approximated('dropped: the provider picks its standard tier', isAuto) },
  speed: { openai: approximated('dropped', oneOf('standard')), gemini: approximated('dropped', oneOf('standard')) },
  diagnostics: { openai: dropped('Anthropic-only'), gemini: dropped('Anthropic-only') },
  user_profile_id: { openai: dropped('Anthropic-only'), gemini: dropped('Anthropic-only') },
  workspace_id: { openai: dropped('Anthropic-only'), gemini: dropped('Anthropic-only') },
  inference_geo: { openai: refused('data residency cannot be guaranteed elsewhere'), gemini: refused('data residency cannot be guaranteed elsewhere') },
  container: { openai: refused('code-execution containers are Anthropic server tools'), gemini: refused('code-execution containers are Anthropic server tools') },
  mcp_servers: { openai: refused('the MCP connector is an Anthropic server feature'), gemini: refused('the MCP connector is an Anthropic server feature') },
  context_management: { openai: refused('context editing is an Anthropic server feature'), gemini: refused('context editing is an Anthropic server feature') },
};

const CHECKS: Readonly<Record<'OpenAI' | 'Gemini', FieldCheck>> = {
  OpenAI: { api: 'Messages', served: 'OpenAI', table: column(MESSAGES_FIELDS, 'openai') },
  Gemini: { api: 'Messages', served: 'Gemini', table: column(MESSAGES_FIELDS, 'gemini') },
};

export function anthropicToOpenAiRequest(body: unknown, opts: RequestOptions = {}): AnthropicRequestTranslation {
  const notes: string[] = [];
  const chat = anthropicToChat(body, 'OpenAI', notes);
  if (opts.model) chat.model = opts.model;
  const stream = chat.stream === true;
  return {
    request: { path: '/v1/chat/completions', headers: {}, body: chat, stream, approximated: notes },
    context: { model: asString(asObject(body)?.model) },
  };
}

/**
 * The Chat Completions body for a Messages request served by `served`. For Gemini the body also carries `top_k`,
 * which OpenAI-compatible servers (and openAiToGeminiRequest) take and OpenAI does not.
 */
export function anthropicToChat(body: unknown, served: 'OpenAI' | 'Gemini', notes: string[]): JsonObject {
  const req = parseBody(MessagesRequestSchema, body, 'Messages');
  checkFields(req, CHECKS[served], notes);
  const messages = chatMessages(req, served, notes);
  const out: JsonObject = { model: req.model, messages, max_completion_tokens: req.max_tokens };
  if (req.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  if (req.temperature !== null && req.temperature !== undefined) out.temperature = req.temperature;
  if (req.top_p !== null && req.top_p !== undefined) out.top_p = req.top_p;
  if (req.top_k !== null && req.top_k !== undefined) out.top_k = req.top_k;
  if (req.stop_sequences && req.stop_sequences.length > 0) out.stop = req.stop_sequences;
  // Gemini takes no end-user id (metadata is noted as dropped by the table), so the intermediate form carries none.
  if (req.metadata?.user_id && served === 'OpenAI') out.user = req.metadata.user_id;
  applyTools(req, out, served, notes);
  const effort = req.output_config?.effort ?? thinkingEffort(req.thinking);
  if (effort) out.reasoning_effort = effort;
  const format = req.output_config?.format;
  if (format) out.response_format = { type: 'json_schema', json_schema: { name: 'response', schema: format.schema, strict: true } };
  return out;
}

function thinkingEffort(thinking: MessagesRequest['thinking']): string | undefined {
  if (thinking?.type !== 'enabled' || typeof thinking.budget_tokens !== 'number') return undefined;
  return effortForBudget(thinking.budget_tokens);
}

function applyTools(req: MessagesRequest, out: JsonObject, served: string, notes: string[]): void {
  const tools = (req.tools ?? []).map((tool, i) => {
    const path = at('tools', i);
    // Anthropic's server tools (web search, code execution, bash, …) run at Anthropic: nothing to translate to.
    if (tool.type && tool.type !== 'custom') throw untranslatable(at(path, 'type'), served, `${tool.type} is an Anthropic server tool`);
    if (tool.cache_control !== undefined) notes.push(at(path, 'cache_control'));
    const fn: JsonObject = { name: tool.name };
    if (tool.description) fn.description = tool.description;
    fn.parameters = tool.input_schema ?? { type: 'object', properties: {} };
    if (tool.strict) fn.strict = true;
    return { type: 'function', function: fn };
  });
  if (tools.length === 0) return;
  out.tools = tools;
  const choice = req.tool_choice;
  if (!choice) return;
  if (choice.type === 'tool') {
    if (!choice.name) throw invalidRequest('tool_choice.name', 'is required when tool_choice.type is tool');
    out.tool_choice = { type: 'function', function: { name: choice.name } };
  } else {
    out.tool_choice = choice.type === 'any' ? 'required' : choice.type;
  }
  if (choice.disable_parallel_tool_use === true && choice.type !== 'none') out.parallel_tool_calls = false;
}

function chatMessages(req: MessagesRequest, served: string, notes: string[]): JsonObject[] {
  const out: JsonObject[] = [];
  if (req.system !== null && req.system !== undefined) out.push({ role: 'system', content: textContent(req.system, 'system', notes) });
  req.messages.forEach((raw, i) => {
    const path = at('messages', i);
    const m = asObject(raw);
    if (!m) throw invalidRequest(path, 'must be an object');
    switch (m.role) {
      case 'system':
        out.push({ role: 'system', content: textContent(m.content, at(path, 'content'), notes) });
        return;
      case 'user':
        userTurn(m.content, at(path, 'content'), served, notes, out);
        return;
      case 'assistant':
        out.push(assistantTurn(m.content, at(path, 'content'), served, notes));
        return;
      default:
        throw invalidRequest(at(path, 'role'), `"${asString(m.role)}" is not a Messages role`);
    }
  });
  return out;
}

/** A string, or text blocks as text parts (system prompts and system messages). */
function textContent(content: unknown, path: string, notes: string[]): string | JsonObject[] {
  if (typeof content === 'string') return content;
  return asArray(content).map((raw, j) => {
    const block = asObject(raw);
    const p = at(path, j);
    if (block?.type !== 'text') throw invalidRequest(at(p, 'type'), 'only text blocks are allowed here');
    return textPart(block, p, notes);
  });
}

function textPart(block: JsonObject, path: string, notes: string[]): JsonObject {
  if (block.cache_control !== undefined) notes.push(at(path, 'cache_control'));
  if (block.citations !== undefined && block.citations !== null) notes.push(at(path, 'citations'));
  return { type: 'text', text: asString(block.text) };
}

/** Each content block with its path (undefined for an entry that is not an object, which the callers refuse by type). */
function eachBlock(content: unknown, path: string, fn: (block: JsonObject | undefined, path: string) => void): void {
  asArray(content).forEach((raw, j) => fn(asObject(raw), at(path, j)));
}

/** A user turn: its tool results as tool messages first, then the rest as one user message. */
function userTurn(content: unknown, path: string, served: string, notes: string[], out: JsonObject[]): void {
  if (typeof content === 'string') {
    out.push({ role: 'user', content });
    return;
  }
  const parts: JsonObject[] = [];
  eachBlock(content, path, (block, p) => {
    switch (block?.type) {
      case 'text':
        parts.push(textPart(block, p, notes));
        return;
      case 'image':
        parts.push({ type: 'image_url', image_url: { url: sourceUrl(asObject(block.source), at(p, 'source'), served) } });
        if (block.cache_control !== undefined) notes.push(at(p, 'cache_control'));
        return;
      case 'document':
        parts.push(documentPart(block, p, served, notes));
        return;
      case 'tool_result':
        out.push(toolMessage(block, p, served, notes));
        return;
      default:
        throw untranslatable(at(p, 'type'), served, `${asString(block?.type)} blocks have no Chat Completions equivalent`);
    }
  });
  if (parts.length > 0) out.push({ role: 'user', content: parts });
}

function sourceUrl(source: JsonObject | undefined, path: string, served: string): string {
  if (source?.type === 'base64') return toDataUrl({ mediaType: asString(source.media_type), data: asString(source.data) });
  if (source?.type === 'url') return asString(source.url);
  throw untranslatable(at(path, 'type'), served, `${asString(source?.type)} sources (files uploaded to Anthropic) are not reachable from other providers`);
}

function documentPart(block: JsonObject, path: string, served: string, notes: string[]): JsonObject {
  const source = asObject(block.source);
  if (block.citations !== undefined && block.citations !== null) notes.push(at(path, 'citations'));
  if (source?.type === 'base64') {
    const filename = asString(block.title) || 'document.pdf';
    return { type: 'file', file: { filename, file_data: toDataUrl({ mediaType: asString(source.media_type), data: asString(source.data) }) } };
  }
  if (source?.type === 'text') return { type: 'text', text: asString(source.data) };
  if (source?.type === 'content') {
    const text = textContent(source.content, at(path, 'source.content'), notes);
    return { type: 'text', text: typeof text === 'string' ? text : text.map((t) => asString(t.text)).join('') };
  }
  throw untranslatable(at(path, 'source.type'), served, `${asString(source?.type)} document sources cannot be sent to ${served}; send the document as base64`);
}

function toolMessage(block: JsonObject, path: string, served: string, notes: string[]): JsonObject {
  const id = asString(block.tool_use_id);
  if (id === '') throw invalidRequest(at(path, 'tool_use_id'), 'is required');
  if (block.is_error === true) notes.push(at(path, 'is_error'));
  if (block.cache_control !== undefined) notes.push(at(path, 'cache_control'));
  let text = '';
  if (typeof block.content === 'string') {
    text = block.content;
  } else {
    asArray(block.content).forEach((raw, k) => {
      const part = asObject(raw);
      if (part?.type !== 'text') throw untranslatable(at(at(path, 'content'), k), served, 'tool results are text only in Chat Completions');
      text += asString(part.text);
    });
  }
  return { role: 'tool', tool_call_id: id, content: text };
}

function assistantTurn(content: unknown, path: string, served: string, notes: string[]): JsonObject {
  if (typeof content === 'string') return { role: 'assistant', content };
  let text = '';
  const toolCalls: JsonObject[] = [];
  eachBlock(content, path, (block, p) => {
    switch (block?.type) {
      case 'text':
        text += asString(block.text);
        return;
      case 'tool_use':
        toolCalls.push({ id: asString(block.id), type: 'function', function: { name: asString(block.name), arguments: JSON.stringify(block.input ?? {}) } });
        return;
      case 'thinking':
      case 'redacted_thinking':
        notes.push(p);
        return;
      default:
        throw untranslatable(at(p, 'type'), served, `${asString(block?.type)} blocks have no Chat Completions equivalent`);
    }
  });
  const message: JsonObject = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

/** A TranslationError from a later stage, re-worded so the caller knows the path is in the intermediate form. */
export function throughChatForm(err: unknown): unknown {
  if (!(err instanceof TranslationError)) return err;
  return new TranslationError(err.code, err.param, `${err.message} (in the Chat Completions form a Messages request is translated through)`, err.status);
}
