// The filter that hides the usage frame Sightline injected: exact frames out, and bounded memory on a stream
// that never completes a frame.
import { describe, expect, it } from 'vitest';
import { openaiAdapter } from '../../providers/openai.ts';
import { createUsageFrameCutter } from '../../proxy/strip-usage.ts';
import { loadFixture } from '../fixtures/index.ts';

function run(chunks: Buffer[]): { out: Buffer; maxPending: number } {
  const cutter = createUsageFrameCutter(openaiAdapter);
  const parts: Buffer[] = [];
  let fed = 0;
  let sent = 0;
  let maxPending = 0;
  for (const c of chunks) {
    const out = cutter.push(c);
    fed += c.length;
    if (out) {
      parts.push(out);
      sent += out.length;
    }
    maxPending = Math.max(maxPending, fed - sent);
  }
  const rest = cutter.end();
  if (rest) parts.push(rest);
  return { out: Buffer.concat(parts), maxPending };
}

describe('usage frame filter', () => {
  it('removes exactly the usage-only frame, whatever the chunking', async () => {
    const body = loadFixture('openai', 'chat.sse').body;
    const text = body.toString('utf8');
    const frames = text.split('\n\n').filter(Boolean).map((f) => `${f}\n\n`);
    const expected = frames.filter((f) => !(f.includes('"choices":[]') && f.includes('"usage":{'))).join('');
    expect(expected.length).toBeLessThan(text.length);
    for (const size of [1, 3, 17, body.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < body.length; i += size) chunks.push(body.subarray(i, i + size));
      expect(run(chunks).out.toString('utf8')).toBe(expected);
    }
  });

  it('passes a frame-less stream through instead of buffering it without bound', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const { out, maxPending } = run(Array.from({ length: 64 }, () => chunk));
    expect(out.length).toBe(64 * chunk.length);
    expect(maxPending).toBeLessThanOrEqual(1024 * 1024 + chunk.length);
  });
});
