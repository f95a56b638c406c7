// OpenAI chat.completion → Anthropic Messages response, for a `POST /v1/messages` caller whose model is served by
// OpenAI (or Gemini, through the OpenAI form). Only the first choice is read: a Messages request cannot ask for more.
//
// - content (and a refusal) → a text block; tool_calls → tool_use blocks, their arguments parsed into `input`;
//   `reasoning_content` (from OpenAI-compatible servers that return it) → a thinking block without a signature.
// - finish_reason → stop_reason (finish-reasons.ts); a refusal is stop_reason `refusal`.
// - usage: input_tokens is the prompt minus its cached part, which is cache_read_input_tokens (usage.ts).
import { openAiUsage } from '../openai.ts';
import { asArray, asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import { at, untranslatableResponse } from './errors.ts';
import { stopReasonFromOpenAi } from './finish-reasons.ts';
import { argumentsObject } from './openai-request.ts';
import type { AnthropicAnswerContext } from './types.ts';
import { anthropicUsageBody } from './usage.ts';
import { ZERO_USAGE } from '../types.ts';

/** Tool-call arguments (a JSON string) as the object Anthropic's tool_use.input is. */
function toolInput(args: string, path: string): JsonObject {
  const input = argumentsObject(args);
  if (!input) throw untranslatableResponse(path, 'is not a JSON object, and Anthropic tool_use input must be one');
  return input;
}

function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of asArray(content)) text += asString(asObject(part)?.text);
  return text;
}

export function openAiToAnthropicResponse(body: unknown, ctx: AnthropicAnswerContext): JsonObject {
  const b = asObject(body);
  const choice = asObject(asArray(b?.choices)[0]);
  const message = asObject(choice?.message);
  if (!b || !message) throw untranslatableResponse('choices[0].message', 'is missing');
  const content: JsonObject[] = [];
  const reasoning = asString(message.reasoning_content);
  if (reasoning !== '') content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  const refusal = asString(message.refusal);
  const text = messageText(message.content) || refusal;
  if (text !== '') content.push({ type: 'text', text });
  asArray(message.tool_calls).forEach((raw, j) => {
    const call = asObject(raw);
    const fn = asObject(call?.function);
    const path = at(at('choices[0].message.tool_calls', j), 'function.arguments');
    content.push({ type: 'tool_use', id: asString(call?.id), name: asString(fn?.name), input: toolInput(asString(fn?.arguments), path) });
  });
  return {
    id: asString(b.id),
    type: 'message',
    role: 'assistant',
    model: asString(b.model) || ctx.model,
    content,
    stop_reason: refusal !== '' ? 'refusal' : stopReasonFromOpenAi(asString(choice?.finish_reason)),
    stop_sequence: null,
    usage: anthropicUsageBody(openAiUsage(b.usage) ?? ZERO_USAGE),
  };
}
