// The ingest stages over one batch of raw bus messages: decode → redact → encode (prepare, synchronous JS) →
// write (store, the engine's work). Whatever the source (Kafka or the spool), a batch is acknowledged only once
// store resolves: every message is then either in ClickHouse or in the dead-letter sink with its reason. A
// retryable storage failure rejects, so the source retries or redelivers the batch; ClickHouse deduplicates the
// replay. The two halves are separate so a source can prepare the next batch while the engine stores this one.
import type { Config } from '../config/index.ts';
import { ConfigSchema } from '../config/index.ts';
import type { RequestEvent } from '../contracts/event.ts';
import { RequestEventSchema, SCHEMA_VERSION } from '../contracts/event.ts';
import { EXCHANGE_SCHEMA_VERSION, exchangeFromParts, ExchangeMetaSchema, metaEnd } from '../contracts/exchange.ts';
import type { AssembleDeps } from '../ledger/assemble.ts';
import { assembleEvent } from '../ledger/assemble.ts';
import { costerFromConfig } from '../ledger/prices.ts';
import type { RedactionPolicy } from '../ledger/pii/redact.ts';
import { compileRedactor, DEFAULT_POLICY } from '../ledger/pii/redact.ts';
import type { PreparedInsert, Writer } from './writer.ts';
import { isRetryable } from './writer.ts';

export interface DeadLetter {
  /** Stable reason code: not_json, unsupported_schema_version, invalid_event, too_large, rejected_by_storage. */
  reason: string;
  detail: string;
  raw: Buffer;
}

export interface DeadLetterSink {
  write(letters: readonly DeadLetter[]): Promise<void>;
}

export interface IngestStats {
  received: number;
  written: number;
  deadLettered: number;
  retries: number;
}

/** A batch decoded, redacted and encoded for the engine; storing it may be retried as often as needed. */
export interface PreparedBatch {
  /** The bus messages, kept to dead-letter their redacted events should the engine refuse the batch. */
  readonly raw: readonly Buffer[];
  readonly inserts: readonly PreparedInsert[];
  readonly letters: readonly DeadLetter[];
  /** What afterStore returned for the batch's rows. */
  readonly stored?: readonly (() => void)[];
}

export interface Pipeline {
  /** prepare then store. */
  handle(raw: readonly Buffer[]): Promise<void>;
  prepare(raw: readonly Buffer[]): PreparedBatch;
  store(batch: PreparedBatch): Promise<void>;
  readonly stats: IngestStats;
}

export interface PipelineOptions {
  writer: Writer;
  deadLetters: DeadLetterSink;
  redact: (event: RequestEvent) => RequestEvent;
  maxEventBytes: number;
  /** How exchanges (v2) become rows: prices (with the config's overrides) and the logged-body limit. */
  assemble?: AssembleDeps;
  /**
   * Told of each row (redacted) as it is prepared; the function it returns runs once the row's batch is stored
   * (OpenTelemetry export, otel/ingest.ts). It keeps what it needs, so the batch does not keep its rows.
   */
  afterStore?: (row: RequestEvent) => (() => void) | undefined;
}

type Decoded = { ok: true; event: RequestEvent } | { ok: false; letter: DeadLetter };

let defaultDeps: AssembleDeps | undefined;

/** Assembly as the default config has it (no price overrides, its body limit), for callers without a config (tools, tests). */
export function defaultAssembleDeps(): AssembleDeps {
  defaultDeps ??= assembleDepsFromConfig(ConfigSchema.parse({}));
  return defaultDeps;
}

/** Assembly as the config says: its price data, price overrides and logged-body limit. */
export function assembleDepsFromConfig(config: Config): AssembleDeps {
  return { cost: costerFromConfig(config), maxLoggedBodyBytes: config.limits.max_logged_body_bytes };
}

const issuesOf = (error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }) =>
  error.issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');

/**
 * Validates one bus message against the versioned schema, naming what is wrong when it is not an event. An
 * exchange (v2) is assembled into its row here; an assembled event (v1) is taken as it is.
 */
export function decodeEvent(raw: Buffer, maxEventBytes: number, deps: AssembleDeps = defaultAssembleDeps()): Decoded {
  const bad = (reason: string, detail: string): Decoded => ({ ok: false, letter: { reason, detail, raw } });
  if (raw.length > maxEventBytes) return bad('too_large', `event is ${raw.length} bytes; the limit is ${maxEventBytes} (ingest.max_event_bytes)`);
  // An exchange is a JSON line of metadata followed by its bodies; an assembled event is JSON alone.
  const end = metaEnd(raw);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8', 0, end === -1 ? raw.length : end));
  } catch (err) {
    return bad('not_json', (err as Error).message);
  }
  const version = typeof json === 'object' && json !== null ? (json as { schema_version?: unknown }).schema_version : undefined;
  if (version === EXCHANGE_SCHEMA_VERSION && end !== -1) {
    const parsed = ExchangeMetaSchema.safeParse(json);
    if (!parsed.success) return bad('invalid_event', issuesOf(parsed.error));
    let exchange;
    try {
      exchange = exchangeFromParts(parsed.data, raw, end);
    } catch (err) {
      return bad('invalid_event', (err as Error).message);
    }
    return { ok: true, event: assembleEvent(exchange, deps) };
  }
  if (version !== SCHEMA_VERSION) {
    return bad('unsupported_schema_version', `schema_version ${JSON.stringify(version)}; this worker reads ${SCHEMA_VERSION} and ${EXCHANGE_SCHEMA_VERSION}`);
  }
  const parsed = RequestEventSchema.safeParse(json);
  if (!parsed.success) return bad('invalid_event', issuesOf(parsed.error));
  return { ok: true, event: parsed.data };
}

export function createPipeline(opts: PipelineOptions): Pipeline {
  const stats: IngestStats = { received: 0, written: 0, deadLettered: 0, retries: 0 };
  const deps = opts.assemble ?? defaultAssembleDeps();
  // Each event is encoded as soon as it is decoded and redacted, so the batch's objects die young: holding them
  // all until the batch was encoded made every one survive into V8's old generation (GC was 15 % of the time).
  const prepare = (raw: readonly Buffer[]): PreparedBatch => {
    const rows = opts.writer.encoder();
    const letters: DeadLetter[] = [];
    const stored: (() => void)[] = [];
    for (const msg of raw) {
      const d = decodeEvent(msg, opts.maxEventBytes, deps);
      if (!d.ok) {
        letters.push(d.letter);
        continue;
      }
      const row = opts.redact(d.event);
      rows.add(row);
      const after = opts.afterStore?.(row);
      if (after !== undefined) stored.push(after);
    }
    return { raw, inserts: rows.finish(), letters, stored };
  };
  /** The rare path: the engine refused the batch, so its events are decoded again to be parked, redacted. */
  const refused = (batch: PreparedBatch, detail: string): DeadLetter[] => batch.raw.flatMap((msg) => {
    const d = decodeEvent(msg, opts.maxEventBytes, deps);
    return d.ok ? [{ reason: 'rejected_by_storage', detail, raw: Buffer.from(JSON.stringify(opts.redact(d.event))) }] : [];
  });
  const store = async (batch: PreparedBatch): Promise<void> => {
    // Nothing in the batch changes here: a failed attempt leaves it as it was for the next one.
    let letters = batch.letters;
    let written = batch.inserts.reduce((n, i) => n + i.rows, 0);
    if (written > 0) {
      try {
        await opts.writer.write(batch.inserts);
      } catch (err) {
        if (isRetryable(err)) throw err;
        // The engine refused the batch itself: park it with the reason instead of stalling the stream forever.
        letters = [...letters, ...refused(batch, (err as Error).message.slice(0, 2000))];
        written = 0;
      }
    }
    if (letters.length > 0) await opts.deadLetters.write(letters);
    stats.received += batch.raw.length;
    stats.written += written;
    stats.deadLettered += letters.length;
    if (written > 0) for (const after of batch.stored ?? []) after();
  };
  return { stats, prepare, store, handle: async (raw) => store(prepare(raw)) };
}

/** The redactor from the config's `redaction` section (global policy plus per-organisation overrides). */
export function redactorFromConfig(r: Config['redaction']): (event: RequestEvent) => RequestEvent {
  const toPolicy = (p: { enabled?: boolean; disabled_types?: readonly string[]; custom?: Readonly<Record<string, string>>; allowlist?: readonly string[]; optional_types?: readonly string[] }): Partial<RedactionPolicy> => {
    const out: { -readonly [K in keyof RedactionPolicy]?: RedactionPolicy[K] } = {};
    if (p.enabled !== undefined) out.enabled = p.enabled;
    if (p.disabled_types !== undefined) out.disabledTypes = p.disabled_types;
    // `optional_types` names built-in detectors by an empty custom source (person_name and street_address are on by
    // default since #19, so listing them changes nothing; disabled_types switches them off).
    if (p.custom !== undefined || p.optional_types !== undefined) {
      out.custom = { ...Object.fromEntries((p.optional_types ?? []).map((t) => [t, ''])), ...p.custom };
    }
    if (p.allowlist !== undefined) out.allowlist = p.allowlist;
    return out;
  };
  const base: RedactionPolicy = { ...DEFAULT_POLICY, ...toPolicy(r) };
  const perOrg = Object.fromEntries(Object.entries(r.organizations).map(([org, p]) => [org, toPolicy(p)]));
  return compileRedactor(base, perOrg);
}
