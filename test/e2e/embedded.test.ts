// The embedded default, as a user runs it: `sightline start` (proxy + spool + ingest child + chDB), official
// SDKs as callers, rows read back over the ClickHouse HTTP interface and `sightline sql`. Then the faults:
// the ingest worker and the whole gateway killed with SIGKILL mid-run lose nothing and duplicate nothing.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoster } from '../../ledger/cost.ts';
import { loadFixture } from '../fixtures/index.ts';
import type { MockUpstream } from '../helpers/mock-upstream.ts';
import { startMockUpstream } from '../helpers/mock-upstream.ts';
import type { SightlineProcess } from '../helpers/processes.ts';
import { BIN, eventually, freePort, httpClickHouse, queryRows, spawnSightline } from '../helpers/processes.ts';
import { expectExactlyOnce, sendRequests, startTraffic } from '../helpers/traffic.ts';

const execFileAsync = promisify(execFile);
let mock: MockUpstream;
const dirs: string[] = [];

beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(async () => {
  await mock.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Gateway {
  sl: SightlineProcess;
  env: Record<string, string>;
  proxyUrl: string;
  chPort: number;
}

async function startGateway(dataDir?: string, extra: Record<string, string> = {}): Promise<Gateway> {
  const dir = dataDir ?? mkdtempSync(path.join(tmpdir(), 'sightline-e2e-'));
  if (!dataDir) dirs.push(dir);
  const port = await freePort();
  const chPort = await freePort();
  const env = {
    SIGHTLINE_DATA_DIR: dir,
    SIGHTLINE_PORT: String(port),
    SIGHTLINE_CLICKHOUSE_HTTP_PORT: String(chPort),
    SIGHTLINE_UPSTREAM_OPENAI: mock.url,
    SIGHTLINE_UPSTREAM_ANTHROPIC: mock.url,
    ...extra,
  };
  const sl = spawnSightline(['start'], env);
  await sl.waitForOutput(/proxy listening/);
  await sl.waitForOutput(/ClickHouse HTTP interface/);
  return { sl, env, proxyUrl: `http://127.0.0.1:${port}`, chPort };
}

async function stop(gw: Gateway): Promise<void> {
  gw.sl.kill('SIGTERM');
  expect(await gw.sl.exited).toBe(0);
}

const cost = createCoster({ overrides: {} });

describe('embedded default, end to end', { timeout: 60_000 }, () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(async () => {
    await stop(gw);
  });

  it('an OpenAI SDK call shows up within seconds as a redacted, costed, attributed row', async () => {
    const client = new OpenAI({
      apiKey: 'sk-proj-secretsecretsecret0000',
      baseURL: `${gw.proxyUrl}/openai/v1`,
      defaultHeaders: { 'Sightline-User-Id': 'alice', 'Sightline-Property-Feature': 'support-bot' },
    });
    const sent = Date.now();
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Email me at john.doe@example.com or call +44 20 7946 0958' }] })
      .withResponse();
    const id = response.headers.get('sightline-id')!;
    const ch = httpClickHouse(gw.chPort);
    try {
      const [row] = await eventually(
        () => queryRows<Record<string, unknown>>(ch, `SELECT * FROM sightline.requests FINAL WHERE request_id = '${id}'`),
        (rows) => rows.length === 1,
        10_000,
      );
      const visibleAfterMs = Date.now() - sent;
      expect(visibleAfterMs).toBeLessThan(10_000);
      const usage = loadFixture('openai', 'chat.json').expect.usage!;
      expect(row).toMatchObject({
        provider: 'openai', model: 'gpt-4o-mini', response_model: 'gpt-4o-mini-2024-07-18', endpoint: 'chat', status: 200,
        prompt_tokens: String(usage.prompt_tokens), completion_tokens: String(usage.completion_tokens), user_id: 'alice',
        properties: { feature: 'support-bot' }, organization_id: 'default', tokens_estimated: false, cost_known: true,
      });
      expect(Number(row!.cost_usd)).toBeCloseTo(cost('openai', 'gpt-4o-mini-2024-07-18', usage).cost_usd, 12);
      const body = String(row!.request_body);
      expect(body).toContain('[EMAIL_1]');
      expect(body).toContain('[PHONE_1]');
      expect(body).not.toContain('john.doe@example.com');
      // The provider key was never stored anywhere in the row.
      expect(JSON.stringify(row)).not.toContain('secretsecretsecret');
    } finally {
      await ch.close();
    }
  });

  it('an Anthropic SDK stream is stored with its usage; curl and `sightline sql` read the store', async () => {
    const client = new Anthropic({ apiKey: 'sk-ant-x', baseURL: `${gw.proxyUrl}/anthropic` });
    for await (const _ of await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] })) {
      // drain
    }
    const count = async () => (await fetch(`http://127.0.0.1:${gw.chPort}/?query=${encodeURIComponent('SELECT count() FROM sightline.requests')}`)).text();
    await eventually(count, (t) => t.trim() === '2', 10_000);
    const { stdout } = await execFileAsync(process.execPath, [BIN, 'sql', "SELECT provider, prompt_tokens, completion_tokens FROM sightline.requests WHERE provider = 'anthropic'", '--format', 'json'], { env: { ...process.env, ...gw.env } });
    const usage = loadFixture('anthropic', 'messages.sse').expect.usage!;
    // 64-bit integers arrive quoted in JSON (ClickHouse's output_format_json_quote_64bit_integers, which we keep on).
    expect(JSON.parse(stdout)).toEqual([{ provider: 'anthropic', prompt_tokens: String(usage.prompt_tokens), completion_tokens: String(usage.completion_tokens) }]);
    const table = await execFileAsync(process.execPath, [BIN, 'sql', 'SELECT provider, count() AS n FROM sightline.requests GROUP BY provider ORDER BY provider'], { env: { ...process.env, ...gw.env } });
    expect(table.stdout).toMatch(/anthropic\s+│\s+1/);
    expect(table.stdout).toMatch(/openai\s+│\s+1/);
  });

  it('the HTTP interface is read-only', async () => {
    const res = await fetch(`http://127.0.0.1:${gw.chPort}/`, { method: 'POST', body: 'DROP TABLE sightline.requests' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await (await fetch(`http://127.0.0.1:${gw.chPort}/?query=${encodeURIComponent('EXISTS TABLE sightline.requests')}`)).text()).toBe('1\n');
  });
});

/** Field 19 of /proc/<pid>/stat. */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

function isLiveIngest(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('ingest');
  } catch {
    return false;
  }
}

describe('faults in the embedded pipeline', { timeout: 180_000 }, () => {
  it('ingest worker killed with SIGKILL mid-batch, twice: every request stored exactly once', async () => {
    const configDir = mkdtempSync(path.join(tmpdir(), 'sightline-e2e-nice-'));
    dirs.push(configDir);
    const config = path.join(configDir, 'sightline.yaml');
    writeFileSync(config, 'ingest: { nice: 5 }\n');
    const gw = await startGateway(undefined, { SIGHTLINE_CONFIG: config });
    const ch = httpClickHouse(gw.chPort);
    try {
      const traffic = startTraffic(gw.proxyUrl, { concurrency: 8 });
      let killed = 0;
      for (const at of [120, 260]) {
        await traffic.waitForMore(at - traffic.acked.length);
        // The live ingest worker the supervisor runs now, not the one just killed (which may not be reaped yet).
        const [ingest] = await eventually(async () => gw.sl.children().filter((pid) => pid !== killed && isLiveIngest(pid)), (pids) => pids.length > 0, 10_000);
        // Started and restarted below the proxy, as ingest.nice asks.
        expect(niceOf(ingest!)).toBe(Math.min(19, niceOf(gw.sl.pid) + 5));
        process.kill(ingest!, 'SIGKILL');
        killed = ingest!;
      }
      await traffic.waitForMore(400 - traffic.acked.length);
      const ids = await traffic.stop();
      expect(traffic.failures).toEqual([]);
      // The second kill may land while the restarted worker is still starting: that must be survivable too.
      await gw.sl.waitForOutput(/ingest worker exited \(SIGKILL\)[\s\S]*ingest worker exited \(SIGKILL\)/);
      await expectExactlyOnce(ch, ids);
    } finally {
      await ch.close();
      await stop(gw);
    }
  });

  it('whole gateway killed with SIGKILL while the spool is full of un-ingested events: all recovered on restart', async () => {
    const first = await startGateway();
    const dataDir = first.env.SIGHTLINE_DATA_DIR!;
    const [ingest] = first.sl.children();
    expect(ingest).toBeGreaterThan(0);
    // Freeze ingestion so everything the proxy accepts piles up in the spool.
    process.kill(ingest!, 'SIGSTOP');
    const ids = await sendRequests(first.proxyUrl, 300);
    // Events are assembled just after each response and fsynced every spool.fsync_interval_ms (50 ms):
    // the documented loss window of a SIGKILL. Wait it out, then kill everything without warning.
    await new Promise((r) => setTimeout(r, 300));
    process.kill(ingest!, 'SIGKILL');
    first.sl.kill('SIGKILL');
    await first.sl.exited;
    const second = await startGateway(dataDir);
    const ch = httpClickHouse(second.chPort);
    try {
      await expectExactlyOnce(ch, ids);
    } finally {
      await ch.close();
      await stop(second);
    }
  });
});
