// Batched, idempotent inserts of request events into sightline.requests.
//
// Idempotence has two layers: every insert carries an insert_deduplication_token derived from its
// request_ids, so a retried batch is dropped at insert time (the table sets non_replicated_deduplication_window),
// and ReplacingMergeTree collapses any redelivery that slips past the window (read with FINAL).
// The token goes in the statement's SETTINGS clause, not in clickhouse_settings: chDB turns per-query
// settings into a session-wide SET, so a leaked token would silently swallow the next unrelated insert.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { drainStream, type ClickHouseClient } from '@clickhouse/client';
import type { RequestEvent } from '../proxy/event.ts';

export const REQUESTS_TABLE = 'sightline.requests';

/** A row as ClickHouse's JSONEachRow parser takes it: the event with created_at in DateTime64 text form. */
export type RequestRow = Omit<RequestEvent, 'created_at'> & { created_at: string };

export interface WriterOptions {
  /** Fully qualified target table. */
  table?: string;
  /** Larger inputs are split into inserts of at most this many rows, each with its own token. */
  maxRowsPerInsert?: number;
}

export interface Writer {
  insert(events: readonly RequestEvent[]): Promise<void>;
}

/** '2025-03-14T15:09:26.535Z' → '2025-03-14 15:09:26.535' (the schema guarantees UTC with exactly 3 fraction digits). */
export function toDateTime64(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

export function toRow(event: RequestEvent): RequestRow {
  return { ...event, created_at: toDateTime64(event.created_at) };
}

/** JSONEachRow body for a batch, built as one string so the encoding cost is paid once per batch. */
export function encodeRows(events: readonly RequestEvent[]): string {
  let out = '';
  for (const e of events) out += JSON.stringify(toRow(e)) + '\n';
  return out;
}

/** Same request_ids (in any order) → same token, so a redelivered batch is recognised however it was reassembled. */
export function dedupToken(events: readonly RequestEvent[]): string {
  const ids = events.map((e) => e.request_id).sort();
  return createHash('sha256').update(ids.join(',')).digest('hex');
}

export function createWriter(client: ClickHouseClient, opts: WriterOptions = {}): Writer {
  const table = opts.table ?? REQUESTS_TABLE;
  if (!/^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`table must be db.table, got ${table}`);
  const maxRows = opts.maxRowsPerInsert ?? 10_000;

  async function insertChunk(events: readonly RequestEvent[]): Promise<void> {
    // The token is hex, so it needs no escaping inside the SQL literal.
    const query = `INSERT INTO ${table} SETTINGS insert_deduplication_token = '${dedupToken(events)}' FORMAT JSONEachRow`;
    const result = await client.exec({ query, values: Readable.from([encodeRows(events)]) });
    await drainStream(result.stream);
  }

  return {
    async insert(events) {
      for (let i = 0; i < events.length; i += maxRows) await insertChunk(events.slice(i, i + maxRows));
    },
  };
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
