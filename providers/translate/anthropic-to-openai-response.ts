// Anthropic Messages response → OpenAI chat.completion, for an OpenAI caller whose model is served by Anthropic.
//
// - text blocks join into message.content; tool_use blocks become tool_calls (input serialised as the arguments
//   string); the forced response_format tool (context.jsonTool) becomes the content itself, finish_reason `stop`.
// - thinking is not part of OpenAI's answer, so it is carried in the two fields OpenAI-compatible gateways use for
//   it (LiteLLM, DeepSeek): `reasoning_content` (the text) and `thinking_blocks` (the blocks with their signatures,
//   which Anthropic requires back on the next turn of a tool loop; sent back on an assistant message, they are
//   restored by openAiToAnthropicRequest).
// - usage: prompt_tokens counts cache reads and writes, cached_tokens the reads (see usage.ts).
import { asArray, asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import { untranslatableResponse } from './errors.ts';
import { finishFromAnthropic } from './finish-reasons.ts';
import type { OpenAiAnswerContext } from './types.ts';
import { anthropicAnswerUsage, openAiUsageBody } from './usage.ts';

/** What Anthropic content blocks say, in OpenAI's terms. */
export interface AnthropicContent {
  text: string;
  /** The forced JSON tool's input, serialised; undefined when it did not come. */
  json: string | undefined;
  reasoning: string;
  thinkingBlocks: JsonObject[];
  toolCalls: JsonObject[];
}

export function readAnthropicContent(content: unknown, jsonTool: string | null): AnthropicContent {
  const out: AnthropicContent = { text: '', json: undefined, reasoning: '', thinkingBlocks: [], toolCalls: [] };
  for (const raw of asArray(content)) {
    const block = asObject(raw);
    switch (block?.type) {
      case 'text':
        out.text += asString(block.text);
        break;
      case 'thinking':
        out.reasoning += asString(block.thinking);
        out.thinkingBlocks.push({ type: 'thinking', thinking: asString(block.thinking), signature: asString(block.signature) });
        break;
      case 'redacted_thinking':
        out.thinkingBlocks.push({ type: 'redacted_thinking', data: asString(block.data) });
        break;
      case 'tool_use': {
        const args = JSON.stringify(block.input ?? {});
        if (jsonTool !== null && block.name === jsonTool) out.json = args;
        else out.toolCalls.push({ id: asString(block.id), type: 'function', function: { name: asString(block.name), arguments: args } });
        break;
      }
      // Server-tool and citation blocks belong to features Sightline never requests on a translated call.
      default:
        break;
    }
  }
  return out;
}

export function anthropicToOpenAiResponse(body: unknown, ctx: OpenAiAnswerContext): JsonObject {
  const b = asObject(body);
  if (!b || b.type !== 'message') throw untranslatableResponse('body', 'is not an Anthropic message');
  const read = readAnthropicContent(b.content, ctx.jsonTool);
  // With the forced JSON tool the content must be the JSON alone, so the caller's JSON.parse (or SDK .parse) works.
  const content = read.json ?? read.text;
  const message: JsonObject = { role: 'assistant', content: content === '' && read.toolCalls.length > 0 ? null : content, refusal: null };
  if (read.toolCalls.length > 0) message.tool_calls = read.toolCalls;
  if (read.reasoning !== '') message.reasoning_content = read.reasoning;
  if (read.thinkingBlocks.length > 0) message.thinking_blocks = read.thinkingBlocks;
  const out: JsonObject = {
    id: asString(b.id),
    object: 'chat.completion',
    created: ctx.created,
    model: asString(b.model) || ctx.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishFromAnthropic(asString(b.stop_reason), read.json !== undefined) }],
  };
  const usage = anthropicAnswerUsage(b.usage);
  if (usage) out.usage = openAiUsageBody(usage);
  return out;
}
