// Stream translation runs frame by frame: the upstream's bytes go through createSseParser, each parsed frame through
// a FrameTranslator, and what comes out is written to the client at once. Nothing waits for the end of the stream,
// and the only per-stream memory is the translator's small state (indexes, ids, the last usage seen).
//
// Translators produce frames, not bytes, so two can be chained (Anthropic → OpenAI → Gemini's reverse goes through
// the OpenAI form) without serialising and re-parsing in between; bytes are made once, at the edge.
import { createSseParser } from '../sse.ts';
import type { SseParser } from '../sse.ts';
import type { SseFrame } from '../types.ts';

/** The frame OpenAI ends a stream with: `data: [DONE]` (json undefined, as createSseParser reports it). */
export const DONE: SseFrame = Object.freeze({ event: '', json: undefined });

export interface FrameTranslator {
  /** One upstream frame in, the frames to send now out (often none, e.g. for `ping`). */
  push(frame: SseFrame): SseFrame[];
  /** The upstream body ended; frames still owed (Gemini streams have no last event, so its finish comes here). */
  end(): SseFrame[];
}

/** One frame as SSE bytes: `event:` when named, then `data:` with the JSON, or `[DONE]` when json is undefined. */
export function serializeFrame(frame: SseFrame): string {
  const data = frame.json === undefined ? '[DONE]' : JSON.stringify(frame.json);
  return frame.event === '' ? `data: ${data}\n\n` : `event: ${frame.event}\ndata: ${data}\n\n`;
}

export function serializeFrames(frames: readonly SseFrame[]): string {
  let out = '';
  for (const frame of frames) out += serializeFrame(frame);
  return out;
}

/** A FrameTranslator with byte output: what the request path writes to the client. */
export interface StreamTranslator {
  /** Feed one parsed upstream frame; returns the SSE text to send now ('' when nothing is due). */
  push(frame: SseFrame): string;
  /** The upstream body ended; returns the SSE text still owed ('' when none). */
  end(): string;
}

export function toStreamTranslator(inner: FrameTranslator): StreamTranslator {
  return {
    push: (frame) => serializeFrames(inner.push(frame)),
    end: () => serializeFrames(inner.end()),
  };
}

/** `first`'s output frames are `second`'s input, one at a time and in order. */
export function chainFrames(first: FrameTranslator, second: FrameTranslator): FrameTranslator {
  const through = (frames: readonly SseFrame[]): SseFrame[] => {
    const out: SseFrame[] = [];
    for (const frame of frames) out.push(...second.push(frame));
    return out;
  };
  return {
    push: (frame) => through(first.push(frame)),
    end: () => {
      const out = through(first.end());
      out.push(...second.end());
      return out;
    },
  };
}

/**
 * Upstream bytes in, client bytes out through `write`: the framer and a translator joined, for the request path.
 * `write` is called only with non-empty text, as soon as a frame is complete.
 */
export function translateSseBytes(translator: StreamTranslator, write: (text: string) => void): SseParser {
  const parser = createSseParser((frame) => {
    const text = translator.push(frame);
    if (text !== '') write(text);
  });
  return {
    // A line past the framer's cap stops framing (see sse.ts); the request path must then end the call as cut,
    // since a translated stream cannot pass the rest through untouched.
    get unframed() {
      return parser.unframed;
    },
    push: (chunk) => parser.push(chunk),
    end: () => {
      parser.end();
      const text = translator.end();
      if (text !== '') write(text);
    },
  };
}
