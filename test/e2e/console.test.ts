// The console in a real browser: Debian's chromium (never a downloaded one) driven by playwright-core, against the
// real proxy (its control plane serves the console) and a real store behind the embedded HTTP interface, seeded
// with two organisations. Checks that the panels show the seeded numbers, that the pickers narrow them, that an
// organisation key sees only its organisation, that drill-down opens one call (tokens, cost, attempts, the trace
// link, the redacted bodies) and that a call made through the proxy shows up in the live view. Saves the README's
// screenshot (docs/console.png).
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClickHouseHttp, type ClickHouseHttpServer } from '../../analytics/http-server.ts';
import { migrate } from '../../analytics/migrate.ts';
import { createWriter } from '../../ingest/writer.ts';
import { hashKey } from '../../proxy/auth.ts';
import { freshClickHouse, type TestClickHouse } from '../helpers/clickhouse.ts';
import { makeEvent } from '../helpers/events.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const ADMIN_KEY = 'sl-console-admin-1';
const ACME_KEY = 'sl-console-acme-2';
const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

// acme: three calls ($0.75 + $0.25 + $0.5), one of them retried onto a fallback; globex: one ($4).
const SEEDED = [
  makeEvent({ organization_id: 'acme', team: 'search', key_id: 'key_search', user_id: 'alice', model: 'gpt-4o', provider: 'openai', cost_usd: 0.75, prompt_tokens: 1500, completion_tokens: 300, created_at: ago(90),
    attempts: 2, attempt_log: [
      { alias: 'smart', deployment: 'openai-east', provider: 'openai', model: 'gpt-4o', status: 429, start_ms: 0, latency_ms: 40, error_code: 'rate_limit_exceeded', error: 'Rate limit reached' },
      { alias: 'smart', deployment: 'openai-west', provider: 'openai', model: 'gpt-4o', status: 200, start_ms: 45, latency_ms: 780, error_code: '', error: '' },
    ], request_body: '{"messages":[{"role":"user","content":"mail <EMAIL_ADDRESS>"}]}', response_body: '{"choices":[{"message":{"content":"done"}}]}' }),
  makeEvent({ organization_id: 'acme', team: 'ads', key_id: 'key_ads', user_id: 'bob', model: 'gpt-4o-mini', provider: 'openai', cost_usd: 0.25, created_at: ago(60) }),
  makeEvent({ organization_id: 'acme', team: 'ads', key_id: 'key_ads', user_id: 'bob', model: 'claude-sonnet-4', provider: 'anthropic', cost_usd: 0.5, created_at: ago(30) }),
  makeEvent({ organization_id: 'globex', team: 'core', key_id: 'key_core', user_id: 'carol', model: 'gpt-4o', provider: 'openai', cost_usd: 4, created_at: ago(45) }),
];

let ch: TestClickHouse;
let store: ClickHouseHttpServer;
let gw: TestGateway;
let browser: Browser;

beforeAll(async () => {
  ch = await freshClickHouse();
  await migrate(ch.client);
  await createWriter(ch.client).insert(SEEDED);
  // The embedded store's HTTP interface, as the ingest child serves it; the proxy's console reads it.
  store = await startClickHouseHttp(ch.connect(), { host: '127.0.0.1', port: 0, readOnly: true });
  gw = await startTestGateway({
    yaml: [
      'clickhouse:', `  http_port: ${store.port}`,
      'tracing:', '  trace_url_template: "http://jaeger.example/trace/{trace_id}?span={span_id}"',
      'admin:', '  keys:', `    - { id: ops, hash: ${hashKey(ADMIN_KEY)} }`, `    - { id: acme-console, hash: ${hashKey(ACME_KEY)}, organization_id: acme }`,
      '',
    ].join('\n'),
  });
  expect(existsSync(CHROMIUM), 'Debian chromium (apt-get install chromium)').toBe(true);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await store?.close();
  await ch?.close();
});

async function open(hash: string, key?: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  if (key !== undefined) await page.addInitScript((k) => window.sessionStorage.setItem('sightline-admin-key', k), key);
  await page.goto(`${gw.url}/_sightline/${hash}`);
  return page;
}

const stat = (page: Page, panel: string, column: string) => page.getByTestId(`stat-${panel}-${column}`).locator('.value');

describe('console', () => {
  it('renders the cost dashboard with the seeded numbers, and a picker narrows them', async () => {
    const page = await open('#dash=cost&range=24h', ADMIN_KEY);
    await expect.poll(() => stat(page, 'spend_total', 'spend_usd').textContent()).toBe('$5.50');
    expect(await stat(page, 'calls_total', 'calls').textContent()).toBe('4');
    await expect.poll(() => page.getByTestId('panel-spend_by_team').getAttribute('data-state')).toBe('done');
    const teams = await page.getByTestId('panel-spend_by_team').locator('tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 4).map((td) => td.textContent)));
    expect(teams).toEqual([['globex', 'core', '1', '$4.00'], ['acme', 'ads', '2', '$0.75'], ['acme', 'search', '1', '$0.75']]);
    const chart = page.getByTestId('chart-spend_over_time');
    await expect.poll(async () => (await chart.getAttribute('data-series'))?.split('|').sort()).toEqual(['claude-sonnet-4', 'gpt-4o', 'gpt-4o-mini']);
    expect(await page.locator('[data-testid="chart-spend_over_time"] canvas').count()).toBe(1);
    expect(await page.getByTestId('who').textContent()).toBe('ops · all organisations');

    // The model picker: only gpt-4o.
    const picker = page.getByTestId('var-model');
    await expect.poll(() => picker.locator('option').allTextContents()).toEqual(['claude-sonnet-4', 'gpt-4o', 'gpt-4o-mini']);
    await picker.selectOption(['gpt-4o']);
    await expect.poll(() => stat(page, 'spend_total', 'spend_usd').textContent()).toBe('$4.75');
    expect(page.url()).toContain('var-model=gpt-4o');

    await picker.selectOption([]);
    await expect.poll(() => stat(page, 'spend_total', 'spend_usd').textContent()).toBe('$5.50');
    // The README's screenshot is refreshed on request (SIGHTLINE_UPDATE_SCREENSHOT=1); a plain run leaves the tree clean.
    const shotDir = process.env.SIGHTLINE_UPDATE_SCREENSHOT === '1' ? path.join(ROOT, 'docs') : mkdtempSync(path.join(tmpdir(), 'sightline-shot-'));
    mkdirSync(shotDir, { recursive: true });
    const shot = await page.screenshot({ path: path.join(shotDir, 'console.png'), fullPage: false });
    expect(shot.length).toBeGreaterThan(10_000);

    // A custom range with nothing in it: the panels follow the picker.
    await page.getByTestId('range').selectOption('custom');
    await page.locator('#from').fill('2020-01-01T00:00:00');
    await page.locator('#to').fill('2020-01-02T00:00:00');
    await page.locator('#to').dispatchEvent('change');
    await expect.poll(() => stat(page, 'spend_total', 'spend_usd').textContent()).toBe('$0.00');
    expect(await stat(page, 'calls_total', 'calls').textContent()).toBe('0');
    expect(page.url()).toContain('range=custom');
    expect(page.url()).toContain('from=2020-01-01T00%3A00'); // chromium drops zero seconds
    await page.context().close();
  }, 60_000);

  it('renders every dashboard\'s panels without an error', async () => {
    const page = await open('#dash=cost&range=7d', ADMIN_KEY);
    for (const dash of ['cost', 'cache', 'providers', 'sessions', 'audit']) {
      await page.getByTestId(`tab-${dash}`).click();
      const panels = page.locator('section.panel');
      await expect.poll(async () => (await panels.evaluateAll((ps) => ps.map((p) => p.getAttribute('data-state')))).every((st) => st === 'done' || st === 'error')).toBe(true);
      const failed = await page.locator('section.panel[data-state="error"]').evaluateAll((ps) => ps.map((p) => `${p.getAttribute('data-testid')}: ${p.textContent}`));
      expect(failed, dash).toEqual([]);
      expect(await panels.count(), dash).toBeGreaterThan(1);
    }
    // The latency chart draws p50 / p95 / p99 from the provider rollup.
    await page.getByTestId('tab-providers').click();
    await expect.poll(() => page.getByTestId('chart-latency_over_time').getAttribute('data-series')).toBe('p50|p95|p99');
    await page.context().close();
  }, 60_000);

  it('an organisation key sees its organisation only, whatever the URL asks for', async () => {
    const page = await open('#dash=cost&range=24h&var-organisation=globex', ACME_KEY);
    await expect.poll(() => stat(page, 'spend_total', 'spend_usd').textContent()).toBe('$1.50');
    expect(await page.getByTestId('who').textContent()).toBe('acme-console · acme');
    await expect.poll(() => page.getByTestId('panel-spend_by_team').getAttribute('data-state')).toBe('done');
    expect(await page.getByTestId('panel-spend_by_team').textContent()).not.toContain('globex');
    // The API itself: no key off the page is no access; the organisation key asking for globex gets acme.
    const api = (p: string, key?: string) => fetch(`${gw.url}/_sightline/api/console${p}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
    expect((await api('/panels/spend_total', 'sl-wrong')).status).toBe(401);
    const body = await (await api('/panels/spend_by_team?var-organisation=globex', ACME_KEY)).json() as { rows: { organization_id: string }[] };
    expect(body.rows.map((r) => r.organization_id)).toEqual(['acme', 'acme']);
    await page.context().close();
  }, 60_000);

  it('drills down from the audit table into one call, and shows new calls live', async () => {
    const page = await open('#dash=audit&range=24h', ADMIN_KEY);
    const retried = SEEDED[0]!;
    const link = page.getByTestId(`link-${retried.request_id}`);
    await link.click();
    const drawer = page.getByTestId('drawer');
    await expect.poll(() => drawer.getByTestId('call-cost').textContent()).toBe('$0.75');
    expect(await drawer.getByTestId('call-tokens').textContent()).toContain('in 1500 · out 300');
    expect(await drawer.getByTestId('trace-link').getAttribute('href')).toBe(`http://jaeger.example/trace/${retried.trace_id}?span=${retried.span_id}`);
    expect(await drawer.getByTestId('call-prompt').textContent()).toContain('<EMAIL_ADDRESS>');
    const attempts = await drawer.locator('table tbody tr').allTextContents();
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toContain('openai-east');
    expect(attempts[0]).toContain('429');

    // Live: a call through the proxy, stored as ingest would store it, appears on the next poll, highlighted (the
    // seeded calls are older than the live view's 15 minutes).
    await page.getByRole('button', { name: 'Close' }).click();
    expect(await drawer.isHidden()).toBe(true);
    await page.getByTestId('tab-live').click();
    const live = page.getByTestId('panel-live');
    await expect.poll(() => live.getAttribute('data-rows')).toBe('0');
    const res = await fetch(`${gw.url}/openai/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' });
    expect(res.status).toBe(200);
    await res.text();
    const [event] = await gw.waitForEvents(1);
    await createWriter(ch.client).insert([event!]);
    await expect.poll(() => live.getAttribute('data-rows'), { timeout: 10_000 }).toBe('1');
    expect(await live.locator(`tr.new[data-row="${event!.request_id}"]`).count()).toBe(1);
    await page.context().close();
  }, 60_000);
});
