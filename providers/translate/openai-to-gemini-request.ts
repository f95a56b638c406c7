// OpenAI Chat Completions request → Gemini generateContent request, for an OpenAI caller whose model is served by
// Gemini. A stream goes to `:streamGenerateContent?alt=sse` (one GenerateContentResponse per SSE frame), anything
// else to `:generateContent`; the model is in the path, not the body.
//
// Decisions (README, Translation):
// - system and developer messages become `systemInstruction`, in order (one after the conversation started is
//   noted as approximated, as for Anthropic).
// - tool results answer a function by name (Gemini's functionResponse has no call id): the name comes from the
//   earlier assistant tool call with the same id. A result that is a JSON object is sent as the response object;
//   anything else as `{"content": "<text>"}`.
// - Gemini's thought signatures come back to the caller in `tool_calls[].extra_content.google.thought_signature`
//   (the convention of Gemini's own OpenAI-compatible endpoint) and are restored on the functionCall part, which
//   Gemini 3 requires in a function-calling loop.
// - response_format json_schema → responseMimeType application/json + responseSchema, the schema converted to
//   Gemini's OpenAPI subset (gemini-schema.ts); tools' parameters are converted the same way.
// - reasoning_effort → thinkingConfig.thinkingBudget (reasoning.ts); `none` is budget 0, xhigh and max the dynamic
//   budget (-1: as much as the model allows), since Gemini models' ceilings differ.
import { asObject } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import { at, invalidRequest } from './errors.ts';
import { checkFields, column } from './field-policy.ts';
import type { FieldCheck } from './field-policy.ts';
import { toGeminiSchema } from './gemini-schema.ts';
import { isHttpUrl, mediaTypeFromUrl } from './media.ts';
import { CHAT_FIELDS, functionTools, maxOutputTokens, parseChatRequest, readMessages, stopList, toolMode, writeTurns } from './openai-request.ts';
import type { ChatRequest, FunctionDef, Part, TurnWriter } from './openai-request.ts';
import { EFFORT_BUDGET } from './reasoning.ts';
import type { OpenAiRequestTranslation, RequestOptions } from './types.ts';

const SERVED = 'Gemini';
const CHECK: FieldCheck = { api: 'Chat Completions', served: SERVED, table: column(CHAT_FIELDS, 'gemini') };

/** `gemini-2.5-flash` → `models/gemini-2.5-flash`; `models/…` and `tunedModels/…` as given. */
function modelResource(model: string): string {
  return model.startsWith('models/') || model.startsWith('tunedModels/') ? model : `models/${model}`;
}

export function geminiPath(model: string, stream: boolean): string {
  return `/v1beta/${modelResource(model)}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
}

export function openAiToGeminiRequest(body: unknown, opts: RequestOptions = {}): OpenAiRequestTranslation {
  const req = parseChatRequest(body);
  const notes: string[] = [];
  checkFields(req, CHECK, notes);
  const { system, turns } = writeTurns(readMessages(req.messages, SERVED, notes), geminiWriter(notes), notes);
  const out: JsonObject = { contents: turns.map((t) => ({ role: t.role === 'assistant' ? 'model' : 'user', parts: t.blocks })) };
  if (system.length > 0) out.systemInstruction = { parts: system };
  applyTools(req, out, notes);
  const generationConfig = generationConfigOf(req, notes);
  if (Object.keys(generationConfig).length > 0) out.generationConfig = generationConfig;
  const stream = req.stream === true;
  return {
    request: { path: geminiPath(opts.model ?? req.model, stream), headers: {}, body: out, stream, approximated: notes },
    context: { model: req.model, created: Math.floor((opts.now ?? Date.now()) / 1000), includeUsage: req.stream_options?.include_usage === true, jsonTool: null },
  };
}

function generationConfigOf(req: ChatRequest, notes: string[]): JsonObject {
  const gen: JsonObject = {};
  const set = (key: string, value: unknown): void => {
    if (value !== null && value !== undefined) gen[key] = value;
  };
  set('temperature', req.temperature);
  set('topP', req.top_p);
  set('topK', req.top_k);
  if (req.n !== null && req.n !== undefined && req.n !== 1) gen.candidateCount = req.n;
  set('maxOutputTokens', maxOutputTokens(req));
  set('stopSequences', stopList(req.stop));
  set('presencePenalty', req.presence_penalty);
  set('frequencyPenalty', req.frequency_penalty);
  set('seed', req.seed);
  const format = req.response_format;
  if (format && format.type !== 'text') {
    gen.responseMimeType = 'application/json';
    const schema = format.type === 'json_schema' ? format.json_schema.schema : undefined;
    if (schema) gen.responseSchema = toGeminiSchema(schema, 'response_format.json_schema.schema', notes);
  }
  const effort = req.reasoning_effort;
  if (effort) {
    if (effort === 'xhigh' || effort === 'max') notes.push('reasoning_effort');
    gen.thinkingConfig = { thinkingBudget: effort === 'none' ? 0 : effort === 'xhigh' || effort === 'max' ? -1 : EFFORT_BUDGET[effort] };
  }
  return gen;
}

function applyTools(req: ChatRequest, out: JsonObject, notes: string[]): void {
  const functions = functionTools(req, SERVED);
  const mode = toolMode(req, SERVED, functions.length > 0);
  if (functions.length === 0) return;
  out.tools = [{ functionDeclarations: functions.map((fn, i) => declaration(fn, i, notes)) }];
  if (!mode) return;
  const config: JsonObject = { mode: mode.mode === 'auto' ? 'AUTO' : mode.mode === 'none' ? 'NONE' : 'ANY' };
  if (mode.mode === 'named') config.allowedFunctionNames = [mode.name];
  out.toolConfig = { functionCallingConfig: config };
}

function declaration(fn: FunctionDef, i: number, notes: string[]): JsonObject {
  const path = at(at('tools', i), 'function');
  if (fn.strict) notes.push(at(path, 'strict'));
  const decl: JsonObject = { name: fn.name };
  if (fn.description) decl.description = fn.description;
  const params = fn.parameters;
  // A function without parameters has none declared: Gemini refuses an OBJECT schema with no properties.
  if (params && Object.keys(asObject(params.properties) ?? {}).length > 0) decl.parameters = toGeminiSchema(params, at(path, 'parameters'), notes);
  return decl;
}

/** Gemini's parts for the turns (see writeTurns for what all providers share). */
function geminiWriter(notes: string[]): TurnWriter {
  return {
    part: (part) => geminiPart(part, notes),
    assistant(turn, path, parts) {
      // Anthropic's signed thinking (from an earlier turn another provider served) means nothing to Gemini.
      if (turn.thinkingBlocks.length > 0) notes.push(at(path, 'thinking_blocks'));
      for (const call of turn.toolCalls) {
        const part: JsonObject = { functionCall: { name: call.name, args: call.args } };
        if (call.thoughtSignature !== '') part.thoughtSignature = call.thoughtSignature;
        parts.push(part);
      }
      return parts;
    },
    tool(turn, path) {
      if (turn.name === '') throw invalidRequest(at(path, 'tool_call_id'), 'matches no tool call of an earlier assistant message (Gemini answers a function by its name)');
      return { functionResponse: { name: turn.name, response: toolResponse(turn.content) } };
    },
  };
}

/** functionResponse.response is an object (a protobuf Struct). */
function toolResponse(content: string): JsonObject {
  const trimmed = content.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = asObject(JSON.parse(content));
      if (parsed) return parsed;
    } catch {
      // not JSON after all: sent as text below
    }
  }
  return { content };
}

function geminiPart(part: Part, notes: string[]): JsonObject {
  if ('cacheControl' in part && part.cacheControl !== undefined) notes.push(at(part.path, 'cache_control'));
  switch (part.kind) {
    case 'text':
      return { text: part.text };
    case 'image': {
      if (part.inline) return { inlineData: { mimeType: part.inline.mediaType, data: part.inline.data } };
      if (!isHttpUrl(part.url)) throw invalidRequest(at(part.path, 'image_url.url'), 'must be an http(s) URL or a base64 data URL');
      // fileData wants the media type, which only the URL's extension tells without fetching it.
      const mimeType = mediaTypeFromUrl(part.url);
      if (!mimeType) notes.push(at(part.path, 'image_url.url'));
      return { fileData: { mimeType: mimeType ?? 'image/jpeg', fileUri: part.url } };
    }
    case 'audio':
    case 'file':
      return { inlineData: { mimeType: part.inline.mediaType, data: part.inline.data } };
  }
}
