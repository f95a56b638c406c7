// `sightline start`: the whole gateway in one command. Embedded default: proxy → spool on disk → ingest
// worker (a child process that owns the embedded ClickHouse and serves its HTTP interface). With Kafka:
// proxy → spool → forwarder → Kafka, and ingest workers run elsewhere (`sightline ingest`).
import { spawn, type ChildProcess } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/index.ts';
import { configWarnings } from '../config/index.ts';
import { watchConfig } from '../config/watch.ts';
import type { SpendStore } from '../ledger/spend-store.ts';
import type { SpendMessage } from '../ingest/settle.ts';
import type { Forwarder } from '../bus/forwarder.ts';
import { createSpoolSink } from '../bus/spool-sink.ts';
import { openSpoolReader, openSpoolWriter, spoolOptionsFromConfig } from '../bus/spool/index.ts';
import { INGEST_ALLOCATOR_ENV, SPEND_IPC_ENV, spoolRoot } from '../ingest/process.ts';
import { createSinkFromConfig, startProxy } from '../proxy/main.ts';
import type { EventSink } from '../proxy/sink.ts';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'sightline.mjs');
const warn = (msg: string) => console.error(`sightline: ${msg}`);

interface Pipeline {
  sink: EventSink;
  describe: string;
  metrics?: () => Record<string, number>;
  stop(): Promise<void>;
}

async function buildPipeline(config: Config, childEnv: NodeJS.ProcessEnv, onSpend: (m: SpendMessage) => void): Promise<Pipeline> {
  if (config.sink !== 'spool' && config.sink !== 'kafka') {
    return { sink: createSinkFromConfig(config), describe: config.sink, stop: async () => {} };
  }
  const dir = path.join(spoolRoot(config), config.instance);
  const writer = openSpoolWriter(spoolOptionsFromConfig(config.spool, dir, warn, config.logging));
  const sink = createSpoolSink(writer);
  // Written/refused counts are the sink's own (events_written/refused_total); the spool adds its size on disk.
  const spoolMetrics = () => ({ sightline_spool_bytes: writer.stats.bytes });
  if (config.sink === 'kafka') {
    // Loaded only for the Kafka bus: kafkajs alone is ~12 MB of the gateway's memory.
    const [{ startForwarder }, { createKafkaProducer }] = await Promise.all([import('../bus/forwarder.ts'), import('../bus/kafka.ts')]);
    const forwarder: Forwarder = startForwarder({
      reader: openSpoolReader(dir, 'kafka', { onWarn: warn }),
      producer: createKafkaProducer({
        brokers: [...config.kafka.brokers],
        clientId: config.kafka.client_id,
        topic: config.kafka.topic,
        ssl: config.kafka.ssl,
        ...(config.kafka.sasl ? { sasl: { ...config.kafka.sasl } } : {}),
      }),
      onError: (err, attempt) => {
        if (attempt === 1 || attempt % 10 === 0) warn(`Kafka unavailable (attempt ${attempt}), events wait in ${dir}: ${(err as Error).message}`);
      },
    });
    return {
      sink,
      describe: `spool ${dir} → Kafka ${config.kafka.brokers.join(',')}`,
      metrics: () => ({
        ...spoolMetrics(),
        sightline_kafka_forwarded_total: forwarder.stats.forwarded,
        sightline_kafka_failed_sends_total: forwarder.stats.failedSends,
        sightline_kafka_degraded: forwarder.stats.degraded ? 1 : 0,
      }),
      stop: () => forwarder.stop(),
    };
  }
  const ingest = superviseIngest(childEnv, config.ingest.nice, onSpend);
  // origin, not the URL: credentials in a URL must not reach the console.
  const store = config.clickhouse.url === undefined ? `ClickHouse (chDB) in ${path.join(config.data_dir, 'clickhouse')}` : `ClickHouse at ${new URL(config.clickhouse.url).origin}`;
  return { sink, describe: `spool ${dir} → embedded ingest → ${store}`, metrics: spoolMetrics, stop: () => ingest.stop() };
}

/** ingest.nice below the proxy's own priority (relative, so raising it is always allowed, whatever the proxy's). */
function lowerPriority(child: ChildProcess, nice: number): void {
  if (nice === 0 || child.pid === undefined) return;
  try {
    setPriority(child.pid, Math.min(19, getPriority() + nice));
  } catch (err) {
    warn(`ingest worker left at the proxy's priority: ${(err as Error).message}`);
  }
}

/** Runs `sightline ingest` as a child process and restarts it if it dies; the spool keeps every event meanwhile. */
function superviseIngest(parentEnv: NodeJS.ProcessEnv, nice: number, onMessage: (m: SpendMessage) => void): { stop(): Promise<void> } {
  // The environment's own allocator settings, if any, win.
  const env = { ...INGEST_ALLOCATOR_ENV, ...parentEnv, [SPEND_IPC_ENV]: '1' };
  let child: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;
  const launch = () => {
    // The IPC channel carries budget spend (ingest/settle.ts): the ledger's restore at start, then each stored row.
    child = spawn(process.execPath, [BIN, 'ingest'], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    lowerPriority(child, nice);
    child.on('message', (m) => onMessage(m as SpendMessage));
    child.on('exit', (code, signal) => {
      if (stopping) return;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(restarts++, 6));
      warn(`ingest worker exited (${signal ?? code}); restarting in ${delay} ms`);
      setTimeout(launch, delay);
    });
  };
  launch();
  return {
    stop: () => new Promise<void>((resolve) => {
      stopping = true;
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child?.kill('SIGKILL'), 15_000).unref();
    }),
  };
}

export async function startGateway(config: Config, childEnv: NodeJS.ProcessEnv = process.env): Promise<void> {
  // Embedded default: budget spend lives in this process, restored from the ledger by the ingest worker it starts.
  const gateway: { spend?: SpendStore } = {};
  const early: SpendMessage[] = [];
  let markRestored: () => void = () => {};
  const restored = new Promise<void>((resolve) => {
    markRestored = resolve;
  });
  const onSpend = (m: SpendMessage) => {
    const spend = gateway.spend;
    if (spend === undefined) return void early.push(m);
    if (m.type === 'spend-restore') {
      spend.restore(m.spent);
      markRestored();
    } else {
      spend.settle(m.rows, config.budgets.timezone).catch((err: Error) => warn(`budget settlement failed: ${err.message}`));
    }
  };
  const embeddedSpend = config.sink === 'spool' && config.redis.url === undefined;
  const pipeline = await buildPipeline(config, childEnv, onSpend);
  const proxy = await startProxy(config, pipeline.sink, pipeline.metrics, embeddedSpend ? { spendRestored: restored, onWarn: warn } : { onWarn: warn });
  gateway.spend = proxy.spend;
  for (const m of early.splice(0)) onSpend(m);
  console.log(`sightline: proxy listening on ${proxy.url}`);
  console.log(`  events: ${pipeline.describe}`);
  console.log(`  OpenAI SDK:    baseURL ${proxy.url}/openai/v1`);
  console.log(`  Anthropic SDK: baseURL ${proxy.url}/anthropic`);
  console.log(`  console: ${proxy.url}/_sightline/${config.admin.keys.length > 0 ? ' (admin key off loopback: admin.keys)' : ''}`);
  if (config.sink === 'spool' && config.clickhouse.url === undefined && config.clickhouse.http_port > 0) {
    console.log(`  query:  curl 'http://127.0.0.1:${config.clickhouse.http_port}/?query=SELECT+count()+FROM+sightline.requests'  or  npx sightline sql "…"`);
  }
  for (const w of configWarnings(config)) warn(`config: ${w}`);
  if (config.models.length > 0) console.log(`  gateway: ${proxy.url}/v1 serves ${[...new Set(config.models.map((m) => m.name))].join(', ')} (OpenAI and Anthropic SDKs)`);
  const watcher = watchConfig({
    env: childEnv,
    apply: (next) => {
      const restart = proxy.reload(next);
      if (restart.length > 0) warn(`config: ${restart.join(', ')} changed; they take effect at the next start (models and router did now)`);
    },
    report: warn,
  });
  process.on('SIGHUP', () => watcher.reload());
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    watcher.close();
    console.log(`sightline: ${signal}: draining requests and flushing events…`);
    await proxy.close();
    await pipeline.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
