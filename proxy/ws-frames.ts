// A WebSocket frame reader (RFC 6455) for the bytes the realtime proxy tees off a connection it pipes untouched.
// http-proxy-middleware hands over raw sockets, so this is how the proxy learns what crossed them: messages and
// their payload bytes each way, the close code, and (only when asked) the payload of text messages. It never
// writes anything: a frame it cannot read stops the counting, never the connection.
//
// Handles masking (client frames), fragmentation (continuation frames, control frames interleaved), 7/16/64-bit
// payload lengths, ping/pong (not counted as messages) and close (its status code). Payloads are only copied
// when retained: otherwise they are skipped by length.

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;

/** Close codes RFC 6455 reserves for reporting (never sent on the wire). */
export const CLOSE_NO_STATUS = 1005;
export const CLOSE_ABNORMAL = 1006;

const MAX_CONTROL_PAYLOAD = 125;
const RSV1 = 0x40;

export interface FrameHandler {
  /**
   * A data message completed: the opcode of its first frame, its payload bytes, and its payload (unmasked, as
   * the pieces it arrived in) when it was retained; undefined when not retained or over the retention limit.
   */
  message(opcode: number, bytes: number, payload: readonly Buffer[] | undefined): void;
  /** A close frame: its status code, or CLOSE_NO_STATUS when it carried none. */
  close(code: number): void;
}

export interface FrameReaderOptions {
  /** Keep the payload of uncompressed text messages up to maxRetainedBytes each. */
  retainText: boolean;
  maxRetainedBytes: number;
}

export interface FrameReader {
  push(chunk: Buffer): void;
  /** False once a frame could not be read (not WebSocket, or a protocol error): nothing more is counted. */
  readonly ok: boolean;
}

export function createFrameReader(handler: FrameHandler, opts: FrameReaderOptions): FrameReader {
  // Header bytes of the frame being read (at most 2 + 8 + 4), collected across chunks.
  const header = Buffer.alloc(14);
  let headerHave = 0;
  let headerNeed = 2;
  let inPayload = false;
  let ok = true;

  // The frame whose payload is being read.
  let opcode = 0;
  let fin = false;
  let remaining = 0;
  let payloadOffset = 0; // bytes of this frame's payload already read (for the mask position)
  let mask: Buffer | undefined;
  let retainFrame = false;
  let control: Buffer[] = [];

  // The data message being assembled from its frames.
  let messageOpcode = -1;
  let messageBytes = 0;
  let pieces: Buffer[] | undefined;
  let piecesBytes = 0;

  function fail(): void {
    ok = false;
    pieces = undefined;
  }

  /** The header is complete: decode it. Returns false on a frame no WebSocket peer may send. */
  function beginFrame(): boolean {
    const b0 = header[0]!;
    const b1 = header[1]!;
    fin = (b0 & 0x80) !== 0;
    opcode = b0 & 0x0f;
    const len7 = b1 & 0x7f;
    let length: number;
    if (len7 === 126) length = header.readUInt16BE(2);
    else if (len7 === 127) {
      const hi = header.readUInt32BE(2);
      if (hi >= 0x200000) return false; // beyond 2^53: not a length anyone sends
      length = hi * 0x1_0000_0000 + header.readUInt32BE(6);
    } else length = len7;
    mask = (b1 & 0x80) !== 0 ? Buffer.from(header.subarray(headerNeed - 4, headerNeed)) : undefined;
    remaining = length;
    payloadOffset = 0;

    if (opcode >= OPCODE_CLOSE) {
      if (!fin || length > MAX_CONTROL_PAYLOAD || opcode > 0xa) return false;
      control = [];
      retainFrame = opcode === OPCODE_CLOSE;
      return true;
    }
    if (opcode === OPCODE_CONTINUATION) {
      if (messageOpcode === -1) return false;
    } else {
      if ((opcode !== OPCODE_TEXT && opcode !== OPCODE_BINARY) || messageOpcode !== -1) return false;
      messageOpcode = opcode;
      messageBytes = 0;
      piecesBytes = 0;
      // A compressed message (permessage-deflate, RSV1) is counted but cannot be read.
      pieces = opts.retainText && opcode === OPCODE_TEXT && (b0 & RSV1) === 0 ? [] : undefined;
    }
    messageBytes += length;
    if (pieces !== undefined && piecesBytes + length > opts.maxRetainedBytes) pieces = undefined;
    else piecesBytes += length;
    retainFrame = pieces !== undefined;
    return true;
  }

  function endFrame(): void {
    if (opcode >= OPCODE_CLOSE) {
      if (opcode === OPCODE_CLOSE) {
        const body = control.length === 1 ? control[0]! : Buffer.concat(control);
        handler.close(body.length >= 2 ? body.readUInt16BE(0) : CLOSE_NO_STATUS);
      }
      control = [];
      return;
    }
    if (!fin) return;
    const kept = pieces;
    const kind = messageOpcode;
    messageOpcode = -1;
    pieces = undefined;
    handler.message(kind, messageBytes, kept);
  }

  /** `data` is part of the current frame's payload, in order. */
  function takePayload(data: Buffer): void {
    if (retainFrame) {
      const piece = mask === undefined ? data : unmask(data, mask, payloadOffset);
      if (opcode >= OPCODE_CLOSE) control.push(piece);
      else pieces!.push(piece);
    }
    payloadOffset += data.length;
    remaining -= data.length;
  }

  function push(chunk: Buffer): void {
    let at = 0;
    while (ok && at < chunk.length) {
      if (inPayload) {
        const take = Math.min(remaining, chunk.length - at);
        takePayload(chunk.subarray(at, at + take));
        at += take;
      } else {
        const take = Math.min(headerNeed - headerHave, chunk.length - at);
        chunk.copy(header, headerHave, at, at + take);
        headerHave += take;
        at += take;
        if (headerHave < headerNeed) continue;
        if (headerNeed === 2) {
          const len7 = header[1]! & 0x7f;
          headerNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((header[1]! & 0x80) !== 0 ? 4 : 0);
          if (headerHave < headerNeed) continue;
        }
        const begun = beginFrame();
        headerHave = 0;
        headerNeed = 2;
        if (!begun) {
          fail();
          return;
        }
        inPayload = true;
      }
      if (inPayload && remaining === 0) {
        inPayload = false;
        endFrame();
      }
    }
  }

  return {
    push,
    get ok() {
      return ok;
    },
  };
}

/** A copy of `data` unmasked, `offset` bytes into its frame's payload (the mask repeats every 4 bytes). */
function unmask(data: Buffer, mask: Buffer, offset: number): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ mask[(offset + i) & 3]!;
  return out;
}

/** True when the payload pieces contain `needle`, also across the seams between pieces (however small they are). */
export function piecesInclude(pieces: readonly Buffer[], needle: Buffer): boolean {
  if (pieces.length === 1) return pieces[0]!.includes(needle);
  const overlap = needle.length - 1;
  let tail: Buffer = Buffer.alloc(0); // the last `overlap` bytes before the current piece
  for (const piece of pieces) {
    if (piece.includes(needle)) return true;
    if (tail.length > 0 && Buffer.concat([tail, piece.subarray(0, overlap)]).includes(needle)) return true;
    tail = piece.length >= overlap ? piece.subarray(piece.length - overlap) : Buffer.concat([tail, piece]).subarray(-overlap);
  }
  return false;
}
