// Budget settlement: once a row is stored, its real cost (the ledger's, the number the row has) replaces the
// reservation the proxy made when the call started. With Redis the spend store is shared and ingest writes to it
// directly (production: ingest workers anywhere); in the embedded default the gateway process holds spend in memory
// and this worker is its child, so settlements go to it over the IPC channel, and after a (re)start the worker first
// sends the spend of the current periods as the ledger has it, so spend is never reset to 0.
import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import type { Config } from '../config/index.ts';
import { BUDGET_PERIODS } from '../config/budgets.ts';
import type { RequestEvent } from '../contracts/event.ts';
import type { Settlement } from '../contracts/spend.ts';
import { periodOf, periodStartOf, scopesOf, spendCounter } from '../contracts/spend.ts';
import { redisSpendStore } from '../ledger/spend-store.ts';
import { SPEND_IPC_ENV } from './process.ts';


/** The channel to the gateway process that started this worker, when it asked for spend over it. */
function gatewayChannel(): NodeJS.Process['send'] | undefined {
  return process.env[SPEND_IPC_ENV] === '1' ? process.send?.bind(process) : undefined;
}

/** Messages from the ingest worker to the gateway process that started it. */
export type SpendMessage = { type: 'spend-restore'; spent: Record<string, number> } | { type: 'spend-settle'; rows: Settlement[] };

export interface Settler {
  /** Takes a row as it is prepared; the function returned settles it once its batch is stored. */
  afterStore(row: RequestEvent): () => void;
  close(): Promise<void>;
}

export function settlementOf(row: RequestEvent): Settlement {
  return {
    request_id: row.request_id,
    organization_id: row.organization_id,
    team: row.team,
    key_id: row.key_id,
    at: Date.parse(row.created_at),
    cost_usd: row.cost_usd,
    tokens: row.prompt_tokens + row.completion_tokens,
  };
}

const RETRY_MS = 1000;
const MAX_PENDING = 100_000;

/** Collects a batch's settlements and sends them together on the next turn (one Redis pipeline, or one IPC message). */
function batched(send: (rows: Settlement[]) => Promise<void>, log: (m: string) => void): (row: RequestEvent) => () => void {
  let pending: Settlement[] = [];
  let scheduled = false;
  let failures = 0;
  const flush = () => {
    scheduled = false;
    const rows = pending;
    pending = [];
    send(rows).catch((err: Error) => {
      if (failures++ % 100 === 0) log(`budget settlement failed for ${rows.length} row(s) (${failures} so far), retrying: ${err.message}`);
      // A settlement not made leaves its reservation holding budget until it lapses: try again, oldest first, bounded.
      pending = [...rows, ...pending].slice(0, MAX_PENDING);
      if (!scheduled) {
        scheduled = true;
        setTimeout(flush, RETRY_MS).unref();
      }
    });
  };
  return (row) => {
    const s = settlementOf(row);
    return () => {
      pending.push(s);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    };
  };
}

export function createSettler(config: Config, log: (m: string) => void): Settler | undefined {
  const tz = config.budgets.timezone;
  if (config.redis.url !== undefined) {
    const redis = new Redis(config.redis.url, { commandTimeout: Math.max(1000, config.redis.command_timeout_ms * 10), maxRetriesPerRequest: 3 });
    redis.on('error', () => {});
    const store = redisSpendStore(redis, config.redis.prefix);
    return { afterStore: batched((rows) => store.settle(rows, tz), log), close: async () => redis.disconnect() };
  }
  const send = gatewayChannel();
  if (send === undefined) return undefined;
  const message = (m: SpendMessage) => new Promise<void>((resolve, reject) => {
    send(m, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve()));
  });
  return { afterStore: batched((rows) => message({ type: 'spend-settle', rows }), log), close: async () => {} };
}

/**
 * Embedded default, at the worker's start: the spend of every key, team and organisation in the current day, week and
 * month, summed from the stored rows, for the gateway process to start from.
 */
export async function sendSpendRestore(client: ClickHouseClient, config: Config): Promise<void> {
  const send = gatewayChannel();
  if (send === undefined || config.redis.url !== undefined) return;
  const spent = await spendFromLedger(client, config.budgets.timezone, Date.now());
  await new Promise<void>((resolve, reject) => {
    send({ type: 'spend-restore', spent } satisfies SpendMessage, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

/** Every spend counter of the periods containing `now`, as the stored rows (FINAL: each call once) sum it. */
export async function spendFromLedger(client: ClickHouseClient, tz: string, now: number): Promise<Record<string, number>> {
  const spent: Record<string, number> = {};
  for (const period of BUDGET_PERIODS) {
    const window = periodOf(period, tz, now);
    const rs = await client.query({
      query: `SELECT key_id, team, organization_id, sum(cost_usd) AS usd FROM sightline.requests FINAL
              WHERE created_at >= fromUnixTimestamp64Milli({start:Int64}) AND created_at < fromUnixTimestamp64Milli({end:Int64}) AND cost_usd > 0
              GROUP BY key_id, team, organization_id`,
      query_params: { start: String(periodStartOf(period, tz, now)), end: String(window.resetsAt) },
      format: 'JSONEachRow',
    });
    for (const r of await rs.json<{ key_id: string; team: string; organization_id: string; usd: number }>()) {
      for (const scope of scopesOf(r)) {
        const counter = spendCounter(scope, window);
        spent[counter] = (spent[counter] ?? 0) + Number(r.usd);
      }
    }
  }
  return spent;
}
