// OpenAI chat.completion.chunk frames as OpenAI itself sends them, for the translators that answer an OpenAI caller
// from another provider's stream: a first delta with the role, content / tool_calls deltas, a finish chunk with an
// empty delta, the usage chunk (`choices: []`) only when the caller asked for it, and `data: [DONE]`. When the
// caller asked for usage, every other chunk carries `usage: null`, as OpenAI's do.
import type { JsonObject } from '../shared.ts';
import type { SseFrame, Usage } from '../types.ts';
import { DONE } from './sse-frames.ts';
import type { OpenAiAnswerContext } from './types.ts';
import { openAiUsageBody } from './usage.ts';

export class OpenAiChunks {
  /** Upstream message / response id, once known. */
  id = '';
  model: string;
  private readonly roleSent = new Set<number>();

  constructor(private readonly ctx: OpenAiAnswerContext) {
    this.model = ctx.model;
  }

  private frame(choices: JsonObject[], usage?: JsonObject): SseFrame {
    const json: JsonObject = { id: this.id, object: 'chat.completion.chunk', created: this.ctx.created, model: this.model, choices };
    if (usage) json.usage = usage;
    else if (this.ctx.includeUsage) json.usage = null;
    return { event: '', json };
  }

  /** A content / tool_calls / reasoning delta for one choice; the choice's first delta also says `role`. */
  delta(index: number, delta: JsonObject): SseFrame {
    if (!this.roleSent.has(index)) {
      this.roleSent.add(index);
      delta = { role: 'assistant', ...delta };
    }
    return this.frame([{ index, delta, logprobs: null, finish_reason: null }]);
  }

  /** The role-only first chunk OpenAI starts a stream with (`content: ''`). */
  start(index: number): SseFrame {
    return this.delta(index, { content: '' });
  }

  finish(index: number, reason: string): SseFrame {
    const delta: JsonObject = this.roleSent.has(index) ? {} : { role: 'assistant' };
    this.roleSent.add(index);
    return this.frame([{ index, delta, logprobs: null, finish_reason: reason }]);
  }

  /** The frames that close a completed stream: the usage chunk when asked for (and known), then [DONE]. */
  close(usage: Usage | null): SseFrame[] {
    if (!this.ctx.includeUsage || !usage) return [DONE];
    return [this.frame([], openAiUsageBody(usage)), DONE];
  }
}

/** An OpenAI error frame, as OpenAI sends one mid-stream: `data: {"error":{…}}`, and nothing after it. */
export function errorFrame(body: JsonObject): SseFrame {
  return { event: '', json: body };
}
