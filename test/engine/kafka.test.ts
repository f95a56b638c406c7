// bus/kafka.ts against a real broker: the local Kafka 0.9.0.1 (test/helpers/kafka-broker.ts) or KAFKA_BROKERS.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { backoffDelayMs, createKafkaProducer, KafkaBusError, runConsumer, type BusLogger, type KafkaMessageOut, type KafkaProducer, type RunningConsumer } from '../../bus/kafka.ts';
import { startKafka, type KafkaHarness } from '../helpers/kafka-broker.ts';

const PARTITIONS = 3;
const SEND_TIMEOUT_MS = 3000;

const kafkaLogs: string[] = [];
const logger: BusLogger = (level, message) => {
  kafkaLogs.push(`${level} ${message}`);
};

const randomTopic = () => `sl-test-${randomBytes(6).toString('hex')}`;

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitForAsync(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sum of a group's committed offsets over the partitions it has committed (-1 = none). */
const sumOffsets = (offsets: Map<number, string>) => [...offsets.values()].filter((o) => o !== '-1').reduce((sum, o) => sum + Number(o), 0);

/** Time a promise that must reject; returns the error and the elapsed ms. */
async function timeRejection(work: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const t0 = Date.now();
  try {
    await work();
  } catch (error) {
    return { error, ms: Date.now() - t0 };
  }
  throw new Error('expected a rejection');
}

describe('backoffDelayMs', () => {
  it('doubles from initialMs, caps at maxMs, and jitters by ±20 %', () => {
    expect(backoffDelayMs(0, 100, 1000, () => 0.5)).toBe(100);
    expect(backoffDelayMs(3, 100, 1000, () => 0.5)).toBe(800);
    expect(backoffDelayMs(10, 100, 1000, () => 0.5)).toBe(1000);
    expect(backoffDelayMs(2, 100, 1000, () => 0)).toBe(320);
    expect(backoffDelayMs(2, 100, 1000, () => 1)).toBe(480);
  });
});

describe('producer against an unreachable broker', () => {
  it('connect() fails fast when nothing listens on the port', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => resolve(a !== null && typeof a !== 'string' ? a.port : 1));
      });
    });
    const producer = createKafkaProducer({ brokers: [`127.0.0.1:${closedPort}`], clientId: 'sl-test', topic: randomTopic(), logger, sendTimeoutMs: SEND_TIMEOUT_MS });
    const { error, ms } = await timeRejection(() => producer.connect());
    expect(error).toBeInstanceOf(KafkaBusError);
    expect((error as KafkaBusError).code).toBe('sightline_kafka_unavailable');
    expect((error as KafkaBusError).retryable).toBe(true);
    expect(ms).toBeLessThan(SEND_TIMEOUT_MS + 500);
    await producer.close();
  });

  it('connect() gives up at sendTimeoutMs when the port accepts but never answers', async () => {
    const silent = new Set<net.Socket>();
    const srv = net.createServer((s) => silent.add(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const a = srv.address();
    const port = a !== null && typeof a !== 'string' ? a.port : 0;
    const producer = createKafkaProducer({ brokers: [`127.0.0.1:${port}`], clientId: 'sl-test', topic: randomTopic(), logger, sendTimeoutMs: 1500 });
    const { error, ms } = await timeRejection(() => producer.connect());
    expect(error).toBeInstanceOf(KafkaBusError);
    expect((error as KafkaBusError).code).toBe('sightline_kafka_timeout');
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(ms).toBeLessThan(2500);
    await producer.close();
    for (const s of silent) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
});

describe('Kafka bus on a real broker', () => {
  let kafka: KafkaHarness;
  const producers: KafkaProducer[] = [];
  const consumers: RunningConsumer[] = [];

  const producer = async (topic: string) => {
    const p = createKafkaProducer({ brokers: kafka.brokers, clientId: 'sl-test-producer', topic, logger, sendTimeoutMs: SEND_TIMEOUT_MS });
    await p.connect();
    producers.push(p);
    return p;
  };

  const consumer = async (topic: string, groupId: string, handleBatch: (m: KafkaMessageOut[]) => Promise<void>, extra: { onRetry?: () => void; maxBatch?: number } = {}) => {
    const c = await runConsumer({
      brokers: kafka.brokers, clientId: 'sl-test-consumer', topic, groupId, handleBatch, logger,
      maxWaitMs: 100, retry: { initialMs: 50, maxMs: 400 }, ...extra,
    });
    consumers.push(c);
    return c;
  };

  const committedOffsets = async (groupId: string, topic: string): Promise<Map<number, string>> => {
    const admin = new Kafka({ clientId: 'sl-test-admin', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return new Map((t?.partitions ?? []).map((p) => [p.partition, p.offset]));
    } finally {
      await admin.disconnect();
    }
  };

  beforeAll(async () => {
    kafka = await startKafka({ partitions: PARTITIONS });
  });

  afterAll(async () => {
    await Promise.allSettled(consumers.map((c) => c.stop()));
    await Promise.allSettled(producers.map((p) => p.close()));
    await kafka?.stop();
  });

  it('round-trips keyed messages: one partition per key, order kept per key', async () => {
    const topic = randomTopic();
    const p = await producer(topic);
    const orgs = ['org-a', 'org-b', 'org-c', 'org-d', 'org-e'];
    const sent: { key: string; value: string }[] = [];
    for (let batch = 0; batch < 6; batch++) {
      const messages = Array.from({ length: 50 }, (_, i) => {
        const seq = batch * 50 + i;
        const key = orgs[seq % orgs.length] ?? 'org-a';
        return { key, value: JSON.stringify({ key, seq }) };
      });
      await p.send(messages);
      sent.push(...messages);
    }

    const got: KafkaMessageOut[] = [];
    await consumer(topic, `g-${topic}`, async (batch) => {
      got.push(...batch);
    });
    await waitFor('all 300 messages', () => got.length >= sent.length);

    expect(got).toHaveLength(sent.length);
    for (const org of orgs) {
      const mine = got.filter((m) => m.key === org);
      const seqs = mine.map((m) => (JSON.parse(m.value.toString('utf8')) as { seq: number }).seq);
      expect(seqs).toEqual(sent.filter((s) => s.key === org).map((s) => (JSON.parse(s.value) as { seq: number }).seq));
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
    }
    // Five keys over three partitions: the key really picks the partition (not all in one).
    expect(new Set(got.map((m) => m.partition)).size).toBeGreaterThan(1);
  });

  it('marks a batch the broker refuses for good (MESSAGE_TOO_LARGE) as not retryable', async () => {
    const p = await producer(randomTopic());
    await p.send([{ key: 'org-1', value: 'first send creates the topic' }]);
    // Random bytes do not compress: 2 MiB is over the broker's 1 MB message.max.bytes even gzipped.
    const { error } = await timeRejection(() => p.send([{ key: 'org-1', value: randomBytes(2 * 1024 * 1024) }]));
    expect(error).toBeInstanceOf(KafkaBusError);
    expect((error as KafkaBusError).code).toBe('sightline_kafka_rejected');
    expect((error as KafkaBusError).retryable).toBe(false);
    await p.send([{ key: 'org-1', value: 'the producer still works' }]);
  });

  it('createTopic makes a topic with the asked number of partitions, each with a leader', async () => {
    const topic = randomTopic();
    await kafka.createTopic(topic, 5);
    const admin = new Kafka({ clientId: 'sl-test-admin', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = meta.topics[0]?.partitions ?? [];
      expect(partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2, 3, 4]);
      expect(partitions.every((p) => p.leader >= 0)).toBe(true);
    } finally {
      await admin.disconnect();
    }
    const p = await producer(topic);
    await p.send(Array.from({ length: 50 }, (_, i) => ({ key: `org-${i}`, value: String(i) })));
    const seen = new Set<number>();
    await consumer(topic, `g-${topic}`, async (batch) => {
      for (const m of batch) seen.add(m.partition);
    });
    await waitFor('messages on all 5 partitions', () => seen.size === 5);
  });

  it('splits partitions between the two members of a consumer group', async () => {
    const topic = randomTopic();
    const groupId = `g-${topic}`;
    const p = await producer(topic);
    // Route messages to every partition before anyone joins, so the topic exists with all partitions.
    await p.send(Array.from({ length: 30 }, (_, i) => ({ key: `org-${i}`, value: `warmup-${i}` })));

    const seenBy = { a: new Map<string, number>(), b: new Map<string, number>() };
    const record = (member: 'a' | 'b') => async (batch: KafkaMessageOut[]) => {
      for (const m of batch) seenBy[member].set(m.value.toString('utf8'), m.partition);
    };
    await consumer(topic, groupId, record('a'));
    await consumer(topic, groupId, record('b'));

    // Produce rounds until one round is consumed entirely, split over both members with no shared partition.
    let split: { a: Set<number>; b: Set<number> } | undefined;
    const deadline = Date.now() + 40_000;
    for (let round = 0; split === undefined; round++) {
      if (Date.now() > deadline) throw new Error('the group never split the partitions between both members');
      const values = Array.from({ length: 30 }, (_, i) => `r${round}-${i}`);
      await p.send(values.map((value, i) => ({ key: `org-${i}`, value })));
      await waitFor(`round ${round}`, () => values.every((v) => seenBy.a.has(v) || seenBy.b.has(v)));
      const a = new Set(values.flatMap((v) => (seenBy.a.has(v) ? [seenBy.a.get(v) ?? -1] : [])));
      const b = new Set(values.flatMap((v) => (seenBy.b.has(v) ? [seenBy.b.get(v) ?? -1] : [])));
      if (a.size > 0 && b.size > 0) split = { a, b };
    }
    expect([...split.a].filter((x) => split?.b.has(x))).toEqual([]);
    expect(new Set([...split.a, ...split.b])).toEqual(new Set([0, 1, 2]));
    for (let i = 0; i < 30; i++) expect(seenBy.a.has(`warmup-${i}`) || seenBy.b.has(`warmup-${i}`)).toBe(true);
  });

  it('redelivers the same messages after handleBatch rejects: no loss, no skip, no commit', async () => {
    const topic = randomTopic();
    const groupId = `g-${topic}`;
    const p = await producer(topic);
    await p.send(Array.from({ length: 100 }, (_, i) => ({ key: 'org-1', value: String(i) })));

    const attempts: string[][] = [];
    const accepted: string[] = [];
    let retries = 0;
    await consumer(topic, groupId, async (batch) => {
      const offsets = batch.map((m) => m.offset);
      attempts.push(offsets);
      if (attempts.length <= 3) throw new Error('ClickHouse unavailable');
      accepted.push(...batch.map((m) => m.value.toString('utf8')));
    }, { onRetry: () => { retries++; }, maxBatch: 40 });

    await waitFor('all 100 accepted', () => accepted.length >= 100);
    expect(retries).toBe(3);
    // The three failed attempts and the first success all carry the same first chunk.
    expect(attempts[0]?.[0]).toBe('0');
    expect(attempts.slice(0, 4).map((a) => a.join(','))).toEqual(Array(4).fill(attempts[0]?.join(',')));
    expect(accepted).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    await waitForAsync('offset 100 committed', async () => sumOffsets(await committedOffsets(groupId, topic)) === 100);
  });

  it('commits only after success: a new member of the group gets the uncommitted messages again', async () => {
    const topic = randomTopic();
    const groupId = `g-${topic}`;
    const p = await producer(topic);
    await p.send(Array.from({ length: 10 }, (_, i) => ({ key: 'org-1', value: `ok-${i}` })));

    const firstSeen: string[] = [];
    let failing = false;
    let failedAttempts = 0;
    const first = await consumer(topic, groupId, async (batch) => {
      if (failing) throw new Error('retryable');
      firstSeen.push(...batch.map((m) => m.value.toString('utf8')));
    }, { onRetry: () => { failedAttempts++; } });
    await waitFor('first 10', () => firstSeen.length >= 10);
    await waitForAsync('offset 10 committed', async () => sumOffsets(await committedOffsets(groupId, topic)) === 10);
    failing = true;
    await p.send(Array.from({ length: 10 }, (_, i) => ({ key: 'org-1', value: `later-${i}` })));
    // The member keeps retrying the second ten; stop it while it is backing off.
    await waitFor('two failed attempts', () => failedAttempts >= 2);
    await first.stop();
    expect(firstSeen).toHaveLength(10);
    expect(sumOffsets(await committedOffsets(groupId, topic))).toBe(10);

    const secondSeen: string[] = [];
    await consumer(topic, groupId, async (batch) => {
      secondSeen.push(...batch.map((m) => m.value.toString('utf8')));
    });
    await waitFor('the 10 uncommitted messages', () => secondSeen.length >= 10);
    expect(secondSeen).toEqual(Array.from({ length: 10 }, (_, i) => `later-${i}`));
  });
});
