// Gemini generateContent response → OpenAI chat.completion, for an OpenAI caller whose model is served by Gemini.
//
// - each candidate is a choice (candidateCount = n); text parts join into content, thought parts (thought
//   summaries) into `reasoning_content`, functionCall parts become tool_calls with their arguments serialised.
// - Gemini gives function calls no id unless the model does: a missing one is made from the response id, the choice
//   and the call's position, the same way for streams, so a stream and its whole answer agree.
// - a thought signature on a functionCall part is handed out in `extra_content.google.thought_signature`
//   (openai-to-gemini-request.ts restores it).
// - a prompt blocked before any candidate (promptFeedback.blockReason) is one empty choice, finish_reason
//   content_filter.
import { geminiUsage } from '../gemini.ts';
import { asArray, asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import { untranslatableResponse } from './errors.ts';
import { finishFromGemini } from './finish-reasons.ts';
import type { OpenAiAnswerContext } from './types.ts';
import { openAiUsageBody } from './usage.ts';

export interface GeminiParts {
  text: string;
  reasoning: string;
  /** OpenAI tool calls (without the stream's `index`). */
  toolCalls: JsonObject[];
}

export function geminiCallId(responseId: string, choice: number, call: number): string {
  return `call_${responseId || 'gemini'}_${choice}_${call}`;
}

/** A candidate's parts in OpenAI's terms; `firstCall` numbers the calls when a stream already had some. */
export function readGeminiParts(parts: unknown, responseId: string, choice: number, firstCall: number): GeminiParts {
  const out: GeminiParts = { text: '', reasoning: '', toolCalls: [] };
  for (const raw of asArray(parts)) {
    const part = asObject(raw);
    if (!part) continue;
    const call = asObject(part.functionCall);
    if (call) {
      const toolCall: JsonObject = {
        id: asString(call.id) || geminiCallId(responseId, choice, firstCall + out.toolCalls.length),
        type: 'function',
        function: { name: asString(call.name), arguments: JSON.stringify(call.args ?? {}) },
      };
      const signature = asString(part.thoughtSignature);
      if (signature !== '') toolCall.extra_content = { google: { thought_signature: signature } };
      out.toolCalls.push(toolCall);
    } else if (part.thought === true) {
      out.reasoning += asString(part.text);
    } else {
      // inlineData / executableCode parts answer features Sightline never requests on a translated call.
      out.text += asString(part.text);
    }
  }
  return out;
}

export function candidateIndex(candidate: JsonObject, position: number): number {
  return typeof candidate.index === 'number' ? candidate.index : position;
}

export function geminiToOpenAiResponse(body: unknown, ctx: OpenAiAnswerContext): JsonObject {
  const b = asObject(body);
  if (!b || (b.candidates === undefined && b.promptFeedback === undefined)) throw untranslatableResponse('body', 'is not a Gemini GenerateContentResponse');
  const responseId = asString(b.responseId);
  const choices: JsonObject[] = asArray(b.candidates).map((raw, position) => {
    const candidate = asObject(raw) ?? {};
    const index = candidateIndex(candidate, position);
    const read = readGeminiParts(asObject(candidate.content)?.parts, responseId, index, 0);
    const message: JsonObject = { role: 'assistant', content: read.text === '' && read.toolCalls.length > 0 ? null : read.text, refusal: null };
    if (read.toolCalls.length > 0) message.tool_calls = read.toolCalls;
    if (read.reasoning !== '') message.reasoning_content = read.reasoning;
    return { index, message, logprobs: null, finish_reason: finishFromGemini(asString(candidate.finishReason), read.toolCalls.length > 0) };
  });
  if (choices.length === 0) {
    const blocked = asString(asObject(b.promptFeedback)?.blockReason) !== '';
    choices.push({ index: 0, message: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: blocked ? 'content_filter' : 'stop' });
  }
  const out: JsonObject = {
    id: responseId,
    object: 'chat.completion',
    created: ctx.created,
    model: asString(b.modelVersion) || ctx.model,
    choices,
  };
  const usage = geminiUsage(b.usageMetadata);
  if (usage) out.usage = openAiUsageBody(usage);
  return out;
}
