// The tee keeps a copy of the response bytes with their arrival times and nothing else: all parsing
// happens after the response has ended (assemble.ts), so the stream to the client is never held up.
import { performance } from 'node:perf_hooks';

export interface Capture {
  chunks: Buffer[];
  /** performance.now() when each chunk arrived, parallel to chunks. */
  times: number[];
  bytes: number;
  /** Bytes seen beyond the capture limit (the client still received them). */
  droppedBytes: number;
}

export function newCapture(): Capture {
  return { chunks: [], times: [], bytes: 0, droppedBytes: 0 };
}

/** Records one chunk; beyond `limit` bytes only counts it, so a huge response cannot grow memory without bound. */
export function captureChunk(capture: Capture, chunk: Buffer, limit: number): void {
  if (capture.bytes + chunk.length > limit) {
    capture.droppedBytes += chunk.length;
    return;
  }
  capture.chunks.push(chunk);
  capture.times.push(performance.now());
  capture.bytes += chunk.length;
}
