// The jsonl sink (`SIGHTLINE_SINK=jsonl:<file>`), for people and pipes: one JSON line per call, the exchange's
// bodies as text, no credential in it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.ts';
import { startProxy } from '../../proxy/main.ts';
import type { RunningProxy } from '../../proxy/main.ts';
import { loadFixture } from '../fixtures/index.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';

let dir: string;
let mock: MockUpstream;
let proxy: RunningProxy;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sightline-jsonl-'));
  mock = await startMockUpstream();
  proxy = await startProxy(parseConfig(undefined, { SIGHTLINE_PORT: '0', SIGHTLINE_UPSTREAM_OPENAI: mock.url, SIGHTLINE_SINK: `jsonl:${path.join(dir, 'events.jsonl')}` }));
});
afterAll(async () => {
  await proxy.close();
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('jsonl sink', () => {
  it('writes one line per call, the exchange with its bodies as text, before the call completes', async () => {
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const res = await fetch(`${proxy.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-secret-jsonl' }, body });
    expect(res.status).toBe(200);
    const id = res.headers.get('sightline-id');
    await res.arrayBuffer();
    // The write-ahead release waits for the line: it is in the file once the client has the response.
    const lines = readFileSync(path.join(dir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const event = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(event).toMatchObject({ schema_version: 2, request_id: id, request_body: body, response_body: loadFixture('openai', 'chat.json').body.toString('utf8'), status: 200 });
    expect(lines[0]).not.toContain('sk-secret-jsonl');
  });
});
