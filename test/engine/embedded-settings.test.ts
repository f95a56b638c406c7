// The embedded engine's limits take effect: chDB accepts unknown start-up arguments silently, so each one is read
// back from the engine itself (system.server_settings for server-level ones, system.settings for session ones).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterEach, describe, expect, it } from 'vitest';
import { chdbInsertSettings, createClickHouse, EMBEDDED_DEFAULTS } from '../../analytics/client.ts';
import { parseConfig } from '../../config/index.ts';

const dirs: string[] = [];
const clients: ClickHouseClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(embedded?: Parameters<typeof createClickHouse>[0]['embedded']): ClickHouseClient {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-embedded-'));
  dirs.push(dataDir);
  const client = createClickHouse({ user: 'default', password: '', dataDir, embedded });
  clients.push(client);
  return client;
}

async function settings(client: ClickHouseClient, table: 'system.settings' | 'system.server_settings', names: string[]): Promise<Record<string, string>> {
  const rs = await client.query({ query: `SELECT name, value FROM ${table} WHERE name IN {names:Array(String)}`, query_params: { names }, format: 'JSONEachRow' });
  return Object.fromEntries((await rs.json<{ name: string; value: string }>()).map((r) => [r.name, r.value]));
}

const CACHES = ['mark_cache_size', 'index_mark_cache_size', 'primary_index_cache_size', 'query_condition_cache_size', 'compiled_expression_cache_size'];

describe('embedded engine limits', () => {
  it('the defaults are what the engine runs with', async () => {
    const client = open();
    expect(await settings(client, 'system.server_settings', ['background_pool_size', 'background_merges_mutations_concurrency_ratio', ...CACHES])).toEqual({
      background_pool_size: '2',
      background_merges_mutations_concurrency_ratio: '1',
      ...Object.fromEntries(CACHES.map((c) => [c, String(EMBEDDED_DEFAULTS.cacheBytes)])),
    });
    expect(await settings(client, 'system.settings', ['max_threads', 'max_parsing_threads'])).toEqual({ max_threads: '2', max_parsing_threads: '1' });
    const rs = await client.query({ query: "SELECT name, value FROM system.merge_tree_settings WHERE name IN ('vertical_merge_algorithm_min_rows_to_activate', 'vertical_merge_algorithm_min_columns_to_activate') ORDER BY name", format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([
      { name: 'vertical_merge_algorithm_min_columns_to_activate', value: '1' },
      { name: 'vertical_merge_algorithm_min_rows_to_activate', value: '1' },
    ]);
  });

  it('raw inserts carry the session limits, without the in-block collapse (optimize_on_insert)', () => {
    expect(chdbInsertSettings(open())).toEqual({ max_threads: 2, max_parsing_threads: 1, optimize_on_insert: 0 });
  });

  it('the config section sets them, and a second connection to the running engine shares them', async () => {
    const e = parseConfig('clickhouse:\n  embedded:\n    max_threads: 1\n    max_parsing_threads: 2\n    background_pool_size: 3\n    cache_bytes: 1048576\n', {}).clickhouse.embedded;
    const limits = { maxThreads: e.max_threads, maxParsingThreads: e.max_parsing_threads, backgroundPoolSize: e.background_pool_size, cacheBytes: e.cache_bytes };
    const client = open(limits);
    expect(await settings(client, 'system.server_settings', ['background_pool_size', 'mark_cache_size'])).toEqual({ background_pool_size: '3', mark_cache_size: '1048576' });
    expect(await settings(client, 'system.settings', ['max_threads', 'max_parsing_threads'])).toEqual({ max_threads: '1', max_parsing_threads: '2' });

    // The HTTP interface's read-only session is a second connection: server settings come from the first.
    const second = createClickHouse({ user: 'default', password: '', dataDir: dirs[0]!, embedded: { ...limits, backgroundPoolSize: 5 } });
    clients.push(second);
    expect(await settings(second, 'system.server_settings', ['background_pool_size'])).toEqual({ background_pool_size: '3' });
  });
});
