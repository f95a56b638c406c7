// The provider's response id reaches the row (and so gen_ai.response.id on the call's span), for bodies and for
// streams, whose stored body is only their text: each recorded fixture through the ledger's assembly.
import { describe, expect, it } from 'vitest';
import type { Endpoint, ProviderId } from '../../contracts/event.ts';
import { assembleEvent } from '../../ledger/assemble.ts';
import { defaultAssembleDeps } from '../../ingest/pipeline.ts';
import type { FixtureProvider } from '../fixtures/index.ts';
import { loadFixture } from '../fixtures/index.ts';
import { makeExchange } from '../helpers/events.ts';

const CASES: [FixtureProvider, string, ProviderId, Endpoint, string][] = [
  ['openai', 'chat.json', 'openai', 'chat', 'chatcmpl-BwJ8qXhPZT3m2Lk0nJpZcYdE4aQ1f'],
  ['openai', 'chat.sse', 'openai', 'chat', 'chatcmpl-BwJDfLx4pR2nK8sT0qWv6yZa3Ue1o'],
  ['openai', 'responses.json', 'openai', 'responses', 'resp_68a1f2c4b5d08190a3e6f1c2d4b7e9a00c5f7d3e2b1a4c6d'],
  ['openai', 'responses.sse', 'openai', 'responses', 'resp_68a1f3d0e2c48190b9a7c5e3f1d2b4a60e1f3a5c7b9d2e4f'],
  ['azure', 'chat.sse', 'azure', 'chat', 'chatcmpl-BwJMx7Lq2Nv5Tk9Yb1Wp4Zc8Ra3Sd'],
  ['anthropic', 'messages.json', 'anthropic', 'messages', ''],
  ['anthropic', 'messages.sse', 'anthropic', 'messages', 'msg_01QC4g3HwBThD4BaNtBckFDJ'],
  ['gemini', 'generate.json', 'gemini', 'generate', 'md2UaLXRCaKTmNAPrsSpgAo'],
  ['gemini', 'stream.sse', 'gemini', 'generate', 'bH6LaZW8Fp_3nsEPqtaSwQ4'],
];

describe('response_id', () => {
  it.each(CASES)('%s/%s', (provider, file, id, endpoint, expected) => {
    const fx = loadFixture(provider, file);
    const contentType = fx.headers['content-type'] ?? 'application/json';
    const want = expected || /"id"\s*:\s*"([^"]+)"/.exec(fx.body.toString('utf8'))![1]!;
    const row = assembleEvent(makeExchange({ body: fx.body, contentType }, { provider: id, endpoint }), defaultAssembleDeps());
    expect(row.response_id).toBe(want);
  });
});
