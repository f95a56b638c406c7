// Kafka side of the bus: a producer that fails fast (so the caller can spill to the disk spool)
// and a consumer-group loop that commits only what the handler has accepted.
// Works against Kafka 0.9+ (tests use 0.9.0.1): no headers, timestamps, idempotence or
// transactions are relied on. At-least-once end to end; ClickHouse dedups on request_id.
import { CompressionTypes, Kafka, Partitioners, logLevel as KafkaLogLevel, type KafkaConfig, type Consumer, type EachBatchHandler, type LogEntry, type SASLOptions } from 'kafkajs';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  topic: string;
  ssl?: boolean;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** Receives kafkajs's own logs at or above logLevel. Default: one JSON line per entry on stderr. */
  logger?: BusLogger;
  /** Default 'error'. */
  logLevel?: BusLogLevel;
}

export type BusLogLevel = 'error' | 'warn' | 'info' | 'debug';
export type BusLogger = (level: BusLogLevel, message: string, fields: Record<string, unknown>) => void;

export interface KafkaMessageIn {
  /** The organization id: all events of one organization land on one partition, in order. */
  key: string;
  value: Buffer | string;
}

export interface KafkaProducer {
  connect(): Promise<void>;
  /**
   * Sends one batch (acks=all, gzip). Rejects with KafkaBusError within about sendTimeoutMs.
   * After a 'sightline_kafka_timeout' the batch may still land later: re-sending it from the spool
   * can duplicate it (at-least-once; ingest dedups on request_id).
   */
  send(messages: KafkaMessageIn[]): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaProducerOptions extends KafkaBusOptions {
  /** Upper bound for one send (and for connect) before it rejects. Default 5000 ms. */
  sendTimeoutMs?: number;
  /** TCP connect timeout per broker. Default 1000 ms. */
  connectionTimeoutMs?: number;
}

export interface KafkaMessageOut {
  key: string | null;
  value: Buffer;
  offset: string;
  partition: number;
}

export interface KafkaConsumerOptions extends KafkaBusOptions {
  groupId: string;
  /**
   * Called with up to maxBatch messages of one partition, in offset order.
   * Contract: resolve = every message is dealt with (written, or routed to the DLQ by the caller
   * for permanent errors) and its offset may be committed. Reject = retryable failure: nothing is
   * committed, the same messages come back after a backoff, forever, until it resolves or the
   * consumer stops. Deciding permanent vs retryable is the caller's job; never reject for a poison
   * message or the partition stalls.
   */
  handleBatch: (messages: KafkaMessageOut[]) => Promise<void>;
  /** Default 1000. */
  maxBatch?: number;
  /** Broker-side wait for a fetch with no new data. Default 500 ms (tests: 100). */
  maxWaitMs?: number;
  /**
   * The broker holds a fetch until this many bytes are there (or maxWaitMs passed): a worker fed as soon as one
   * message arrives inserts a handful of rows at a time, and an insert costs the same whatever it carries.
   */
  minBytes?: number;
  /** Largest fetch per partition; at least one batch's bytes, so a batch is not split across fetches. */
  maxBytesPerPartition?: number;
  /**
   * Group session timeout. Also how long a rejoin can stall after a broker crash: the coordinator
   * reloads the group with the member that died with the connection and waits this long for it.
   * Default 30000 ms; the broker's group.min.session.timeout.ms (6000 by default) is the floor.
   */
  sessionTimeoutMs?: number;
  /** Backoff after a rejected handleBatch: exponential from initialMs to maxMs, ±20 % jitter. */
  retry?: { initialMs?: number; maxMs?: number };
  /** Hook for counters: called after each rejected handleBatch, before the backoff. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export interface RunningConsumer {
  /** Stops fetching, abandons an in-progress backoff (uncommitted), leaves the group. */
  stop(): Promise<void>;
}

/**
 * Why a send or connect failed. retryable=false means the same batch can never succeed (too large,
 * invalid topic, not authorised): the caller must not spool it for a retry.
 */
export class KafkaBusError extends Error {
  readonly code: 'sightline_kafka_unavailable' | 'sightline_kafka_timeout' | 'sightline_kafka_rejected';
  readonly retryable: boolean;

  constructor(code: KafkaBusError['code'], message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KafkaBusError';
    this.code = code;
    this.retryable = code !== 'sightline_kafka_rejected';
  }
}

/** Broker answers that no retry can fix (kafkajs error `type`s). Everything else is an outage. */
const PERMANENT_KAFKA_ERRORS = new Set([
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_TOPIC_EXCEPTION', 'INVALID_REQUIRED_ACKS',
  'TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'SASL_AUTHENTICATION_FAILED', 'UNSUPPORTED_SASL_MECHANISM',
]);

/** Walks kafkajs's wrapping (NumberOfRetriesExceeded → cause, aggregated errors) for a permanent type. */
function isPermanent(error: unknown, depth = 0): boolean {
  if (depth > 5 || typeof error !== 'object' || error === null) return false;
  const e = error as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (typeof e.type === 'string' && PERMANENT_KAFKA_ERRORS.has(e.type)) return true;
  const nested = [e.cause, e.originalError, ...(Array.isArray(e.errors) ? e.errors : [])];
  return nested.some((n) => isPermanent(n, depth + 1));
}

/** Exponential backoff with ±20 % jitter (the kafkajs retrier's shape), capped at maxMs. */
export function backoffDelayMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** attempt);
  return Math.round(base * (0.8 + 0.4 * random()));
}

const LEVELS: Record<BusLogLevel, KafkaLogLevel> = {
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

function busLevel(level: KafkaLogLevel): BusLogLevel {
  if (level <= KafkaLogLevel.ERROR) return 'error';
  if (level === KafkaLogLevel.WARN) return 'warn';
  if (level === KafkaLogLevel.INFO) return 'info';
  return 'debug';
}

const stderrLogger: BusLogger = (level, message, fields) => {
  process.stderr.write(`${JSON.stringify({ level, msg: message, ...fields })}\n`);
};

function saslOptions(sasl: NonNullable<KafkaBusOptions['sasl']>): SASLOptions {
  const { username, password } = sasl;
  switch (sasl.mechanism) {
    case 'plain': return { mechanism: 'plain', username, password };
    case 'scram-sha-256': return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512': return { mechanism: 'scram-sha-512', username, password };
  }
}

function kafkaConfig(opts: KafkaBusOptions, tuning: Partial<KafkaConfig>): KafkaConfig {
  const logger = opts.logger ?? stderrLogger;
  return {
    clientId: opts.clientId,
    brokers: opts.brokers,
    ssl: opts.ssl ?? false,
    ...(opts.sasl ? { sasl: saslOptions(opts.sasl) } : {}),
    logLevel: LEVELS[opts.logLevel ?? 'error'],
    logCreator: () => ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, ...fields } = log;
      logger(busLevel(level), String(message), { namespace, ...fields });
    },
    ...tuning,
  };
}

/** Rejects with a KafkaBusError after ms; the losing promise's late rejection is swallowed. */
async function withDeadline<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KafkaBusError('sightline_kafka_timeout', `kafka ${what} did not finish within ${ms} ms`)), ms);
  });
  work.catch(() => {});
  try {
    return await Promise.race([work, deadline]);
  } catch (e) {
    if (e instanceof KafkaBusError) throw e;
    const message = `kafka ${what} failed: ${e instanceof Error ? e.message : String(e)}`;
    throw new KafkaBusError(isPermanent(e) ? 'sightline_kafka_rejected' : 'sightline_kafka_unavailable', message, e);
  } finally {
    clearTimeout(timer);
  }
}

export function createKafkaProducer(opts: KafkaProducerOptions): KafkaProducer {
  const sendTimeoutMs = opts.sendTimeoutMs ?? 5000;
  const kafka = new Kafka(kafkaConfig(opts, {
    connectionTimeout: opts.connectionTimeoutMs ?? 1000,
    requestTimeout: sendTimeoutMs,
    // A few quick retries absorb leader elections and a topic's auto-creation (~1 s on first send);
    // anything longer is an outage, which the caller handles by spilling to disk.
    retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000, factor: 0.2, multiplier: 2 },
  }));
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: true,
    idempotent: false,
  });
  let connected = false;

  return {
    connect: async () => {
      await withDeadline('connect', sendTimeoutMs, producer.connect());
      connected = true;
    },
    send: async (messages) => {
      if (!connected) throw new KafkaBusError('sightline_kafka_unavailable', 'kafka producer used before connect()');
      await withDeadline('send', sendTimeoutMs, producer.send({
        topic: opts.topic,
        acks: -1,
        timeout: sendTimeoutMs,
        compression: CompressionTypes.GZIP,
        messages: messages.map((m) => ({ key: m.key, value: m.value })),
      }));
    },
    close: async () => {
      connected = false;
      await producer.disconnect();
    },
  };
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

export async function runConsumer(opts: KafkaConsumerOptions): Promise<RunningConsumer> {
  const maxBatch = opts.maxBatch ?? 1000;
  const initialMs = opts.retry?.initialMs ?? 200;
  const maxMs = opts.retry?.maxMs ?? 30_000;
  const sessionTimeout = opts.sessionTimeoutMs ?? 30_000;
  const log = opts.logger ?? stderrLogger;
  const stopping = new AbortController();
  const kafka = new Kafka(kafkaConfig(opts, { connectionTimeout: 3000, requestTimeout: 30_000 }));

  const eachBatch: EachBatchHandler = async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
    const all = batch.messages;
    for (let start = 0; start < all.length; start += maxBatch) {
      const chunk = all.slice(start, start + maxBatch);
      const last = chunk[chunk.length - 1];
      if (last === undefined) return;
      const messages: KafkaMessageOut[] = chunk.map((m) => ({
        key: m.key === null ? null : m.key.toString('utf8'),
        value: m.value ?? Buffer.alloc(0),
        offset: m.offset,
        partition: batch.partition,
      }));
      for (let attempt = 0; ; attempt++) {
        // Leaving without resolving makes kafkajs fetch this partition from the last resolved
        // offset again (or hands it, uncommitted, to the member that owns it after a rebalance).
        if (!isRunning() || isStale() || stopping.signal.aborted) return;
        try {
          await opts.handleBatch(messages);
          break;
        } catch (error) {
          const wait = backoffDelayMs(attempt, initialMs, maxMs);
          opts.onRetry?.(error, attempt + 1, wait);
          await abortableDelay(wait, stopping.signal);
          await heartbeat();
        }
      }
      resolveOffset(last.offset);
      await commitOffsetsIfNecessary({
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }] }],
      });
      await heartbeat();
    }
  };

  const start = async (): Promise<Consumer> => {
    const consumer = kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout,
      heartbeatInterval: Math.min(3000, Math.floor(sessionTimeout / 3)),
      maxWaitTimeInMs: opts.maxWaitMs ?? 500,
      ...(opts.minBytes !== undefined ? { minBytes: opts.minBytes } : {}),
      ...(opts.maxBytesPerPartition !== undefined ? { maxBytesPerPartition: opts.maxBytesPerPartition, maxBytes: Math.max(10 * 1024 * 1024, opts.maxBytesPerPartition) } : {}),
      allowAutoTopicCreation: true,
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // kafkajs restarts itself after retriable errors only. Kafka 0.9 answers UNKNOWN_SERVER_ERROR
      // (non-retriable to kafkajs) while it recovers from a crash or creates a topic, which would
      // leave ingest dead for good: replace the consumer instead. Offsets are committed, so nothing is lost.
      if (!payload.restart && !stopping.signal.aborted) void replace(consumer, payload.error);
    });
    try {
      await consumer.connect();
      // A new group starts at the oldest message: events produced before ingest first ran are not lost.
      await consumer.subscribe({ topics: [opts.topic], fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch });
    } catch (e) {
      await consumer.disconnect().catch(() => {});
      throw e;
    }
    return consumer;
  };

  let current: Consumer | undefined;
  let replacing: Promise<void> | undefined;
  const replace = (crashed: Consumer, error: Error) => {
    replacing ??= (async () => {
      await crashed.disconnect().catch(() => {});
      for (let attempt = 0; !stopping.signal.aborted; attempt++) {
        const wait = backoffDelayMs(attempt, 1000, 30_000);
        log('error', 'kafka consumer crashed; replacing it', { groupId: opts.groupId, error: error.message, attempt: attempt + 1, delayMs: wait });
        await abortableDelay(wait, stopping.signal);
        if (stopping.signal.aborted) return;
        try {
          current = await start();
          return;
        } catch (e) {
          error = e instanceof Error ? e : new Error(String(e));
        }
      }
    })().finally(() => {
      replacing = undefined;
    });
    return replacing;
  };

  current = await start();
  return {
    stop: async () => {
      stopping.abort();
      await replacing;
      await current?.disconnect();
    },
  };
}
