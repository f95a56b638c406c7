import { describe, expect, it } from 'vitest';
import { FIXTURE_PROVIDERS, listFixtures } from '../test/fixtures/index.ts';
import type { SseFrame } from './types.ts';
import { createSseParser, parseSse } from './sse.ts';

function frameChunks(chunks: readonly Buffer[]): SseFrame[] {
  const frames: SseFrame[] = [];
  const parser = createSseParser((f) => frames.push(f));
  for (const c of chunks) parser.push(c);
  parser.end();
  return frames;
}

const sseFixtures = FIXTURE_PROVIDERS.flatMap((p) => listFixtures(p)).filter((f) => f.sse);

describe('createSseParser on recorded fixtures', () => {
  it('has SSE fixtures to run on (LF and CRLF framed)', () => {
    expect(sseFixtures.length).toBeGreaterThanOrEqual(9);
    expect(sseFixtures.some((f) => f.body.includes('\r\n\r\n'))).toBe(true);
  });

  it.each(sseFixtures.map((f) => [`${f.provider}/${f.name}`, f] as const))('%s: identical frames when split at every byte offset', (_name, fixture) => {
    const whole = parseSse(fixture.body);
    expect(whole.length).toBeGreaterThan(2);
    expect(whole.filter((f) => f.json !== undefined).length).toBeGreaterThan(2);
    for (let cut = 0; cut <= fixture.body.length; cut++) {
      const split = frameChunks([fixture.body.subarray(0, cut), fixture.body.subarray(cut)]);
      expect(split, `cut at byte ${cut}`).toEqual(whole);
    }
  });

  it.each(sseFixtures.map((f) => [`${f.provider}/${f.name}`, f] as const))('%s: identical frames when fed one byte at a time', (_name, fixture) => {
    const bytes: Buffer[] = [];
    for (let i = 0; i < fixture.body.length; i++) bytes.push(fixture.body.subarray(i, i + 1));
    expect(frameChunks(bytes)).toEqual(parseSse(fixture.body));
  });

  it('keeps multi-byte characters whole when their bytes arrive in different chunks', () => {
    const body = Buffer.from('data: {"t":"héllo 世界 👋"}\n\n', 'utf8');
    const emoji = body.indexOf(Buffer.from('👋', 'utf8'));
    for (const cut of [emoji + 1, emoji + 2, emoji + 3]) {
      expect(frameChunks([body.subarray(0, cut), body.subarray(cut)])).toEqual([{ event: '', json: { t: 'héllo 世界 👋' } }]);
    }
  });

  it('re-framing a fixture with LF, CRLF or CR line endings yields the same frames', () => {
    for (const fixture of sseFixtures) {
      const lf = fixture.body.toString('utf8').replace(/\r\n/g, '\n');
      const expected = parseSse(lf);
      for (const eol of ['\r\n', '\r']) {
        const body = Buffer.from(lf.replace(/\n/g, eol), 'utf8');
        expect(parseSse(body)).toEqual(expected);
        // the CR of a CRLF pair as the last byte of a chunk must not produce an extra empty line
        const cut = body.indexOf('\r') + 1;
        expect(frameChunks([body.subarray(0, cut), body.subarray(cut)])).toEqual(expected);
      }
    }
  });
});

describe('createSseParser field handling', () => {
  it('names events, resets the name after each frame, and ignores id and retry', () => {
    const frames = parseSse('event: message_start\nid: 7\nretry: 3000\ndata: {"a":1}\n\ndata: {"b":2}\n\n');
    expect(frames).toEqual([
      { event: 'message_start', json: { a: 1 } },
      { event: '', json: { b: 2 } },
    ]);
  });

  it('joins multi-line data with \\n', () => {
    expect(parseSse('data: {"a":\ndata: [1,\ndata: 2]}\n\n')).toEqual([{ event: '', json: { a: [1, 2] } }]);
    expect(parseSse('data: line one\ndata: line two\n\n')).toEqual([{ event: '', json: undefined }]);
  });

  it('strips exactly one space after the colon, and accepts no space', () => {
    expect(parseSse('data:{"x":1}\n\n')).toEqual([{ event: '', json: { x: 1 } }]);
    expect(parseSse('data:  "two spaces"\n\n')).toEqual([{ event: '', json: 'two spaces' }]);
    expect(parseSse('event:ping\ndata:{}\n\n')).toEqual([{ event: 'ping', json: {} }]);
  });

  it('skips comments and frames without data', () => {
    expect(parseSse(': ping\n\n: keep-alive\nevent: lonely\n\ndata: {"ok":true}\n\n')).toEqual([{ event: '', json: { ok: true } }]);
  });

  it('gives json undefined for [DONE] and for garbage, without throwing', () => {
    expect(parseSse('data: [DONE]\n\ndata: {not json\n\ndata: \n\n')).toEqual([
      { event: '', json: undefined },
      { event: '', json: undefined },
      { event: '', json: undefined },
    ]);
  });

  it('treats a field line without a colon as a field with an empty value', () => {
    expect(parseSse('data\ndata\n\n')).toEqual([{ event: '', json: undefined }]);
  });

  it('survives invalid UTF-8 (replacement characters, no throw)', () => {
    const body = Buffer.concat([Buffer.from('data: {"t":"a'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('b"}\n\ndata: {"n":2}\n\n')]);
    const frames = parseSse(body);
    expect(frames).toHaveLength(2);
    expect(frames[0]?.json).toEqual({ t: 'a\uFFFD\uFFFD\uFFFDb' });
    expect(frames[1]?.json).toEqual({ n: 2 });
    // a truncated multi-byte character at the very end is flushed by end(), not thrown
    expect(() => parseSse(Buffer.concat([Buffer.from('data: {"x":1}\n\ndata: '), Buffer.from([0xf0, 0x9f])]))).not.toThrow();
  });

  it('flushes a final frame that has no blank line (or no newline at all) on end()', () => {
    expect(parseSse('data: {"a":1}\n\ndata: {"b":2}\n')).toEqual([
      { event: '', json: { a: 1 } },
      { event: '', json: { b: 2 } },
    ]);
    expect(parseSse('event: x\ndata: {"c":3}')).toEqual([{ event: 'x', json: { c: 3 } }]);
  });

  it('drops a leading byte-order mark', () => {
    expect(parseSse('\uFEFFdata: {"a":1}\n\n')).toEqual([{ event: '', json: { a: 1 } }]);
  });

  it('emits nothing for an empty stream and only once per frame', () => {
    expect(parseSse('')).toEqual([]);
    expect(parseSse('\n\n\n\r\n')).toEqual([]);
  });
});

describe('createSseParser cost', () => {
  it('frames ~10 MB of chat chunks in 64 KiB pieces quickly', () => {
    const frame = `data: ${JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'token 世界' }, finish_reason: null }] })}\n\n`;
    const body = Buffer.from(frame.repeat(Math.ceil((10 * 1024 * 1024) / Buffer.byteLength(frame))), 'utf8');
    let count = 0;
    const parser = createSseParser(() => count++);
    const started = performance.now();
    for (let at = 0; at < body.length; at += 65536) parser.push(body.subarray(at, at + 65536));
    parser.end();
    const ms = performance.now() - started;
    expect(count).toBe(body.length / Buffer.byteLength(frame));
    console.log(`sse: ${(body.length / 1048576).toFixed(1)} MiB, ${count} frames in ${ms.toFixed(0)} ms (${(body.length / 1048576 / (ms / 1000)).toFixed(0)} MiB/s)`);
    expect(ms).toBeLessThan(3000);
  });

  it('does not rescan a huge single-line frame arriving in many small chunks', () => {
    const payload = 'x'.repeat(8 * 1024 * 1024);
    const body = Buffer.from(`data: "${payload}"\n\n`);
    let got: unknown;
    const parser = createSseParser((f) => { got = f.json; });
    const started = performance.now();
    for (let at = 0; at < body.length; at += 512) parser.push(body.subarray(at, at + 512));
    parser.end();
    const ms = performance.now() - started;
    expect(got).toBe(payload);
    console.log(`sse: one 8 MiB line in ${Math.ceil(body.length / 512)} chunks in ${ms.toFixed(0)} ms`);
    // Rescanning the pending line on every chunk would be ~64 G character visits here: minutes, not seconds.
    expect(ms).toBeLessThan(5000);
  });
});

describe('createSseParser memory bound', () => {
  it('stops framing at a line that grows past the cap without ending, keeping what came before', () => {
    const frames: SseFrame[] = [];
    const parser = createSseParser((f) => frames.push(f), 1024);
    parser.push(Buffer.from('data: {"a":1}\n\n'));
    for (let i = 0; i < 100; i++) parser.push(Buffer.alloc(100, 'x'));
    expect(parser.unframed).toBe(true);
    // Whatever follows, even well-formed frames, is no longer framed: the pending line is gone, not growing.
    parser.push(Buffer.from('\n\ndata: {"b":2}\n\n'));
    parser.end();
    expect(frames).toEqual([{ event: '', json: { a: 1 } }]);
  });

  it('frames a long line under the cap as usual', () => {
    const frames: SseFrame[] = [];
    const parser = createSseParser((f) => frames.push(f), 1024);
    parser.push(Buffer.from(`data: "${'y'.repeat(900)}"\n\n`));
    parser.end();
    expect(parser.unframed).toBe(false);
    expect(frames).toEqual([{ event: '', json: 'y'.repeat(900) }]);
  });
});
