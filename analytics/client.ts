// One way to get a ClickHouse client: a real server when a URL is configured, otherwise the
// embedded chDB engine in <data_dir>/clickhouse behind the same @clickhouse/client API.
import { createRequire } from 'node:module';
import path from 'node:path';
import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import type * as ChdbConnectionModule from 'chdb/connection';

// The engine (a 540 MB native library) loads only when the embedded store is used: a deployment with a
// ClickHouse server never maps it.
const loadChdb = (): typeof ChdbConnectionModule => createRequire(import.meta.url)('chdb/connection') as typeof ChdbConnectionModule;

export type ClickHouseMode = 'server' | 'embedded';

export interface ClickHouseOptions {
  /** Unset = embedded chDB. */
  url?: string | undefined;
  user: string;
  password: string;
  /** Sightline's data dir; the embedded store lives in `<dataDir>/clickhouse`. */
  dataDir: string;
}

// chDB returns UInt64/Int64 as bare JSON numbers by default, silently losing precision past 2^53.
// Client-level settings are re-sent with every query, so this also survives chDB's session-wide SET leaks.
export const CLIENT_SETTINGS = { output_format_json_quote_64bit_integers: 1 } as const;

export type ChdbConnection = ReturnType<typeof ChdbConnectionModule.createChdbConnection>;

const modes = new WeakMap<ClickHouseClient, ClickHouseMode>();
const chdbConnections = new WeakMap<ClickHouseClient, ChdbConnection>();

export function embeddedStorePath(dataDir: string): string {
  return path.join(dataDir, 'clickhouse');
}

/**
 * Every call opens a new connection. In embedded mode two calls on the same dataDir share the data but not
 * session settings, which is how the HTTP interface gets a read-only session next to the writer's.
 * Only one process may open a given embedded dir (chDB locks it).
 */
export function createClickHouse(opts: ClickHouseOptions): ClickHouseClient {
  if (opts.url) {
    const client = createClient({
      url: opts.url,
      username: opts.user,
      password: opts.password,
      clickhouse_settings: { ...CLIENT_SETTINGS },
    });
    modes.set(client, 'server');
    return client;
  }
  // chDB implements the connection contract against its own copy of @clickhouse/client-common's types,
  // which TypeScript sees as distinct from the copy bundled in @clickhouse/client; the shapes are the same.
  const chdb = loadChdb().createChdbConnection({ path: embeddedStorePath(opts.dataDir) });
  const client = createClient({
    connection: chdb as unknown as ClickHouseClientConfigOptions['connection'],
    clickhouse_settings: { ...CLIENT_SETTINGS },
  });
  modes.set(client, 'embedded');
  chdbConnections.set(client, chdb);
  return client;
}

/** Which engine a client from createClickHouse talks to; clients made elsewhere count as 'server'. */
export function clickHouseMode(client: ClickHouseClient): ClickHouseMode {
  return modes.get(client) ?? 'server';
}

export function isEmbedded(client: ClickHouseClient): boolean {
  return clickHouseMode(client) === 'embedded';
}

/** The chDB connection behind an embedded client, for chDB-only fast paths (rawInsert); undefined for servers. */
export function chdbConnectionOf(client: ClickHouseClient): ChdbConnection | undefined {
  return chdbConnections.get(client);
}
