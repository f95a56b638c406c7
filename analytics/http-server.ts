// The ClickHouse HTTP interface for the embedded store. Only one process may open a chDB data dir, so the
// process that owns it serves this on loopback, and curl, @clickhouse/client and Grafana's ClickHouse
// datasource (HTTP protocol) read it as they would a server.
//
// Implemented subset: GET/POST `/` with `query` param and/or body (gzip/deflate bodies), `default_format`
// (default TabSeparated) or a FORMAT clause, `database`, `query_id`, `param_*`, other URL params as settings,
// `/ping` and `/replicas_status`, X-ClickHouse-* headers, gzip/deflate responses when
// `enable_http_compression=1` and Accept-Encoding allow it, errors as `Code: N. DB::Exception: … (TYPE)` with
// X-ClickHouse-Exception-Code, `compress=1` (ClickHouse block framing, stored blocks). Native with `client_protocol_version=<rev>` (clickhouse-go v2's HTTP mode, so
// Grafana's ClickHouse datasource) is laid out for that protocol revision (see native.ts); without it Native is
// chDB's revision-0 layout, as a server sends it to curl. No authentication: it binds to loopback and is read-only by default.
//
// Read-only is enforced here, not only by the engine: chDB with readonly=2 still runs INSERT INTO FUNCTION
// file(…), SELECT … INTO OUTFILE and file() reads. So a query must be one statement starting with
// SELECT/WITH/SHOW/DESCRIBE/EXISTS/EXPLAIN, without INTO OUTFILE or table functions that reach files,
// the network or processes. The session additionally gets readonly=2.
//
// Users (opts.adminKeys, the config's admin.keys): a request naming a user (X-ClickHouse-User / X-ClickHouse-Key,
// Basic auth, or user/password URL parameters) must give an admin key as its password and the key's id as its name.
// A key with an organization_id is held to that organisation: every sightline table with an organization_id column
// gets the engine's additional_table_filters (contracts/tenancy.ts), the setting cannot be sent or overridden,
// table functions that read tables around that filter (merge(), mergeTree*()) are refused, and so are the system
// tables that show other queries' text (query_log, processes, mutations…). A key without one may also write, through
// opts.writer (a session without readonly), as audit erase does. Requests without a user are as before: loopback only.
//
// chDB applies per-request settings as session-wide SETs and `USE` sticks, so requests run one at a time and
// every setting a request applied is reset afterwards. Pass a client dedicated to this server (a second
// createClickHouse on the same data dir): readonly=2 and the serialisation must not touch the writer's session.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createGunzip, createInflate, gzipSync, deflateSync } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AdminKey } from '../config/compliance.ts';
import { ORG_TABLES_SQL, organisationFilter, SCOPE_SETTINGS, verifyAdminKey, type AdminPrincipal } from '../contracts/tenancy.ts';
import { clickHouseErrorType } from '../ingest/writer.ts';
import { NativeFormatError, nativeForRevision } from './native.ts';
import { compressedBlocks } from './native-compress.ts';

export interface ClickHouseHttpOptions {
  host?: string;
  /** 0 = any free port (the returned port says which). */
  port: number;
  /** Default true. */
  readOnly?: boolean;
  /** Request bodies above this are refused with 413. */
  maxBodyBytes?: number;
  /** Users: id = the key's id, password = the key (see the header). */
  adminKeys?: readonly AdminKey[];
  /** A writable session for admin keys without an organisation (a second createClickHouse on the same store). */
  writer?: ClickHouseClient;
}

export interface ClickHouseHttpServer {
  port: number;
  close(): Promise<void>;
}

const READ_STATEMENTS = /^(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b/i;
// Table functions that read or write outside the database: files, URLs, object stores, other servers, processes.
const OUTSIDE_WORLD_FUNCTIONS = /\b(file|fileCluster|url|urlCluster|s3|s3Cluster|gcs|oss|cosn|hdfs|hdfsCluster|azureBlobStorage\w*|remote|remoteSecure|cluster|clusterAllReplicas|mysql|postgresql|sqlite|mongodb|redis|jdbc|odbc|executable|executablePool|iceberg\w*|deltaLake\w*|hudi\w*|input|format|loop|arrowFlight|ytsaurus|paimon\w*|dictionary)\s*\(/i;

/** Query text with string literals emptied and comments removed; quoted identifiers are kept unquoted. */
function codeOf(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-' || ch === '#' && next === ' ') {
      while (i < sql.length && sql[i] !== '\n') i++;
      out += ' ';
    } else if (ch === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
      out += ' ';
    } else if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      let body = '';
      for (; j < sql.length; j++) {
        const c = sql[j]!;
        if (c === '\\') { body += sql[j + 1] ?? ''; j++; continue; }
        if (c === ch) {
          if (sql[j + 1] === ch) { body += c; j++; continue; }
          break;
        }
        body += c;
      }
      out += ch === "'" ? "''" : ` ${body} `;
      i = j + 1;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** Why the query may not run on a read-only interface, or null when it may. */
export function readOnlyViolation(sql: string): string | null {
  const code = codeOf(sql).trim().replace(/;\s*$/, '');
  if (code.includes(';')) return 'only one statement per request';
  const head = code.replace(/^[\s(]+/, '');
  if (!READ_STATEMENTS.test(head)) return 'only SELECT, WITH, SHOW, DESCRIBE, EXISTS and EXPLAIN queries are allowed';
  if (/\bINTO\s+OUTFILE\b/i.test(code)) return 'INTO OUTFILE is not allowed';
  const fn = OUTSIDE_WORLD_FUNCTIONS.exec(code);
  if (fn) return `table function ${fn[1]}() is not allowed`;
  return null;
}

// Table functions that read a table without its additional_table_filters (merge() reads its tables' storage directly).
const UNFILTERED_READS = /\b(merge|mergeTreeIndex|mergeTreeProjection|mergeTreeAnalyzeIndexes\w*|mergeTreeTextIndex|mergeTreePartInfo\w*)\s*\(/i;
// System tables an organisation user may read: the catalogue (what Grafana's query editor lists) and static facts.
// The rest show other sessions' query text (query_log, processes, mutations: an erase names its user) or parts.
const SYSTEM_TABLE = /\bsystem\s*\.\s*(\w+)/gi;
const SCOPED_SYSTEM_TABLES = new Set([
  'databases', 'tables', 'columns', 'functions', 'settings', 'one', 'numbers', 'numbers_mt', 'zeros', 'zeros_mt',
  'data_type_families', 'formats', 'table_functions', 'time_zones', 'build_options', 'table_engines', 'keywords',
  'aggregate_function_combinators', 'collations', 'contributors', 'licenses', 'macros', 'server_settings', 'settings_changes',
]);
const SCOPE_SETTING_TEXT = new RegExp(`\\b(${SCOPE_SETTINGS.join('|')})\\b`, 'i');

/** Why an organisation user may not run the query, or null when it may (on top of readOnlyViolation). */
export function scopedViolation(sql: string): string | null {
  const code = codeOf(sql);
  const setting = SCOPE_SETTING_TEXT.exec(code);
  if (setting) return `the ${setting[1]} setting is fixed for an organisation user`;
  const fn = UNFILTERED_READS.exec(code);
  if (fn) return `table function ${fn[1]}() is not allowed for an organisation user`;
  // A table's DDL names every organisation with its own retention (the TTL's transform(organization_id, …)).
  const ddl = /\b(create_table_query|engine_full|SHOW\s+CREATE)\b/i.exec(code);
  if (ddl) return `${ddl[1]} is not readable by an organisation user`;
  for (const m of code.matchAll(SYSTEM_TABLE)) {
    if (!SCOPED_SYSTEM_TABLES.has(m[1]!.toLowerCase())) return `system.${m[1]} is not readable by an organisation user`;
  }
  return null;
}

/** The format named by a trailing FORMAT clause, if any. */
export function formatClause(sql: string): string | undefined {
  return /\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*$/i.exec(codeOf(sql).trimEnd())?.[1];
}

function contentType(format: string): string {
  if (/^JSON/i.test(format) || /^PrettyJSON/i.test(format)) return 'application/json; charset=UTF-8';
  if (/^(TabSeparated|TSV)/i.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (/^CSV/i.test(format)) return 'text/csv; charset=UTF-8';
  if (/^(Native|RowBinary|Parquet|Arrow|ORC|Avro)/i.test(format)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

// Error codes → HTTP status, as ClickHouse's HTTP handler does for the common ones.
const STATUS_BY_TYPE: Record<string, number> = {
  READONLY: 403, ACCESS_DENIED: 403, AUTHENTICATION_FAILED: 401, REQUIRED_PASSWORD: 401,
  UNKNOWN_TABLE: 404, UNKNOWN_DATABASE: 404,
  SYNTAX_ERROR: 400, UNKNOWN_IDENTIFIER: 400, UNKNOWN_FUNCTION: 400, TYPE_MISMATCH: 400, ILLEGAL_TYPE_OF_ARGUMENT: 400,
  UNKNOWN_QUERY_PARAMETER: 400, UNKNOWN_SETTING: 400, UNKNOWN_FORMAT: 400, BAD_ARGUMENTS: 400, NOT_AN_AGGREGATE: 400,
  NUMBER_OF_ARGUMENTS_DOESNT_MATCH: 400, NO_SUCH_COLUMN_IN_TABLE: 400, CANNOT_PARSE_TEXT: 400, CANNOT_PARSE_INPUT_ASSERTION_FAILED: 400,
  EMPTY_QUERY: 400, TOO_LARGE_STRING_SIZE: 413, NOT_IMPLEMENTED: 501,
};

class HttpQueryError extends Error {
  constructor(readonly code: number, readonly type: string, message: string) {
    super(message);
  }
}

// URL parameters that steer the HTTP layer rather than being engine settings.
const NON_SETTING_PARAMS = new Set([
  'query', 'database', 'default_format', 'query_id', 'user', 'password', 'quota_key', 'session_id', 'session_timeout',
  'session_check', 'close_session', 'compress', 'decompress', 'buffer_size', 'wait_end_of_query', 'role', 'stacktrace',
  'client_protocol_version', 'enable_http_compression', 'http_zlib_compression_level', 'send_progress_in_http_headers',
  'http_headers_progress_interval_ms', 'add_http_cors_header', 'readonly',
]);

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
  let source: Readable = req;
  if (encoding === 'gzip') source = req.pipe(createGunzip());
  else if (encoding === 'deflate') source = req.pipe(createInflate());
  else if (encoding !== '' && encoding !== 'identity') return Promise.reject(new HttpQueryError(1, 'UNKNOWN_COMPRESSION_METHOD', `Unknown Content-Encoding ${encoding}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    source.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) { reject(new HttpQueryError(131, 'TOO_LARGE_STRING_SIZE', `Request body exceeds ${limit} bytes`)); source.destroy(); return; }
      chunks.push(c);
    });
    source.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    source.on('error', (e) => reject(new HttpQueryError(354, 'CANNOT_DECOMPRESS', e.message)));
  });
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

function isLoopbackHost(hostHeader: string | undefined, bound: string): boolean {
  if (!hostHeader) return true;
  const host = hostHeader.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '127.0.0.1' || host === '::1' || host === bound.toLowerCase();
}

/** The protocol revision to lay Native output out for: 0 unless the format is Native and the client names one. */
function nativeRevision(format: string, clientProtocolVersion: string | null): number {
  if (!/^Native$/i.test(format) || clientProtocolVersion === null || clientProtocolVersion === '') return 0;
  if (!/^\d{1,9}$/.test(clientProtocolVersion)) throw new HttpQueryError(36, 'BAD_ARGUMENTS', `client_protocol_version must be a number, got ${clientProtocolVersion}`);
  return Number(clientProtocolVersion);
}

export async function startClickHouseHttp(client: ClickHouseClient, opts: ClickHouseHttpOptions): Promise<ClickHouseHttpServer> {
  const host = opts.host ?? '127.0.0.1';
  const readOnly = opts.readOnly ?? true;
  const maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const info = await (await client.query({ query: 'SELECT version() AS v, timezone() AS tz', format: 'JSONEachRow' })).json<{ v: string; tz: string }>();
  const version = info[0]?.v ?? 'unknown';
  const timezone = info[0]?.tz ?? 'UTC';
  if (readOnly) await client.command({ query: 'SET readonly = 2' });

  let tail: Promise<unknown> = Promise.resolve();
  function serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  }
  // A session: a client and the database its last USE left it in (USE sticks on a chDB connection).
  interface Session { client: ClickHouseClient; database: string }
  const reader: Session = { client, database: 'default' };
  const writer: Session | undefined = opts.writer && { client: opts.writer, database: 'default' };
  const adminKeys = opts.adminKeys ?? [];

  async function execute(session: Session, sql: string, database: string, settings: Record<string, string>, queryParams: Record<string, string>, queryId: string) {
    return serially(async () => {
      const c = session.client;
      try {
        if (database !== session.database) {
          await c.command({ query: `USE \`${database.replace(/`/g, '``')}\`` });
          session.database = database;
        }
        const result = await c.exec({ query: sql, query_id: queryId, clickhouse_settings: settings, query_params: queryParams });
        return { body: await collect(result.stream), summary: result.summary };
      } finally {
        const reset = Object.keys(settings).filter((k) => k !== 'default_format');
        if (reset.length > 0) await c.command({ query: reset.map((k) => `SET ${k} = DEFAULT`).join('; ') }).catch(() => undefined);
      }
    });
  }

  /** The organisation filter for one request: the tables are listed afresh, so tables a migration adds are covered. */
  async function organisationSettings(organization: string): Promise<Record<string, string>> {
    const rs = await client.query({ query: ORG_TABLES_SQL, format: 'JSONEachRow' });
    const tables = (await rs.json<{ qualified: string }>()).map((r) => r.qualified);
    return tables.length ? { additional_table_filters: organisationFilter(tables, organization) } : {};
  }

  /** The request's user: undefined for none (or `default` without a password), else its admin key's principal. */
  function userOf(req: IncomingMessage, url: URL): AdminPrincipal | undefined {
    let user = (req.headers['x-clickhouse-user'] as string | undefined) ?? url.searchParams.get('user') ?? undefined;
    let password = (req.headers['x-clickhouse-key'] as string | undefined) ?? url.searchParams.get('password') ?? undefined;
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      user ??= colon < 0 ? text : text.slice(0, colon);
      password ??= colon < 0 ? '' : text.slice(colon + 1);
    }
    if ((user === undefined || user === '' || user === 'default') && !password) return undefined;
    const principal = password ? verifyAdminKey(adminKeys, password) : undefined;
    if (principal === undefined || principal.key_id !== user) {
      throw new HttpQueryError(516, 'AUTHENTICATION_FAILED', `${user ?? 'default'}: Authentication failed: password is incorrect, or there is no user with such name`);
    }
    return principal;
  }

  function sendError(res: ServerResponse, err: unknown, queryId: string): void {
    let code = 1001;
    let type = 'STD_EXCEPTION';
    let message = err instanceof Error ? err.message : String(err);
    if (err instanceof HttpQueryError || err instanceof NativeFormatError) ({ code, type } = err);
    else {
      const t = clickHouseErrorType(err);
      if (t !== undefined) { type = t; code = Number((err as Error & { code: string }).code); }
    }
    message = message.trim().replace(/\s*\.?$/, '');
    const status = STATUS_BY_TYPE[type] ?? 500;
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Exception-Code': String(code),
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Server-Display-Name': 'sightline',
      'X-ClickHouse-Timezone': timezone,
    });
    res.end(`Code: ${code}. DB::Exception: ${message}. (${type}) (version ${version})\n`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const queryId = url.searchParams.get('query_id') || randomUUID();
    if (!isLoopbackHost(req.headers.host, host)) {
      sendError(res, new HttpQueryError(497, 'ACCESS_DENIED', 'Host header is not this server'), queryId);
      return;
    }
    if ((url.pathname === '/ping' || url.pathname === '/replicas_status') && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end(`There is no handle ${url.pathname}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.writeHead(405, { Allow: 'GET, POST' });
      res.end();
      return;
    }
    const queryParam = url.searchParams.get('query') ?? '';
    const body = req.method === 'POST' ? await readBody(req, maxBody) : '';
    if (req.method === 'GET' && queryParam === '') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end('Ok.\n');
      return;
    }
    // As ClickHouse: the URL query and the body form one query text (the body carries INSERT data).
    const sql = queryParam && body ? `${queryParam}\n${body}` : queryParam || body;
    if (sql.trim() === '') throw new HttpQueryError(62, 'SYNTAX_ERROR', 'Empty query');
    const principal = userOf(req, url);
    const scoped = principal?.organization_id;
    // An admin key for every organisation writes through the writer session; everyone else reads.
    const writes = principal !== undefined && scoped === undefined && writer !== undefined && req.method === 'POST';
    // GET is always read-only, as on a ClickHouse server.
    if ((readOnly && !writes) || req.method === 'GET' || scoped !== undefined) {
      const why = readOnlyViolation(sql);
      if (why) throw new HttpQueryError(164, 'READONLY', `Cannot execute query in readonly mode: ${why}`);
    }
    if (writes) {
      // Writing is not reaching outside: files, URLs and processes stay refused for every user.
      const code = codeOf(sql);
      if (/\bINTO\s+OUTFILE\b/i.test(code)) throw new HttpQueryError(164, 'READONLY', 'INTO OUTFILE is not allowed');
      const fn = OUTSIDE_WORLD_FUNCTIONS.exec(code);
      if (fn) throw new HttpQueryError(164, 'READONLY', `table function ${fn[1]}() is not allowed`);
    }
    if (scoped !== undefined) {
      const why = scopedViolation(sql);
      if (why) throw new HttpQueryError(497, 'ACCESS_DENIED', why);
    }

    const settings: Record<string, string> = {};
    const queryParams: Record<string, string> = {};
    for (const [k, v] of url.searchParams) {
      if (k.startsWith('param_')) queryParams[k.slice(6)] = v;
      else if (!NON_SETTING_PARAMS.has(k)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new HttpQueryError(115, 'UNKNOWN_SETTING', `Unknown setting ${k}`);
        if (scoped !== undefined && (SCOPE_SETTINGS as readonly string[]).includes(k)) throw new HttpQueryError(497, 'ACCESS_DENIED', `the ${k} setting is fixed for an organisation user`);
        settings[k] = v;
      }
    }
    if (scoped !== undefined) Object.assign(settings, await organisationSettings(scoped));
    const format = formatClause(sql) ?? url.searchParams.get('default_format') ?? 'TabSeparated';
    settings.default_format = format;
    const revision = nativeRevision(format, url.searchParams.get('client_protocol_version'));
    const database = url.searchParams.get('database') || (req.headers['x-clickhouse-database'] as string | undefined) || 'default';

    const { body: chdbOut, summary } = await execute(writes && writer ? writer : reader, sql, database, settings, queryParams, queryId);
    const native = revision > 0 ? nativeForRevision(chdbOut, revision) : chdbOut;
    // compress=1: ClickHouse's block framing (clickhouse-go with LZ4/ZSTD reads nothing else); HTTP compression,
    // if also asked for, wraps it, as on a server.
    const out = url.searchParams.get('compress') === '1' ? compressedBlocks(native) : native;

    const headers: Record<string, string> = {
      'Content-Type': contentType(format),
      'X-ClickHouse-Format': format,
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Server-Display-Name': 'sightline',
      'X-ClickHouse-Timezone': timezone,
      'X-ClickHouse-Summary': JSON.stringify(summary ?? {}),
    };
    const accept = String(req.headers['accept-encoding'] ?? '');
    let payload = out;
    if (url.searchParams.get('enable_http_compression') === '1') {
      if (/\bgzip\b/.test(accept)) { payload = gzipSync(out); headers['Content-Encoding'] = 'gzip'; }
      else if (/\bdeflate\b/.test(accept)) { payload = deflateSync(out); headers['Content-Encoding'] = 'deflate'; }
    }
    headers['Content-Length'] = String(payload.length);
    res.writeHead(200, headers);
    res.end(payload);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const queryId = new URL(req.url ?? '/', 'http://localhost').searchParams.get('query_id') || randomUUID();
      if (res.headersSent) res.destroy();
      else sendError(res, err, queryId);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => { server.off('error', reject); resolve(); });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    }),
  };
}
