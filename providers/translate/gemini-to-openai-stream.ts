// Gemini stream (`:streamGenerateContent?alt=sse`: each frame a whole GenerateContentResponse carrying the new parts)
// → OpenAI chat.completion.chunk stream, frame by frame:
//   text parts           → content deltas (thought parts → reasoning_content)
//   functionCall parts   → a tool_calls delta each, whole (Gemini does not stream arguments): index, id, name, arguments
//   finishReason         → that choice's finish chunk
//   usageMetadata        → kept (every frame repeats the running total); the usage chunk is sent at the end
//   error frame          → an OpenAI error frame, and the stream ends there
// Gemini has no last event: the upstream body ending is the end, so end() sends the usage chunk (when the caller
// asked for it) and [DONE], but only after a finish was seen; a stream cut before that stays cut.
import { geminiUsage } from '../gemini.ts';
import { asArray, asObject, asString } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import type { SseFrame, Usage } from '../types.ts';
import { finishFromGemini } from './finish-reasons.ts';
import { candidateIndex, readGeminiParts } from './gemini-to-openai-response.ts';
import { errorFrame, OpenAiChunks } from './openai-chunks.ts';
import type { FrameTranslator } from './sse-frames.ts';
import type { OpenAiAnswerContext } from './types.ts';
import { geminiErrorObject } from './upstream-errors.ts';

export class GeminiToOpenAiStream implements FrameTranslator {
  private readonly chunks: OpenAiChunks;
  private usage: Usage | null = null;
  /** Tool calls sent so far per choice (their stream index). */
  private readonly calls = new Map<number, number>();
  private finished = false;
  private over = false;

  constructor(ctx: OpenAiAnswerContext) {
    this.chunks = new OpenAiChunks(ctx);
  }

  push(frame: SseFrame): SseFrame[] {
    const j = asObject(frame.json);
    if (this.over || !j) return [];
    if (asObject(j.error)) {
      this.over = true;
      return [errorFrame(geminiErrorObject(j, 500))];
    }
    const responseId = asString(j.responseId);
    if (this.chunks.id === '') this.chunks.id = responseId;
    this.chunks.model = asString(j.modelVersion) || this.chunks.model;
    this.usage = geminiUsage(j.usageMetadata) ?? this.usage;
    const out: SseFrame[] = [];
    const candidates = asArray(j.candidates);
    candidates.forEach((raw, position) => {
      const candidate = asObject(raw);
      if (candidate) this.candidate(candidate, candidateIndex(candidate, position), responseId, out);
    });
    if (candidates.length === 0 && asString(asObject(j.promptFeedback)?.blockReason) !== '') {
      this.finished = true;
      out.push(this.chunks.finish(0, 'content_filter'));
    }
    return out;
  }

  private candidate(candidate: JsonObject, index: number, responseId: string, out: SseFrame[]): void {
    const first = this.calls.get(index) ?? 0;
    const read = readGeminiParts(asObject(candidate.content)?.parts, responseId, index, first);
    const calls = first + read.toolCalls.length;
    this.calls.set(index, calls);
    const delta: JsonObject = {};
    if (read.reasoning !== '') delta.reasoning_content = read.reasoning;
    if (read.text !== '') delta.content = read.text;
    if (read.toolCalls.length > 0) delta.tool_calls = read.toolCalls.map((call, i) => ({ index: first + i, ...call }));
    if (Object.keys(delta).length > 0) out.push(this.chunks.delta(index, delta));
    const reason = asString(candidate.finishReason);
    if (reason === '') return;
    this.finished = true;
    out.push(this.chunks.finish(index, finishFromGemini(reason, calls > 0)));
  }

  end(): SseFrame[] {
    if (this.over || !this.finished) return [];
    this.over = true;
    return this.chunks.close(this.usage);
  }
}
