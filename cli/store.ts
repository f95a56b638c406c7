// How a CLI command reaches the store and reports its failure: `sql` and `reprice` (main.ts) and the compliance
// commands open the same client, so a running gateway is asked first by all of them alike.
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { CLIENT_SETTINGS, createClickHouse } from '../analytics/client.ts';
import type { Config } from '../config/index.ts';

/** The configured ClickHouse server, the running gateway's embedded store over its HTTP interface, or the embedded store opened directly. */
export type StoreRoute = 'server' | 'gateway' | 'embedded';

/**
 * A ClickHouse server is reached with the configured credentials. The embedded store is locked by a running
 * gateway's ingest worker: its HTTP interface is asked when it answers, as `login` if given (the interface holds an
 * organisation key's user to its organisation). Otherwise the embedded store is opened directly.
 */
export async function openQueryClient(config: Config, login?: { username: string; password: string }): Promise<{ client: ClickHouseClient; route: StoreRoute }> {
  const { url, user, password, http_port } = config.clickhouse;
  if (url) return { client: createClickHouse({ url, user, password, dataDir: config.data_dir }), route: 'server' };
  if (http_port > 0) {
    const local = createClient({ url: `http://127.0.0.1:${http_port}`, clickhouse_settings: { ...CLIENT_SETTINGS }, ...login });
    if ((await local.ping()).success) return { client: local, route: 'gateway' };
    await local.close();
  }
  return { client: createClickHouse({ user, password, dataDir: config.data_dir }), route: 'embedded' };
}

/** Runs `work`, then closes `client`; a failure is reported as `sightline <command>: …` with exit code 1. */
export async function runClosing(command: string, client: ClickHouseClient, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    console.error(`sightline ${command}: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await client.close();
  }
}
