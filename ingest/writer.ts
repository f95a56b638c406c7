// Batched, idempotent inserts of request events into sightline.requests (JSONCompactEachRow, one buffer per insert).
//
// Idempotence has two layers: every insert carries an insert_deduplication_token derived from its
// request_ids, so a retried batch is dropped at insert time (the table sets non_replicated_deduplication_window),
// and ReplacingMergeTree collapses any redelivery that slips past the window (read with FINAL).
// The token goes in the statement's SETTINGS clause, not in clickhouse_settings: chDB turns per-query
// settings into a session-wide SET, so a leaked token would silently swallow the next unrelated insert.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { drainStream, parseError, type ClickHouseClient } from '@clickhouse/client';
import { chdbConnectionOf, chdbInsertSettings } from '../analytics/client.ts';
import { RequestEventSchema, type RequestEvent } from '../contracts/event.ts';

export const REQUESTS_TABLE = 'sightline.requests';

/** The columns written, in order: the event's fields, from the schema itself so the two cannot drift. */
export const EVENT_COLUMNS = Object.keys(RequestEventSchema.shape) as (keyof RequestEvent)[];
const CREATED_AT = EVENT_COLUMNS.indexOf('created_at');

export interface WriterOptions {
  /** Fully qualified target table. */
  table?: string;
  /** Larger inputs are split into inserts of at most this many rows, each with its own token. */
  maxRowsPerInsert?: number;
}

/** One insert, encoded: at most maxRowsPerInsert rows with the dedup token of their request_ids. */
export interface PreparedInsert {
  readonly body: Buffer;
  readonly token: string;
  readonly rows: number;
}

/** Encodes events one at a time as they come, so none of them has to stay alive until the batch is complete. */
export interface RowEncoder {
  add(event: RequestEvent): void;
  /** The inserts of everything added, at most maxRowsPerInsert rows each. */
  finish(): PreparedInsert[];
}

export interface Writer {
  insert(events: readonly RequestEvent[]): Promise<void>;
  /** A fresh encoder for inserts that write() sends later, as often as it has to. */
  encoder(): RowEncoder;
  /** Sends prepared inserts one after the other, in order; a failure stops the rest. */
  write(inserts: readonly PreparedInsert[]): Promise<void>;
}

/** '2025-03-14T15:09:26.535Z' → '2025-03-14 15:09:26.535' (the schema guarantees UTC with exactly 3 fraction digits). */
export function toDateTime64(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/**
 * JSONCompactEachRow rows (one JSON array per row, EVENT_COLUMNS order) written straight into a growing buffer.
 * Arrays rather than objects: no key names to encode, send and match, which measured ~30 % faster to parse in
 * the engine than JSONEachRow for these rows; JSON.stringify stays the native escaper for bodies. Writing each
 * line into the buffer measured ~35 % cheaper than concatenating one string and converting it at the end.
 */
class RowBuffer {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;
  private readonly values: unknown[] = new Array<unknown>(EVENT_COLUMNS.length);
  readonly ids: string[] = [];

  add(e: RequestEvent): void {
    const values = this.values;
    for (let i = 0; i < EVENT_COLUMNS.length; i++) values[i] = e[EVENT_COLUMNS[i]!];
    values[CREATED_AT] = toDateTime64(e.created_at);
    const line = JSON.stringify(values);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const need = this.len + line.length * 3 + 1;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    this.len += this.buf.write(line, this.len);
    this.buf[this.len++] = 0x0a;
    this.ids.push(e.request_id);
  }

  insert(): PreparedInsert {
    return { body: this.buf.subarray(0, this.len), token: tokenOf(this.ids), rows: this.ids.length };
  }
}

/** One insert of the events, encoded as write() sends it. */
export function encodeInsert(events: readonly RequestEvent[]): PreparedInsert {
  const rows = new RowBuffer();
  for (const e of events) rows.add(e);
  return rows.insert();
}

/** An encoder of inserts of at most maxRows rows each. */
function createEncoder(maxRows: number): RowEncoder {
  const done: PreparedInsert[] = [];
  let rows = new RowBuffer();
  return {
    add(event) {
      rows.add(event);
      if (rows.ids.length < maxRows) return;
      done.push(rows.insert());
      rows = new RowBuffer();
    },
    finish: () => (rows.ids.length > 0 ? [...done, rows.insert()] : done),
  };
}

/** JSONCompactEachRow text of the events, as the writer sends it. */
export function encodeRows(events: readonly RequestEvent[]): string {
  return encodeInsert(events).body.toString('utf8');
}

/** Same request_ids (in any order) → same token, so a redelivered batch is recognised however it was reassembled. */
export function dedupToken(events: readonly RequestEvent[]): string {
  return tokenOf(events.map((e) => e.request_id));
}

function tokenOf(ids: readonly string[]): string {
  return createHash('sha256').update([...ids].sort().join(',')).digest('hex');
}

const COLUMN_LIST = EVENT_COLUMNS.join(', ');

export function createWriter(client: ClickHouseClient, opts: WriterOptions = {}): Writer {
  const table = opts.table ?? REQUESTS_TABLE;
  if (!/^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`table must be db.table, got ${table}`);
  const maxRows = opts.maxRowsPerInsert ?? 10_000;

  const chdb = chdbConnectionOf(client)?.chdb;
  const engineSettings = chdbInsertSettings(client);

  async function send({ body, token }: PreparedInsert): Promise<void> {
    if (chdb) {
      // Embedded: chDB's rawInsert hands the bytes to the engine zero-copy and runs entirely off the JS thread
      // (the generic path builds the SQL text on it); its settings go into the statement, not the session.
      try {
        await chdb.rawInsert({ table, columns: EVENT_COLUMNS, format: 'JSONCompactEachRow', values: body, settings: { ...engineSettings, insert_deduplication_token: token } });
      } catch (err) {
        throw asClickHouseError(err);
      }
      return;
    }
    // The token is hex, so it needs no escaping inside the SQL literal.
    const query = `INSERT INTO ${table} (${COLUMN_LIST}) SETTINGS insert_deduplication_token = '${token}' FORMAT JSONCompactEachRow`;
    const result = await client.exec({ query, values: Readable.from([body]) });
    await drainStream(result.stream);
  }

  return {
    encoder: () => createEncoder(maxRows),
    async write(inserts) {
      for (const insert of inserts) await send(insert);
    },
    async insert(events) {
      // Encoding is synchronous JS and the engine works off-thread, so chunk i+1 is encoded while chunk i is
      // being inserted; only one insert is in flight, so chunks land in order and a failure stops the rest.
      let inFlight: Promise<void> | undefined;
      for (let i = 0; i < events.length; i += maxRows) {
        const prepared = encodeInsert(events.slice(i, i + maxRows));
        if (inFlight) await inFlight;
        inFlight = send(prepared);
        inFlight.catch(() => undefined); // awaited on the next turn; keeps a failure from counting as unhandled meanwhile
      }
      await inFlight;
    },
  };
}

/** chDB's rawInsert throws ChdbInsertError carrying the engine's `Code: N. DB::Exception … (TYPE)` text; give it the usual shape. */
function asClickHouseError(err: unknown): unknown {
  if (!(err instanceof Error) || clickHouseErrorType(err) !== undefined) return err;
  const parsed = parseError(err.message);
  if (parsed !== err && clickHouseErrorType(parsed) !== undefined) {
    parsed.cause = err;
    return parsed;
  }
  return err;
}

// ClickHouse error types worth retrying: the server, not the batch, is at fault. Missing tables and
// read-only replicas are deployment state an operator fixes, so they are retried rather than dead-lettered.
const RETRYABLE_TYPES = new Set([
  'TOO_MANY_PARTS',
  'MEMORY_LIMIT_EXCEEDED',
  'CANNOT_ALLOCATE_MEMORY',
  'TIMEOUT_EXCEEDED',
  'SOCKET_TIMEOUT',
  'NETWORK_ERROR',
  'TOO_MANY_SIMULTANEOUS_QUERIES',
  'NO_FREE_CONNECTION',
  'ALL_CONNECTION_TRIES_FAILED',
  'ABORTED',
  'QUERY_WAS_CANCELLED',
  'TABLE_IS_READ_ONLY',
  'READONLY',
  'KEEPER_EXCEPTION',
  'UNKNOWN_TABLE',
  'UNKNOWN_DATABASE',
  'SERVER_OVERLOADED',
]);
const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

/**
 * The ClickHouse error type (`UNKNOWN_TABLE`, …) of a ClickHouseError, by shape: chDB throws the class from its own
 * copy of @clickhouse/client-common, so `instanceof ClickHouseError` is false for embedded-engine errors.
 */
export function clickHouseErrorType(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, type } = err as Error & { code?: unknown; type?: unknown };
  return typeof code === 'string' && /^\d+$/.test(code) && typeof type === 'string' && /^[A-Z0-9_]+$/.test(type) ? type : undefined;
}

/**
 * True when retrying the same batch later can succeed (connection trouble, timeouts, TOO_MANY_PARTS, memory);
 * false when the batch itself is bad (parse and type errors and every other ClickHouse error), which belongs in a DLQ.
 * Errors that are not from ClickHouse at all (sockets, aborted requests, a closed embedded session) count as retryable.
 */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const server = clickHouseErrorType(err);
  if (server !== undefined) return RETRYABLE_TYPES.has(server);
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && RETRYABLE_NODE_CODES.has(code)) return true;
  if (err.cause !== undefined && err.cause !== err && isRetryable(err.cause)) return true;
  // Anything else that is not a parsed ClickHouse error is transport trouble (timeouts, hang-ups, proxies' HTML pages).
  return !/Code: \d+\..*Exception/s.test(err.message);
}
