// Anthropic Messages ↔ Gemini, through the OpenAI form: a Messages request is translated to Chat Completions (its
// fields checked against Gemini's column of the table, so refusals name the caller's own fields), then to
// generateContent; Gemini's answers come back the same way in reverse. Streams chain the two frame translators,
// so frames pass between them as objects and are serialised once.
import type { JsonObject } from '../shared.ts';
import { anthropicToChat, throughChatForm } from './anthropic-to-openai-request.ts';
import { GeminiToOpenAiStream } from './gemini-to-openai-stream.ts';
import { geminiErrorToOpenAi } from './upstream-errors.ts';
import type { TranslatedError } from './upstream-errors.ts';
import { geminiToOpenAiResponse } from './gemini-to-openai-response.ts';
import { openAiToAnthropicResponse } from './openai-to-anthropic-response.ts';
import { OpenAiToAnthropicStream } from './openai-to-anthropic-stream.ts';
import { openAiToGeminiRequest } from './openai-to-gemini-request.ts';
import { openAiErrorToAnthropic } from './upstream-errors.ts';
import { chainFrames } from './sse-frames.ts';
import type { FrameTranslator } from './sse-frames.ts';
import type { AnthropicAnswerContext, OpenAiAnswerContext, RequestOptions, TranslatedRequest } from './types.ts';

/** Both halves' contexts: Gemini → OpenAI needs the first, OpenAI → Anthropic the second. */
export interface GeminiToAnthropicContext {
  openai: OpenAiAnswerContext;
  anthropic: AnthropicAnswerContext;
}

export function anthropicToGeminiRequest(body: unknown, opts: RequestOptions = {}): { request: TranslatedRequest; context: GeminiToAnthropicContext } {
  const notes: string[] = [];
  const chat = anthropicToChat(body, 'Gemini', notes);
  let translated;
  try {
    translated = openAiToGeminiRequest(chat, opts);
  } catch (err) {
    throw throughChatForm(err);
  }
  const { request, context } = translated;
  return {
    request: { ...request, approximated: [...notes, ...request.approximated] },
    context: { openai: context, anthropic: { model: context.model } },
  };
}

export function geminiToAnthropicResponse(body: unknown, ctx: GeminiToAnthropicContext): JsonObject {
  return openAiToAnthropicResponse(geminiToOpenAiResponse(body, ctx.openai), ctx.anthropic);
}

export function geminiToAnthropicStream(ctx: GeminiToAnthropicContext): FrameTranslator {
  return chainFrames(new GeminiToOpenAiStream(ctx.openai), new OpenAiToAnthropicStream(ctx.anthropic));
}

export function geminiErrorToAnthropic(status: number, body: unknown): TranslatedError {
  const openai = geminiErrorToOpenAi(status, body);
  return { ...openAiErrorToAnthropic(status, openai.body), headers: openai.headers };
}

