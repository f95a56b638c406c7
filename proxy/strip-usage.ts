// When Sightline asked an OpenAI-style upstream for a usage frame the caller did not request, that one
// frame is cut from the client's stream. Everything else passes as it came, at frame granularity.
import { Transform } from 'node:stream';
import type { ProviderAdapter } from './adapters/types.ts';
import { parseSse } from './sse.ts';

const BOUNDARY = /\r\n\r\n|\n\n|\r\r/g;

export function createUsageFrameFilter(adapter: ProviderAdapter): Transform {
  let pending = '';
  return new Transform({
    decodeStrings: true,
    transform(chunk: Buffer, _enc, done) {
      // latin1 maps bytes 1:1, so slicing never splits a multi-byte character's bytes.
      pending += chunk.toString('latin1');
      let out = '';
      let start = 0;
      BOUNDARY.lastIndex = 0;
      for (let m = BOUNDARY.exec(pending); m !== null; m = BOUNDARY.exec(pending)) {
        const end = m.index + m[0].length;
        const frame = pending.slice(start, end);
        if (!isInjected(adapter, frame)) out += frame;
        start = end;
      }
      pending = pending.slice(start);
      done(null, out.length > 0 ? Buffer.from(out, 'latin1') : undefined);
    },
    flush(done) {
      done(null, pending.length > 0 ? Buffer.from(pending, 'latin1') : undefined);
    },
  });
}

function isInjected(adapter: ProviderAdapter, frame: string): boolean {
  // Cheap substring test first: only a frame mentioning usage can be the injected one.
  if (!frame.includes('"usage"') || !adapter.isInjectedUsageFrame) return false;
  const frames = parseSse(Buffer.from(frame, 'latin1'));
  return frames.length === 1 && adapter.isInjectedUsageFrame(frames[0]!);
}
