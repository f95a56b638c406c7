// Whole-worker ingest throughput: raw bus messages → decode (zod) → redact → batched insert into chDB, as
// ingest/pipeline.ts runs them, with redaction on and off. Bodies ~1 KB each way, a few PII values in a
// quarter of them. Reports events/s per worker and the share of JS time per stage.
//   node bin/run-ts.mjs bench/ingest.ts [--events 200000] [--batch 10000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createClickHouse } from '../analytics/client.ts';
import { migrate } from '../analytics/migrate.ts';
import { createPipeline, decodeEvent, redactorFromConfig } from '../ingest/pipeline.ts';
import { createWriter } from '../ingest/writer.ts';
import { parseConfig } from '../config/index.ts';
import { encodeRequestEvent } from '../contracts/event.ts';
import { makeEvent } from '../test/helpers/events.ts';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '200000' }, batch: { type: 'string', default: '10000' } } });
const total = Number(args.events);
const batchSize = Number(args.batch);

const prose = 'The quick brown fox jumps over the lazy dog while the model explains tokenization. '.repeat(13).slice(0, 1000);
const withPii = 'Contact jane.doe@example.com or +44 20 7946 0958, card 4111 1111 1111 1111. ' + prose.slice(80);
const raw: Buffer[] = Array.from({ length: total }, (_, i) => {
  const body = i % 4 === 0 ? withPii : prose;
  return Buffer.from(encodeRequestEvent(makeEvent({
    request_body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: body }] }),
    response_body: JSON.stringify({ choices: [{ message: { role: 'assistant', content: prose } }] }),
    model: ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4-5', 'gemini-2.5-flash'][i % 4]!,
  })));
});
const mb = raw.reduce((n, b) => n + b.length, 0) / 1e6;

function stageTimes(redactionOn: boolean): { decode: number; redact: number } {
  const redact = redactorFromConfig(parseConfig(`redaction:\n  enabled: ${redactionOn}\n`, {}).redaction);
  const sample = raw.slice(0, Math.min(50_000, raw.length));
  let t = performance.now();
  const events = sample.map((b) => decodeEvent(b, 1 << 22)).flatMap((d) => (d.ok ? [d.event] : []));
  const decode = (performance.now() - t) / sample.length;
  t = performance.now();
  for (const e of events) redact(e);
  return { decode: decode * 1000, redact: ((performance.now() - t) / sample.length) * 1000 };
}

async function run(redactionOn: boolean) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-ingest-'));
  const client = createClickHouse({ user: 'default', password: '', dataDir });
  try {
    await migrate(client);
    const pipeline = createPipeline({
      writer: createWriter(client, { maxRowsPerInsert: batchSize }),
      deadLetters: { write: async () => { throw new Error('no dead letters expected'); } },
      redact: redactorFromConfig(parseConfig(`redaction:\n  enabled: ${redactionOn}\n`, {}).redaction),
      maxEventBytes: 1 << 22,
    });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < raw.length; i += batchSize) await pipeline.handle(raw.slice(i, i + batchSize));
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const rs = await client.query({ query: 'SELECT count() AS n FROM sightline.requests', format: 'JSONEachRow' });
    const [{ n }] = (await rs.json<{ n: string }>()) as [{ n: string }];
    if (Number(n) !== total) throw new Error(`expected ${total} rows, found ${n}`);
    return { secs, eps: total / secs, cpuSecs: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await client.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(`ingest pipeline: ${total} events (${mb.toFixed(1)} MB encoded, ~${Math.round((mb * 1e6) / total)} B each), batches of ${batchSize}, chDB`);
console.log('redaction | events/s | wall s | process CPU s | decode µs/ev | redact µs/ev');
for (const on of [false, true]) {
  const stages = stageTimes(on);
  const r = await run(on);
  console.log(`${on ? 'on ' : 'off'}       | ${Math.round(r.eps).toString().padStart(8)} | ${r.secs.toFixed(2).padStart(6)} | ${r.cpuSecs.toFixed(2).padStart(13)} | ${stages.decode.toFixed(2).padStart(12)} | ${stages.redact.toFixed(2).padStart(12)}`);
}
