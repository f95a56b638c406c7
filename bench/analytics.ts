// Issue #17's benchmark: N synthetic calls (default 10M) generated inside the engine (INSERT … SELECT FROM
// numbers(), so the materialized views of 0009–0012 fill as they would from ingest, one chunk per insert), then
// every dashboard panel timed through panels/ exactly as the console and Grafana run it, and the bytes on disk.
// Targets: ≤ 100 ms for a rollup panel, ≤ 1 s for a raw drill-down (panels/catalog.ts `source`).
//   npm run bench -- analytics [--rows 10000000] [--chunk 1000000] [--runs 5] [--keep <dir>] [--reuse <dir>] [--optimize]
// --keep leaves the seeded store in <dir>, --reuse times a kept one again; --optimize first merges every rollup fully
// (OPTIMIZE … FINAL: the state background merges reach for past days), so both states can be measured.
// Distributions (all deterministic, from cityHash64 of the row number):
//   time       uniform over the last 30 days
//   org        20 organisations, Zipf-like (org_00 ≈ 22 % of calls, org_19 ≈ 0.3 %); 3 teams × 3 keys each
//   user       1,000 per organisation (20,000), skewed (square of a uniform); a user's team is fixed, its key one of the team's 3
//   model      12 models of 6 providers with realistic weights (gpt-4o-mini 28 %, claude-sonnet-4-5 18 %, …); a key
//              calls its own model 80 % of the time (an application has a model), any model otherwise
//   status     93.5 % 200, 1 % 400, 2 % 429, 1 % 500, 1 % 503, 0.5 % no response (-1), 1 % cut stream (-2)
//   latency    log-normal, median ≈ 700 ms (× 0.1 for embeddings); TTFT ≈ 15–35 % of it on streams (60 % of calls)
//   tokens     prompt log-normal (median ≈ 1,200), completion ≈ 250, 35 % of calls read 40–80 % of the prompt from cache
//   properties feature (8 values) on all, env on 50 %, customer (500 values) on 30 %
//   sessions   60 % of calls, one session per user per 4 hours, 5 paths
//   bodies     request ≈ 400–1,600 B, response ≈ 200–800 B of text from a 64-word vocabulary (compresses like prose)
//   attempts   2 % one retry, 1 % one fallback to another provider
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createClickHouse } from '../analytics/client.ts';
import { migrate } from '../analytics/migrate.ts';
import { refreshModelPrices } from '../analytics/prices.ts';
import { ROLLUPS } from '../analytics/rollups.ts';
import { DASHBOARDS, PANELS, grafanaIntervalMs, panelSql, type PanelId, type PanelRequest } from '../panels/index.ts';
import { median, percentile } from './lib/stats.ts';

const { values: args } = parseArgs({ options: {
  rows: { type: 'string', default: '10000000' }, chunk: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '5' },
  keep: { type: 'string' }, reuse: { type: 'string' }, optimize: { type: 'boolean', default: false },
} });
const ROWS = Number(args.rows);
const CHUNK = Number(args.chunk);
const RUNS = Number(args.runs);

const dataDir = args.reuse ?? args.keep ?? mkdtempSync(path.join(tmpdir(), 'sightline-bench-analytics-'));
const client = createClickHouse({ user: 'default', password: '', dataDir });
const q = async <T>(query: string): Promise<T[]> => (await client.query({ query, format: 'JSONEachRow' })).json<T>();

// u(k): a uniform in [0, 1) per row and stream k; n(k): a standard normal (Box–Muller).
const u = (k: number) => `(cityHash64(number, ${k}) % 1000000007) / 1000000007`;
const n = (k: number) => `(sqrt(-2 * log(1 - ${u(k)})) * cos(2 * pi() * ${u(k + 100)}))`;

function seedSql(from: number, count: number, nowSec: number): string {
  return `INSERT INTO sightline.requests
  (schema_version, request_id, created_at, organization_id, team, key_id, user_id, session_id, session_path, session_name, properties,
   provider, model, model_alias, deployment, response_model, endpoint, path, method, target_host, stream, status, latency_ms, ttfb_ms, ttft_ms,
   finish_reason, error_type, error_code, prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
   tokens_estimated, cost_usd, cost_known, cache_status, attempts, attempt_log, trace_id, span_id, request_body, response_body, request_bytes, response_bytes)
WITH
  ['openai','openai','openai','openai','anthropic','anthropic','anthropic','gemini','gemini','openai','azure','custom'] AS providers,
  ['gpt-4o-mini','gpt-4o','gpt-4.1','o4-mini','claude-sonnet-4-5','claude-haiku-4-5','claude-opus-4','gemini-2.5-flash','gemini-2.5-pro','text-embedding-3-small','gpt-4o','llama-3.1-70b'] AS models,
  [0.28, 0.38, 0.44, 0.49, 0.67, 0.75, 0.78, 0.88, 0.92, 0.96, 0.99, 1.0] AS model_cdf,
  [0.15, 2.5, 2.0, 1.1, 3.0, 1.0, 15.0, 0.3, 1.25, 0.02, 2.5, 0.9] AS input_price,
  ['search','chat','summarise','extract','agent','translate','classify','code'] AS features,
  ['the','a','model','user','answer','question','data','report','customer','order','flight','hotel','price','search','result','summary',
   'please','find','list','show','compare','between','and','or','with','without','for','from','to','in','on','at','by','about','this','that',
   'next','last','week','month','year','today','tomorrow','best','cheapest','fastest','options','details','status','update','account','invoice',
   'refund','policy','contract','meeting','notes','draft','email','reply','review','code','error','fix'] AS words,
  toUInt32(floor(20 * pow(${u(1)}, 2.2))) AS org_n,
  toUInt32(org_n * 1000 + floor(1000 * pow(${u(5)}, 2))) AS user_n,
  user_n % 3 AS team_n,
  toUInt32(${u(3)} * 3) AS key_n,
  -- an application (key) mostly calls its own model, sometimes any other
  if(${u(2)} < 0.8, arrayFirstIndex(c -> c >= (cityHash64(org_n, team_n, key_n) % 1000) / 1000, model_cdf), arrayFirstIndex(c -> c >= ${u(4)}, model_cdf)) AS m,
  ${u(6)} AS s,
  toInt32(multiIf(s < 0.935, 200, s < 0.945, 400, s < 0.965, 429, s < 0.975, 500, s < 0.985, 503, s < 0.99, -1, -2)) AS st,
  models[m] = 'text-embedding-3-small' AS embedding,
  NOT embedding AND (${u(7)} < 0.6 OR st = -2) AS is_stream,
  round(exp(6.55 + 0.7 * ${n(8)}) * if(embedding, 0.1, 1), 3) AS latency,
  toUInt64(exp(7.1 + 0.9 * ${n(9)})) AS prompt,
  toUInt64(if(embedding OR st NOT IN (200, -2), 0, exp(5.5 + 0.8 * ${n(10)}))) AS completion,
  toUInt64(if(${u(11)} < 0.35, prompt * (0.4 + 0.4 * ${u(12)}), 0)) AS cached,
  toUInt64(if(${u(13)} < 0.05 AND models[m] LIKE 'claude%', prompt * 0.3, 0)) AS written,
  toUInt64(if(models[m] = 'o4-mini', completion * 0.6, 0)) AS reasoning,
  ${u(14)} AS a,
  toUInt32(${nowSec} - ${u(15)} * 30 * 86400) AS t
SELECT
  1, generateUUIDv4(number), toDateTime64(t, 3, 'UTC') + toIntervalMillisecond(cityHash64(number, 16) % 1000),
  concat('org_', leftPad(toString(org_n), 2, '0')), concat('team_', toString(team_n)), concat('key_', toString(org_n), '_', toString(team_n), '_', toString(key_n)),
  concat('user_', toString(user_n)),
  if(${u(17)} < 0.6, concat('sess_', toString(cityHash64(user_n, intDiv(t, 14400)) % 100000000)), ''),
  if(${u(17)} < 0.6, ['/', '/plan', '/plan/search', '/plan/search/fetch', '/answer'][1 + cityHash64(number, 18) % 5], ''),
  if(${u(17)} < 0.6, 'agent run', ''),
  mapFilter((k, v) -> v != '', map('feature', features[1 + cityHash64(number, 19) % 8], 'env', if(${u(20)} < 0.5, 'prod', ''),
    'customer', if(${u(21)} < 0.3, concat('cust_', toString(cityHash64(number, 22) % 500)), ''))),
  providers[m], models[m], '', if(a < 0.03, 'primary', ''), models[m],
  multiIf(embedding, 'embeddings', providers[m] = 'anthropic', 'messages', providers[m] = 'gemini', 'generate', 'chat'),
  '/v1/chat/completions', 'POST', concat('api.', providers[m], '.com'), is_stream, st, latency,
  if(st = -1, NULL, latency * 0.1), if(is_stream AND st IN (200, -2), latency * (0.15 + 0.2 * ${u(23)}), NULL),
  if(st = 200, 'stop', ''), if(st >= 400 OR st < 0, 'upstream', ''), if(st = 429, 'rate_limit_exceeded', ''),
  prompt, completion, cached, written, reasoning, false,
  (prompt - cached - written) * input_price[m] / 1e6 + cached * input_price[m] / 2e6 + written * input_price[m] * 1.25 / 1e6 + completion * input_price[m] * 4 / 1e6,
  true, 'none', if(a < 0.03, 2, 1),
  multiIf(a < 0.02, [('', 'primary', providers[m], models[m], 500, 120., 'upstream', 'overloaded'), ('', 'primary', providers[m], models[m], st, latency, '', '')],
          a < 0.03, [('', 'primary', providers[m], models[m], 503, 80., 'upstream', 'unavailable'), ('', 'secondary', 'anthropic', 'claude-haiku-4-5', st, latency, '', '')],
          []),
  lower(hex(cityHash64(number, 24))), lower(hex(cityHash64(number, 25))),
  concat('{"model":"', models[m], '","messages":[{"role":"user","content":"',
    arrayStringConcat(arrayMap(i -> words[1 + cityHash64(number, i) % 64], range(toUInt64(60 + cityHash64(number, 26) % 240))), ' '), '"}]}') AS req_body,
  concat('{"choices":[{"message":{"content":"',
    arrayStringConcat(arrayMap(i -> words[1 + cityHash64(number, 1000 + i) % 64], range(toUInt64(30 + cityHash64(number, 27) % 120))), ' '), '"}}]}') AS res_body,
  length(req_body), length(res_body)
FROM numbers(${from}, ${count})`;
}

async function seed(): Promise<void> {
  await migrate(client);
  const nowSec = Math.floor(Date.now() / 1000);
  const started = performance.now();
  for (let from = 0; from < ROWS; from += CHUNK) {
    const t0 = performance.now();
    await client.command({ query: seedSql(from, Math.min(CHUNK, ROWS - from), nowSec) });
    const done = Math.min(from + CHUNK, ROWS);
    console.log(`  seeded ${done.toLocaleString('en')} rows: chunk ${((performance.now() - t0) / 1000).toFixed(1)} s, total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  console.log(`seeded ${ROWS.toLocaleString('en')} rows in ${((performance.now() - started) / 1000).toFixed(0)} s (engine: ${JSON.stringify(await q('SELECT version() AS v'))})`);
  console.log(`model prices written: ${await refreshModelPrices(client)}`);
}

async function settle(): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const [m] = await q<{ n: string }>("SELECT count() AS n FROM system.merges WHERE database = 'sightline'");
    if (Number(m?.n) === 0 || performance.now() - t0 > 120_000) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const parts = await q<{ table: string; parts: string }>("SELECT table, count() AS parts FROM system.parts WHERE database = 'sightline' AND active GROUP BY table ORDER BY table");
  console.log(`merges settled after ${((performance.now() - t0) / 1000).toFixed(0)} s; active parts: ${parts.map((p) => `${p.table} ${p.parts}`).join(', ')}`);
}

async function optimize(): Promise<void> {
  for (const { table } of ROLLUPS) {
    const t0 = performance.now();
    await client.command({ query: `OPTIMIZE TABLE ${table} FINAL` });
    console.log(`  OPTIMIZE ${table} FINAL: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

async function sizes(): Promise<void> {
  const rows = await q<{ table: string; rows: string; bytes: string; uncompressed: string }>(`SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes,
    sum(data_uncompressed_bytes) AS uncompressed FROM system.parts WHERE database = 'sightline' AND active GROUP BY table ORDER BY table`);
  const raw = rows.find((r) => r.table === 'requests');
  console.log('\non disk (active parts):');
  console.log('| table | rows | MiB on disk | bytes / call |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.table} | ${Number(r.rows).toLocaleString('en')} | ${(Number(r.bytes) / 2 ** 20).toFixed(1)} | ${(Number(r.bytes) / Number(raw?.rows ?? 1)).toFixed(1)} |`);
  }
  const cols = await q<{ name: string; bytes: string }>(`SELECT name, sum(data_compressed_bytes) AS bytes FROM system.columns WHERE database = 'sightline' AND table = 'requests'
    GROUP BY name ORDER BY sum(data_compressed_bytes) DESC LIMIT 6`);
  console.log(`requests: ${(Number(raw?.bytes) / Number(raw?.rows)).toFixed(1)} B/row on disk (uncompressed ${(Number(raw?.uncompressed) / Number(raw?.rows)).toFixed(0)} B/row); largest columns: ${cols.map((c) => `${c.name} ${(Number(c.bytes) / Number(raw?.rows)).toFixed(1)} B/row`).join(', ')}`);
}

interface Case { panel: PanelId; label: string; req: PanelRequest }

async function cases(): Promise<Case[]> {
  const now = new Date();
  const ago = (days: number) => new Date(now.getTime() - days * 86_400_000);
  const [top] = await q<{ org: string }>('SELECT organization_id AS org FROM sightline.cost_hourly GROUP BY org ORDER BY sum(calls) DESC LIMIT 1');
  const [sess] = await q<{ s: string }>(`SELECT session_id AS s FROM sightline.sessions_daily WHERE organization_id = '${top!.org}' AND day = today() - 1 LIMIT 1`);
  const [call] = await q<{ id: string }>(`SELECT toString(request_id) AS id FROM sightline.requests WHERE organization_id = '${top!.org}' AND created_at > now() - INTERVAL 1 DAY LIMIT 1`);
  const ranges = [{ label: '24h', from: ago(1) }, { label: '30d', from: ago(30) }];
  const out: Case[] = [];
  const seen = new Set<PanelId>();
  for (const d of DASHBOARDS) for (const { panel } of d.panels) {
    if (seen.has(panel)) continue;
    seen.add(panel);
    for (const r of ranges) {
      for (const scope of ['all orgs', top!.org]) {
        const variables = { ...(scope === 'all orgs' ? {} : { organisation: [top!.org] }), session: sess?.s ?? '', request_id: call?.id ?? '' };
        // Grafana's own interval for a ~1,000 px wide panel
        out.push({ panel, label: `${r.label}, ${scope}`, req: { from: r.from, to: now, intervalMs: grafanaIntervalMs(r.from, now, 1000), variables } });
      }
    }
  }
  return out;
}

async function time(c: Case, runs: number): Promise<{ ms: number[]; rows: number }> {
  const sql = panelSql(PANELS[c.panel], c.req);
  const ms: number[] = [];
  let rows = 0;
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const rs = await client.query({ query: sql, format: 'JSONEachRow' });
    const got = await rs.json<unknown>();
    const elapsed = performance.now() - t0;
    if (i > 0) ms.push(elapsed); // the first run warms caches
    rows = got.length;
  }
  return { ms, rows };
}

async function main(): Promise<void> {
  try {
    if (!args.reuse) await seed();
    else console.log(`reusing ${dataDir}`);
    await settle();
    if (args.optimize) await optimize();
    await sizes();
    console.log(`\npanels (median of ${RUNS} runs after one warm-up; target ≤ 100 ms rollup, ≤ 1000 ms raw):`);
    console.log('| panel | source | range, scope | rows | median ms | max ms | target | |');
    console.log('|---|---|---|---:|---:|---:|---:|---|');
    let met = 0;
    let missed = 0;
    for (const c of await cases()) {
      const r = await time(c, RUNS);
      const target = PANELS[c.panel].source === 'rollup' ? 100 : 1000;
      const med = median(r.ms);
      const ok = med <= target;
      if (ok) met++;
      else missed++;
      console.log(`| ${c.panel} | ${PANELS[c.panel].source} | ${c.label} | ${r.rows} | ${med.toFixed(1)} | ${percentile(r.ms, 100).toFixed(1)} | ${target} | ${ok ? 'MET' : 'NOT MET'} |`);
    }
    console.log(`\n${met} met, ${missed} not met`);
  } finally {
    await client.close();
    if (!args.keep && !args.reuse) rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
