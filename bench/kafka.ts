// Kafka bus numbers on this machine: harness start, RSS, fail-fast bound, produce/consume rate.
// Run: npx tsx bench/kafka.ts [messages=100000] [batch=1000]   (KAFKA_BROKERS = use that cluster)
import { randomBytes } from 'node:crypto';
import { createKafkaProducer, runConsumer } from '../bus/kafka.ts';
import { rssBytes, startKafka } from '../test/helpers/kafka-broker.ts';

const total = Number(process.argv[2] ?? 100_000);
const batchSize = Number(process.argv[3] ?? 1000);
const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;
const quiet = () => {};

const t0 = performance.now();
const kafka = await startKafka({ partitions: 3 });
const startMs = performance.now() - t0;
const pids = kafka.pids();
console.log(`harness start: ${startMs.toFixed(0)} ms; RSS zookeeper ${mb(pids.zookeeper ? rssBytes(pids.zookeeper) : 0)}, broker ${mb(pids.broker ? rssBytes(pids.broker) : 0)}, node (shim + bench) ${mb(process.memoryUsage().rss)}`);

try {
  const topic = `sl-bench-${randomBytes(6).toString('hex')}`;
  const producer = createKafkaProducer({ brokers: kafka.brokers, clientId: 'sl-bench', topic, logger: quiet });
  await producer.connect();
  const payload = randomBytes(512).toString('hex'); // 1 KiB of incompressible-ish text
  const batches = Math.ceil(total / batchSize);
  const tp = performance.now();
  for (let b = 0; b < batches; b++) {
    await producer.send(Array.from({ length: batchSize }, (_, i) => ({ key: `org-${(b * batchSize + i) % 50}`, value: payload })));
  }
  const produceS = (performance.now() - tp) / 1000;
  console.log(`produce: ${batches * batchSize} x 1 KiB in ${produceS.toFixed(2)} s = ${Math.round((batches * batchSize) / produceS)} msg/s (batches of ${batchSize}, one in flight, acks=all, gzip)`);

  let consumed = 0;
  let firstAt = 0;
  const tc = performance.now();
  let done: () => void = () => {};
  const allConsumed = new Promise<void>((resolve) => { done = resolve; });
  const consumer = await runConsumer({
    brokers: kafka.brokers, clientId: 'sl-bench', topic, groupId: `g-${topic}`, logger: quiet, maxWaitMs: 100, maxBatch: 10_000,
    handleBatch: async (messages) => {
      if (firstAt === 0) firstAt = performance.now();
      consumed += messages.length;
      if (consumed >= batches * batchSize) done();
    },
  });
  await allConsumed;
  const end = performance.now();
  console.log(`consume: ${consumed} in ${((end - tc) / 1000).toFixed(2)} s incl. group join (${((firstAt - tc) / 1000).toFixed(2)} s) = ${Math.round(consumed / ((end - firstAt) / 1000))} msg/s after the first batch (commit per batch)`);
  await consumer.stop();

  kafka.kill();
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const td = performance.now();
    await producer.send([{ key: 'org-0', value: payload }]).catch(() => {});
    times.push(performance.now() - td);
  }
  console.log(`send to a SIGKILLed broker (sendTimeoutMs 5000): rejected after ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
  await producer.close();

  const dead = createKafkaProducer({ brokers: ['127.0.0.1:1'], clientId: 'sl-bench', topic, logger: quiet });
  const tu = performance.now();
  await dead.connect().catch(() => {});
  console.log(`connect to a closed port: rejected after ${(performance.now() - tu).toFixed(0)} ms`);
  await dead.close();
} finally {
  const ts = performance.now();
  await kafka.stop();
  console.log(`harness stop: ${(performance.now() - ts).toFixed(0)} ms`);
}
