// The WebSocket frame reader the realtime proxy tees sessions through: lengths, masking, fragmentation, control
// frames, retention limits and unreadable input, at every chunking of the byte stream.
import { describe, expect, it } from 'vitest';
import { CLOSE_NO_STATUS, createFrameReader, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_CONTINUATION, OPCODE_TEXT, piecesInclude } from '../../proxy/ws-frames.ts';

const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;

/** One frame as RFC 6455 lays it out, written independently of the reader. */
function frame(opcode: number, payload: Buffer, opts: { fin?: boolean; mask?: boolean; rsv1?: boolean } = {}): Buffer {
  const fin = opts.fin ?? true;
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (opts.mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (opts.rsv1 ? 0x40 : 0) | opcode;
  head[1] = (opts.mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!opts.mask) return Buffer.concat([head, payload]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  key.copy(head, 2 + ext);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([head, masked]);
}

const closeFrame = (code: number | undefined, mask = false) => {
  const body = code === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from('bye')]);
  return frame(OPCODE_CLOSE, body, { mask });
};

interface Seen {
  messages: { opcode: number; bytes: number; payload: string | undefined }[];
  closes: number[];
  ok: boolean;
}

/** Feeds `wire` to a fresh reader in chunks of `step` bytes (0 = all at once). */
function read(wire: Buffer, step = 0, opts = { retainText: true, maxRetainedBytes: 1 << 20 }): Seen {
  const seen: Seen = { messages: [], closes: [], ok: true };
  const reader = createFrameReader({
    message: (opcode, bytes, payload) => seen.messages.push({ opcode, bytes, payload: payload && Buffer.concat(payload).toString('utf8') }),
    close: (code) => seen.closes.push(code),
  }, opts);
  const size = step === 0 ? wire.length : step;
  for (let at = 0; at < wire.length; at += size) reader.push(wire.subarray(at, at + size));
  seen.ok = reader.ok;
  return seen;
}

const texts = {
  short: 'hi',
  medium: 'm'.repeat(300), // 16-bit length
  long: `{"type":"response.done"${' '.repeat(70_000)}}`, // 64-bit length
};

describe('frame reader', () => {
  for (const mask of [false, true]) {
    it(`reads 7-, 16- and 64-bit lengths ${mask ? 'masked (client frames)' : 'unmasked (server frames)'} at every chunking`, () => {
      const wire = Buffer.concat([
        frame(OPCODE_TEXT, Buffer.from(texts.short), { mask }),
        frame(OPCODE_BINARY, Buffer.alloc(300, 9), { mask }),
        frame(OPCODE_TEXT, Buffer.from(texts.medium), { mask }),
        frame(OPCODE_TEXT, Buffer.alloc(0), { mask }),
        frame(OPCODE_TEXT, Buffer.from(texts.long), { mask }),
        closeFrame(1000, mask),
      ]);
      const expected: Seen = {
        messages: [
          { opcode: OPCODE_TEXT, bytes: 2, payload: texts.short },
          { opcode: OPCODE_BINARY, bytes: 300, payload: undefined },
          { opcode: OPCODE_TEXT, bytes: 300, payload: texts.medium },
          { opcode: OPCODE_TEXT, bytes: 0, payload: '' },
          { opcode: OPCODE_TEXT, bytes: texts.long.length, payload: texts.long },
        ],
        closes: [1000],
        ok: true,
      };
      for (const step of [0, 1, 2, 3, 7, 13, 125, 4096]) expect(read(wire, step)).toEqual(expected);
    });
  }

  it('joins a fragmented message, with control frames between its fragments (not counted as messages)', () => {
    const wire = Buffer.concat([
      frame(OPCODE_TEXT, Buffer.from('{"type":"resp'), { fin: false, mask: true }),
      frame(OPCODE_PING, Buffer.from('p'), { mask: true }),
      frame(OPCODE_CONTINUATION, Buffer.from('onse.done","n":'), { fin: false, mask: true }),
      frame(OPCODE_PONG, Buffer.alloc(0), { mask: true }),
      frame(OPCODE_CONTINUATION, Buffer.from('1}'), { mask: true }),
      frame(OPCODE_BINARY, Buffer.from('ab'), { fin: false }),
      frame(OPCODE_CONTINUATION, Buffer.from('cd')),
    ]);
    for (const step of [0, 1, 5]) {
      expect(read(wire, step)).toEqual({
        messages: [{ opcode: OPCODE_TEXT, bytes: 30, payload: '{"type":"response.done","n":1}' }, { opcode: OPCODE_BINARY, bytes: 4, payload: undefined }],
        closes: [],
        ok: true,
      });
    }
  });

  it('reports a close without a code as 1005', () => {
    expect(read(closeFrame(undefined)).closes).toEqual([CLOSE_NO_STATUS]);
    expect(read(closeFrame(4001, true), 1).closes).toEqual([4001]);
  });

  it('counts but does not keep what it must not read: client text, compressed messages, messages over the limit', () => {
    const wire = Buffer.concat([frame(OPCODE_TEXT, Buffer.from('x'.repeat(100))), frame(OPCODE_TEXT, Buffer.from('deflated'), { rsv1: true }), frame(OPCODE_TEXT, Buffer.from('small'))]);
    expect(read(wire, 0, { retainText: true, maxRetainedBytes: 50 }).messages).toEqual([
      { opcode: OPCODE_TEXT, bytes: 100, payload: undefined },
      { opcode: OPCODE_TEXT, bytes: 8, payload: undefined },
      { opcode: OPCODE_TEXT, bytes: 5, payload: 'small' },
    ]);
    expect(read(wire, 0, { retainText: false, maxRetainedBytes: 50 }).messages.map((m) => m.payload)).toEqual([undefined, undefined, undefined]);
    // Over the limit only once its fragments add up.
    const fragmented = Buffer.concat([frame(OPCODE_TEXT, Buffer.from('y'.repeat(30)), { fin: false }), frame(OPCODE_CONTINUATION, Buffer.from('y'.repeat(30)))]);
    expect(read(fragmented, 0, { retainText: true, maxRetainedBytes: 50 }).messages).toEqual([{ opcode: OPCODE_TEXT, bytes: 60, payload: undefined }]);
  });

  it('stops counting at a frame no peer may send, and never throws', () => {
    const reserved = Buffer.concat([frame(OPCODE_TEXT, Buffer.from('ok')), frame(0x3, Buffer.from('?')), frame(OPCODE_TEXT, Buffer.from('later'))]);
    expect(read(reserved)).toEqual({ messages: [{ opcode: OPCODE_TEXT, bytes: 2, payload: 'ok' }], closes: [], ok: false });
    expect(read(frame(OPCODE_CONTINUATION, Buffer.from('orphan'))).ok).toBe(false);
    expect(read(frame(OPCODE_PING, Buffer.alloc(126))).ok).toBe(false); // control frames carry at most 125 bytes
    expect(read(Buffer.from('GET / HTTP/1.1\r\n\r\n')).ok).toBe(false);
  });
});

describe('piecesInclude', () => {
  const needle = Buffer.from('"response.done"');
  it('finds the needle inside one piece and across seams, however the pieces are cut', () => {
    const whole = Buffer.from('{"type":"response.done","response":{}}');
    for (let size = 1; size <= whole.length; size++) {
      const pieces: Buffer[] = [];
      for (let at = 0; at < whole.length; at += size) pieces.push(whole.subarray(at, at + size));
      expect(piecesInclude(pieces, needle)).toBe(true);
    }
    expect(piecesInclude([Buffer.from('{"type":"response.output_audio.delta"}')], needle)).toBe(false);
    expect(piecesInclude([Buffer.from('"response.'), Buffer.from('created"')], needle)).toBe(false);
  });
});
