// Exchanges become rows the way ingest does it: through the bus encoding and decodeEvent, then assembly.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeExchange } from '../../contracts/exchange.ts';
import { decodeEvent } from '../../ingest/pipeline.ts';
import { loadFixture } from '../fixtures/index.ts';
import { makeExchange } from '../helpers/events.ts';
import type { Exchange } from '../../contracts/exchange.ts';

function row(ex: Exchange) {
  const decoded = decodeEvent(encodeExchange(ex), 1 << 26);
  if (!decoded.ok) throw new Error(`${decoded.letter.reason}: ${decoded.letter.detail}`);
  return decoded.event;
}

describe('assembling an exchange', () => {
  it('a JSON body: usage, model and the body as logged', () => {
    const fx = loadFixture('openai', 'chat.json');
    const r = row(makeExchange({ body: fx.body, contentType: 'application/json' }));
    expect(r).toMatchObject({ ...fx.expect.usage, response_model: fx.expect.response_model, finish_reason: fx.expect.finish_reason, tokens_estimated: false, cost_known: true });
    expect(r.response_body).toBe(fx.body.toString('utf8'));
    expect(r.cost_usd).toBeGreaterThan(0);
  });

  it('a stream: TTFT is the arrival time of the chunk holding the first content frame', () => {
    const fx = loadFixture('openai', 'chat.sse');
    const text = fx.body.toString('utf8');
    // Two chunks: the first frame alone (role only, no content), then everything else 42 ms later.
    const firstFrameEnd = text.indexOf('\n\n') + 2;
    const r = row(makeExchange({ body: fx.body, contentType: 'text/event-stream', chunkTimes: [0, 12, Buffer.byteLength(text.slice(0, firstFrameEnd)), 54] }));
    expect(r.ttft_ms).toBe(54);
    expect(r).toMatchObject({ ...fx.expect.usage, finish_reason: fx.expect.finish_reason });
    expect(r.response_body).toBe(fx.expect.text);
  });

  it('a compressed body is inflated before it is read', () => {
    const fx = loadFixture('anthropic', 'messages.json');
    const r = row(makeExchange({ body: gzipSync(fx.body), contentType: 'application/json', contentEncoding: 'gzip' }, { provider: 'anthropic', model: 'claude-sonnet-4-5' }));
    expect(r).toMatchObject({ ...fx.expect.usage });
    expect(r.response_body).toBe(fx.body.toString('utf8'));
  });

  it('a stream with a line past the framing cap keeps what came before and says it was not read to the end', () => {
    const head = 'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n';
    const body = Buffer.concat([Buffer.from(head), Buffer.alloc(17 * 1024 * 1024, 'z')]);
    const r = row(makeExchange({ body, contentType: 'text/event-stream', chunkTimes: [0, 5] }, { status: -2 }));
    expect(r.error_type).toBe('unframed_stream');
    expect(r.response_body).toBe('Hel');
    expect(r.tokens_estimated).toBe(true);
  });

  it('bodies whose lengths do not match the metadata are refused, not misread', () => {
    const raw = encodeExchange(makeExchange({ body: Buffer.from('{}'), contentType: 'application/json' }));
    const decoded = decodeEvent(raw.subarray(0, raw.length - 1), 1 << 20);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.letter.reason).toBe('invalid_event');
  });
});
