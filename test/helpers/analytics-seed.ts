// Known calls for the #17 views and panels: few enough to work every expected number out by hand (the comments
// next to each row), stored through the real ingest writer into a migrated engine.
import type { ClickHouseClient } from '@clickhouse/client';
import type { RequestEvent } from '../../contracts/event.ts';
import { createWriter } from '../../ingest/writer.ts';
import { makeEvent } from './events.ts';

const HOUR = 3600_000;
/** UTC midnight three days ago: a closed day, well inside the row TTL. */
export const DAY0 = new Date(Math.floor(Date.now() / 86400_000) * 86400_000 - 3 * 86400_000);
export const at = (hours: number, minutes = 0, seconds = 0): string =>
  new Date(DAY0.getTime() + hours * HOUR + minutes * 60_000 + seconds * 1000).toISOString();
export const dayString = (d: Date): string => d.toISOString().slice(0, 10);

const none: Partial<RequestEvent> = { cache_status: 'none', attempts: 1, attempt_log: [], session_id: '', session_path: '', session_name: '', properties: {} };
const attempt = (provider: string, model: string, deployment: string, status: number) =>
  ({ alias: 'smart', deployment, provider, model, status, start_ms: 0, latency_ms: 10, error_code: status === 200 ? '' : 'upstream', error: '' });

/** org_a: four calls on DAY0 between 10:15 and 11:40 (two teams, two keys, two users, two sessions). */
export const A1 = makeEvent({
  ...none, organization_id: 'org_a', team: 'research', key_id: 'ka1', user_id: 'u1', created_at: at(10, 15),
  session_id: 's1', session_path: '/plan', session_name: 'trip', properties: { feature: 'search' },
  provider: 'openai', model: 'gpt-4o-mini', deployment: 'primary', endpoint: 'chat', stream: true, status: 200,
  latency_ms: 100, ttft_ms: 20, prompt_tokens: 1000, completion_tokens: 100, cache_read_tokens: 400, cache_write_tokens: 0,
  reasoning_tokens: 10, cost_usd: 0.01, cache_status: 'miss', request_body: '{"messages":[{"content":"[EMAIL] wants a trip"}]}',
});
export const A2 = makeEvent({
  ...none, organization_id: 'org_a', team: 'research', key_id: 'ka1', user_id: 'u1', created_at: at(10, 20),
  session_id: 's1', session_path: '/plan/step-1', session_name: 'trip', properties: { feature: 'search', env: 'prod' },
  provider: 'openai', model: 'gpt-4o-mini', deployment: 'primary', endpoint: 'chat', stream: true, status: 200,
  latency_ms: 200, ttft_ms: 40, prompt_tokens: 2000, completion_tokens: 200, cache_read_tokens: 0, cache_write_tokens: 500,
  reasoning_tokens: 0, cost_usd: 0.02, cache_status: 'hit',
  // the same deployment twice: one retry
  attempts: 2, attempt_log: [attempt('openai', 'gpt-4o-mini', 'primary', 500), attempt('openai', 'gpt-4o-mini', 'primary', 200)],
});
export const A3 = makeEvent({
  ...none, organization_id: 'org_a', team: 'ops', key_id: 'ka2', user_id: 'u2', created_at: at(11, 5),
  session_id: 's2', session_path: '/', session_name: 'triage', properties: { feature: 'chat' },
  provider: 'anthropic', model: 'claude-sonnet-4-5', deployment: '', endpoint: 'messages', stream: false, status: 429,
  latency_ms: 50, ttfb_ms: null, ttft_ms: null, prompt_tokens: 300, completion_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0,
  reasoning_tokens: 0, cost_usd: 0,
});
export const A4 = makeEvent({
  ...none, organization_id: 'org_a', team: 'ops', key_id: 'ka2', user_id: 'u2', created_at: at(11, 40),
  session_id: 's2', session_path: '/a', session_name: 'triage', properties: { feature: 'chat' },
  provider: 'anthropic', model: 'claude-sonnet-4-5', deployment: '', endpoint: 'messages', stream: true, status: -2,
  latency_ms: 1000, ttft_ms: 100, prompt_tokens: 500, completion_tokens: 90, cache_read_tokens: 0, cache_write_tokens: 0,
  reasoning_tokens: 0, cost_usd: 0.005,
  // another provider after the first failed: one fallback
  attempts: 2, attempt_log: [attempt('openai', 'gpt-4o', 'd1', 503), attempt('anthropic', 'claude-sonnet-4-5', '', 200)],
});
/** org_b: one costly call on DAY0 and a 5xx the next day. */
export const B1 = makeEvent({
  ...none, organization_id: 'org_b', team: 'core', key_id: 'kb1', user_id: 'u9', created_at: at(10, 30),
  provider: 'openai', model: 'gpt-4o-mini', deployment: '', endpoint: 'chat', stream: true, status: 200,
  latency_ms: 300, ttft_ms: 60, prompt_tokens: 100, completion_tokens: 50, cache_read_tokens: 0, cache_write_tokens: 0,
  reasoning_tokens: 0, cost_usd: 1,
});
export const B2 = makeEvent({
  ...none, organization_id: 'org_b', team: 'core', key_id: 'kb1', user_id: 'u9', created_at: at(33),
  provider: 'gemini', model: 'gemini-2.5-flash', deployment: '', endpoint: 'generate', stream: false, status: 500,
  latency_ms: 400, ttfb_ms: null, ttft_ms: null, prompt_tokens: 10, completion_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0,
  reasoning_tokens: 0, cost_usd: 0,
});
/** org_q: 100 successful calls in one 5-minute bucket (DAY0 14:00), latency 1..100 ms and TTFT half of it. */
export const Q = Array.from({ length: 100 }, (_, i) => makeEvent({
  ...none, organization_id: 'org_q', team: 't', key_id: 'kq', user_id: `q${i % 7}`, created_at: at(14, 0, i),
  provider: 'openai', model: 'gpt-4o', deployment: '', endpoint: 'chat', stream: false, status: 200,
  latency_ms: i + 1, ttft_ms: (i + 1) / 2, prompt_tokens: 10, completion_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0,
  reasoning_tokens: 0, cost_usd: 0.001,
}));

export const SEED: readonly RequestEvent[] = [A1, A2, A3, A4, B1, B2, ...Q];

/** Stores the seed through the ingest writer (one insert, so one dedup token). */
export async function seed(client: ClickHouseClient, events: readonly RequestEvent[] = SEED): Promise<void> {
  await createWriter(client).insert(events);
}

/**
 * org_c: a gateway cache hit that saved $0.25, inserted with the cache_saved_usd column as issue #16's writer will
 * (the event has no such field yet; every other row reads the column's DEFAULT 0).
 */
export async function seedGatewayHit(client: ClickHouseClient): Promise<void> {
  await client.insert({
    table: 'sightline.requests',
    format: 'JSONEachRow',
    values: [{
      schema_version: 1, request_id: '7f000000-0000-4000-8000-0000000000c1', created_at: at(12).replace('T', ' ').replace('Z', ''),
      organization_id: 'org_c', team: 'x', key_id: 'kc', user_id: 'uc', provider: 'openai', model: 'gpt-4o-mini', endpoint: 'chat',
      status: 200, latency_ms: 1, cost_usd: 0, cost_known: true, cache_status: 'hit', attempts: 1, cache_saved_usd: 0.25,
    }],
  });
}
