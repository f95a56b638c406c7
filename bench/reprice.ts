// `sightline reprice` on the embedded engine: N stored calls (2 KB bodies, three models, two organisations) with
// costs that are wrong for two models in three, repriced from their stored usage; then the same run again, which
// finds nothing to change. Reports rows/s of each and what the table holds after (versions before merge).
// Run: npm run bench -- reprice [--rows 100000] [--page 20000]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createClickHouse } from '../analytics/client.ts';
import { migrate } from '../analytics/migrate.ts';
import { reprice } from '../cli/reprice.ts';
import { RequestEventSchema, SCHEMA_VERSION, type RequestEvent } from '../contracts/event.ts';
import { createWriter } from '../ingest/writer.ts';
import { createCoster } from '../ledger/cost.ts';
import { BUNDLED_PRICE_VERSION } from '../ledger/prices.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const ROWS = arg('rows', 100_000);
const PAGE = arg('page', 20_000);

const MODELS = [
  { provider: 'openai', model: 'gpt-4o-mini', response_model: 'gpt-4o-mini-2024-07-18', right: (1000 * 0.15 + 100 * 0.6) / 1e6 },
  { provider: 'anthropic', model: 'claude-sonnet-4-5', response_model: 'claude-sonnet-4-5-20250929', right: 0 },
  { provider: 'gemini', model: 'gemini-2.5-flash', response_model: 'gemini-2.5-flash', right: 0 },
] as const;
const BODY = JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'Summarise the quarterly report in three bullet points. '.repeat(36) }] });

function call(i: number): RequestEvent {
  const m = MODELS[i % MODELS.length]!;
  return RequestEventSchema.parse({
    schema_version: SCHEMA_VERSION, request_id: randomUUID(), created_at: new Date(Date.now() - (i % 20) * 86_400_000 - i).toISOString(),
    organization_id: i % 2 === 0 ? 'org_a' : 'org_b', team: 't', key_id: 'k', user_id: `u${i % 100}`, session_id: '', session_path: '', session_name: '',
    properties: {}, provider: m.provider, model: m.model, response_model: m.response_model, endpoint: 'chat', path: '/v1/chat/completions', method: 'POST',
    target_host: 'api.example.com', stream: false, status: 200, latency_ms: 500, ttfb_ms: 100, ttft_ms: null, finish_reason: 'stop', error_type: '', error_code: '',
    prompt_tokens: 1000, completion_tokens: 100, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, tokens_estimated: false,
    cost_usd: m.right, cost_known: true, cache_status: 'none', attempts: 1, trace_id: '', span_id: '',
    request_body: BODY, response_body: BODY.slice(0, 1000), request_bytes: BODY.length, response_bytes: 1000,
  });
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'sl-bench-reprice-'));
const client = createClickHouse({ user: 'default', password: '', dataDir: dir });
try {
  await migrate(client);
  const writer = createWriter(client);
  for (let from = 0; from < ROWS; from += 10_000) await writer.insert(Array.from({ length: Math.min(10_000, ROWS - from) }, (_, k) => call(from + k)));
  const cost = createCoster({ overrides: {}, priceVersion: BUNDLED_PRICE_VERSION });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const first = await reprice(client, cost, { since: '30d', dryRun: false, pageRows: PAGE });
  const firstS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const t1 = performance.now();
  const second = await reprice(client, cost, { since: '30d', dryRun: false, pageRows: PAGE });
  const secondS = (performance.now() - t1) / 1000;
  const versions = await (await client.query({ query: 'SELECT count() AS n FROM sightline.requests', format: 'JSONEachRow' })).json<{ n: string }>();
  console.log(`reprice of ${ROWS} stored calls (2 KB bodies), pages of ${PAGE}, embedded chDB, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}`);
  console.log(`  first run: ${first.changed} of ${first.scanned} rows changed in ${firstS.toFixed(2)} s (${Math.round(first.scanned / firstS)} rows/s; this process's CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, the engine's included)`);
  for (const m of first.byModel) console.log(`    ${m.model}: ${m.rows} rows, $${m.before_usd.toFixed(4)} → $${m.after_usd.toFixed(4)}`);
  console.log(`  second run: ${second.changed} of ${second.scanned} changed in ${secondS.toFixed(2)} s (${Math.round(second.scanned / secondS)} rows/s, read only)`);
  console.log(`  rows in the table after both runs, without FINAL: ${versions[0]!.n} (each changed row wrote a version; background merges drop the old ones)`);
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
