// Google Gemini API: `/gemini/v1beta/models/{model}:generateContent` (and :streamGenerateContent,
// SSE with `?alt=sse`, otherwise one JSON array of responses) → generativelanguage.googleapis.com.
// The model is in the path; `?key=` in the query is forwarded untouched.
//
// Usage (usageMetadata): `promptTokenCount` INCLUDES `cachedContentTokenCount`; tool-use prompt
// tokens (`toolUsePromptTokenCount`) are billed as input but reported apart, so we add them.
// `candidatesTokenCount` EXCLUDES `thoughtsTokenCount`; we add them so completion_tokens includes
// reasoning, as it does for OpenAI. The `*TokensDetails` lists split counts by modality: AUDIO input (cached
// too) and IMAGE output have their own rates.
//
// Streams repeat usageMetadata, cumulative, on many chunks; the count is final on the chunk that carries a
// finishReason (or a blockReason). A stream cut before it reports its usage as not final: the prompt count
// stands, the completion so far is estimated from the text that arrived.
import type { Endpoint } from '../contracts/event.ts';
import { geminiRoute } from './gateway-routes.ts';
import { asArray, asCount, asObject, asString, emptyExtracted, joinTarget, makeUsage, pathOf, TextSlots, withDetail } from './shared.ts';
import type { ErrorRender, Extracted, ProviderAdapter, SseFrame, StreamAccumulator, Usage } from './types.ts';

export function geminiUsage(value: unknown): Usage | null {
  const m = asObject(value);
  if (!m) return null;
  const thoughts = asCount(m.thoughtsTokenCount);
  const base = makeUsage(
    asCount(m.promptTokenCount) + asCount(m.toolUsePromptTokenCount),
    asCount(m.candidatesTokenCount) + thoughts,
    asCount(m.cachedContentTokenCount),
    0,
    thoughts,
  );
  return withDetail(base, {
    input_audio_tokens: modalityCount(m.promptTokensDetails, 'AUDIO'),
    cache_audio_read_tokens: modalityCount(m.cacheTokensDetails, 'AUDIO'),
    output_image_tokens: modalityCount(m.candidatesTokensDetails, 'IMAGE'),
    output_audio_tokens: modalityCount(m.candidatesTokensDetails, 'AUDIO'),
  });
}

/** The tokenCount of one modality in a `[{modality, tokenCount}]` list. */
function modalityCount(details: unknown, modality: string): number {
  let n = 0;
  for (const raw of asArray(details)) {
    const d = asObject(raw);
    if (d?.modality === modality) n += asCount(d.tokenCount);
  }
  return n;
}

/** `models/gemini-2.5-flash:generateContent` → `gemini-2.5-flash` (also tunedModels/…). */
function modelFromPath(rest: string): string {
  const path = pathOf(rest);
  for (const marker of ['/models/', '/tunedModels/']) {
    const at = path.indexOf(marker);
    if (at < 0) continue;
    const start = at + marker.length;
    let end = path.length;
    for (const stop of [':', '/']) {
      const i = path.indexOf(stop, start);
      if (i >= 0 && i < end) end = i;
    }
    const raw = path.slice(start, end);
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return '';
}

function methodOf(rest: string): string {
  const path = pathOf(rest);
  const colon = path.lastIndexOf(':');
  return colon < 0 ? '' : path.slice(colon + 1);
}

/**
 * Each SSE frame is a whole GenerateContentResponse, and so is each element of the non-SSE array
 * and a plain generateContent body: one accumulator serves all three.
 */
class GeminiStream implements StreamAccumulator {
  private usage: Usage | null = null;
  /** A chunk with a finishReason (or blockReason) came: the usage seen from then on is the call's total. */
  private finished = false;
  private usageFinal = false;
  private model = '';
  private id = '';
  private finish = '';
  private errorType = '';
  private calls = 0;
  private readonly slots = new TextSlots();

  onFrame(frame: SseFrame): boolean {
    const j = asObject(frame.json);
    if (!j) return false;
    const error = asObject(j.error);
    if (error) {
      this.errorType = asString(error.status) || (typeof error.code === 'number' ? String(error.code) : 'error');
      return false;
    }
    this.model = asString(j.modelVersion) || this.model;
    this.id = asString(j.responseId) || this.id;
    // Usage is cumulative and repeated on many frames: the last one seen is the total so far.
    const usage = geminiUsage(j.usageMetadata);
    this.usage = usage ?? this.usage;
    let output = false;
    asArray(j.candidates).forEach((raw, position) => {
      const candidate = asObject(raw);
      if (!candidate) return;
      const idx = typeof candidate.index === 'number' ? candidate.index : position;
      this.finish = asString(candidate.finishReason) || this.finish;
      for (const rawPart of asArray(asObject(candidate.content)?.parts)) {
        const part = asObject(rawPart);
        if (!part) continue;
        const text = asString(part.text);
        if (part.thought === true) {
          output ||= text !== ''; // thought summaries: output for TTFT, not answer text
          continue;
        }
        const call = asObject(part.functionCall);
        if (call) {
          this.slots.append(`f${idx}:${this.calls++}`, JSON.stringify(call.args ?? {}));
          output = true;
          continue;
        }
        this.slots.append(`c${idx}`, text);
        output ||= text !== '';
      }
    });
    const blocked = asString(asObject(j.promptFeedback)?.blockReason);
    if (blocked !== '' && this.finish === '') this.finish = blocked;
    if (this.finish !== '') this.finished = true;
    if (this.finished && usage !== null) this.usageFinal = true;
    return output;
  }

  result(): Extracted {
    return { usage: this.usage, usage_final: this.usageFinal, response_model: this.model, response_id: this.id || undefined, finish_reason: this.finish, error_type: this.errorType, text: this.slots.toString() };
  }
}

function fromGeminiBody(body: unknown): Extracted {
  const elements = Array.isArray(body) ? body : [body];
  if (elements.length === 0) return emptyExtracted();
  const acc = new GeminiStream();
  for (const json of elements) acc.onFrame({ event: '', json });
  return acc.result();
}

/** google.rpc.Code names by HTTP status, as Google's own APIs map them. */
function grpcStatus(status: number): string {
  switch (status) {
    case 400: return 'INVALID_ARGUMENT';
    case 401: return 'UNAUTHENTICATED';
    case 403: return 'PERMISSION_DENIED';
    case 404: return 'NOT_FOUND';
    case 409: return 'ABORTED';
    case 413: return 'INVALID_ARGUMENT';
    case 429: return 'RESOURCE_EXHAUSTED';
    case 499: return 'CANCELLED';
    case 501: return 'UNIMPLEMENTED';
    case 502:
    case 503: return 'UNAVAILABLE';
    case 504: return 'DEADLINE_EXCEEDED';
    default: return status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
  }
}

function renderGeminiError(err: ErrorRender): unknown {
  return {
    error: {
      code: err.status,
      message: err.message,
      status: grpcStatus(err.status),
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: err.code, domain: 'sightline' }],
    },
  };
}

export const geminiAdapter: ProviderAdapter = {
  id: 'gemini',
  prefix: 'gemini',
  defaultBaseUrl: 'https://generativelanguage.googleapis.com',
  target: (rest, query, baseUrl) => joinTarget(baseUrl, rest, query, modelFromPath(rest)),
  endpoint(rest: string): Endpoint {
    switch (methodOf(rest)) {
      case 'generateContent':
      case 'streamGenerateContent':
        return 'generate';
      case 'embedContent':
      case 'batchEmbedContents':
        return 'embeddings';
      default:
        return 'other';
    }
  },
  requestModel(body, target) {
    const model = asString(asObject(body)?.model);
    return (model.startsWith('models/') ? model.slice('models/'.length) : model) || target.modelFromPath;
  },
  isStreamRequest: (_body, rest) => methodOf(rest) === 'streamGenerateContent',
  fromBody: fromGeminiBody,
  newStream: () => new GeminiStream(),
  renderError: renderGeminiError,
  gateway: geminiRoute,
};
