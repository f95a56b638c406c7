// A clean ClickHouse for one test file.
//
// Default: embedded chDB in a fresh mkdtemp data dir (one per test file; vitest runs files in separate
// processes because chDB allows one data dir per process).
// CLICKHOUSE_URL set: a real server. Our SQL is fully qualified (`sightline.requests`), so there is no
// per-test database: the `sightline` database is DROPPED at start. Point CLICKHOUSE_URL only at a
// throwaway server and run engine files one at a time (`vitest run --no-file-parallelism test/engine`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createClickHouse } from '../../analytics/client.ts';
import { migrate } from '../../analytics/migrate.ts';

export interface TestClickHouse {
  client: ClickHouseClient;
  dataDir: string;
  /** Another client on the same store (embedded: a second chDB session with its own settings). */
  connect(): ClickHouseClient;
  close(): Promise<void>;
}

export async function freshClickHouse(): Promise<TestClickHouse> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-ch-'));
  const url = process.env.CLICKHOUSE_URL;
  const opts = {
    url: url || undefined,
    user: process.env.CLICKHOUSE_USER ?? 'default',
    password: process.env.CLICKHOUSE_PASSWORD ?? '',
    dataDir,
  };
  const opened: ClickHouseClient[] = [];
  const connect = (): ClickHouseClient => {
    const c = createClickHouse(opts);
    opened.push(c);
    return c;
  };
  const client = connect();
  if (url) await client.command({ query: 'DROP DATABASE IF EXISTS sightline SYNC' });
  return {
    client,
    dataDir,
    connect,
    async close() {
      for (const c of opened.reverse()) await c.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A migrated store for the test file, emptied of requests before each test: registers the hooks, and returns a
 * getter (the store opens in beforeAll).
 */
export function migratedStorePerFile(): () => TestClickHouse {
  let ch: TestClickHouse | undefined;
  beforeAll(async () => {
    ch = await freshClickHouse();
    await migrate(ch.client);
  });
  afterAll(async () => { await ch?.close(); });
  beforeEach(async () => { await ch!.client.command({ query: 'TRUNCATE TABLE sightline.requests' }); });
  return () => ch!;
}
