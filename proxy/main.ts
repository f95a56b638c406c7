// Entry point of the proxy stage: builds the server from a parsed Config and listens.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.ts';
import { metricsUrl } from '../config/tracing.ts';
import type { EventSink } from '../contracts/sink.ts';
import type { SpendStore } from '../ledger/spend-store.ts';
import { memorySpendStore, redisSpendStore } from '../ledger/spend-store.ts';
import { connectRedis, redisReady } from './gateway/redis.ts';
import type { KeyStore } from './keys/store.ts';
import { openKeyStore } from './keys/store.ts';
import { attachRealtime } from './realtime.ts';
import { createProxyServer } from './server.ts';
import { createJsonlSink, createNullSink } from './sink.ts';

export interface RunningProxy {
  server: Server;
  port: number;
  url: string;
  sink: EventSink;
  keys: KeyStore;
  /** Budget spend: ingest's settlements (embedded: over IPC) and the restore after a restart go here. */
  spend: SpendStore;
  /**
   * Applies a new config's models and router (the gateway's routing table) to calls that start from now on.
   * Throws, keeping the running table, when they do not compile. Other sections take effect at the next start;
   * the ones that changed are returned so the caller can say so.
   */
  reload(config: Config): string[];
  /** Stops accepting, waits for in-flight calls to end and log their events, then flushes the sink. */
  close(): Promise<void>;
}

export function createSinkFromConfig(config: Config): EventSink {
  const spec = config.sink;
  if (spec.startsWith('jsonl:')) return createJsonlSink(spec.slice('jsonl:'.length));
  if (spec === 'none') return createNullSink();
  throw new Error(`sink "${spec}" is not available in this build`);
}

export interface ProxyOptions {
  /** Resolves once budget spend is restored after a restart (embedded: ingest reads it from the ledger). */
  spendRestored?: Promise<void>;
  onWarn?: (message: string) => void;
}

export async function startProxy(
  config: Config,
  sink: EventSink = createSinkFromConfig(config),
  metrics?: () => Readonly<Record<string, number>>,
  opts: ProxyOptions = {},
): Promise<RunningProxy> {
  const warn = opts.onWarn ?? ((m: string) => console.error(`sightline: ${m}`));
  // What replicas share (keys, spend, limits): Redis when configured, else this process and the data dir.
  const redis = connectRedis(config.redis, warn);
  if (redis !== undefined && !(await redisReady(redis))) warn(`Redis ${new URL(config.redis.url!).host} is not reachable yet; keys, budgets and limits use it once it is`);
  const keys = await openKeyStore(config, redis, warn);
  const spend = redis !== undefined ? redisSpendStore(redis, config.redis.prefix) : memorySpendStore();
  const proxy = createProxyServer({
    config, sink, keys, spend, spendShared: redis !== undefined, onWarn: warn,
    ...(metrics ? { metrics } : {}),
    ...(opts.spendRestored ? { spendRestored: opts.spendRestored } : {}),
  });
  const server = proxy.server;
  const realtime = attachRealtime(server, { config, sink });
  // The metrics SDK is loaded only when there is somewhere to send metrics.
  const telemetry = metricsUrl(config.tracing) === undefined
    ? undefined
    : (await import('../otel/proxy.ts')).startProxyTelemetry(config.tracing, () => ({ ...proxy.counters(), events: sink.stats }));
  // Streams may be long-lived: never cut them for idleness at the server level.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.listen(config.server.port, config.server.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`,
    sink,
    keys,
    spend,
    reload(next) {
      proxy.gateway.reload(next);
      const was = config as unknown as Record<string, unknown>;
      const now = next as unknown as Record<string, unknown>;
      return Object.keys(now).filter((k) => k !== 'models' && k !== 'router' && JSON.stringify(was[k]) !== JSON.stringify(now[k]));
    },
    async close() {
      const closed = new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      // Upgraded sockets would keep the server open: WebSocket sessions are told the gateway is going away.
      realtime.closeAll();
      await closed;
      await proxy.drain();
      await proxy.close();
      keys.close();
      redis?.disconnect();
      await sink.close();
      await telemetry?.shutdown();
    },
  };
}
