// OpenAI Chat Completions request → Anthropic Messages request (POST /v1/messages), for an OpenAI caller whose
// model is served by Anthropic.
//
// Decisions (README, Translation):
// - system and developer messages become the top-level `system`, in order; one that came after the conversation
//   started is noted as approximated (Anthropic has one system prompt, before every turn).
// - max_tokens is required by Anthropic: absent, it is DEFAULT_ANTHROPIC_MAX_TOKENS (4,096, the largest every Claude
//   model accepts, and LiteLLM's default), plus the thinking budget when reasoning is on, since Anthropic counts
//   thinking inside max_tokens as OpenAI counts reasoning inside max_completion_tokens.
// - response_format: Anthropic's documented way to get JSON from every Claude model is a forced tool whose
//   input_schema is the schema; the tool's input comes back as the message content (context.jsonTool says which
//   tool). `structuredOutput: 'native'` uses output_config.format instead, for the models that have structured
//   outputs (it also works with thinking, which forbids forced tools).
import type { JsonObject } from '../shared.ts';
import { at, invalidRequest, untranslatable } from './errors.ts';
import { checkFields, column } from './field-policy.ts';
import type { FieldCheck } from './field-policy.ts';
import { CHAT_FIELDS, functionTools, maxOutputTokens, parseChatRequest, readMessages, stopList, toolMode, writeTurns } from './openai-request.ts';
import type { ChatRequest, Part, ToolMode, TurnWriter } from './openai-request.ts';
import { isHttpUrl } from './media.ts';
import { EFFORT_BUDGET, MIN_ANTHROPIC_BUDGET } from './reasoning.ts';
import type { OpenAiRequestTranslation, RequestOptions } from './types.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

export interface AnthropicRequestOptions extends RequestOptions {
  /** max_tokens when the caller sets none; default DEFAULT_ANTHROPIC_MAX_TOKENS. */
  defaultMaxTokens?: number;
  /** How response_format is honoured: 'tool' (forced tool, every model; default) or 'native' (output_config.format). */
  structuredOutput?: 'tool' | 'native';
}

const SERVED = 'Anthropic';
const CHECK: FieldCheck = { api: 'Chat Completions', served: SERVED, table: column(CHAT_FIELDS, 'anthropic') };

export function openAiToAnthropicRequest(body: unknown, opts: AnthropicRequestOptions = {}): OpenAiRequestTranslation {
  const req = parseChatRequest(body);
  const notes: string[] = [];
  checkFields(req, CHECK, notes);
  const { system, turns } = writeTurns(readMessages(req.messages, SERVED, notes), anthropicWriter(notes), notes);
  const out: JsonObject = { model: opts.model ?? req.model };
  if (system.length > 0) out.system = system;
  out.messages = turns.map((t) => ({ role: t.role, content: t.blocks }));
  if (req.temperature !== null && req.temperature !== undefined) {
    if (req.temperature > 1) throw untranslatable('temperature', SERVED, `${req.temperature} is outside Anthropic's range of 0 to 1`);
    out.temperature = req.temperature;
  }
  if (req.top_p !== null && req.top_p !== undefined) out.top_p = req.top_p;
  if (req.top_k !== null && req.top_k !== undefined) out.top_k = req.top_k;
  const stop = stopList(req.stop);
  if (stop) out.stop_sequences = stop;
  const user = req.safety_identifier ?? req.user;
  if (user) out.metadata = { user_id: user };
  const thinking = applyThinking(req, out, opts.defaultMaxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS, notes);
  const jsonTool = applyTools(req, out, opts.structuredOutput ?? 'tool', thinking, notes);
  const stream = req.stream === true;
  if (stream) out.stream = true;
  return {
    request: { path: '/v1/messages', headers: { 'anthropic-version': ANTHROPIC_VERSION }, body: out, stream, approximated: notes },
    context: { model: req.model, created: Math.floor((opts.now ?? Date.now()) / 1000), includeUsage: req.stream_options?.include_usage === true, jsonTool },
  };
}

/** Sets max_tokens and thinking; returns whether thinking is on. */
function applyThinking(req: ChatRequest, out: JsonObject, defaultMax: number, notes: string[]): boolean {
  const max = maxOutputTokens(req);
  const effort = req.reasoning_effort;
  if (!effort || effort === 'none') {
    if (effort === 'none') out.thinking = { type: 'disabled' };
    out.max_tokens = max ?? defaultMax;
    return false;
  }
  let budget = EFFORT_BUDGET[effort];
  const maxTokens = max ?? budget + defaultMax;
  if (budget >= maxTokens) {
    // Anthropic wants the budget below max_tokens; a caller's small cap wins over the effort level.
    const field = req.max_completion_tokens !== null && req.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens';
    if (maxTokens <= MIN_ANTHROPIC_BUDGET) throw untranslatable(field, SERVED, `with reasoning_effort it must exceed ${MIN_ANTHROPIC_BUDGET}, Anthropic's smallest thinking budget`);
    budget = maxTokens - 1;
    notes.push('reasoning_effort');
  }
  out.thinking = { type: 'enabled', budget_tokens: budget };
  out.max_tokens = maxTokens;
  return true;
}

/** Sets tools and tool_choice (the forced JSON tool included); returns the JSON tool's name, or null. */
function applyTools(req: ChatRequest, out: JsonObject, structured: 'tool' | 'native', thinking: boolean, notes: string[]): string | null {
  const functions = functionTools(req, SERVED);
  const tools: JsonObject[] = functions.map((fn, i) => {
    if (fn.strict) notes.push(`tools[${i}].function.strict`);
    const tool: JsonObject = { name: fn.name };
    if (fn.description) tool.description = fn.description;
    tool.input_schema = fn.parameters ?? { type: 'object', properties: {} };
    return tool;
  });
  const format = req.response_format;
  if (format && format.type !== 'text') {
    const schema = format.type === 'json_schema' ? format.json_schema.schema : undefined;
    if (structured === 'native' && schema) {
      out.output_config = { format: { type: 'json_schema', schema } };
    } else {
      if (functions.length > 0) throw untranslatable('response_format', SERVED, 'Anthropic has no JSON mode; Sightline forces a tool to carry the JSON, and that cannot be combined with tools');
      if (thinking) throw untranslatable('response_format', SERVED, 'the forced tool that carries the JSON cannot be combined with thinking (reasoning_effort); configure structured output "native" for models that have it');
      const name = format.type === 'json_schema' ? format.json_schema.name : 'json_object';
      const inputSchema = schema ?? { type: 'object' };
      if (inputSchema.type !== 'object') throw untranslatable('response_format.json_schema.schema', SERVED, 'the JSON travels as tool input, which must be an object: wrap the value in an object');
      const description = format.type === 'json_schema' ? format.json_schema.description : undefined;
      out.tools = [{ name, description: description || 'Answer with the JSON the conversation asks for.', input_schema: inputSchema }];
      out.tool_choice = { type: 'tool', name };
      return name;
    }
  }
  const mode = toolMode(req, SERVED, tools.length > 0);
  if (tools.length === 0) return null;
  out.tools = tools;
  const choice = anthropicToolChoice(mode, req.parallel_tool_calls === false);
  if (choice) out.tool_choice = choice;
  return null;
}

function anthropicToolChoice(mode: ToolMode | undefined, serial: boolean): JsonObject | undefined {
  let choice: JsonObject | undefined;
  switch (mode?.mode) {
    case undefined:
      choice = serial ? { type: 'auto' } : undefined;
      break;
    case 'none':
      return { type: 'none' };
    case 'auto':
      choice = { type: 'auto' };
      break;
    case 'required':
      choice = { type: 'any' };
      break;
    case 'named':
      choice = { type: 'tool', name: mode.name };
      break;
  }
  if (choice && serial) choice.disable_parallel_tool_use = true;
  return choice;
}

/** Anthropic's blocks for the turns (see writeTurns for what all providers share). */
function anthropicWriter(notes: string[]): TurnWriter {
  return {
    part: anthropicBlock,
    assistant(turn, path, parts) {
      const blocks: JsonObject[] = turn.thinkingBlocks.map((b, i) => thinkingBlock(b, at(at(path, 'thinking_blocks'), i)));
      blocks.push(...parts);
      for (const call of turn.toolCalls) {
        // A Gemini thought signature (from a turn Gemini served) means nothing to Anthropic.
        if (call.thoughtSignature !== '') notes.push(at(call.path, 'extra_content'));
        blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: call.args });
      }
      return blocks;
    },
    tool: (turn) => ({ type: 'tool_result', tool_use_id: turn.callId, content: turn.content }),
  };
}

/** Our own answers hand thinking blocks out as `thinking_blocks`; they go back as they came (their signature is checked). */
function thinkingBlock(block: JsonObject, path: string): JsonObject {
  if (block.type !== 'thinking' && block.type !== 'redacted_thinking') throw invalidRequest(at(path, 'type'), 'must be thinking or redacted_thinking');
  return block;
}

/** A part as an Anthropic block; empty text is left out, since Anthropic refuses empty text blocks. */
function anthropicBlock(part: Part): JsonObject | undefined {
  let block: JsonObject;
  switch (part.kind) {
    case 'text':
      if (part.text === '') return undefined;
      block = { type: 'text', text: part.text };
      break;
    case 'image':
      block = { type: 'image', source: imageSource(part) };
      break;
    case 'audio':
      throw untranslatable(part.path, SERVED, 'Anthropic takes no audio input');
    case 'file':
      block = documentBlock(part);
      break;
  }
  if ('cacheControl' in part && part.cacheControl !== undefined) block.cache_control = part.cacheControl;
  return block;
}

function imageSource(part: Extract<Part, { kind: 'image' }>): JsonObject {
  if (part.inline) return { type: 'base64', media_type: part.inline.mediaType, data: part.inline.data };
  if (isHttpUrl(part.url)) return { type: 'url', url: part.url };
  throw invalidRequest(at(part.path, 'image_url.url'), 'must be an http(s) URL or a base64 data URL');
}

function documentBlock(part: Extract<Part, { kind: 'file' }>): JsonObject {
  const { mediaType, data } = part.inline;
  let source: JsonObject;
  if (mediaType === 'application/pdf') source = { type: 'base64', media_type: mediaType, data };
  else if (mediaType === 'text/plain') source = { type: 'text', media_type: mediaType, data: Buffer.from(data, 'base64').toString('utf8') };
  else throw untranslatable(at(part.path, 'file.file_data'), SERVED, `Anthropic documents are PDF or plain text, not ${mediaType}`);
  const block: JsonObject = { type: 'document', source };
  if (part.filename !== '') block.title = part.filename;
  return block;
}
