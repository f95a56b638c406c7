// Incremental Server-Sent Events framer (WHATWG "event stream interpretation"), run by the tee
// on a copy of the upstream bytes. It never touches what the client receives, so it must never
// throw: bad UTF-8 becomes U+FFFD, unparseable data becomes `json: undefined`.
//
// Cost model: every decoded character is scanned once. A line split across chunks is kept as a
// pending tail and only the new chunk is searched for terminators, so a 10 MB frame arriving in
// 1,000 chunks is not rescanned 1,000 times.
import { StringDecoder } from 'node:string_decoder';
import type { SseFrame } from './types.ts';

export interface SseParser {
  push(chunk: Buffer): void;
  /** Flushes a final line / frame that had no terminating blank line. Call once. */
  end(): void;
  /**
   * True once a line grew past the cap without ending: the rest of the stream is not framed (it reached the client
   * untouched all the same), so memory stays bounded by the cap whatever an upstream sends.
   */
  readonly unframed: boolean;
}

/** Longest line framed; a base64 image in one `data:` line is a few MiB, a runaway line without terminator is not. */
export const MAX_SSE_LINE_CHARS = 16 * 1024 * 1024;

const LF = 10;
const CR = 13;
const SPACE = 32;
const BOM = '\uFEFF';

export function createSseParser(onFrame: (frame: SseFrame) => void, maxLineChars = MAX_SSE_LINE_CHARS): SseParser {
  const decoder = new StringDecoder('utf8');
  let unframed = false;
  let tail = ''; // an unterminated line carried over from the previous chunk
  let swallowLf = false; // the previous chunk ended in CR: a leading LF belongs to that CRLF
  let atStart = true;
  let eventName = '';
  let data = '';
  let hasData = false;

  function dispatch(): void {
    if (hasData) onFrame({ event: eventName, json: parseJson(data) });
    eventName = '';
    data = '';
    hasData = false;
  }

  function line(text: string): void {
    if (text.length === 0) {
      dispatch();
      return;
    }
    const colon = text.indexOf(':');
    if (colon === 0) return; // comment (`: ping`)
    let field: string;
    let value: string;
    if (colon < 0) {
      field = text;
      value = '';
    } else {
      field = text.slice(0, colon);
      const start = text.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1;
      value = text.slice(start);
    }
    if (field === 'data') {
      data = hasData ? `${data}\n${value}` : value;
      hasData = true;
    } else if (field === 'event') {
      eventName = value;
    }
    // `id` and `retry` are valid fields that carry nothing we record; unknown fields are ignored per spec.
  }

  function feed(text: string): void {
    if (text.length === 0) return;
    if (atStart) {
      atStart = false;
      if (text.startsWith(BOM)) text = text.slice(1);
    }
    let pos = 0;
    if (swallowLf) {
      swallowLf = false;
      if (text.charCodeAt(0) === LF) pos = 1;
    }
    // Positions of the next LF / CR at or after `pos`; -1 = none left in this chunk (never rescanned).
    let nextLf = text.indexOf('\n', pos);
    let nextCr = text.indexOf('\r', pos);
    while (nextLf >= 0 || nextCr >= 0) {
      const end = nextCr < 0 ? nextLf : nextLf < 0 ? nextCr : Math.min(nextLf, nextCr);
      const piece = text.slice(pos, end);
      if (tail.length > 0) {
        line(tail + piece);
        tail = '';
      } else {
        line(piece);
      }
      pos = end + 1;
      if (text.charCodeAt(end) === CR) {
        if (end + 1 < text.length) {
          if (text.charCodeAt(end + 1) === LF) pos = end + 2;
        } else {
          swallowLf = true;
        }
      }
      if (nextLf >= 0 && nextLf < pos) nextLf = text.indexOf('\n', pos);
      if (nextCr >= 0 && nextCr < pos) nextCr = text.indexOf('\r', pos);
    }
    if (pos < text.length) tail = tail.length > 0 ? tail + text.slice(pos) : text.slice(pos);
    if (tail.length > maxLineChars) {
      unframed = true;
      tail = '';
    }
  }

  return {
    get unframed() {
      return unframed;
    },
    push(chunk: Buffer): void {
      if (!unframed) feed(decoder.write(chunk));
    },
    end(): void {
      if (unframed) return;
      feed(decoder.end());
      if (tail.length > 0) {
        line(tail);
        tail = '';
      }
      dispatch();
    },
  };
}

function parseJson(data: string): unknown {
  // `[DONE]` ends every OpenAI stream: skip the throw/catch for the one sentinel we know.
  if (data === '[DONE]') return undefined;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

/** Frames a whole body at once (tests, replayed fixtures). */
export function parseSse(body: Buffer | string): SseFrame[] {
  const frames: SseFrame[] = [];
  const parser = createSseParser((f) => frames.push(f));
  parser.push(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  parser.end();
  return frames;
}
