// One way to get a ClickHouse client: a real server when a URL is configured, otherwise the
// embedded chDB engine in <data_dir>/clickhouse behind the same @clickhouse/client API.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createClient, type ClickHouseClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import type * as ChdbConnectionModule from 'chdb/connection';

// The engine (a 540 MB native library) loads only when the embedded store is used: a deployment with a
// ClickHouse server never maps it.
const requireHere = createRequire(import.meta.url);
const loadChdb = (): typeof ChdbConnectionModule => requireHere('chdb/connection') as typeof ChdbConnectionModule;
/** chDB's session class: the only way to hand the engine start-up arguments (createChdbConnection takes a path only). */
interface ChdbRoot {
  Session: new (path: string, opts: { connectionArgs: readonly string[] }) => { close(): void };
}
const loadChdbRoot = (): ChdbRoot => requireHere('chdb') as ChdbRoot;

/**
 * Limits for the embedded engine, which shares one box with the proxy. Left alone it sizes itself for the whole
 * machine: one thread per core for every query and for parsing every insert, and 5 GiB for each of its mark and
 * index caches. Measured on 2 cores: parsing a 5,000-row insert on one thread costs 15 µs of CPU per row against
 * 18 µs with parallel parsing, and leaves the other core to the ingest worker's JavaScript and the proxy.
 */
export interface EmbeddedEngineSettings {
  /** Threads one query may use (max_threads). */
  maxThreads: number;
  /** Threads parsing one insert (max_parsing_threads). */
  maxParsingThreads: number;
  /** Threads running merges and mutations (background_pool_size; merges run at most this many at once). */
  backgroundPoolSize: number;
  /** Upper bound of each engine cache (marks, primary indexes, index marks, query conditions, compiled expressions…). */
  cacheBytes: number;
}

export const EMBEDDED_DEFAULTS: EmbeddedEngineSettings = { maxThreads: 2, maxParsingThreads: 1, backgroundPoolSize: 2, cacheBytes: 64 * 1024 * 1024 };

const CACHES = [
  'mark_cache_size', 'index_mark_cache_size', 'primary_index_cache_size', 'query_condition_cache_size',
  'compiled_expression_cache_size', 'vector_similarity_index_cache_size', 'text_index_tokens_cache_size',
] as const;

/**
 * Server-level settings exist only as start-up arguments: the first connection to a data dir in a process starts
 * the engine with them, later ones share it (their arguments are ignored). chDB accepts unknown names silently,
 * so test/engine/embedded-settings.test.ts reads each back from system.server_settings.
 */
export function embeddedServerArgs(s: EmbeddedEngineSettings): string[] {
  return [
    `--background_pool_size=${s.backgroundPoolSize}`,
    // Merges run at most backgroundPoolSize at a time instead of twice that (the engine's default ratio is 2).
    '--background_merges_mutations_concurrency_ratio=1',
    ...CACHES.map((c) => `--${c}=${s.cacheBytes}`),
  ];
}

/**
 * MergeTree defaults for the embedded store, which only a config file can set (start-up arguments cannot reach the
 * merge_tree section). Merges are vertical at any size: key columns first, then one column at a time, instead of
 * whole rows of every part at once. Measured while draining a backlog of v2 exchanges into 4,600-row parts: the
 * largest merge held 300 MB → 62 MB, at the same CPU per event.
 */
const EMBEDDED_CONFIG_XML = `<clickhouse>
  <merge_tree>
    <vertical_merge_algorithm_min_rows_to_activate>1</vertical_merge_algorithm_min_rows_to_activate>
    <vertical_merge_algorithm_min_columns_to_activate>1</vertical_merge_algorithm_min_columns_to_activate>
  </merge_tree>
</clickhouse>
`;

/** Session settings of the embedded engine: sent with every query (client level) and every raw insert. */
export function embeddedQuerySettings(s: EmbeddedEngineSettings): { max_threads: number; max_parsing_threads: number } {
  return { max_threads: s.maxThreads, max_parsing_threads: s.maxParsingThreads };
}

export type ClickHouseMode = 'server' | 'embedded';

export interface ClickHouseOptions {
  /** Unset = embedded chDB. */
  url?: string | undefined;
  user: string;
  password: string;
  /** Sightline's data dir; the embedded store lives in `<dataDir>/clickhouse`. */
  dataDir: string;
  /** Engine limits when embedded (EMBEDDED_DEFAULTS unless given); a ClickHouse server is never told any of them. */
  embedded?: EmbeddedEngineSettings | undefined;
}

// chDB returns UInt64/Int64 as bare JSON numbers by default, silently losing precision past 2^53.
// Client-level settings are re-sent with every query, so this also survives chDB's session-wide SET leaks.
export const CLIENT_SETTINGS = { output_format_json_quote_64bit_integers: 1 } as const;

export type ChdbConnection = ReturnType<typeof ChdbConnectionModule.createChdbConnection>;

const modes = new WeakMap<ClickHouseClient, ClickHouseMode>();
/** Per embedded client: its chDB connection and the settings its raw inserts carry. */
const chdbConnections = new WeakMap<ClickHouseClient, { connection: ChdbConnection; settings: Record<string, number> }>();

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
  const store = embeddedStorePath(opts.dataDir);
  const limits = opts.embedded ?? EMBEDDED_DEFAULTS;
  // A throwaway session starts the engine with the server-level arguments; it is closed once the connection below
  // holds the engine, which lives on for as long as any connection to this dir is open.
  const configFile = path.join(opts.dataDir, 'clickhouse-embedded.xml');
  writeFileSync(configFile, EMBEDDED_CONFIG_XML);
  const starter = new (loadChdbRoot().Session)(store, { connectionArgs: [`--config-file=${configFile}`, ...embeddedServerArgs(limits)] });
  let chdb: ChdbConnection;
  try {
    chdb = loadChdb().createChdbConnection({ path: store });
  } finally {
    starter.close();
  }
  const querySettings = embeddedQuerySettings(limits);
  // Inserts skip the in-block collapse of Summing/Aggregating/ReplacingMergeTree (optimize_on_insert): every
  // view's SELECT already groups by its table's whole sorting key, so its rows are unique and the collapse only
  // re-sorts and copies them; sightline.requests keeps a duplicate request_id of one batch until a merge, which
  // `FINAL` (how it is read) already folds. Measured with the 7 views of 0009–0014: 132 → 108 ms of engine CPU per
  // 2,400-row insert (bench/README.md, session 4).
  const insertSettings = { ...querySettings, optimize_on_insert: 0 };
  // chDB implements the connection contract against its own copy of @clickhouse/client-common's types,
  // which TypeScript sees as distinct from the copy bundled in @clickhouse/client; the shapes are the same.
  const client = createClient({
    connection: chdb as unknown as ClickHouseClientConfigOptions['connection'],
    clickhouse_settings: { ...CLIENT_SETTINGS, ...querySettings },
  });
  modes.set(client, 'embedded');
  chdbConnections.set(client, { connection: chdb, settings: insertSettings });
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
  return chdbConnections.get(client)?.connection;
}

/** The session settings a raw insert on this embedded client must carry (rawInsert bypasses the client's own). */
export function chdbInsertSettings(client: ClickHouseClient): Readonly<Record<string, number>> {
  return chdbConnections.get(client)?.settings ?? {};
}
