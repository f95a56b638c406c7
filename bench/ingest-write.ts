// Insert throughput of ingest/writer.ts into the embedded engine (chDB): events with ~1 KB request and
// response bodies (--body-bytes), batches of 10k. Reports events/s, MB/s of the encoded rows, encode-only
// events/s (the JS-thread share), CPU seconds of the process (JS + engine threads; steadier than wall time on a
// shared machine) and the worst event-loop stall (encoding is synchronous JS; chDB's rawInsert runs off-thread).
// Two runs on fresh stores: `per-batch` awaits insert() once per batch (how ingest commits), `pipelined` hands
// the writer all events at once so it encodes batch i+1 while the engine inserts batch i.
//   node bin/run-ts.mjs bench/ingest-write.ts [--events 200000] [--batch 10000] [--body-bytes 1024]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createClickHouse } from '../analytics/client.ts';
import { migrate } from '../analytics/migrate.ts';
import { createWriter, encodeRows } from '../ingest/writer.ts';
import { RequestEventSchema, type RequestEvent } from '../contracts/event.ts';

const { values: args } = parseArgs({ options: {
  events: { type: 'string', default: '200000' }, batch: { type: 'string', default: '10000' }, 'body-bytes': { type: 'string', default: '1024' },
} });
const total = Number(args.events);
const batchSize = Number(args.batch);

const sentence = 'The quick brown fox jumps over the lazy dog. ';
const filler = sentence.repeat(Math.ceil(Number(args['body-bytes']) / sentence.length)).slice(0, Number(args['body-bytes']));
const models = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4', 'gemini-2.0-flash'];
const base = RequestEventSchema.parse({
  schema_version: 1, request_id: randomUUID(), created_at: new Date().toISOString(),
  organization_id: 'org_bench', team: 'team_a', key_id: 'key_1', user_id: 'user_1', session_id: '', session_path: '', session_name: '',
  properties: { env: 'bench' }, provider: 'openai', model: 'gpt-4o-mini', response_model: 'gpt-4o-mini-2024-07-18', endpoint: 'chat',
  path: '/v1/chat/completions', method: 'POST', target_host: 'api.openai.com', stream: false, status: 200, latency_ms: 512.5,
  ttfb_ms: 100.25, ttft_ms: null, finish_reason: 'stop', error_type: '', error_code: '', prompt_tokens: 1000, completion_tokens: 200,
  cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, tokens_estimated: false, cost_usd: 0.0003, cost_known: true,
  cache_status: 'none', attempts: 1, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7',
  request_body: `{"messages":[{"role":"user","content":"${filler}"}]}`, response_body: `{"choices":[{"message":{"content":"${filler}"}}]}`,
  request_bytes: 1100, response_bytes: 1100,
});

function makeBatch(n: number, offsetMs: number): RequestEvent[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    ...base,
    request_id: randomUUID(),
    created_at: new Date(now - ((offsetMs + i) % 86_400_000)).toISOString(),
    model: models[i % models.length]!,
    latency_ms: 100 + (i % 900),
  }));
}

const batches = Array.from({ length: Math.ceil(total / batchSize) }, (_, b) => makeBatch(Math.min(batchSize, total - b * batchSize), b * batchSize));
const rowBytes = encodeRows(batches[0]!).length / batches[0]!.length;

// Encoding alone, to separate JS-thread cost from the engine's.
const t0 = performance.now();
for (const b of batches) encodeRows(b);
const encodeMs = performance.now() - t0;

async function run(mode: 'per-batch' | 'pipelined') {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-'));
  const client = createClickHouse({ user: 'default', password: '', dataDir });
  await migrate(client);
  const writer = createWriter(client, { maxRowsPerInsert: batchSize });
  let maxStall = 0;
  let last = performance.now();
  const timer = setInterval(() => { const n = performance.now(); maxStall = Math.max(maxStall, n - last - 10); last = n; }, 10);
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  if (mode === 'pipelined') await writer.insert(batches.flat());
  else for (const b of batches) await writer.insert(b);
  const ms = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  const rs = await client.query({ query: 'SELECT count() c FROM sightline.requests FINAL', format: 'JSONEachRow' });
  const [{ c } = { c: '0' }] = await rs.json<{ c: string }>();
  await client.close();
  rmSync(dataDir, { recursive: true, force: true });
  if (Number(c) !== total) throw new Error(`${mode}: ${c} rows in table, expected ${total}`);
  // CPU seconds (JS thread + engine threads) are steadier than wall time on a shared machine; merges that outlive
  // the run are not counted.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { seconds: +(ms / 1000).toFixed(2), events_per_s: Math.round(total / (ms / 1000)),
    cpu_seconds: +cpuSeconds.toFixed(2), events_per_cpu_s: Math.round(total / cpuSeconds), mb_per_s: +((total * rowBytes) / 1e6 / (ms / 1000)).toFixed(1), max_event_loop_stall_ms: Math.round(maxStall) };
}

console.log(JSON.stringify({
  events: total, batch: batchSize, body_bytes: Number(args['body-bytes']), avg_encoded_row_bytes: Math.round(rowBytes),
  encode_only_events_per_s: Math.round(total / (encodeMs / 1000)),
  'per-batch': await run('per-batch'),
  pipelined: await run('pipelined'),
}, null, 2));
