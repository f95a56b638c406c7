// Drives the translators the way the request path will: upstream bytes in arbitrary chunks through the framer and a
// stream translator, and, for SDK tests, a fetch that plays the gateway in-process (the SDK's request is translated,
// a recorded upstream answer is translated back and returned as a Response), so the official clients parse exactly
// the bytes a caller would receive.
import { parseSse } from '../../providers/sse.ts';
import { translateSseBytes } from '../../providers/translate/sse-frames.ts';
import type { StreamTranslator } from '../../providers/translate/sse-frames.ts';
import type { SseFrame } from '../../providers/types.ts';

/** The client-side text for `body` fed in chunks of `sizes` (cycled; default one chunk). */
export function translateStream(translator: StreamTranslator, body: Buffer, sizes: readonly number[] = [body.length]): string {
  let out = '';
  const pipe = translateSseBytes(translator, (text) => {
    out += text;
  });
  let at = 0;
  for (let i = 0; at < body.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1);
    pipe.push(body.subarray(at, at + size));
    at += size;
  }
  pipe.end();
  return out;
}

/** The same, with the body cut in two at `cut`. */
export function translateSplit(translator: StreamTranslator, body: Buffer, cut: number): string {
  return translateStream(translator, body, [Math.max(1, cut), body.length]);
}

/** The translated stream's frames, parsed back (json undefined for `[DONE]`). */
export function framesOf(sse: string): SseFrame[] {
  return parseSse(sse);
}

/** A seeded pseudo-random chunking (mulberry32), so property checks are reproducible. */
export function randomSizes(seed: number, count: number, max: number): number[] {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => 1 + Math.floor(next() * max));
}

export interface FakeUpstreamAnswer {
  status: number;
  /** SSE text or JSON text, as the client must receive it. */
  body: string;
  headers?: Record<string, string>;
}

/**
 * A `fetch` for an SDK client: hands the SDK's JSON request body to `answer` and returns what it says, streamed in
 * small pieces when it is SSE (so the SDK's own framing is exercised across chunk boundaries).
 */
export function gatewayFetch(answer: (requestBody: unknown, url: string) => FakeUpstreamAnswer): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const requestBody: unknown = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const { status, body, headers = {} } = answer(requestBody, url);
    const sse = body.startsWith('data:') || body.startsWith('event:');
    const bytes = Buffer.from(body, 'utf8');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += 37) controller.enqueue(new Uint8Array(bytes.subarray(at, at + 37)));
        controller.close();
      },
    });
    return new Response(stream, { status, headers: { 'content-type': sse ? 'text/event-stream' : 'application/json', ...headers } });
  };
}
