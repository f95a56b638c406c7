// Issue #17 §1–2 on a real engine: the rollups of migrations 0009–0012 and the audit view against known rows
// (test/helpers/analytics-seed.ts, every expected number worked out by hand from them), and every panel of panels/
// run with its macros and variables expanded as Grafana's ClickHouse plugin expands them.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../analytics/migrate.ts';
import { modelPrices, refreshModelPrices } from '../../analytics/prices.ts';
import { rebuildRollups } from '../../analytics/rollups.ts';
import { PANELS, runPanel, variableOptions, type PanelId, type PanelRequest, type PanelRow } from '../../panels/index.ts';
import { freshClickHouse, type TestClickHouse } from '../helpers/clickhouse.ts';
import { A1, A2, A3, A4, B1, DAY0, Q, SEED, at, dayString, seed, seedGatewayHit } from '../helpers/analytics-seed.ts';

const HOUR_MS = 3600_000;
const DAY_MS = 86400_000;
const day0 = { from: DAY0, to: new Date(DAY0.getTime() + DAY_MS - 1000), intervalMs: HOUR_MS };

let ch: TestClickHouse;
beforeAll(async () => {
  ch = await freshClickHouse();
  await migrate(ch.client);
  await seed(ch.client);
  await seedGatewayHit(ch.client);
  await refreshModelPrices(ch.client);
});
afterAll(async () => { await ch?.close(); });

async function panel(id: PanelId, req: Partial<PanelRequest> = {}): Promise<PanelRow[]> {
  return runPanel(ch.client, PANELS[id], { ...day0, ...req });
}
const org = (o: string | string[]) => ({ variables: { organisation: typeof o === 'string' ? [o] : o } });
const num = (row: PanelRow | undefined, column: string): number => Number(row?.[column]);
async function rows<T>(query: string): Promise<T[]> {
  return (await ch.client.query({ query, format: 'JSONEachRow' })).json<T>();
}

describe('rollups (migrations 0009–0012)', () => {
  it('cost_hourly holds one summed row per hour and attribution, equal to the raw rows', async () => {
    const got = await rows<Record<string, string | number>>(`SELECT toString(hour) AS hour, team, key_id, provider, model, endpoint, sum(calls) AS calls,
      sum(errors) AS errors, sum(cost_usd) AS cost, sum(prompt_tokens) AS input, sum(completion_tokens) AS output, sum(cache_read_tokens) AS cr,
      sum(cache_write_tokens) AS cw, sum(reasoning_tokens) AS reasoning, sum(calls_cache_read) AS ccr, sum(gateway_cache_hits) AS hits,
      sum(gateway_cache_misses) AS misses FROM sightline.cost_hourly WHERE organization_id = 'org_a'
      GROUP BY ALL ORDER BY hour`);
    expect(got.map((r) => ({ ...r, cost: Number(r.cost).toFixed(6) }))).toEqual([
      { hour: at(10).slice(0, 19).replace('T', ' '), team: 'research', key_id: 'ka1', provider: 'openai', model: 'gpt-4o-mini', endpoint: 'chat',
        calls: '2', errors: '0', cost: '0.030000', input: '3000', output: '300', cr: '400', cw: '500', reasoning: '10', ccr: '1', hits: '1', misses: '1' },
      { hour: at(11).slice(0, 19).replace('T', ' '), team: 'ops', key_id: 'ka2', provider: 'anthropic', model: 'claude-sonnet-4-5', endpoint: 'messages',
        calls: '2', errors: '2', cost: '0.005000', input: '800', output: '90', cr: '0', cw: '0', reasoning: '0', ccr: '0', hits: '0', misses: '0' },
    ]);
  });

  it('every rollup totals what requests FINAL totals', async () => {
    const [raw] = await rows<{ calls: string; cost: number; input: string }>('SELECT count() AS calls, sum(cost_usd) AS cost, sum(prompt_tokens) AS input FROM sightline.requests FINAL');
    expect(raw!.calls).toBe(String(SEED.length + 1));
    for (const table of ['cost_hourly', 'cost_users_daily']) {
      const [r] = await rows<{ calls: string; cost: number; input: string }>(`SELECT sum(calls) AS calls, sum(cost_usd) AS cost, sum(prompt_tokens) AS input FROM sightline.${table}`);
      expect(r!.calls, table).toBe(raw!.calls);
      expect(r!.input, table).toBe(raw!.input);
      expect(r!.cost, table).toBeCloseTo(raw!.cost, 9);
    }
    const [health] = await rows<{ calls: string }>('SELECT sum(calls) AS calls FROM sightline.provider_health_5m');
    expect(health!.calls).toBe(raw!.calls);
    // a call lands once per property it has: A1 1, A2 2, A3 1, A4 1
    const [props] = await rows<{ calls: string }>('SELECT sum(calls) AS calls FROM sightline.cost_properties_daily');
    expect(props!.calls).toBe('5');
    // sessions: only calls with a session (org_a's four)
    const [sessions] = await rows<{ calls: string; n: string }>('SELECT sum(calls) AS calls, uniqExact(session_id) AS n FROM sightline.sessions_daily');
    expect(sessions).toEqual({ calls: '4', n: '2' });
  });
});

describe('cost & attribution panels', () => {
  it('spend, calls and tokens', async () => {
    expect(num((await panel('spend_total', org('org_a')))[0], 'spend_usd')).toBeCloseTo(0.035, 9);
    // every organisation on DAY0: org_a 0.035 + org_b 1 + org_q 100 × 0.001 + org_c 0; B2 is the next day
    expect(num((await panel('spend_total'))[0], 'spend_usd')).toBeCloseTo(1.135, 9);
    expect(await panel('calls_total')).toEqual([{ calls: '106', errors: '2' }]);
    expect(await panel('tokens_total', org('org_a'))).toEqual([
      { input_tokens: '3800', output_tokens: '390', cache_read_tokens: '400', cache_write_tokens: '500', reasoning_tokens: '10' },
    ]);
  });

  it('spend over time: per model and hour, never finer than the rollup, coarser when asked', async () => {
    const series = (rs: PanelRow[]) => rs.map((r) => [r.time, r.model, Number(num(r, 'spend_usd').toFixed(6))]);
    const hourly = [[at(10).slice(0, 19).replace('T', ' '), 'gpt-4o-mini', 0.03], [at(11).slice(0, 19).replace('T', ' '), 'claude-sonnet-4-5', 0.005]];
    expect(series(await panel('spend_over_time', org('org_a')))).toEqual(hourly);
    expect(series(await panel('spend_over_time', { ...org('org_a'), intervalMs: 60_000 }))).toEqual(hourly);
    const daily = `${dayString(DAY0)} 00:00:00`;
    expect(series(await panel('spend_over_time', { ...org('org_a'), intervalMs: DAY_MS }))).toEqual([[daily, 'claude-sonnet-4-5', 0.005], [daily, 'gpt-4o-mini', 0.03]]);
  });

  it('by team, key, model, user and property', async () => {
    const pick = (rs: PanelRow[], ...cols: string[]) => rs.map((r) => cols.map((c) => (c === 'spend_usd' ? Number(num(r, c).toFixed(6)) : r[c])));
    expect(pick(await panel('spend_by_team', org(['org_a', 'org_b'])), 'organization_id', 'team', 'calls', 'spend_usd'))
      .toEqual([['org_b', 'core', '1', 1], ['org_a', 'research', '2', 0.03], ['org_a', 'ops', '2', 0.005]]);
    expect(pick(await panel('spend_by_key', { variables: { organisation: ['org_a'], team: ['ops'] } }), 'key_id', 'calls', 'input_tokens'))
      .toEqual([['ka2', '2', '800']]);
    expect(pick(await panel('spend_by_model', org('org_a')), 'provider', 'model', 'endpoint', 'spend_usd', 'output_tokens', 'reasoning_tokens'))
      .toEqual([['openai', 'gpt-4o-mini', 'chat', 0.03, '300', '10'], ['anthropic', 'claude-sonnet-4-5', 'messages', 0.005, '90', '0']]);
    expect(pick(await panel('spend_by_user', org('org_a')), 'user_id', 'calls', 'spend_usd')).toEqual([['u1', '2', 0.03], ['u2', '2', 0.005]]);
    expect(pick(await panel('spend_by_user', { variables: { organisation: ['org_a'], user: 'u2' } }), 'user_id')).toEqual([['u2']]);
    expect(pick(await panel('spend_by_property', org('org_a')), 'value', 'calls', 'spend_usd')).toEqual([['search', '2', 0.03], ['chat', '2', 0.005]]);
    expect(pick(await panel('spend_by_property', { variables: { organisation: ['org_a'], property: 'env' } }), 'value', 'calls', 'spend_usd')).toEqual([['prod', '1', 0.02]]);
    expect(pick(await panel('spend_by_property', { variables: { organisation: ['org_a'], property_value: 'chat' } }), 'value')).toEqual([['chat']]);
  });

  it('per day with each month on top', async () => {
    const got = await panel('spend_by_month', { ...org('org_b'), to: new Date(DAY0.getTime() + 2 * DAY_MS) });
    const month = `${dayString(DAY0).slice(0, 8)}01`;
    const next = dayString(new Date(DAY0.getTime() + DAY_MS));
    const rowsOf = got.map((r) => [r.month, r.day, r.calls, num(r, 'spend_usd')]);
    if (next.slice(0, 7) === month.slice(0, 7)) {
      expect(rowsOf).toEqual([[month, null, '2', 1], [month, next, '1', 0], [month, dayString(DAY0), '1', 1]]);
    } else {
      // DAY0 is a month's last day: each day heads its own month
      expect(rowsOf).toEqual([[`${next.slice(0, 8)}01`, null, '1', 0], [`${next.slice(0, 8)}01`, next, '1', 0], [month, null, '1', 1], [month, dayString(DAY0), '1', 1]]);
    }
  });
});

describe('cache panels', () => {
  it('prices come from the ledger: gpt-4o-mini input $0.15/Mtok, cached $0.075/Mtok', () => {
    const [p] = modelPrices([{ provider: 'openai', model: 'gpt-4o-mini' }]);
    expect(p!.input_usd_per_mtok).toBeCloseTo(0.15, 9);
    expect(p!.cache_read_saving_usd_per_mtok).toBeCloseTo(0.075, 9);
    expect(modelPrices([{ provider: 'nonsense', model: 'x' }, { provider: 'openai', model: 'no-such-model-zz' }])).toEqual([]);
  });

  it('hit rate, prompt-cache share and dollars saved', async () => {
    const [a] = await panel('cache_summary', org('org_a'));
    expect(a).toMatchObject({ calls: '4', gateway_hits: '1', gateway_misses: '1', gateway_hit_rate: 0.5, cache_read_tokens: '400', cache_write_tokens: '500' });
    expect(num(a, 'prompt_cache_share')).toBeCloseTo(400 / 3800, 12);
    // 400 cached tokens of gpt-4o-mini at (0.15 − 0.075) $/Mtok
    expect(num(a, 'prompt_cache_saved_usd')).toBeCloseTo(400 * 0.075 / 1e6, 12);
    expect(num(a, 'gateway_saved_usd')).toBe(0);
    // the gateway's own saving, from the column issue #16 fills
    const [c] = await panel('cache_summary', org('org_c'));
    expect(c).toMatchObject({ gateway_hits: '1', gateway_misses: '0', gateway_hit_rate: 1, gateway_saved_usd: 0.25 });
  });

  it('by model, key and property, and over time', async () => {
    const saved = (rs: PanelRow[], ...cols: string[]) => rs.map((r) => [...cols.map((c) => r[c]), Number((num(r, 'prompt_cache_saved_usd') * 1e6).toFixed(3))]);
    expect(saved(await panel('cache_by_model', org('org_a')), 'provider', 'model', 'gateway_hits')).toEqual([['openai', 'gpt-4o-mini', '1', 30], ['anthropic', 'claude-sonnet-4-5', '0', 0]]);
    expect(saved(await panel('cache_by_key', org('org_a')), 'key_id', 'cache_read_tokens')).toEqual([['ka1', '400', 30], ['ka2', '0', 0]]);
    expect(saved(await panel('cache_by_property', org('org_a')), 'value', 'gateway_misses')).toEqual([['search', '1', 30], ['chat', '0', 0]]);
    expect((await panel('cache_over_time', org('org_a'))).map((r) => [r.time, r.cache_read_tokens, r.cache_write_tokens, r.gateway_hits]))
      .toEqual([[at(10).slice(0, 19).replace('T', ' '), '400', '500', '1'], [at(11).slice(0, 19).replace('T', ' '), '0', '0', '0']]);
  });
});

describe('provider latency and errors panels', () => {
  it('error rate, 429s, cut streams, retries and fallbacks', async () => {
    const [s] = await panel('health_summary', org('org_a'));
    expect(s).toEqual({ calls: '4', error_rate: 0.5, rate_429: 0.25, cut_streams: '1', retries: '1', fallbacks: '1' });
    expect((await panel('errors_over_time', org('org_a'))).map((r) => [r.time, r.rate_4xx, r.rate_429, r.rate_5xx, r.rate_no_response, r.rate_cut_stream]))
      .toEqual([[at(10).slice(0, 19).replace('T', ' '), 0, 0, 0, 0, 0], [at(11).slice(0, 19).replace('T', ' '), 0.5, 0.5, 0, 0, 0.5]]);
    expect((await panel('retries_over_time', org('org_a'))).map((r) => [r.retries, r.fallbacks, r.calls_fallen_back])).toEqual([['1', '0', '0'], ['0', '1', '1']]);
    const [b] = await panel('health_summary', { ...org('org_b'), to: new Date(DAY0.getTime() + 2 * DAY_MS) });
    expect(b).toMatchObject({ calls: '2', error_rate: 0.5, rate_429: 0 });
  });

  it('ranges over two days read the hourly rollup: the same counts, rates and quantiles at hourly buckets', async () => {
    const threeDays = { from: new Date(DAY0.getTime() - DAY_MS), to: new Date(DAY0.getTime() + 2 * DAY_MS) };
    expect((await panel('health_summary', { ...org('org_a'), ...threeDays }))[0]).toEqual({ calls: '4', error_rate: 0.5, rate_429: 0.25, cut_streams: '1', retries: '1', fallbacks: '1' });
    expect((await panel('tokens_per_second', { ...org('org_a'), ...threeDays, intervalMs: 300_000 })).map((r) => [r.time, r.provider, r.tokens_per_s]))
      .toEqual([[at(10).slice(0, 19).replace('T', ' '), 'openai', 1250], [at(11).slice(0, 19).replace('T', ' '), 'anthropic', 0]]);
    const [q] = await panel('provider_health', { ...org('org_q'), ...threeDays });
    expect(Math.abs(num(q, 'latency_p95_ms') - 95.05)).toBeLessThanOrEqual(1);
    const [hourly] = await rows<{ calls: string }>('SELECT sum(calls) AS calls FROM sightline.provider_health_1h');
    expect(hourly!.calls).toBe(String(SEED.length + 1));
  });

  it('stream output tokens per second: completion tokens over first token → end, successful streams only', async () => {
    // A1 100 tokens in 80 ms, A2 200 in 160 ms; A4 was cut (-2) and does not count
    expect((await panel('tokens_per_second', org('org_a'))).map((r) => [r.provider, r.tokens_per_s])).toEqual([['openai', 1250], ['anthropic', 0]]);
    const byModel = await panel('provider_health', org('org_a'));
    expect(byModel.map((r) => [r.provider, r.model, r.deployment, r.calls, r.error_rate, r.rate_429, r.cut_streams, r.retries, r.fallbacks, r.stream_tokens_per_s]))
      .toEqual([['anthropic', 'claude-sonnet-4-5', '', '2', 1, 0.5, '1', '0', '1', 0], ['openai', 'gpt-4o-mini', 'primary', '2', 0, 0, '0', '1', '0', 1250]]);
  });

  it('latency and TTFT quantiles merge to the exact ones of the raw rows (100 calls, 1..100 ms)', async () => {
    const [exact] = await rows<{ lat: number[]; ttft: number[] }>(`SELECT quantilesExactInclusive(0.5, 0.95, 0.99)(latency_ms) AS lat,
      quantilesExactInclusive(0.5, 0.95, 0.99)(ttft_ms) AS ttft FROM sightline.requests FINAL WHERE organization_id = 'org_q'`);
    expect(exact!.lat).toEqual([50.5, 95.05, 99.01]);
    const [row] = await panel('provider_health', org('org_q'));
    const lat = [num(row, 'latency_p50_ms'), num(row, 'latency_p95_ms'), num(row, 'latency_p99_ms')];
    const ttft = [num(row, 'ttft_p50_ms'), num(row, 'ttft_p95_ms'), num(row, 'ttft_p99_ms')];
    lat.forEach((v, i) => expect(Math.abs(v - exact!.lat[i]!), `latency q${i}: ${v}`).toBeLessThanOrEqual(1));
    ttft.forEach((v, i) => expect(Math.abs(v - exact!.ttft[i]!), `ttft q${i}: ${v}`).toBeLessThanOrEqual(0.5));
    // one 5-minute bucket at 14:00 whatever finer interval Grafana asks for
    const series = await panel('latency_over_time', { ...org('org_q'), intervalMs: 10_000 });
    expect(series.map((r) => r.time)).toEqual([at(14).slice(0, 19).replace('T', ' ')]);
    expect(Math.abs(num(series[0], 'p95') - 95.05)).toBeLessThanOrEqual(1);
    const ttftSeries = await panel('ttft_over_time', { ...org('org_q'), intervalMs: 300_000 });
    expect(Math.abs(num(ttftSeries[0], 'p50') - 25.25)).toBeLessThanOrEqual(0.5);
    // calls without a first token (A3's 429) are left out of TTFT, not counted as 0
    const [a] = await panel('provider_health', { variables: { organisation: ['org_a'], provider: ['anthropic'] } });
    expect(num(a, 'ttft_p50_ms')).toBe(100);
  });
});

describe('sessions panels', () => {
  it('cost, calls and duration per session', async () => {
    const got = (await panel('sessions', org('org_a'))).map((r) => [r.session_id, r.name, r.user, r.calls, Number(num(r, 'cost_usd').toFixed(6)), r.duration_s]);
    // s1: 10:15:00 → 10:20:00 + 200 ms; s2: 11:05 → 11:40 + 1 s
    expect(got).toEqual([['s1', 'trip', 'u1', '2', 0.03, 300.2], ['s2', 'triage', 'u2', '2', 0.005, 2101]]);
    expect((await panel('sessions', { variables: { organisation: ['org_a'], user: 'u2' } })).map((r) => r.session_id)).toEqual(['s2']);
    const [summary] = await panel('sessions_summary', org('org_a'));
    expect(summary).toMatchObject({ sessions: '2' });
    expect(num(summary, 'mean_duration_s')).toBeCloseTo((300.2 + 2101) / 2, 9);
  });

  it('the path tree of one session', async () => {
    const tree = await panel('session_tree', { variables: { organisation: ['org_a'], session: 's1' } });
    expect(tree.map((r) => [r.path, r.depth, r.node, r.calls, num(r, 'cost_usd')])).toEqual([['/plan', '1', 'plan', '1', 0.01], ['/plan/step-1', '2', '  step-1', '1', 0.02]]);
    expect(await panel('session_tree', { variables: { organisation: ['org_b'], session: 's1' } })).toEqual([]);
  });
});

describe('audit panels (raw rows)', () => {
  const ids = (rs: PanelRow[]) => rs.map((r) => r.request_id);
  it('every call, newest first, filterable by time, user, key and property', async () => {
    expect(ids(await panel('audit_calls', org('org_a')))).toEqual([A4, A3, A2, A1].map((e) => e.request_id));
    expect(ids(await panel('audit_calls', { variables: { organisation: ['org_a'], user: 'u2' } }))).toEqual([A4, A3].map((e) => e.request_id));
    expect(ids(await panel('audit_calls', { variables: { organisation: ['org_a'], key: ['ka1'] } }))).toEqual([A2, A1].map((e) => e.request_id));
    expect(ids(await panel('audit_calls', { variables: { organisation: ['org_a'], property: 'env', property_value: 'prod' } }))).toEqual([A2.request_id]);
    // the raw range is exact and inclusive (as $__timeFilter makes it): 10:00:00–10:30:00 has B1 (10:30:00.000), A2, A1
    expect(ids(await panel('audit_calls', { from: new Date(at(10)), to: new Date(at(10, 30)) }))).toEqual([B1, A2, A1].map((e) => e.request_id));
    expect(ids(await panel('audit_calls', { from: new Date(at(10)), to: new Date(at(10, 29, 59)) }))).toEqual([A2, A1].map((e) => e.request_id));
    const [a1] = await panel('audit_calls', { variables: { organisation: ['org_a'], key: ['ka1'] }, from: new Date(at(10, 15)), to: new Date(at(10, 16)) });
    expect(a1).toMatchObject({ user_id: 'u1', model: 'gpt-4o-mini', input_tokens: '1000', output_tokens: '100', cost_usd: 0.01, prompt_start: A1.request_body.slice(0, 200) });
  });

  it('drills down into one call, only inside its organisation', async () => {
    const [call] = await panel('audit_call', { variables: { organisation: ['org_a'], request_id: A2.request_id } });
    expect(call).toMatchObject({ request_id: A2.request_id, organization_id: 'org_a', key_id: 'ka1', user_id: 'u1', cost_usd: 0.02, attempts: 2, prompt: A2.request_body, response: A2.response_body });
    expect((call!.attempt_log as unknown[]).length).toBe(2);
    expect(await panel('audit_call', { variables: { organisation: ['org_b'], request_id: A2.request_id } })).toEqual([]);
    expect(await panel('audit_call', { variables: { organisation: ['org_a'], request_id: "x' OR 1=1 --" } })).toEqual([]);
  });
});

describe('template variables', () => {
  it('offer the values present, narrowed by the ones picked', async () => {
    expect(await variableOptions(ch.client, 'organisation', day0)).toEqual(['org_a', 'org_b', 'org_c', 'org_q']);
    expect(await variableOptions(ch.client, 'team', { ...day0, ...org('org_a') })).toEqual(['ops', 'research']);
    expect(await variableOptions(ch.client, 'model', { ...day0, variables: { organisation: ['org_a'], provider: ['anthropic'] } })).toEqual(['claude-sonnet-4-5']);
    expect(await variableOptions(ch.client, 'user', day0)).toEqual([]);
  });
});

describe('analytics/README.md', () => {
  it('runs every example query, each answering with rows', async () => {
    const readme = readFileSync(new URL('../../analytics/README.md', import.meta.url), 'utf8');
    const blocks = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    for (const sql of blocks) expect((await rows(sql)).length, sql).toBeGreaterThan(0);
  });
});

describe('redelivered events (analytics/README.md)', () => {
  it('a batch replayed with its dedup token is dropped from the rollups too', async () => {
    await seed(ch.client);
    expect(await panel('calls_total')).toEqual([{ calls: '106', errors: '2' }]);
    expect((await panel('health_summary', { from: new Date(DAY0.getTime() - DAY_MS), to: new Date(DAY0.getTime() + 2 * DAY_MS) }))[0]).toMatchObject({ calls: String(SEED.length + 1) });
    const [raw] = await rows<{ n: string }>('SELECT count() AS n FROM sightline.requests');
    expect(raw!.n).toBe(String(SEED.length + 1));
  });

  it('one redelivered in another batch is counted twice until its day is rebuilt from requests FINAL', async () => {
    await seed(ch.client, [A1]);
    expect(await panel('calls_total', org('org_a'))).toEqual([{ calls: '5', errors: '2' }]);
    expect((await panel('audit_calls', org('org_a'))).length).toBe(4);
    const counts = await rebuildRollups(ch.client, dayString(DAY0), dayString(DAY0));
    expect(counts['sightline.cost_hourly']).toBeGreaterThan(0);
    expect(await panel('calls_total', org('org_a'))).toEqual([{ calls: '4', errors: '2' }]);
    expect(num((await panel('spend_total', org('org_a')))[0], 'spend_usd')).toBeCloseTo(0.035, 9);
    expect((await panel('sessions', org('org_a'))).map((r) => r.calls)).toEqual(['2', '2']);
    expect((await panel('health_summary', org('org_q')))[0]).toMatchObject({ calls: String(Q.length) });
    const [hourly] = await rows<{ calls: string }>(`SELECT sum(calls) AS calls FROM sightline.provider_health_1h WHERE organization_id = 'org_a'`);
    expect(hourly!.calls).toBe('4');
    expect((await panel('cache_summary', org('org_c')))[0]).toMatchObject({ gateway_saved_usd: 0.25 });
  });
});
