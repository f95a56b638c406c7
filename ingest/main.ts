// Entry point of the ingest stage: bus (Kafka consumer group, or the proxies' spools in the embedded
// default) → decode → redact → batched idempotent insert into ClickHouse. Runs as its own process:
// chDB work blocks the thread that runs it, so it never shares the proxy's event loop.
import { appendFileSync, fsyncSync, mkdirSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { ingestBatchMaxBytes, type Config } from '../config/index.ts';
import { telemetryEnabled } from '../config/tracing.ts';
import { createClickHouse } from '../analytics/client.ts';
import type { ClickHouseHttpServer } from '../analytics/http-server.ts';
import { startClickHouseHttp } from '../analytics/http-server.ts';
import { migrate, retentionOf } from '../analytics/migrate.ts';
import { backoffDelayMs, createKafkaProducer, runConsumer } from '../bus/kafka.ts';
import type { DeadLetter, DeadLetterSink, IngestStats, Pipeline } from './pipeline.ts';
import { assembleDepsFromConfig, createPipeline, redactorFromConfig } from './pipeline.ts';
import { consumeSpools } from './spool-source.ts';
import { createWriter } from './writer.ts';
import { createSettler, sendSpendRestore } from './settle.ts';
import type { RequestEvent } from '../contracts/event.ts';

import { INGEST_CONSUMER, spoolRoot } from './process.ts';

export { INGEST_ALLOCATOR_ENV, INGEST_CONSUMER, spoolRoot } from './process.ts';

export interface RunningIngest {
  readonly stats: IngestStats;
  /** Port of the embedded store's ClickHouse HTTP interface, when this process serves it. */
  readonly httpPort: number | undefined;
  readonly client: ClickHouseClient;
  stop(): Promise<void>;
}

type Log = (msg: string) => void;

export async function startIngest(config: Config, log: Log = (m) => console.error(`sightline ingest: ${m}`)): Promise<RunningIngest> {
  const e = config.clickhouse.embedded;
  const chOpts = {
    url: config.clickhouse.url,
    user: config.clickhouse.user,
    password: config.clickhouse.password,
    dataDir: config.data_dir,
    embedded: { maxThreads: e.max_threads, maxParsingThreads: e.max_parsing_threads, backgroundPoolSize: e.background_pool_size, cacheBytes: e.cache_bytes },
  };
  mkdirSync(config.data_dir, { recursive: true });
  const client = createClickHouse(chOpts);
  await retryUntil(() => migrate(client, retentionOf(config)), 'ClickHouse migrations', log);

  let http: ClickHouseHttpServer | undefined;
  if (config.clickhouse.url === undefined && config.clickhouse.http_port > 0) {
    // Only this process may open the embedded store, so it serves the ClickHouse HTTP interface for everyone else,
    // on its own session so read-only settings never touch the writer's.
    // Admin keys are its users (organisation keys see only their organisation); one for every organisation may also
    // write, through a session of its own (`sightline audit erase` while the gateway runs).
    const admins = config.admin.keys;
    http = await startClickHouseHttp(createClickHouse(chOpts), {
      host: '127.0.0.1', port: config.clickhouse.http_port, readOnly: true, adminKeys: admins,
      ...(admins.some((k) => k.organization_id === undefined) ? { writer: createClickHouse(chOpts) } : {}),
    });
    log(`ClickHouse HTTP interface (read-only) on http://127.0.0.1:${http.port}`);
  }

  const kafka = config.kafka.brokers.length > 0;
  // OpenTelemetry (otel/): spans and GenAI metrics of stored rows; the SDK is loaded only with an endpoint set.
  const telemetry = telemetryEnabled(config.tracing) ? (await import('../otel/ingest.ts')).startIngestTelemetry(config, log) : undefined;
  const deadLetters = kafka ? kafkaDeadLetters(config) : fileDeadLetters(path.join(config.data_dir, 'dead-letters.jsonl'));
  // Budgets: spend restored for the gateway that started this worker (embedded), then every stored row settled.
  await retryUntil(() => sendSpendRestore(client, config), 'restoring budget spend from the ledger', log);
  const settler = createSettler(config, log);
  const afterStore = telemetry === undefined
    ? settler?.afterStore
    : settler === undefined ? telemetry.afterStore : (row: RequestEvent) => {
      const exported = telemetry.afterStore(row);
      const settled = settler.afterStore(row);
      return () => {
        exported?.();
        settled();
      };
    };
  const pipeline = createPipeline({
    writer: createWriter(client, { maxRowsPerInsert: config.ingest.batch_max_rows }),
    deadLetters,
    redact: redactorFromConfig(config.redaction),
    maxEventBytes: config.ingest.max_event_bytes,
    assemble: assembleDepsFromConfig(config),
    ...(afterStore ? { afterStore } : {}),
  });

  const source = kafka ? await consumeKafka(config, pipeline, log) : consumeSpools({
    root: spoolRoot(config),
    consumer: INGEST_CONSUMER,
    limits: { maxRows: config.ingest.batch_max_rows, maxBytes: ingestBatchMaxBytes(config), flushMs: config.ingest.flush_ms },
    pipeline,
    log,
    retry: (op) => retryUntil(op, 'storing a batch', log, () => pipeline.stats.retries++),
  });
  log(`reading ${kafka ? `Kafka topic ${config.kafka.topic} (group ${config.kafka.group_id})` : `spools under ${spoolRoot(config)}`}`);
  // One line a minute while anything moves: the counters an operator needs, without per-event logging.
  let reported = '';
  const statsTimer = setInterval(() => {
    const s = pipeline.stats;
    const line = `received ${s.received}, written ${s.written}, dead-lettered ${s.deadLettered}, retries ${s.retries}`;
    if (line !== reported) log(line);
    reported = line;
  }, 60_000);
  statsTimer.unref();

  return {
    stats: pipeline.stats,
    httpPort: http?.port,
    client,
    async stop() {
      clearInterval(statsTimer);
      await source.stop();
      await telemetry?.shutdown();
      await settler?.close();
      await deadLetters.close?.();
      await http?.close();
      await client.close();
    },
  };
}

interface Source {
  stop(): Promise<void>;
}

async function consumeKafka(config: Config, pipeline: Pipeline, log: Log): Promise<Source> {
  const consumer = await runConsumer({
    brokers: [...config.kafka.brokers],
    clientId: `${config.kafka.client_id}-ingest`,
    topic: config.kafka.topic,
    groupId: config.kafka.group_id,
    sessionTimeoutMs: config.kafka.session_timeout_ms,
    ssl: config.kafka.ssl,
    ...(config.kafka.sasl ? { sasl: { ...config.kafka.sasl } } : {}),
    maxBatch: config.ingest.batch_max_rows,
    // Batches by size and age on this bus too: the broker holds each fetch until a batch's bytes or flush_ms.
    maxWaitMs: config.ingest.flush_ms,
    minBytes: ingestBatchMaxBytes(config),
    maxBytesPerPartition: ingestBatchMaxBytes(config),
    handleBatch: (messages) => pipeline.handle(messages.map((m) => m.value)),
    onRetry: (err, attempt, delay) => {
      pipeline.stats.retries++;
      log(`batch not stored (attempt ${attempt}, retrying in ${delay} ms): ${(err as Error).message}`);
    },
  });
  return consumer;
}

/** Retries a retryable operation with backoff until it succeeds; permanent failures are the pipeline's to dead-letter. */
async function retryUntil<T>(op: () => Promise<T>, what: string, log: Log, onRetry?: () => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      onRetry?.();
      const wait = backoffDelayMs(attempt, 200, 10_000);
      log(`${what} failed (attempt ${attempt + 1}, retrying in ${wait} ms): ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

type ClosableDeadLetters = DeadLetterSink & { close?: () => Promise<void> };

function letterJson(l: DeadLetter): string {
  return JSON.stringify({ reason: l.reason, detail: l.detail, received_at: new Date().toISOString(), raw: l.raw.toString('utf8') });
}

/** Embedded default: dead letters go to a JSON-lines file, fsynced before the batch is acknowledged. */
function fileDeadLetters(file: string): ClosableDeadLetters {
  return {
    async write(letters) {
      appendFileSync(file, letters.map((l) => `${letterJson(l)}\n`).join(''));
      const fd = openSync(file, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
  };
}

function kafkaDeadLetters(config: Config): ClosableDeadLetters {
  const producer = createKafkaProducer({
    brokers: [...config.kafka.brokers],
    clientId: `${config.kafka.client_id}-dlq`,
    topic: config.kafka.dlq_topic,
    ssl: config.kafka.ssl,
    ...(config.kafka.sasl ? { sasl: { ...config.kafka.sasl } } : {}),
  });
  let connected: Promise<void> | undefined;
  return {
    async write(letters) {
      connected ??= producer.connect();
      await connected.catch((err: unknown) => {
        connected = undefined;
        throw err;
      });
      await producer.send(letters.map((l) => ({ key: l.reason, value: letterJson(l) })));
    },
    close: () => producer.close(),
  };
}
