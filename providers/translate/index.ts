// Translation between provider APIs, as the request path will call it: one entry point per call, picked by the API
// the caller speaks and the API of the upstream that serves the model. Everything here is a pure function of its
// input (the clock aside, which opts.now replaces): no I/O, no configuration, no state beyond one stream's.
//
// The request path's use (see README, Translation):
//   const t = translateCall('openai', 'anthropic', body, { model: 'claude-sonnet-4-6' });   // throws TranslationError (400)
//   send t.request.body to <anthropic base><t.request.path> with t.request.headers (+ credentials)
//   2xx JSON:   reply t.response(upstreamJson)                       (application/json)
//   2xx SSE:    const s = translateSseBytes(t.stream(), write); s.push(chunk)…; s.end()   (text/event-stream)
//   4xx / 5xx:  const e = t.error(status, upstreamJsonOrText); reply e.status, e.headers, e.body
//   refused:    catch TranslationError; reply translationErrorBody(err, caller) (and log the call with err.code)
// The ledger keeps reading the upstream's own bytes with the upstream's adapter; only the client sees translations.
import { anthropicAdapter } from '../anthropic.ts';
import { openaiAdapter } from '../openai.ts';
import type { JsonObject } from '../shared.ts';
import { anthropicToGeminiRequest, geminiErrorToAnthropic, geminiToAnthropicResponse, geminiToAnthropicStream } from './anthropic-to-gemini.ts';
import { anthropicToOpenAiRequest } from './anthropic-to-openai-request.ts';
import { anthropicToOpenAiResponse } from './anthropic-to-openai-response.ts';
import { AnthropicToOpenAiStream } from './anthropic-to-openai-stream.ts';
import type { TranslationError } from './errors.ts';
import { geminiToOpenAiResponse } from './gemini-to-openai-response.ts';
import { GeminiToOpenAiStream } from './gemini-to-openai-stream.ts';
import { openAiToAnthropicRequest } from './openai-to-anthropic-request.ts';
import type { AnthropicRequestOptions } from './openai-to-anthropic-request.ts';
import { openAiToAnthropicResponse } from './openai-to-anthropic-response.ts';
import { OpenAiToAnthropicStream } from './openai-to-anthropic-stream.ts';
import { openAiToGeminiRequest } from './openai-to-gemini-request.ts';
import { geminiToOpenAiEmbeddings, openAiToGeminiEmbeddingsRequest } from './openai-to-gemini-embeddings.ts';
import { chainFrames, toStreamTranslator } from './sse-frames.ts';
import { ChatToResponsesStream, chatToResponse, responsesToChatRequest } from './responses.ts';
import type { FrameTranslator, StreamTranslator } from './sse-frames.ts';
import type { TranslatedRequest } from './types.ts';
import { anthropicErrorToOpenAi, geminiErrorToOpenAi, openAiErrorToAnthropic } from './upstream-errors.ts';
import type { TranslatedError } from './upstream-errors.ts';

export { TranslationError, UNTRANSLATABLE, INVALID_REQUEST } from './errors.ts';
export { translateSseBytes } from './sse-frames.ts';
export type { StreamTranslator } from './sse-frames.ts';
export type { TranslatedRequest } from './types.ts';
export type { TranslatedError } from './upstream-errors.ts';
export { DEFAULT_ANTHROPIC_MAX_TOKENS } from './openai-to-anthropic-request.ts';

/** The API a caller speaks: Chat Completions (`POST /v1/chat/completions`) or Messages (`POST /v1/messages`). */
export type CallerApi = 'openai' | 'anthropic';
/** The API of the upstream serving the model (Azure and OpenAI-compatible servers speak `openai`). */
export type UpstreamApi = 'openai' | 'anthropic' | 'gemini';

export type TranslateOptions = AnthropicRequestOptions;

/** One call's translation: the upstream request, and how each kind of upstream answer reaches the caller. */
export interface CallTranslation {
  readonly request: TranslatedRequest;
  /** A whole 2xx upstream body (parsed JSON) → the caller's body. Throws TranslationError (502) on a malformed one. */
  response(body: unknown): JsonObject;
  /** A fresh translator for this call's SSE answer (one per stream: it holds the stream's state). */
  stream(): StreamTranslator;
  /** The same, frame by frame, for a translation that continues from this one's output (the Responses API's). */
  frames(): FrameTranslator;
  /** An upstream error (its status, and its JSON, or its text when not JSON) → the caller's shape, status kept. */
  error(status: number, body: unknown): TranslatedError;
}

type ErrorTranslator = (status: number, body: unknown) => TranslatedError;

/** A request translation and the answer translators that share its context. */
function call<C>(translated: { request: TranslatedRequest; context: C }, response: (body: unknown, ctx: C) => JsonObject, stream: (ctx: C) => FrameTranslator, error: ErrorTranslator): CallTranslation {
  const { request, context } = translated;
  return { request, response: (body) => response(body, context), stream: () => toStreamTranslator(stream(context)), frames: () => stream(context), error };
}

/**
 * OpenAI's Responses API served by Anthropic or Gemini: through Chat Completions, both ways (responses.ts). Throws
 * TranslationError (400) naming what cannot be carried.
 */
export function translateResponses(upstream: Exclude<UpstreamApi, 'openai'>, body: unknown, opts: TranslateOptions = {}): CallTranslation {
  const served = upstream === 'anthropic' ? 'Anthropic' : 'Gemini';
  const { chat, approximated, context } = responsesToChatRequest(body, served, opts.now);
  const inner = translateCall('openai', upstream, chat, opts)!;
  const frames = () => chainFrames(inner.frames(), new ChatToResponsesStream(context));
  return {
    request: { ...inner.request, approximated: [...approximated, ...inner.request.approximated] },
    response: (answer) => chatToResponse(inner.response(answer), context),
    stream: () => toStreamTranslator(frames()),
    frames,
    error: inner.error,
  };
}

/** OpenAI's embeddings API served by Gemini (the only other provider with one). */
export function translateEmbeddings(body: unknown, opts: { model?: string } = {}): CallTranslation {
  return call(openAiToGeminiEmbeddingsRequest(body, opts), geminiToOpenAiEmbeddings, () => {
    throw new Error('embeddings are never streamed');
  }, geminiErrorToOpenAi);
}

/**
 * The translation of one call, or undefined when caller and upstream speak the same API (then the call passes
 * through untouched, as today). Throws TranslationError (status 400) when the request cannot be translated.
 */
export function translateCall(caller: CallerApi, upstream: UpstreamApi, body: unknown, opts: TranslateOptions = {}): CallTranslation | undefined {
  if (caller === 'openai' && upstream === 'anthropic') {
    return call(openAiToAnthropicRequest(body, opts), anthropicToOpenAiResponse, (c) => new AnthropicToOpenAiStream(c), anthropicErrorToOpenAi);
  }
  if (caller === 'openai' && upstream === 'gemini') {
    return call(openAiToGeminiRequest(body, opts), geminiToOpenAiResponse, (c) => new GeminiToOpenAiStream(c), geminiErrorToOpenAi);
  }
  if (caller === 'anthropic' && upstream === 'openai') {
    return call(anthropicToOpenAiRequest(body, opts), openAiToAnthropicResponse, (c) => new OpenAiToAnthropicStream(c), openAiErrorToAnthropic);
  }
  if (caller === 'anthropic' && upstream === 'gemini') {
    return call(anthropicToGeminiRequest(body, opts), geminiToAnthropicResponse, geminiToAnthropicStream, geminiErrorToAnthropic);
  }
  return undefined;
}

/** A refused translation in the caller's error shape (OpenAI's carries the field in `param`, as OpenAI's own 400s do). */
export function translationErrorBody(err: TranslationError, caller: CallerApi): { status: number; body: unknown } {
  return { status: err.status, body: (caller === 'anthropic' ? anthropicAdapter : openaiAdapter).renderError(err.toRender()) };
}
