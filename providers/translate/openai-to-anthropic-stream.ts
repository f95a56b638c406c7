// OpenAI chat.completion.chunk stream → Anthropic Messages stream, for a `POST /v1/messages` caller, chunk by chunk:
//   first chunk                 → message_start (usage zero: OpenAI reports usage only at the end, so the counts
//                                 arrive in message_delta, which the Anthropic SDK reads them from)
//   content / refusal delta     → a text block (content_block_start once, then text_delta)
//   tool_calls delta with an id → the open block stops, a tool_use block starts (id, name); arguments pieces → input_json_delta
//   reasoning_content delta     → a thinking block (OpenAI-compatible servers that stream reasoning)
//   finish_reason               → the open block stops; the stop reason is kept for message_delta
//   usage chunk                 → message_delta (stop_reason and usage)
//   [DONE] (after the finish)   → message_delta if still owed, then message_stop
//   error frame                 → an Anthropic `error` event, and the stream ends there
// Blocks are strictly sequential in Anthropic's stream; OpenAI sends parallel tool calls one after another, and a
// delta returning to an earlier call (which no OpenAI model sends) ends the stream with an error event.
import { openAiUsage } from '../openai.ts';
import { asArray, asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import type { SseFrame, Usage } from '../types.ts';
import { ZERO_USAGE } from '../types.ts';
import { stopReasonFromOpenAi } from './finish-reasons.ts';
import type { FrameTranslator } from './sse-frames.ts';
import type { AnthropicAnswerContext } from './types.ts';
import { openAiStreamErrorToAnthropic } from './upstream-errors.ts';
import { anthropicUsageBody } from './usage.ts';

type Open = { kind: 'text' | 'thinking'; index: number } | { kind: 'tool'; index: number; call: number };

const event = (type: string, body: JsonObject): SseFrame => ({ event: type, json: { type, ...body } });

export class OpenAiToAnthropicStream implements FrameTranslator {
  private id = '';
  private model: string;
  private started = false;
  private open: Open | null = null;
  private blocks = 0;
  private readonly toolCalls = new Set<number>();
  private stopReason = '';
  private usage: Usage | null = null;
  private deltaSent = false;
  private over = false;

  constructor(ctx: AnthropicAnswerContext) {
    this.model = ctx.model;
  }

  push(frame: SseFrame): SseFrame[] {
    if (this.over) return [];
    const j = asObject(frame.json);
    // A frame without JSON is `[DONE]`, or the torn last frame of a cut stream (the framer flushes it at the end,
    // unparsed): only after the finish can it be taken for the end, so a cut stream is never closed as complete.
    if (!j) return this.stopReason === '' ? [] : this.stop();
    if (asObject(j.error)) {
      this.over = true;
      return [event('error', openAiStreamErrorToAnthropic(j))];
    }
    this.id ||= asString(j.id);
    this.model = asString(j.model) || this.model;
    this.usage = openAiUsage(j.usage) ?? this.usage;
    const out: SseFrame[] = [];
    const choice = asObject(asArray(j.choices)[0]);
    const delta = asObject(choice?.delta);
    if (delta) this.delta(delta, out);
    const finish = asString(choice?.finish_reason);
    if (finish !== '') {
      this.start(out);
      this.closeOpen(out);
      this.stopReason = stopReasonFromOpenAi(finish);
    }
    // The usage chunk comes after the finish chunk (stream_options.include_usage, which the translated request sets).
    if (this.usage && this.stopReason !== '' && !this.deltaSent) out.push(this.messageDelta());
    return out;
  }

  end(): SseFrame[] {
    // A stream cut before its finish stays cut; one that finished but never sent [DONE] is closed.
    return this.over || this.stopReason === '' ? [] : this.stop();
  }

  private delta(delta: JsonObject, out: SseFrame[]): void {
    const reasoning = asString(delta.reasoning_content);
    if (reasoning !== '') this.text('thinking', { type: 'thinking_delta', thinking: reasoning }, out);
    const text = asString(delta.content) || asString(delta.refusal);
    if (text !== '') this.text('text', { type: 'text_delta', text }, out);
    asArray(delta.tool_calls).forEach((raw, position) => {
      const call = asObject(raw);
      if (call) this.toolDelta(call, typeof call.index === 'number' ? call.index : position, out);
    });
  }

  private text(kind: 'text' | 'thinking', delta: JsonObject, out: SseFrame[]): void {
    this.start(out);
    if (this.open?.kind !== kind) {
      this.closeOpen(out);
      this.open = { kind, index: this.blocks++ };
      const block = kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
      out.push(event('content_block_start', { index: this.open.index, content_block: block }));
    }
    out.push(event('content_block_delta', { index: this.open.index, delta }));
  }

  private toolDelta(call: JsonObject, index: number, out: SseFrame[]): void {
    this.start(out);
    const fn = asObject(call.function);
    if (!this.toolCalls.has(index)) {
      this.toolCalls.add(index);
      this.closeOpen(out);
      this.open = { kind: 'tool', index: this.blocks++, call: index };
      out.push(event('content_block_start', { index: this.open.index, content_block: { type: 'tool_use', id: asString(call.id), name: asString(fn?.name), input: {} } }));
    } else if (this.open?.kind !== 'tool' || this.open.call !== index) {
      this.over = true;
      out.push(event('error', { error: { type: 'api_error', message: `The upstream interleaved tool call ${index} with another one, which an Anthropic stream cannot carry.` } }));
      return;
    }
    const args = asString(fn?.arguments);
    if (args !== '') out.push(event('content_block_delta', { index: this.open.index, delta: { type: 'input_json_delta', partial_json: args } }));
  }

  private start(out: SseFrame[]): void {
    if (this.started) return;
    this.started = true;
    out.push(event('message_start', {
      message: { id: this.id, type: 'message', role: 'assistant', model: this.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
    }));
  }

  private closeOpen(out: SseFrame[]): void {
    if (!this.open) return;
    out.push(event('content_block_stop', { index: this.open.index }));
    this.open = null;
  }

  private messageDelta(): SseFrame {
    this.deltaSent = true;
    return event('message_delta', { delta: { stop_reason: this.stopReason || 'end_turn', stop_sequence: null }, usage: anthropicUsageBody(this.usage ?? ZERO_USAGE) });
  }

  private stop(): SseFrame[] {
    if (this.over) return [];
    this.over = true;
    const out: SseFrame[] = [];
    this.start(out);
    this.closeOpen(out);
    if (!this.deltaSent) out.push(this.messageDelta());
    out.push(event('message_stop', {}));
    return out;
  }
}
