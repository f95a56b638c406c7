// The filter that hides the usage frame Sightline injected: exact frames out, and bounded memory on a stream
// that never completes a frame.
import { describe, expect, it } from 'vitest';
import { openaiAdapter } from '../../proxy/adapters/openai.ts';
import { createUsageFrameFilter } from '../../proxy/strip-usage.ts';
import { loadFixture } from '../fixtures/index.ts';

async function run(chunks: Buffer[]): Promise<{ out: Buffer; maxPending: number }> {
  const filter = createUsageFrameFilter(openaiAdapter);
  const parts: Buffer[] = [];
  filter.on('data', (c: Buffer) => parts.push(c));
  let fed = 0;
  let maxPending = 0;
  for (const c of chunks) {
    filter.write(c);
    fed += c.length;
    maxPending = Math.max(maxPending, fed - parts.reduce((n, p) => n + p.length, 0));
  }
  await new Promise<void>((resolve) => filter.end(resolve));
  await new Promise((r) => setImmediate(r));
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
      expect((await run(chunks)).out.toString('utf8')).toBe(expected);
    }
  });

  it('passes a frame-less stream through instead of buffering it without bound', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const { out, maxPending } = await run(Array.from({ length: 64 }, () => chunk));
    expect(out.length).toBe(64 * chunk.length);
    expect(maxPending).toBeLessThanOrEqual(1024 * 1024 + chunk.length);
  });
});
