// Where the proxy's events go: one small shape for every destination (pino's transport contract). write() is
// synchronous and cheap. Write-ahead logging rides on `onLogged`: the proxy releases a call's last bytes from it.
import type { RequestEvent } from './event.ts';
import type { Exchange } from './exchange.ts';
import { encodeExchange } from './exchange.ts';

/** What travels on the bus: an exchange (v2, assembled by ingest) or an assembled event (v1). */
export type BusEvent = Exchange | RequestEvent;

export interface SinkStats {
  written: number;
  /** Events the sink could not take (full, failed): never silently lost, always counted. */
  refused: number;
}

export interface EventSink {
  /**
   * Takes one event; false = refused now (counted in stats.refused, `onLogged` is then never called).
   * `onLogged(true)` runs once the event is as durable as the sink promises (handed to the OS, or fsynced when
   * the sink was opened that way), `onLogged(false)` if that failed. Events written in one event-loop turn are
   * made durable together (group commit).
   */
  write(event: BusEvent, onLogged?: (ok: boolean) => void): boolean;
  /** False while the sink would refuse (spool at its cap, failing disk): lets a caller refuse work up front. */
  accepting(): boolean;
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly stats: SinkStats;
}

/** One serialisation per event, as the bus carries it: JSON for an assembled event, JSON + bodies for an exchange. */
export function encodeBusEvent(event: BusEvent): Buffer | string {
  return event.schema_version === 1 ? JSON.stringify(event) : encodeExchange(event);
}

/** One JSON line per event for people and pipes (the jsonl sink): an exchange's bodies as text, or base64 when compressed. */
export function busEventToJson(event: BusEvent): string {
  if (event.schema_version === 1) return JSON.stringify(event);
  const { request_body, response_body, ...meta } = event;
  const binary = meta.response.content_encoding !== '';
  return JSON.stringify({ ...meta, request_body: request_body.toString('utf8'), response_body: response_body.toString(binary ? 'base64' : 'utf8') });
}
