// The broker dies mid-run (SIGKILL) and comes back: sends fail fast while it is down (the caller
// spools them), and after the restart every message reaches the consumer. Own file: it kills its broker.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaProducer, KafkaBusError, runConsumer, type BusLogger, type KafkaProducer, type RunningConsumer } from '../../bus/kafka.ts';
import { startKafka, type KafkaHarness } from '../helpers/kafka-broker.ts';

const SEND_TIMEOUT_MS = 3000;
const logger: BusLogger = () => {};

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(process.env.KAFKA_BROKERS)('Kafka bus across a broker crash', () => {
  let kafka: KafkaHarness;
  let producer: KafkaProducer | undefined;
  let consumer: RunningConsumer | undefined;

  beforeAll(async () => {
    kafka = await startKafka({ partitions: 2 });
  });

  afterAll(async () => {
    await consumer?.stop().catch(() => {});
    await producer?.close().catch(() => {});
    await kafka?.stop();
  });

  it('fails sends fast while the broker is down and loses nothing once it is back', async () => {
    const topic = `sl-test-${randomBytes(6).toString('hex')}`;
    producer = createKafkaProducer({ brokers: kafka.brokers, clientId: 'sl-test-producer', topic, logger, sendTimeoutMs: SEND_TIMEOUT_MS });
    await producer.connect();

    const received = new Map<string, number>();
    consumer = await runConsumer({
      brokers: kafka.brokers, clientId: 'sl-test-consumer', topic, groupId: `g-${topic}`, logger, maxWaitMs: 100, sessionTimeoutMs: 6000,
      handleBatch: async (batch) => {
        for (const m of batch) {
          const v = m.value.toString('utf8');
          received.set(v, (received.get(v) ?? 0) + 1);
        }
      },
    });

    const all: string[] = [];
    const spool: { key: string; value: string }[][] = [];
    const batchOf = (label: string) => Array.from({ length: 100 }, (_, i) => ({ key: `org-${i % 7}`, value: `${label}-${i}` }));
    const sendOrSpool = async (batch: { key: string; value: string }[]) => {
      all.push(...batch.map((m) => m.value));
      try {
        await producer?.send(batch);
        return undefined;
      } catch (e) {
        spool.push(batch);
        return e;
      }
    };

    for (let b = 0; b < 5; b++) expect(await sendOrSpool(batchOf(`before-${b}`))).toBeUndefined();
    await waitFor('first 500 consumed', () => received.size >= 500, 30_000);

    kafka.kill();
    const downTimes: number[] = [];
    for (let b = 0; b < 3; b++) {
      const t0 = Date.now();
      const error = await sendOrSpool(batchOf(`down-${b}`));
      downTimes.push(Date.now() - t0);
      expect(error).toBeInstanceOf(KafkaBusError);
      expect((error as KafkaBusError).retryable).toBe(true);
    }
    for (const ms of downTimes) expect(ms).toBeLessThan(SEND_TIMEOUT_MS + 500);
    expect(spool).toHaveLength(3);

    await kafka.restart();
    // Replay what the caller spooled, then keep producing.
    for (const batch of spool.splice(0)) await producer.send(batch);
    for (let b = 0; b < 5; b++) expect(await sendOrSpool(batchOf(`after-${b}`))).toBeUndefined();

    await waitFor('all 1300 messages after the restart', () => all.every((v) => received.has(v)), 60_000);
    expect(received.size).toBe(1300);
    // At-least-once: a batch whose commit died with the broker may come twice; nothing else may.
    const duplicates = [...received.values()].filter((n) => n > 1).length;
    expect(duplicates).toBeLessThanOrEqual(500);
  }, 120_000);
});
