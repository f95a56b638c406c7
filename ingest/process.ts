// What launching an ingest worker needs to know, without loading the worker: the gateway process (cli/start.ts)
// and the proxy bench import this, and must not pull in ClickHouse, Kafka, the ledger and redaction with it.
import path from 'node:path';
import type { Config } from '../config/index.ts';

/** Where proxies keep their spools: one directory per proxy process under <data_dir>/spool/. */
export function spoolRoot(config: Config): string {
  return path.join(config.data_dir, 'spool');
}

export const INGEST_CONSUMER = 'ingest';

/**
 * Allocator settings for an ingest process (read by the allocators at start, so set by whoever spawns it: `sightline
 * start` does). Both allocators otherwise keep memory the worker has freed: glibc's (Node's buffers) grows its heap
 * once large blocks were freed, and chDB's own jemalloc keeps freed pages for seconds. Measured at 2,000 events/s
 * of ~19 KB (bench/ingest.ts --rate 2000 --user-chars 16384): peak RSS 687–732 → 581–585 MiB, RSS once the load
 * stopped 554–614 → 390–408 MiB, for ~6 % more CPU.
 */
export const INGEST_ALLOCATOR_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  JE_MALLOC_CONF: 'dirty_decay_ms:1000,muzzy_decay_ms:0',
};


/**
 * Set by `sightline start` in the ingest worker's environment: budget spend goes to it over the IPC channel
 * (ingest/settle.ts). An IPC channel alone proves nothing: a test runner's worker processes have one to their runner.
 */
export const SPEND_IPC_ENV = 'SIGHTLINE_SPEND_IPC';
