// Bus messages for the ingest benches, as the proxy writes them: v2 exchanges (metadata line + raw bodies, the
// common case) built from the recorded OpenAI fixtures, and v1 assembled events (what the proxy still writes for
// Sightline-Omit-* or oversized calls). Both ~3 KiB, with PII in a quarter of the request bodies.
import { readFileSync } from 'node:fs';
import { encodeRequestEvent } from '../contracts/event.ts';
import type { Exchange } from '../contracts/exchange.ts';
import { encodeExchange } from '../contracts/exchange.ts';
import { makeEvent, makeExchange } from '../test/helpers/events.ts';

export type StreamKind = 'v1' | 'v2';

const fixture = (name: string): Buffer => readFileSync(new URL(`../test/fixtures/openai/${name}`, import.meta.url));
const CHAT_JSON = fixture('chat.json');
const CHAT_SSE = fixture('chat.sse');

const prose = 'The quick brown fox jumps over the lazy dog while the model explains tokenization. '.repeat(13).slice(0, 1000);
const withPii = 'Contact jane.doe@example.com or +44 20 7946 0958, card 4111 1111 1111 1111. ' + prose.slice(80);
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'o4-mini'];

/** One chunk per SSE frame, 20 ms apart after a 150 ms first byte: what the tee records for a paced stream. */
function sseChunkTimes(body: Buffer): number[] {
  const out: number[] = [];
  let offset = 0;
  for (let i = 0; offset < body.length; i++) {
    out.push(offset, 150 + 20 * i);
    const next = body.indexOf('\n\n', offset);
    offset = next === -1 ? body.length : next + 2;
  }
  return out;
}
const SSE_TIMES = sseChunkTimes(CHAT_SSE);

/** `text` repeated to `chars` characters (the bench's large-body runs). */
const sized = (text: string, chars: number): string => (chars <= text.length ? text.slice(0, chars) : text.repeat(Math.ceil(chars / text.length)).slice(0, chars));

/**
 * The i-th exchange: even ones non-streamed (chat.json), odd ones streamed (chat.sse, usage in the last frame);
 * the user message is `userChars` characters (600 makes ~3.4 KB messages).
 */
export function benchExchange(i: number, userChars = 600): Exchange {
  const stream = i % 2 === 1;
  const model = MODELS[i % MODELS.length]!;
  const request = Buffer.from(JSON.stringify({
    model,
    messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: sized(i % 4 === 0 ? withPii : prose, userChars) }],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  }));
  const response = stream
    ? { body: CHAT_SSE, contentType: 'text/event-stream; charset=utf-8', chunkTimes: SSE_TIMES }
    : { body: CHAT_JSON, contentType: 'application/json' };
  return makeExchange(response, {
    model,
    user_id: `user_${i % 100}`,
    session_id: `sess_${i % 1000}`,
    properties: { env: 'bench', 'feature.flag': 'on' },
    latency_ms: 412.5 + (i % 300),
    ttfb_ms: 150.25,
    request_body: request,
    request_bytes: request.length,
  });
}

/** The i-th v1 event: ~1 KB request and response bodies as JSON strings. */
export function makeV1(i: number): Buffer {
  const body = i % 4 === 0 ? withPii : prose;
  return Buffer.from(encodeRequestEvent(makeEvent({
    request_body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: body }] }),
    response_body: JSON.stringify({ choices: [{ message: { role: 'assistant', content: prose } }] }),
    model: MODELS[i % MODELS.length]!,
  })));
}

/** `n` encoded bus messages of one kind (v2: with a user message of userChars characters). */
export function busMessages(kind: StreamKind, n: number, userChars?: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => (kind === 'v1' ? makeV1(i) : encodeExchange(benchExchange(i, userChars))));
}
