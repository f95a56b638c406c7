// An OpenAI Chat Completions request as the translators read it: its top-level parameters validated with zod (small,
// typed values whose mistakes deserve a message naming the field), the field table saying what becomes of each
// parameter at Anthropic and at Gemini, and the messages read once into turns both translators map.
//
// Messages are narrowed by hand rather than by a zod schema: they are most of the body (base64 images included) and
// polymorphic, and a schema would rebuild every object of them on the request path.
import { z } from 'zod';
import { asArray, asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import { at, invalidRequest, untranslatable } from './errors.ts';
import { approximated, isEmptyObject, isFalse, isOne, isTrue, isZero, MAPS, oneOf, parseBody, refused } from './field-policy.ts';
import type { Support } from './field-policy.ts';
import { parseDataUrl } from './media.ts';
import type { InlineData } from './media.ts';
import { REASONING_EFFORTS } from './reasoning.ts';

const JsonSchemaObject = z.record(z.string(), z.unknown());

const FunctionDefinition = z.looseObject({
  name: z.string().min(1),
  description: z.string().nullish(),
  parameters: JsonSchemaObject.nullish(),
  strict: z.boolean().nullish(),
});

const ToolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string().min(1) }) }),
  // allowed_tools, custom: read so the refusal can name them.
  z.looseObject({ type: z.string() }),
]);

const ResponseFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({
      name: z.string().min(1),
      description: z.string().nullish(),
      schema: JsonSchemaObject.nullish(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const count = z.number().int().nonnegative();

export const ChatRequestSchema = z.looseObject({
  model: z.string(),
  messages: z.array(z.unknown()).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  temperature: z.number().min(0).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: count.nullish(),
  max_tokens: count.nullish(),
  max_completion_tokens: count.nullish(),
  n: z.number().int().positive().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  seed: z.number().int().nullish(),
  tools: z.array(z.looseObject({ type: z.string(), function: FunctionDefinition.optional() })).nullish(),
  tool_choice: ToolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  functions: z.array(FunctionDefinition).nullish(),
  function_call: z.union([z.enum(['none', 'auto']), z.looseObject({ name: z.string().min(1) })]).nullish(),
  response_format: ResponseFormat.nullish(),
  reasoning_effort: z.enum(REASONING_EFFORTS).nullish(),
  user: z.string().nullish(),
  safety_identifier: z.string().nullish(),
});

export type ChatRequest = z.infer<typeof ChatRequestSchema>;
export type ChatToolChoice = z.infer<typeof ToolChoice>;
export type ChatResponseFormat = z.infer<typeof ResponseFormat>;
export type FunctionDef = z.infer<typeof FunctionDefinition>;

/** Parses the body's top-level parameters; a wrong type becomes a 400 naming the field. */
export function parseChatRequest(body: unknown): ChatRequest {
  return parseBody(ChatRequestSchema, body, 'Chat Completions');
}

const textOnlyModalities = (v: unknown): boolean => Array.isArray(v) && v.every((m) => m === 'text');
const standardTier = oneOf('auto', 'default');

/**
 * Every Chat Completions parameter and what becomes of it per serving provider (the README's table). `top_k` is not
 * OpenAI's, but OpenAI-compatible servers and LiteLLM take it, and both providers have it.
 */
export const CHAT_FIELDS: Readonly<Record<string, { readonly anthropic: Support; readonly gemini: Support }>> = {
  model: { anthropic: MAPS, gemini: MAPS },
  messages: { anthropic: MAPS, gemini: MAPS },
  stream: { anthropic: MAPS, gemini: MAPS },
  stream_options: {
    anthropic: approximated('include_usage maps; other options (include_obfuscation) have no equivalent', (v) => onlyIncludeUsage(v)),
    gemini: approximated('include_usage maps; other options (include_obfuscation) have no equivalent', (v) => onlyIncludeUsage(v)),
  },
  temperature: { anthropic: MAPS, gemini: MAPS },
  top_p: { anthropic: MAPS, gemini: MAPS },
  top_k: { anthropic: MAPS, gemini: MAPS },
  max_tokens: { anthropic: MAPS, gemini: MAPS },
  max_completion_tokens: { anthropic: MAPS, gemini: MAPS },
  n: { anthropic: refused('Anthropic returns one completion per request', isOne), gemini: MAPS },
  stop: { anthropic: MAPS, gemini: MAPS },
  presence_penalty: { anthropic: refused('Anthropic has no presence penalty', isZero), gemini: MAPS },
  frequency_penalty: { anthropic: refused('Anthropic has no frequency penalty', isZero), gemini: MAPS },
  logit_bias: { anthropic: refused('no token biasing', isEmptyObject), gemini: refused('no token biasing', isEmptyObject) },
  logprobs: { anthropic: refused('Anthropic returns no log probabilities', isFalse), gemini: refused('log probabilities are not translated', isFalse) },
  top_logprobs: { anthropic: refused('Anthropic returns no log probabilities', isZero), gemini: refused('log probabilities are not translated', isZero) },
  seed: { anthropic: approximated('dropped: Anthropic has no seed (OpenAI does not guarantee determinism either)'), gemini: MAPS },
  response_format: {
    anthropic: approximated('a forced tool (or output_config.format) carries the JSON; the schema guides the output rather than constraining it as strict mode does', (v) => asObject(v)?.type === 'text'),
    gemini: MAPS,
  },
  tools: { anthropic: MAPS, gemini: MAPS },
  tool_choice: { anthropic: MAPS, gemini: MAPS },
  parallel_tool_calls: { anthropic: MAPS, gemini: approximated('Gemini decides itself whether to call functions in parallel', isTrue) },
  functions: { anthropic: MAPS, gemini: MAPS },
  function_call: { anthropic: MAPS, gemini: MAPS },
  reasoning_effort: { anthropic: MAPS, gemini: MAPS },
  user: { anthropic: MAPS, gemini: approximated('dropped: Gemini takes no end-user id') },
  safety_identifier: { anthropic: MAPS, gemini: approximated('dropped: Gemini takes no end-user id') },
  metadata: { anthropic: approximated('dropped: it tags stored completions at OpenAI'), gemini: approximated('dropped: it tags stored completions at OpenAI') },
  store: { anthropic: approximated('dropped: nothing is stored at the provider', isFalse), gemini: approximated('dropped: nothing is stored at the provider', isFalse) },
  service_tier: {
    anthropic: refused('only auto and default have an Anthropic equivalent (its standard tier)', standardTier),
    gemini: refused('only auto and default have a Gemini equivalent (its standard tier)', standardTier),
  },
  prompt_cache_key: { anthropic: approximated('dropped: Anthropic caches by cache_control markers'), gemini: approximated('dropped: Gemini caches implicitly') },
  prompt_cache_retention: { anthropic: approximated('dropped: Anthropic caches by cache_control markers'), gemini: approximated('dropped: Gemini caches implicitly') },
  prompt_cache_options: { anthropic: approximated('dropped: Anthropic caches by cache_control markers'), gemini: approximated('dropped: Gemini caches implicitly') },
  verbosity: { anthropic: approximated('dropped: a GPT-5 hint with no equivalent'), gemini: approximated('dropped: a GPT-5 hint with no equivalent') },
  modalities: { anthropic: refused('text output only', textOnlyModalities), gemini: refused('text output only', textOnlyModalities) },
  audio: { anthropic: refused('no audio output'), gemini: refused('audio output is not translated') },
  prediction: { anthropic: refused('no predicted outputs'), gemini: refused('no predicted outputs') },
  web_search_options: { anthropic: refused('web search is a server tool Sightline does not translate'), gemini: refused('search grounding is not translated') },
  moderation: { anthropic: refused('no moderation option'), gemini: refused('no moderation option') },
};

function onlyIncludeUsage(v: unknown): boolean {
  const o = asObject(v);
  return o !== undefined && Object.keys(o).every((k) => k === 'include_usage');
}

// ---- messages ----

/** One piece of user or system content, provider-neutral. `path` locates it in the caller's body for errors. */
export type Part =
  | { kind: 'text'; text: string; path: string; cacheControl?: unknown }
  | { kind: 'image'; url: string; inline: InlineData | undefined; path: string; cacheControl: unknown }
  | { kind: 'audio'; inline: InlineData; format: string; path: string }
  | { kind: 'file'; inline: InlineData; filename: string; path: string };

export interface ToolCall {
  id: string;
  name: string;
  args: JsonObject;
  /** Gemini's thought signature, echoed back in `extra_content.google.thought_signature` (Gemini's own convention). */
  thoughtSignature: string;
  path: string;
}

export type Turn =
  | { role: 'system'; parts: Part[]; index: number; leading: boolean }
  | { role: 'user'; parts: Part[]; index: number }
  | { role: 'assistant'; parts: Part[]; toolCalls: ToolCall[]; thinkingBlocks: JsonObject[]; index: number }
  | { role: 'tool'; callId: string; name: string; content: string; index: number };

/**
 * Reads the messages into turns. `served` names the provider in refusals; `notes` collects approximations
 * (`name` fields, which no provider has). Tool results learn their function's name from the earlier assistant
 * call with the same id (Gemini answers by name).
 */
export function readMessages(messages: readonly unknown[], served: string, notes: string[]): Turn[] {
  const turns: Turn[] = [];
  const callNames = new Map<string, string>();
  let legacyCall = ''; // id given to the last legacy function_call, which its `function` reply refers to by name only
  let leading = true;
  messages.forEach((raw, index) => {
    const path = at('messages', index);
    const m = asObject(raw);
    if (!m) throw invalidRequest(path, 'must be an object');
    const role = asString(m.role);
    if (typeof m.name === 'string' && role !== 'function') notes.push(at(path, 'name'));
    switch (role) {
      case 'system':
      case 'developer':
        turns.push({ role: 'system', parts: readText(m.content, at(path, 'content')), index, leading });
        return;
      case 'user':
        leading = false;
        turns.push({ role: 'user', parts: readUserContent(m.content, at(path, 'content'), served, notes), index });
        return;
      case 'assistant': {
        leading = false;
        if (m.audio !== undefined && m.audio !== null) throw untranslatable(at(path, 'audio'), served, 'audio replies are not translated');
        const toolCalls = readToolCalls(m.tool_calls, at(path, 'tool_calls'), served);
        const legacy = asObject(m.function_call);
        if (legacy) {
          legacyCall = `call_legacy_${index}`;
          toolCalls.push({ id: legacyCall, name: asString(legacy.name), args: parseArguments(legacy.arguments, at(path, 'function_call.arguments')), thoughtSignature: '', path: at(path, 'function_call') });
        }
        for (const call of toolCalls) callNames.set(call.id, call.name);
        const parts = readText(m.content, at(path, 'content'));
        if (typeof m.refusal === 'string' && m.refusal !== '') parts.push({ kind: 'text', text: m.refusal, path: at(path, 'refusal') });
        const thinkingBlocks = asArray(m.thinking_blocks).map(asObject).filter((b): b is JsonObject => b !== undefined);
        if (typeof m.reasoning_content === 'string' && thinkingBlocks.length === 0) notes.push(at(path, 'reasoning_content'));
        turns.push({ role: 'assistant', parts, toolCalls, thinkingBlocks, index });
        return;
      }
      case 'tool': {
        leading = false;
        const callId = asString(m.tool_call_id);
        if (callId === '') throw invalidRequest(at(path, 'tool_call_id'), 'is required on a tool message');
        turns.push({ role: 'tool', callId, name: callNames.get(callId) ?? '', content: toolResultText(m.content, at(path, 'content')), index });
        return;
      }
      case 'function':
        leading = false;
        turns.push({ role: 'tool', callId: legacyCall, name: asString(m.name), content: toolResultText(m.content, at(path, 'content')), index });
        return;
      default:
        throw invalidRequest(at(path, 'role'), `"${role}" is not a Chat Completions role`);
    }
  });
  return turns;
}

/** String content, or text (and, for assistants, refusal) parts. */
function readText(content: unknown, path: string): Part[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ kind: 'text', text: content, path }];
  if (!Array.isArray(content)) throw invalidRequest(path, 'must be a string or an array of content parts');
  return content.map((raw, i) => {
    const part = asObject(raw);
    const p = at(path, i);
    if (part?.type === 'text') return textPart(part, p);
    if (part?.type === 'refusal') return { kind: 'text', text: asString(part.refusal), path: p };
    throw invalidRequest(at(p, 'type'), 'only text parts are allowed here');
  });
}

/**
 * `cache_control` on a content part is LiteLLM's way of asking for Anthropic prompt caching through the OpenAI
 * API; it is kept for Anthropic and noted as dropped elsewhere.
 */
function textPart(part: JsonObject, path: string): Part {
  return { kind: 'text', text: asString(part.text), path, cacheControl: part.cache_control };
}

function readUserContent(content: unknown, path: string, served: string, notes: string[]): Part[] {
  if (typeof content === 'string') return [{ kind: 'text', text: content, path }];
  if (!Array.isArray(content)) throw invalidRequest(path, 'must be a string or an array of content parts');
  return content.map((raw, i) => {
    const p = at(path, i);
    const part = asObject(raw);
    switch (part?.type) {
      case 'text':
        return textPart(part, p);
      case 'image_url': {
        const image = asObject(part.image_url);
        const url = asString(image?.url);
        if (url === '') throw invalidRequest(at(p, 'image_url.url'), 'is required');
        // Neither provider takes a per-image resolution hint: the image is sent at the provider's own resolution.
        const detail = asString(image?.detail);
        if (detail !== '' && detail !== 'auto') notes.push(at(p, 'image_url.detail'));
        return { kind: 'image', url, inline: parseDataUrl(url), path: p, cacheControl: part.cache_control };
      }
      case 'input_audio': {
        const audio = asObject(part.input_audio);
        const format = asString(audio?.format);
        return { kind: 'audio', inline: { mediaType: `audio/${format}`, data: asString(audio?.data) }, format, path: p };
      }
      case 'file':
        return readFilePart(asObject(part.file), p, served);
      default:
        throw invalidRequest(at(p, 'type'), `"${asString(part?.type)}" is not a Chat Completions content part`);
    }
  });
}

function readFilePart(file: JsonObject | undefined, path: string, served: string): Part {
  const filename = asString(file?.filename);
  const data = asString(file?.file_data);
  if (data === '') throw untranslatable(at(path, 'file.file_id'), served, 'files uploaded to OpenAI are not reachable from other providers; send file_data');
  const inline = parseDataUrl(data) ?? (filename.toLowerCase().endsWith('.pdf') ? { mediaType: 'application/pdf', data } : undefined);
  if (!inline) throw invalidRequest(at(path, 'file.file_data'), 'must be a base64 data URL (data:<media type>;base64,…)');
  return { kind: 'file', inline, filename, path };
}

function readToolCalls(value: unknown, path: string, served: string): ToolCall[] {
  return asArray(value).map((raw, j) => {
    const p = at(path, j);
    const call = asObject(raw);
    if (call?.type !== undefined && call.type !== 'function') throw untranslatable(at(p, 'type'), served, `${asString(call.type)} tool calls are OpenAI's own`);
    const fn = asObject(call?.function);
    const id = asString(call?.id);
    if (!fn || id === '') throw invalidRequest(p, 'must have an id and a function');
    const signature = asString(asObject(asObject(call?.extra_content)?.google)?.thought_signature);
    return { id, name: asString(fn.name), args: parseArguments(fn.arguments, at(p, 'function.arguments')), thoughtSignature: signature, path: p };
  });
}

/** Tool-call arguments as OpenAI sends them (a JSON string; '' for none) → the object both others take; undefined if not one. */
export function argumentsObject(text: string): JsonObject | undefined {
  if (text.trim() === '') return {};
  try {
    return asObject(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function parseArguments(value: unknown, path: string): JsonObject {
  const object = argumentsObject(asString(value));
  if (!object) throw invalidRequest(path, 'must be a JSON object (other providers take tool arguments as an object)');
  return object;
}

/** A tool result's content: a string, or text parts joined. */
function toolResultText(content: unknown, path: string): string {
  if (typeof content === 'string') return content;
  let out = '';
  for (const part of readText(content, path)) if (part.kind === 'text') out += part.text;
  return out;
}

// ---- parameters both translators read the same way ----

/** `stop` as a list. */
export function stopList(stop: ChatRequest['stop']): string[] | undefined {
  if (stop === undefined || stop === null) return undefined;
  return typeof stop === 'string' ? [stop] : stop;
}

/** max_completion_tokens (the current name, reasoning included) wins over the deprecated max_tokens. */
export function maxOutputTokens(req: ChatRequest): number | undefined {
  return req.max_completion_tokens ?? req.max_tokens ?? undefined;
}

/** The function tools, legacy `functions` included; other tool types are refused by name. */
export function functionTools(req: ChatRequest, served: string): FunctionDef[] {
  const out: FunctionDef[] = [];
  (req.tools ?? []).forEach((tool, i) => {
    if (tool.type !== 'function' || !tool.function) throw untranslatable(at(at('tools', i), 'type'), served, `${tool.type} tools are OpenAI's own`);
    out.push(tool.function);
  });
  out.push(...(req.functions ?? []));
  return out;
}

export type ToolMode = { mode: 'auto' } | { mode: 'none' } | { mode: 'required' } | { mode: 'named'; name: string };

/**
 * tool_choice (or the legacy function_call) as a mode; undefined when the caller left it to the default, or when
 * there are no tools (then `none` and `auto` mean nothing, and a required call is an error).
 */
export function toolMode(req: ChatRequest, served: string, haveTools: boolean): ToolMode | undefined {
  const choice = req.tool_choice ?? legacyChoice(req.function_call);
  if (choice === undefined || choice === null) return undefined;
  let mode: ToolMode;
  if (typeof choice === 'string') mode = { mode: choice };
  else if (choice.type === 'function' && asObject(choice.function)) mode = { mode: 'named', name: asString(asObject(choice.function)?.name) };
  else throw untranslatable(at('tool_choice', 'type'), served, `${choice.type} tool choice is OpenAI's own`);
  if (haveTools) return mode;
  if (mode.mode === 'required' || mode.mode === 'named') throw invalidRequest('tool_choice', 'asks for a tool call but no tools are given');
  return undefined;
}

function legacyChoice(fc: ChatRequest['function_call']): ChatToolChoice | undefined {
  if (fc === undefined || fc === null) return undefined;
  return typeof fc === 'string' ? fc : { type: 'function', function: { name: fc.name } };
}

// ---- turns → a provider's messages ----

export type AssistantTurn = Extract<Turn, { role: 'assistant' }>;
export type ToolTurn = Extract<Turn, { role: 'tool' }>;

/** How one provider writes turns: its content blocks (or parts), the assistant's extras, tool results. */
export interface TurnWriter {
  /** A user or system part as the provider's block; undefined leaves it out. */
  part(part: Part): JsonObject | undefined;
  /** An assistant turn's blocks, its parts (already written) in their place. */
  assistant(turn: AssistantTurn, path: string, parts: JsonObject[]): JsonObject[];
  tool(turn: ToolTurn, path: string): JsonObject;
}

export interface WrittenTurn {
  role: 'user' | 'assistant';
  blocks: JsonObject[];
}

/**
 * The system blocks and the alternating turns both providers want: system and developer messages gathered in order
 * (one after the conversation started is noted: it moves to the top), consecutive turns of a role merged (tool
 * results join one user turn, as parallel calls need), an empty assistant turn left out and noted (it says nothing,
 * and Anthropic refuses it).
 */
export function writeTurns(turns: readonly Turn[], writer: TurnWriter, notes: string[]): { system: JsonObject[]; turns: WrittenTurn[] } {
  const system: JsonObject[] = [];
  const out: WrittenTurn[] = [];
  const push = (role: WrittenTurn['role'], blocks: JsonObject[]): void => {
    if (blocks.length === 0) return;
    const last = out[out.length - 1];
    if (last && last.role === role) last.blocks.push(...blocks);
    else out.push({ role, blocks });
  };
  const parts = (list: readonly Part[]): JsonObject[] => list.map((p) => writer.part(p)).filter((b): b is JsonObject => b !== undefined);
  for (const turn of turns) {
    const path = at('messages', turn.index);
    if (turn.role === 'system') {
      if (!turn.leading) notes.push(path);
      system.push(...parts(turn.parts));
    } else if (turn.role === 'user') {
      push('user', parts(turn.parts));
    } else if (turn.role === 'tool') {
      push('user', [writer.tool(turn, path)]);
    } else {
      const blocks = writer.assistant(turn, path, parts(turn.parts));
      if (blocks.length === 0) notes.push(path);
      push('assistant', blocks);
    }
  }
  return { system, turns: out };
}
