// `npx sightline start` with admin keys, as a user runs it: the banner names the console, the proxy serves it and
// its panels read the ingest child's HTTP interface; that interface holds an organisation user to its organisation;
// and `audit erase` works against the running gateway's store with a key for every organisation.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../proxy/auth.ts';
import { BIN, eventually, freePort, spawnSightline, type SightlineProcess } from '../helpers/processes.ts';
import { startMockUpstream, type MockUpstream } from '../helpers/mock-upstream.ts';

const run = promisify(execFile);
const ROOT_KEY = 'sl-root-start-1';
const ACME_KEY = 'sl-acme-start-2';
const SEARCH_KEY = 'sl-search-app-3';
const OTHER_KEY = 'sl-other-app-4';

let dir: string;
let mock: MockUpstream;
let sl: SightlineProcess;
let env: Record<string, string>;
let proxyUrl: string;
let chPort: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sightline-console-start-'));
  mock = await startMockUpstream();
  const config = path.join(dir, 'sightline.yaml');
  writeFileSync(config, [
    'keys:',
    `  - { id: search-app, hash: ${hashKey(SEARCH_KEY)}, organization_id: acme, team: search }`,
    `  - { id: other-app, hash: ${hashKey(OTHER_KEY)}, organization_id: globex }`,
    'admin:', '  keys:',
    `    - { id: root, hash: ${hashKey(ROOT_KEY)} }`,
    `    - { id: acme-admin, hash: ${hashKey(ACME_KEY)}, organization_id: acme }`,
    '',
  ].join('\n'));
  const port = await freePort();
  chPort = await freePort();
  env = {
    SIGHTLINE_CONFIG: config, SIGHTLINE_DATA_DIR: dir, SIGHTLINE_PORT: String(port), SIGHTLINE_CLICKHOUSE_HTTP_PORT: String(chPort),
    SIGHTLINE_UPSTREAM_OPENAI: mock.url, SIGHTLINE_ADMIN_KEY: '',
  };
  sl = spawnSightline(['start'], env);
  await sl.waitForOutput(/console: /);
  await sl.waitForOutput(/ClickHouse HTTP interface/);
  proxyUrl = `http://127.0.0.1:${port}`;
  for (const key of [SEARCH_KEY, SEARCH_KEY, OTHER_KEY]) {
    const res = await fetch(`${proxyUrl}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sightline-auth': `Bearer ${key}`, 'sightline-user-id': 'dana' },
      body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}',
    });
    expect(res.status).toBe(200);
    await res.text();
  }
}, 90_000);
afterAll(async () => {
  sl?.kill('SIGTERM');
  await sl?.exited;
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});

const consoleApi = (p: string, key?: string) => fetch(`${proxyUrl}/_sightline/api/console${p}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
const ch = (sql: string, user?: string, key?: string) =>
  fetch(`http://127.0.0.1:${chPort}/`, { method: 'POST', body: sql, headers: user ? { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': key ?? '' } : {} });

describe('sightline start: console and the store behind it', { timeout: 90_000 }, () => {
  it('prints the console in the banner and serves it; its panels read the ingest child\'s store', async () => {
    expect(sl.output()).toContain(`console: ${proxyUrl}/_sightline/`);
    const page = await fetch(`${proxyUrl}/_sightline/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('/_sightline/console/uplot.js');
    expect((await fetch(`${proxyUrl}/_sightline/console/uplot.js`)).status).toBe(200);
    const calls = async (key?: string) => ((await (await consoleApi('/panels/calls_total', key)).json()) as { rows: { calls: string }[] }).rows[0]?.calls;
    expect(await eventually(() => calls(), (n) => n === '3')).toBe('3');
    expect(await calls(ACME_KEY)).toBe('2');
  });

  it('the HTTP interface holds an organisation user to its organisation; anonymous reads everything', async () => {
    await eventually(async () => (await ch('SELECT count() FROM sightline.requests')).text(), (t) => t === '3\n');
    expect(await (await ch('SELECT organization_id, count() FROM sightline.requests GROUP BY organization_id', 'acme-admin', ACME_KEY)).text()).toBe('acme\t2\n');
    expect((await ch('SELECT 1', 'acme-admin', 'sl-wrong')).status).toBe(401);
  });

  it('audit erase reaches the running gateway\'s store with a key for every organisation; retention show with an organisation key', async () => {
    const cli = (...args: string[]) => run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env, TZ: 'UTC' } });
    await expect(cli('audit', 'erase', '--user', 'dana', '--yes')).rejects.toMatchObject({ stderr: expect.stringMatching(/read-only over HTTP/) });
    const { stdout } = await cli('audit', 'erase', '--user', 'dana', '--org', 'acme', '--yes', '--format', 'json', '--key', ROOT_KEY);
    expect(JSON.parse(stdout)).toMatchObject({ user: 'dana', organization: 'acme', rowsAfter: 0 });
    expect(await (await ch("SELECT organization_id FROM sightline.requests WHERE user_id = 'dana'")).text()).toBe('globex\n');
    expect(await (await ch('SELECT actor, organization_id, subject_user_id FROM sightline.audit_log')).text()).toBe('root\tacme\tdana\n');
    // retention show with an organisation key, through the running store: that organisation's line only.
    const retention = JSON.parse((await cli('retention', 'show', '--format', 'json', '--key', ACME_KEY)).stdout) as { applied: unknown[] };
    expect(retention.applied).toEqual([{ organization: 'acme', body_retention_days: 90, retention_days: 365 }]);
  });
});
