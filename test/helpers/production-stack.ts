// Sightline in production mode, every stage its own process, as deployed: a Kafka broker (harness), a
// ClickHouse server (chDB behind our HTTP interface, clickhouse-server.ts), `sightline start` with the
// Kafka sink (proxy → spool → forwarder → Kafka) and `sightline ingest` (Kafka → ClickHouse over HTTP).
// Each piece can be killed and restarted on its own by the fault tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseServer } from './clickhouse-server.ts';
import { startClickHouseServer } from './clickhouse-server.ts';
import type { KafkaHarness } from './kafka-broker.ts';
import { startKafka } from './kafka-broker.ts';
import type { MockUpstream } from './mock-upstream.ts';
import { startMockUpstream } from './mock-upstream.ts';
import type { SightlineProcess } from './processes.ts';
import { freePort, httpClickHouse, spawnSightline } from './processes.ts';

export interface ProductionStack {
  kafka: KafkaHarness;
  clickhouse: ClickHouseServer;
  mock: MockUpstream;
  gateway: SightlineProcess;
  proxyUrl: string;
  /** The running `sightline ingest`; replaced by startIngest(). */
  ingest: SightlineProcess;
  /** Query client on the ClickHouse server. */
  ch: ClickHouseClient;
  /** Spawns a new ingest worker (after the previous one was killed) and waits until it consumes. */
  startIngest(): Promise<SightlineProcess>;
  /** The last lines each Sightline process wrote, for a failing test's report. */
  logs(lines?: number): string;
  /** SIGTERM to gateway and ingest, then everything else; resolves to their exit codes. */
  stop(): Promise<{ gateway: number | null; ingest: number | null }>;
}

export interface ProductionStackOptions {
  /** ingest.batch_max_rows: small batches make "killed mid-batch" land inside a backlog. Default 20. */
  ingestBatchRows?: number;
}

export function tailLines(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

export async function startProductionStack(opts: ProductionStackOptions = {}): Promise<ProductionStack> {
  const [kafka, clickhouse, mock] = await Promise.all([startKafka(), startClickHouseServer(), startMockUpstream()]);
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-prod-'));
  const configFile = path.join(dir, 'ingest.yaml');
  writeFileSync(configFile, `ingest:\n  batch_max_rows: ${opts.ingestBatchRows ?? 20}\n`);
  const brokers = kafka.brokers.join(',');
  const port = await freePort();
  const gateway = spawnSightline(['start'], {
    SIGHTLINE_DATA_DIR: path.join(dir, 'proxy'),
    SIGHTLINE_PORT: String(port),
    SIGHTLINE_SINK: 'kafka',
    KAFKA_BROKERS: brokers,
    SIGHTLINE_CLICKHOUSE_HTTP_PORT: '0',
    SIGHTLINE_UPSTREAM_OPENAI: mock.url,
  });
  const ingestEnv = {
    SIGHTLINE_DATA_DIR: path.join(dir, 'ingest'),
    SIGHTLINE_CONFIG: configFile,
    KAFKA_BROKERS: brokers,
    CLICKHOUSE_URL: clickhouse.url,
  };
  const spawnIngest = async () => {
    const p = spawnSightline(['ingest'], ingestEnv);
    await p.waitForOutput(/reading Kafka topic/, 90_000);
    return p;
  };
  const [ingest] = await Promise.all([spawnIngest(), gateway.waitForOutput(/proxy listening/)]);
  const stack: ProductionStack = {
    kafka,
    clickhouse,
    mock,
    gateway,
    proxyUrl: `http://127.0.0.1:${port}`,
    ingest,
    ch: httpClickHouse(Number(new URL(clickhouse.url).port)),
    async startIngest() {
      stack.ingest = await spawnIngest();
      return stack.ingest;
    },
    logs: (lines = 40) => [
      `--- sightline start (last ${lines} lines)\n${tailLines(stack.gateway.output(), lines)}`,
      `--- sightline ingest (last ${lines} lines)\n${tailLines(stack.ingest.output(), lines)}`,
    ].join('\n'),
    async stop() {
      stack.gateway.kill('SIGTERM');
      stack.ingest.kill('SIGTERM');
      const [g, i] = await Promise.all([stack.gateway.exited, stack.ingest.exited]);
      await stack.ch.close();
      await Promise.all([kafka.stop(), clickhouse.stop(), mock.close()]);
      rmSync(dir, { recursive: true, force: true });
      return { gateway: g, ingest: i };
    },
  };
  return stack;
}
