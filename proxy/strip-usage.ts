// When Sightline asked an OpenAI-style upstream for a usage frame the caller did not request, that one
// frame is cut from the client's stream. Everything else passes as it came, at frame granularity.
import type { ProviderAdapter } from '../providers/types.ts';
import { parseSse } from '../providers/sse.ts';

const LF2 = Buffer.from('\n\n');
const MAX_PENDING_BYTES = 1024 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');
// Every OpenAI chunk carries `"usage":null`; only the injected frame has a usage object.
const USAGE_OBJECT = [Buffer.from('"usage":{'), Buffer.from('"usage": {')];

/** End (exclusive) of the first frame in buf starting at `from`, or -1 when no frame is complete yet. */
function frameEnd(buf: Buffer, from: number): number {
  const lf = buf.indexOf(LF2, from);
  const crlf = buf.indexOf(CRLF2, from);
  if (lf === -1) return crlf === -1 ? -1 : crlf + 4;
  if (crlf === -1 || lf < crlf) return lf + 2;
  return crlf + 4;
}

/** Cuts frames synchronously on the client's path: push() returns what may go to the client now. */
export interface UsageFrameCutter {
  push(chunk: Buffer): Buffer | undefined;
  end(): Buffer | undefined;
}

export function createUsageFrameCutter(adapter: ProviderAdapter): UsageFrameCutter {
  let pending: Buffer | undefined;
  return {
    push(chunk) {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      const keep: Buffer[] = [];
      let start = 0;
      for (let end = frameEnd(buf, 0); end !== -1; end = frameEnd(buf, start)) {
        const frame = buf.subarray(start, end);
        if (!isInjected(adapter, frame)) keep.push(frame);
        start = end;
      }
      pending = start < buf.length ? buf.subarray(start) : undefined;
      // A stream that never ends a frame is not ours to hold: past the cap, pass it on as it is.
      if (pending !== undefined && pending.length > MAX_PENDING_BYTES) {
        keep.push(pending);
        pending = undefined;
      }
      if (keep.length <= 1) return keep[0];
      return Buffer.concat(keep);
    },
    end() {
      const rest = pending;
      pending = undefined;
      return rest;
    },
  };
}

function isInjected(adapter: ProviderAdapter, frame: Buffer): boolean {
  if (!adapter.isInjectedUsageFrame || !USAGE_OBJECT.some((p) => frame.includes(p))) return false;
  const frames = parseSse(frame);
  return frames.length === 1 && adapter.isInjectedUsageFrame(frames[0]!);
}
