// What the materialized views on sightline.requests cost the embedded engine per inserted row: the bench's v2
// exchanges (bench/ingest-events.ts), decoded, redacted and encoded as ingest does, are inserted through the
// ingest writer into a fresh embedded store, once per variant, each variant in its own process (chDB opens one
// data dir per process). The rows are encoded before the clock starts, so the CPU counted is the engine's: the
// inserts (each view's SELECT and its part) and the background merges they cause, until no merge is running.
//   node bin/run-ts.mjs bench/ingest-views.ts [--events 50000] [--batch 2400] [--user-chars 600]
//        [--variants all,none,-cost_hourly_mv,…] [--target 14] [--rounds 1]
// A variant is `all` (every migration up to --target), `none` (every view dropped), `-<view>[+-<view>…]` (those
// views dropped) or `only:<view>[+<view>…]` (every other view dropped). A view costs mostly per insert, not per row
// (its query and its part), so compare variants at the same --batch. Each process is fresh: its first inserts include
// the engine compiling the views' expressions (~0.2 s of CPU in all), the same in every variant with those views.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../analytics/client.ts';
import { migrate } from '../analytics/migrate.ts';
import { parseConfig } from '../config/index.ts';
import { decodeEvent, defaultAssembleDeps, redactorFromConfig } from '../ingest/pipeline.ts';
import { createWriter, encodeInsert, type PreparedInsert } from '../ingest/writer.ts';
import { busMessages } from './ingest-events.ts';

const { values: args } = parseArgs({ options: {
  events: { type: 'string', default: '50000' },
  batch: { type: 'string', default: '2400' },
  'user-chars': { type: 'string', default: '600' },
  variants: { type: 'string' },
  target: { type: 'string' },
  rounds: { type: 'string', default: '1' },
  child: { type: 'string' },
} });

const VIEWS = [
  'cost_hourly_mv', 'cost_users_daily_mv', 'cost_properties_daily_mv', 'provider_health_5m_mv', 'provider_health_1h_mv',
  'sessions_daily_mv', 'session_paths_daily_mv',
] as const;

async function scalar(client: ClickHouseClient, sql: string): Promise<string> {
  const rs = await client.query({ query: sql, format: 'TabSeparated' });
  return (await rs.text()).trim();
}

async function child(variant: string): Promise<void> {
  const events = Number(args.events);
  const batch = Number(args.batch);
  const deps = defaultAssembleDeps();
  const redact = redactorFromConfig(parseConfig('redaction:\n  enabled: true\n', {}).redaction);
  const rows = busMessages('v2', events, Number(args['user-chars'])).flatMap((m) => {
    const d = decodeEvent(m, 1 << 24, deps);
    return d.ok ? [redact(d.event)] : [];
  });
  const inserts: PreparedInsert[] = [];
  for (let i = 0; i < rows.length; i += batch) inserts.push(encodeInsert(rows.slice(i, i + batch)));

  const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-views-'));
  const client = createClickHouse({ user: 'default', password: '', dataDir });
  try {
    await migrate(client, args.target === undefined ? {} : { target: Number(args.target) });
    const listed = variant.replace(/^only:/, '').split('+').map((v) => v.replace(/^-/, ''));
    const drop = variant === 'all' ? [] : variant === 'none' ? [...VIEWS] : variant.startsWith('only:') ? VIEWS.filter((v) => !listed.includes(v)) : listed;
    for (const v of drop) await client.command({ query: `DROP VIEW IF EXISTS sightline.${v}` });
    const writer = createWriter(client, { maxRowsPerInsert: batch });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const ins of inserts) await writer.write([ins]);
    const insertCpu = process.cpuUsage(cpu0);
    const insertMs = performance.now() - t0;
    // Merges the inserts started (a new one can start as one ends: idle = none running on three polls in a row).
    for (let idle = 0; idle < 3; await sleep(200)) {
      idle = Number(await scalar(client, 'SELECT count() FROM system.merges')) === 0 ? idle + 1 : 0;
    }
    const totalCpu = process.cpuUsage(cpu0);
    const parts = await scalar(client, "SELECT sum(active), count() FROM system.parts WHERE database = 'sightline'");
    const us = (c: NodeJS.CpuUsage): number => (c.user + c.system) / events;
    console.log(JSON.stringify({ variant, inserts: inserts.length, insert_us_per_row: +us(insertCpu).toFixed(1), total_us_per_row: +us(totalCpu).toFixed(1), insert_ms: Math.round(insertMs), parts }));
  } finally {
    await client.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (args.child !== undefined) {
  await child(args.child);
} else {
  const variants = (args.variants ?? ['all', 'none', ...VIEWS.map((v) => `-${v}`)].join(',')).split(',');
  const self = fileURLToPath(import.meta.url);
  const passed = ['events', 'batch', 'user-chars', 'target'].flatMap((k) => {
    const v = args[k as keyof typeof args];
    return typeof v === 'string' ? [`--${k}`, v] : [];
  });
  const results = new Map<string, { insert: number[]; total: number[] }>();
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const v of variants) {
      const r = spawnSync(process.execPath, [path.join(path.dirname(self), '../bin/run-ts.mjs'), self, `--child=${v}`, ...passed], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
      if (r.status !== 0) throw new Error(`${v}: ${r.stderr}`);
      const line = r.stdout.trim().split('\n').at(-1) ?? '';
      console.log(line);
      const o = JSON.parse(line) as { insert_us_per_row: number; total_us_per_row: number };
      const e = results.get(v) ?? { insert: [], total: [] };
      e.insert.push(o.insert_us_per_row);
      e.total.push(o.total_us_per_row);
      results.set(v, e);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // A view's cost two ways: what dropping it saves (all − `-view`), and what it adds alone (`only:view` − none).
  const all = results.get('all');
  const none = results.get('none');
  console.log(`\nmedians of ${args.rounds} round(s), µs of engine CPU per row
variant                                   insert   with merges   view's cost (with merges)`);
  for (const [v, r] of results) {
    const cost = v.startsWith('-') && all !== undefined ? `${(median(all.total) - median(r.total)).toFixed(1)} saved by dropping`
      : v.startsWith('only:') && none !== undefined ? `${(median(r.total) - median(none.total)).toFixed(1)} added alone` : '';
    console.log(`${v.padEnd(42)}${median(r.insert).toFixed(1).padStart(6)}${median(r.total).toFixed(1).padStart(14)}   ${cost}`);
  }
}
