// /_sightline/metrics: request outcomes and the sink's refusals are visible, so a full spool is a number an
// operator can alert on, not a silent loss.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.ts';
import { createSpoolSink } from '../../bus/spool-sink.ts';
import { openSpoolWriter } from '../../bus/spool/index.ts';
import type { RunningProxy } from '../../proxy/main.ts';
import { startProxy } from '../../proxy/main.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';

let mock: MockUpstream;
let proxy: RunningProxy;
let dir: string;
const warnings: string[] = [];

beforeAll(async () => {
  mock = await startMockUpstream();
  dir = mkdtempSync(path.join(tmpdir(), 'sightline-metrics-'));
  // A spool too small for more than a few events: the cap is reached on purpose.
  const writer = openSpoolWriter({ dir, fsync: 'never', fsyncIntervalMs: 50, maxBytes: 8 * 1024, segmentBytes: 4 * 1024, onWarn: (m) => warnings.push(m) });
  proxy = await startProxy(parseConfig(undefined, { SIGHTLINE_PORT: '0', SIGHTLINE_UPSTREAM_OPENAI: mock.url }), createSpoolSink(writer), () => ({ sightline_spool_bytes: writer.stats.bytes }));
});
afterAll(async () => {
  await proxy.close();
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
});

async function metrics(): Promise<Map<string, number>> {
  const text = await (await fetch(`${proxy.url}/_sightline/metrics`)).text();
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const at = l.lastIndexOf(' ');
    return [l.slice(0, at), Number(l.slice(at + 1))] as [string, number];
  }));
}

describe('/_sightline/metrics', () => {
  it('counts outcomes, written and refused events', async () => {
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${proxy.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-4o-mini","messages":[]}' });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    await fetch(`${proxy.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    await new Promise((r) => setTimeout(r, 100));
    const m = await metrics();
    expect(m.get('sightline_requests_total{outcome="completed"}')).toBe(12);
    expect(m.get('sightline_requests_total{outcome="rejected"}')).toBe(1);
    const written = m.get('sightline_events_written_total')!;
    const refused = m.get('sightline_events_refused_total')!;
    expect(written + refused).toBe(13);
    expect(written).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(m.get('sightline_spool_bytes')).toBeLessThanOrEqual(8 * 1024);
    // The spool said so, loudly, once.
    expect(warnings.filter((w) => /refus|cap|full/i.test(w)).length).toBeGreaterThanOrEqual(1);
  });

  it('health answers without touching a provider', async () => {
    const before = mock.requests.length;
    expect(await (await fetch(`${proxy.url}/_sightline/health`)).json()).toEqual({ status: 'ok' });
    expect(mock.requests.length).toBe(before);
  });
});
