// `sightline reprice` on a real engine (chDB): known rows stored with wrong costs, recomputed from their stored
// usage; new row versions, the summary per model, filters, dry runs, and a second run that changes nothing.
import { describe, expect, it } from 'vitest';
import { formatSummary, reprice, sinceToTimestamp } from '../../cli/reprice.ts';
import type { RequestEvent } from '../../contracts/event.ts';
import { createWriter } from '../../ingest/writer.ts';
import { createCoster } from '../../ledger/cost.ts';
import { BUNDLED_PRICE_VERSION } from '../../ledger/prices.ts';
import { migratedStorePerFile } from '../helpers/clickhouse.ts';
import { makeEvent } from '../helpers/events.ts';

const NOW = Date.parse('2026-11-30T12:00:00.000Z');
const daysAgo = (d: number) => new Date(NOW - d * 86_400_000).toISOString();
const cost = createCoster({
  overrides: {},
  organizations: { org_big: { 'claude-sonnet-4-5': { input_per_mtok: 2, output_per_mtok: 10 } } },
  priceVersion: BUNDLED_PRICE_VERSION,
  tierFactors: { anthropic: { batch: 0.5 } },
});

/** A row with plain text usage (no detail counts) and the given stored cost. */
function stored(over: Partial<RequestEvent>): RequestEvent {
  return makeEvent({
    cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, input_audio_tokens: 0, cache_audio_read_tokens: 0,
    input_image_tokens: 0, output_audio_tokens: 0, output_image_tokens: 0, ...over,
  });
}

// claude-sonnet-4-5 list: $3 in, $15 out → 1,000 in + 100 out = $0.0045. gpt-4o-mini: $0.15 / $0.60 → $0.00021.
const wrongSonnet = (days: number, org = 'org_acme') =>
  stored({ provider: 'anthropic', model: 'claude-sonnet-4-5', response_model: 'claude-sonnet-4-5-20250929', organization_id: org, created_at: daysAgo(days), prompt_tokens: 1000, completion_tokens: 100, cost_usd: 0.001, price_version: 'genai-prices@0.1.7' });
const rightMini = (days: number) =>
  stored({ model: 'gpt-4o-mini', response_model: 'gpt-4o-mini-2024-07-18', created_at: daysAgo(days), prompt_tokens: 1000, completion_tokens: 100, cost_usd: 0.00021 });

const store = migratedStorePerFile();

async function costs(): Promise<Record<string, { cost_usd: number; price_version: string }>> {
  const rs = await store().client.query({ query: 'SELECT toString(request_id) AS id, cost_usd, price_version FROM sightline.requests FINAL', format: 'JSONEachRow' });
  return Object.fromEntries((await rs.json<{ id: string; cost_usd: number; price_version: string }>()).map((r) => [r.id, { cost_usd: r.cost_usd, price_version: r.price_version }]));
}
async function versions(): Promise<number> {
  const rs = await store().client.query({ query: 'SELECT count() AS n FROM sightline.requests', format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]!.n);
}

describe('reprice', () => {
  it('recomputes wrong costs from stored usage, writes new versions, leaves right and older rows alone', async () => {
    const rows = [wrongSonnet(1), wrongSonnet(3), wrongSonnet(3, 'org_big'), rightMini(2), wrongSonnet(45)];
    await createWriter(store().client).insert(rows);
    const progress: [number, number][] = [];

    const summary = await reprice(store().client, cost, { since: '30d', dryRun: false, now: NOW, pageRows: 2, onProgress: (d, t) => progress.push([d, t]) });

    expect(summary).toMatchObject({ scanned: 4, changed: 3, dryRun: false });
    expect(summary.byModel).toEqual([
      // two list-price rows at $0.0045 and org_big's contract: 1,000 × 2 + 100 × 10 = $0.003
      { model: 'claude-sonnet-4-5', rows: 3, before_usd: expect.closeTo(0.003, 12), after_usd: expect.closeTo(0.012, 12) },
    ]);
    expect(progress).toEqual([[2, 4], [4, 4]]);
    const after = await costs();
    expect(after[rows[0]!.request_id]).toEqual({ cost_usd: expect.closeTo(0.0045, 12), price_version: BUNDLED_PRICE_VERSION });
    expect(after[rows[1]!.request_id]!.cost_usd).toBeCloseTo(0.0045, 12);
    expect(after[rows[2]!.request_id]).toEqual({ cost_usd: expect.closeTo(0.003, 12), price_version: expect.stringMatching(/^override:/) });
    expect(after[rows[3]!.request_id]).toEqual({ cost_usd: 0.00021, price_version: 'genai-prices@0.1.8' }); // unchanged, not rewritten
    expect(after[rows[4]!.request_id]!.cost_usd).toBe(0.001); // older than --since
    expect(Object.keys(after)).toHaveLength(5); // FINAL: still one row per call
    expect(await versions()).toBe(5 + 3); // a new version per changed row until merged

    // Everything else of a repriced row is copied as it was.
    const rs = await store().client.query({ query: `SELECT * EXCEPT (cost_usd, price_version, row_version, ingested_at) FROM sightline.requests WHERE request_id = {id:UUID} ORDER BY row_version`, query_params: { id: rows[0]!.request_id }, format: 'JSONEachRow' });
    const [oldVersion, newVersion] = await rs.json<Record<string, unknown>>();
    expect(newVersion).toEqual(oldVersion);

    // A second run finds nothing to change.
    const again = await reprice(store().client, cost, { since: '30d', dryRun: false, now: NOW });
    expect(again).toMatchObject({ scanned: 4, changed: 0, byModel: [] });
    expect(await versions()).toBe(8);
  });

  it('a dry run reports the same summary and writes nothing', async () => {
    await createWriter(store().client).insert([wrongSonnet(1), rightMini(1)]);
    const summary = await reprice(store().client, cost, { since: '7d', dryRun: true, now: NOW });
    expect(summary).toMatchObject({ scanned: 2, changed: 1, dryRun: true });
    expect(await versions()).toBe(2);
    expect(formatSummary(summary)).toBe([
      'dry run, nothing written: 1 of 2 rows would change',
      'model              rows     before      after      change',
      'claude-sonnet-4-5     1  $0.001000  $0.004500  +$0.003500',
      'total                 1  $0.001000  $0.004500  +$0.003500',
      '',
    ].join('\n'));
  });

  it('--model and --org narrow what is repriced', async () => {
    const rows = [wrongSonnet(1, 'org_a'), wrongSonnet(1, 'org_b'), stored({ model: 'gpt-4o', response_model: 'gpt-4o-2024-08-06', created_at: daysAgo(1), organization_id: 'org_a', prompt_tokens: 1000, completion_tokens: 100, cost_usd: 1 })];
    await createWriter(store().client).insert(rows);
    expect(await reprice(store().client, cost, { since: '30d', organization: 'org_a', dryRun: true, now: NOW })).toMatchObject({ scanned: 2, changed: 2 });
    const byModel = await reprice(store().client, cost, { since: '30d', model: 'claude-sonnet-4-5-20250929', dryRun: false, now: NOW });
    expect(byModel).toMatchObject({ scanned: 2, changed: 2 });
    expect((await costs())[rows[2]!.request_id]!.cost_usd).toBe(1);
  });

  it('a row answered in the batch tier is repriced at its discount', async () => {
    const batch = { ...wrongSonnet(1), service_tier: 'batch' };
    await createWriter(store().client).insert([batch]);
    expect(await reprice(store().client, cost, { since: '30d', dryRun: false, now: NOW })).toMatchObject({ changed: 1 });
    expect((await costs())[batch.request_id]!.cost_usd).toBeCloseTo(0.0045 / 2, 12);
  });

  it('rows without tokens (errors, invalid answers) are not repriced', async () => {
    await createWriter(store().client).insert([stored({ created_at: daysAgo(1), prompt_tokens: 0, completion_tokens: 0, cost_usd: 0, model: 'no-such-model' })]);
    expect(await reprice(store().client, cost, { since: '30d', dryRun: false, now: NOW })).toMatchObject({ scanned: 0, changed: 0 });
  });

  it('--since takes days, hours, minutes or a date', () => {
    expect(sinceToTimestamp('30d', NOW)).toBe('2026-10-31 12:00:00.000');
    expect(sinceToTimestamp('12h', NOW)).toBe('2026-11-30 00:00:00.000');
    expect(sinceToTimestamp('2026-11-01', NOW)).toBe('2026-11-01 00:00:00.000');
    expect(() => sinceToTimestamp('last week', NOW)).toThrow(/--since/);
  });
});
