// The ClickHouse server process SIGKILLed while events flow, then restarted on the same data dir and port:
// ingest retries with growing backoff, commits nothing on its bus while the server is gone, and afterwards
// every acknowledged request is stored exactly once. Two buses: Kafka (production mode) and the proxy's
// spool (`sightline start` with CLICKHOUSE_URL and no Kafka: the embedded ingest child writes to the server).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readCommitted } from '../../bus/spool/format.ts';
import type { ClickHouseServer } from '../helpers/clickhouse-server.ts';
import { startClickHouseServer } from '../helpers/clickhouse-server.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';
import type { ProductionStack } from '../helpers/production-stack.ts';
import { startProductionStack, tailLines } from '../helpers/production-stack.ts';
import type { SightlineProcess } from '../helpers/processes.ts';
import { eventually, freePort, httpClickHouse, spawnSightline } from '../helpers/processes.ts';
import { countRequests, expectExactlyOnce, startTraffic } from '../helpers/traffic.ts';

const OUTAGE_MS = 6000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The retry lines a worker logged for one stuck batch: attempts 1, 2, 3, … with strictly growing delays
 * (exponential backoff; ±20 % jitter never reorders consecutive doublings). Returns the delays.
 */
function expectBackoff(log: string, line: RegExp): number[] {
  const retries = [...log.matchAll(line)].map((m) => ({ attempt: Number(m[1]), delay: Number(m[2]) }));
  expect(retries.length).toBeGreaterThanOrEqual(3);
  expect(retries.map((r) => r.attempt)).toEqual(retries.map((_, i) => i + 1));
  for (let i = 1; i < retries.length; i++) expect(retries[i]!.delay).toBeGreaterThan(retries[i - 1]!.delay);
  return retries.map((r) => r.delay);
}

/** Kills the server while traffic flows and, mid-outage, snapshots the bus's committed position twice. */
async function killClickHouseDuringTraffic(server: ClickHouseServer, committed: () => Promise<unknown>): Promise<{ early: unknown; late: unknown; killedAt: number }> {
  await server.kill();
  const killedAt = Date.now();
  // A batch whose insert finished just before the kill may still commit: start comparing a moment later.
  await sleep(1500);
  const early = await committed();
  await sleep(Math.max(0, killedAt + OUTAGE_MS - Date.now()));
  const late = await committed();
  return { early, late, killedAt };
}

describe.skipIf(process.env.KAFKA_BROKERS)('ClickHouse server killed under the Kafka bus', { timeout: 150_000 }, () => {
  let stack: ProductionStack;
  let admin: ReturnType<Kafka['admin']>;
  const topic = 'sightline.requests';

  beforeAll(async () => {
    stack = await startProductionStack();
    admin = new Kafka({ clientId: 'sl-test-admin', brokers: stack.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  }, 120_000);
  beforeEach(({ onTestFailed }) => onTestFailed(() => console.log(stack.logs())));
  afterAll(async () => {
    await admin?.disconnect();
    expect(await stack?.stop()).toEqual({ gateway: 0, ingest: 0 });
  }, 60_000);

  /** Committed offset of the ingest group, summed over partitions (-1 = none yet counts as 0). */
  const committed = async () => {
    const [t] = await admin.fetchOffsets({ groupId: 'sightline-ingest', topics: [topic] });
    return (t?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  };
  const topicEnd = async () => (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);

  it('ingest retries with backoff, commits no Kafka offset meanwhile, and stores everything exactly once after the restart', async () => {
    const traffic = startTraffic(stack.proxyUrl, { concurrency: 2, pauseMs: 50 });
    await traffic.waitForMore(50);
    await eventually(() => countRequests(stack.ch), (n) => n >= 20, 30_000);
    const mark = stack.ingest.output().length;

    const { early, late, killedAt } = await killClickHouseDuringTraffic(stack.clickhouse, committed);
    expect(late).toBe(early);
    // Events kept arriving in Kafka past the committed position: the worker had work and held it back.
    expect(await topicEnd()).toBeGreaterThan(late as number);
    const delays = expectBackoff(stack.ingest.output().slice(mark), /batch not stored \(attempt (\d+), retrying in (\d+) ms\)/g);

    await stack.clickhouse.restart();
    const backAt = Date.now();
    await traffic.waitForMore(50);
    const ids = await traffic.stop();
    expect(traffic.failures).toEqual([]);
    const { rawRows } = await expectExactlyOnce(stack.ch, ids, 90_000);
    console.log(`Kafka bus: ClickHouse down ${backAt - killedAt} ms, retry delays ${delays.join(', ')} ms; all ${ids.length} stored ${Date.now() - backAt} ms after the restart; ${rawRows} physical rows`);
    // And the group's position caught up with the topic: everything stored was also committed.
    await eventually(async () => [await committed(), await topicEnd()], ([c, e]) => c === e, 30_000);
  });
});

describe('ClickHouse server killed under the spool bus (`sightline start` with CLICKHOUSE_URL)', { timeout: 90_000 }, () => {
  let server: ClickHouseServer;
  let mock: MockUpstream;
  let gateway: SightlineProcess;
  let proxyUrl: string;
  let dataDir: string;

  beforeAll(async () => {
    [server, mock] = await Promise.all([startClickHouseServer(), startMockUpstream()]);
    dataDir = mkdtempSync(path.join(tmpdir(), 'sightline-spool-chserver-'));
    const port = await freePort();
    gateway = spawnSightline(['start'], {
      SIGHTLINE_DATA_DIR: dataDir,
      SIGHTLINE_PORT: String(port),
      SIGHTLINE_SINK: 'spool',
      CLICKHOUSE_URL: server.url,
      SIGHTLINE_UPSTREAM_OPENAI: mock.url,
    });
    proxyUrl = `http://127.0.0.1:${port}`;
    // The banner's lines may arrive in separate chunks: wait for the one asserted on, not only the first.
    await gateway.waitForOutput(/embedded ingest → ClickHouse at /);
    expect(gateway.output()).toContain(`embedded ingest → ClickHouse at ${server.url}`);
    await gateway.waitForOutput(/reading spools under/);
  }, 90_000);
  beforeEach(({ onTestFailed }) => onTestFailed(() => console.log(tailLines(gateway.output(), 60))));
  afterAll(async () => {
    gateway?.kill('SIGTERM');
    const code = await gateway?.exited;
    await Promise.all([server?.stop(), mock?.close()]);
    rmSync(dataDir, { recursive: true, force: true });
    expect(code).toBe(0);
  }, 60_000);

  it('the embedded ingest child retries with backoff, commits nothing in the spool meanwhile, then stores everything exactly once', async () => {
    const ch = httpClickHouse(Number(new URL(server.url).port));
    const spoolDir = path.join(dataDir, 'spool', 'proxy');
    const committed = async () => readCommitted(spoolDir).get('ingest');
    try {
      const traffic = startTraffic(proxyUrl, { concurrency: 2, pauseMs: 50 });
      await traffic.waitForMore(50);
      await eventually(() => countRequests(ch), (n) => n >= 20, 30_000);
      const mark = gateway.output().length;

      const { early, late, killedAt } = await killClickHouseDuringTraffic(server, committed);
      expect(early).toBeGreaterThan(0);
      expect(late).toBe(early);
      const delays = expectBackoff(gateway.output().slice(mark), /storing a batch failed \(attempt (\d+), retrying in (\d+) ms\)/g);

      await server.restart();
      const backAt = Date.now();
      await traffic.waitForMore(50);
      const ids = await traffic.stop();
      expect(traffic.failures).toEqual([]);
      const { rawRows } = await expectExactlyOnce(ch, ids, 60_000);
      console.log(`spool bus: ClickHouse down ${backAt - killedAt} ms, retry delays ${delays.join(', ')} ms; all ${ids.length} stored ${Date.now() - backAt} ms after the restart; ${rawRows} physical rows`);
      await eventually(committed, (c) => c !== undefined && c > (late as number), 10_000);
    } finally {
      await ch.close();
    }
  });
});
