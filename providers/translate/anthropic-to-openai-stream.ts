// Anthropic Messages stream → OpenAI chat.completion.chunk stream, event by event:
//   message_start            → the role chunk (id and model from the message)
//   content_block_start      → tool_use: the tool call's first delta (index, id, function name, arguments '')
//   content_block_delta      → text_delta: content; input_json_delta: tool_calls arguments piece (or content, for
//                              the forced response_format tool); thinking_delta: reasoning_content
//   content_block_stop       → a thinking block: thinking_blocks with every thinking block so far, signatures included
//   message_delta            → the finish chunk (stop_reason mapped)
//   message_stop             → the usage chunk when the caller asked for it, then [DONE]
//   error                    → an OpenAI error frame, and the stream ends there (as OpenAI's do)
//   ping                     → nothing
// A stream cut before message_stop stays cut: no finish or [DONE] is invented for it.
import { asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import type { SseFrame } from '../types.ts';
import { finishFromAnthropic } from './finish-reasons.ts';
import { errorFrame, OpenAiChunks } from './openai-chunks.ts';
import type { FrameTranslator } from './sse-frames.ts';
import type { OpenAiAnswerContext } from './types.ts';
import { anthropicErrorObject } from './upstream-errors.ts';
import { anthropicAnswerUsage } from './usage.ts';

/** What an Anthropic content block index became. */
type Block = { kind: 'text' } | { kind: 'tool'; call: number } | { kind: 'json' } | { kind: 'thinking'; thinking: string; signature: string } | { kind: 'other' };

const USAGE_COUNTS = ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'output_tokens'] as const;

export class AnthropicToOpenAiStream implements FrameTranslator {
  private readonly chunks: OpenAiChunks;
  private readonly blocks = new Map<number, Block>();
  /** Usage counts as last reported: message_start has them all, message_delta the cumulative ones it updates. */
  private readonly usage: JsonObject = {};
  private readonly thinkingBlocks: JsonObject[] = [];
  private calls = 0;
  private jsonDone = false;
  private over = false;

  constructor(private readonly ctx: OpenAiAnswerContext) {
    this.chunks = new OpenAiChunks(ctx);
  }

  push(frame: SseFrame): SseFrame[] {
    const j = asObject(frame.json);
    if (this.over || !j) return [];
    switch (j.type) {
      case 'message_start': {
        const message = asObject(j.message);
        this.chunks.id = asString(message?.id);
        this.chunks.model = asString(message?.model) || this.chunks.model;
        this.takeUsage(message?.usage);
        return [this.chunks.start(0)];
      }
      case 'content_block_start':
        return this.blockStart(typeof j.index === 'number' ? j.index : -1, asObject(j.content_block));
      case 'content_block_delta':
        return this.blockDelta(this.blocks.get(typeof j.index === 'number' ? j.index : -1), asObject(j.delta));
      case 'content_block_stop':
        return this.blockStop(this.blocks.get(typeof j.index === 'number' ? j.index : -1));
      case 'message_delta': {
        this.takeUsage(j.usage);
        const stop = asString(asObject(j.delta)?.stop_reason);
        return [this.chunks.finish(0, finishFromAnthropic(stop, this.jsonDone))];
      }
      case 'message_stop': {
        this.over = true;
        return this.chunks.close(anthropicAnswerUsage(this.usage));
      }
      case 'error':
        this.over = true;
        return [errorFrame(anthropicErrorObject(j, 500))];
      default:
        return [];
    }
  }

  end(): SseFrame[] {
    return [];
  }

  private blockStart(index: number, block: JsonObject | undefined): SseFrame[] {
    switch (block?.type) {
      case 'text': {
        this.blocks.set(index, { kind: 'text' });
        const text = asString(block.text);
        return text === '' || this.ctx.jsonTool !== null ? [] : [this.chunks.delta(0, { content: text })];
      }
      case 'tool_use': {
        if (this.ctx.jsonTool !== null && block.name === this.ctx.jsonTool) {
          this.blocks.set(index, { kind: 'json' });
          this.jsonDone = true;
          return [];
        }
        const call = this.calls++;
        this.blocks.set(index, { kind: 'tool', call });
        return [this.chunks.delta(0, { tool_calls: [{ index: call, id: asString(block.id), type: 'function', function: { name: asString(block.name), arguments: '' } }] })];
      }
      case 'thinking':
        this.blocks.set(index, { kind: 'thinking', thinking: '', signature: '' });
        return [];
      case 'redacted_thinking':
        this.thinkingBlocks.push({ type: 'redacted_thinking', data: asString(block.data) });
        this.blocks.set(index, { kind: 'other' });
        return [this.chunks.delta(0, { thinking_blocks: [...this.thinkingBlocks] })];
      default:
        this.blocks.set(index, { kind: 'other' });
        return [];
    }
  }

  private blockDelta(block: Block | undefined, delta: JsonObject | undefined): SseFrame[] {
    if (!block || !delta) return [];
    switch (delta.type) {
      case 'text_delta': {
        const text = asString(delta.text);
        // With the forced JSON tool the content is the JSON alone (as in the non-stream answer).
        return text === '' || this.ctx.jsonTool !== null ? [] : [this.chunks.delta(0, { content: text })];
      }
      case 'input_json_delta': {
        const piece = asString(delta.partial_json);
        if (piece === '') return [];
        if (block.kind === 'json') return [this.chunks.delta(0, { content: piece })];
        if (block.kind !== 'tool') return [];
        return [this.chunks.delta(0, { tool_calls: [{ index: block.call, function: { arguments: piece } }] })];
      }
      case 'thinking_delta': {
        const thinking = asString(delta.thinking);
        if (block.kind !== 'thinking' || thinking === '') return [];
        block.thinking += thinking;
        return [this.chunks.delta(0, { reasoning_content: thinking })];
      }
      case 'signature_delta':
        if (block.kind === 'thinking') block.signature += asString(delta.signature);
        return [];
      default:
        return [];
    }
  }

  /**
   * A finished thinking block is sent whole in `thinking_blocks`, every block so far each time: the OpenAI SDK keeps
   * the last value of a field it does not know, so the last one sent is the complete list.
   */
  private blockStop(block: Block | undefined): SseFrame[] {
    if (block?.kind !== 'thinking') return [];
    this.thinkingBlocks.push({ type: 'thinking', thinking: block.thinking, signature: block.signature });
    return [this.chunks.delta(0, { thinking_blocks: [...this.thinkingBlocks] })];
  }

  private takeUsage(value: unknown): void {
    const u = asObject(value);
    if (!u) return;
    for (const field of USAGE_COUNTS) if (typeof u[field] === 'number') this.usage[field] = u[field];
    if (asObject(u.output_tokens_details)) this.usage.output_tokens_details = u.output_tokens_details;
  }
}
