// The tee keeps a copy of the response bytes with their arrival times and nothing else: all parsing happens
// in ingest (ledger/assemble.ts), so the stream to the client is never held up.
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

export function capturedBytes(capture: Capture): Buffer {
  return capture.chunks.length === 1 ? capture.chunks[0]! : Buffer.concat(capture.chunks, capture.bytes);
}

/** [byte offset, ms since `since`, …] of each captured chunk. */
export function chunkTimes(capture: Capture, since: number): number[] {
  const out = new Array<number>(capture.chunks.length * 2);
  let offset = 0;
  for (let i = 0; i < capture.chunks.length; i++) {
    out[2 * i] = offset;
    out[2 * i + 1] = Math.max(0, Math.round((capture.times[i]! - since) * 1000) / 1000);
    offset += capture.chunks[i]!.length;
  }
  return out;
}
