// The Redis the gateway's replicas share (config `redis`, REDIS_URL). Every command has a deadline and nothing is
// queued while disconnected, so a slow or unreachable Redis fails a command fast — the caller's policy
// (`redis.on_unavailable`) then decides — and never hangs a call. ioredis reconnects in the background.
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/index.ts';

export type SharedRedis = Redis;

/**
 * ioredis is loaded only when a Redis is configured: the embedded default never needs it, and it is ~22 MB of RSS
 * (7 MB of heap) in every proxy otherwise. It is CommonJS, so a require loads it synchronously where it is asked for.
 */
const loadIoredis = (): typeof import('ioredis') => createRequire(import.meta.url)('ioredis') as typeof import('ioredis');

export function connectRedis(config: Config['redis'], onWarn: (message: string) => void = () => {}): SharedRedis | undefined {
  if (config.url === undefined) return undefined;
  const { Redis } = loadIoredis();
  const redis = new Redis(config.url, {
    commandTimeout: config.command_timeout_ms,
    connectTimeout: Math.max(1000, config.command_timeout_ms),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
  });
  let warned = 0;
  redis.on('error', (err: Error) => {
    // One line per burst of reconnect failures, not one per attempt.
    if (Date.now() - warned > 10_000) {
      warned = Date.now();
      onWarn(`Redis ${new URL(config.url!).host} unavailable: ${err.message}`);
    }
  });
  return redis;
}

/** Waits (at most `ms`) for the first connection, so start-up reads find Redis ready; false when it is not yet. */
export async function redisReady(redis: SharedRedis, ms = 3000): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
