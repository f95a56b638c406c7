// `npx sightline keys …` as a user runs it: a created key lands in the config as a digest only, and the
// gateway then attributes requests made with it.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../proxy/auth.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { BIN } from '../helpers/processes.ts';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'sightline-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts a gateway on `yaml`, sends one chat request with `headers` to `path`, returns its event. */
async function eventOfOneRequest(yaml: string, path: string, headers: Record<string, string>) {
  const gw = await startTestGateway({ yaml });
  try {
    const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"model":"gpt-4o-mini","messages":[]}' });
    expect(res.status).toBe(200);
    return (await gw.waitForEvents(1))[0]!;
  } finally {
    await gw.close();
  }
}

const cli = (...args: string[]) => run(process.execPath, [BIN, ...args], { env: { ...process.env, SIGHTLINE_CONFIG: '' } });

describe('sightline keys', () => {
  it('create stores only the digest, list shows it, and the gateway attributes requests made with the key', async () => {
    const config = path.join(dir, 'sightline.yaml');
    writeFileSync(config, '# team config\nallowed_targets: []\n');
    const { stdout } = await cli('keys', 'create', '--org', 'acme', '--team', 'search', '--id', 'search-bot', '--config', config);
    const key = stdout.trim().split('\n').at(-1)!;
    expect(key).toMatch(/^sl-[A-Za-z0-9_-]{32}$/);
    const text = readFileSync(config, 'utf8');
    expect(text).toContain('# team config');
    expect(text).toContain(hashKey(key));
    expect(text).not.toContain(key);

    await expect(cli('keys', 'create', '--org', 'acme', '--id', 'search-bot', '--config', config)).rejects.toMatchObject({ stderr: expect.stringMatching(/already exists/) });
    expect((await cli('keys', 'list', '--config', config)).stdout).toMatch(/search-bot\s+org=acme\s+team=search/);
    expect((await cli('keys', 'hash', key)).stdout.trim()).toBe(hashKey(key));

    const ev = await eventOfOneRequest(text, '/openai/v1/chat/completions', { 'sightline-auth': `Bearer ${key}` });
    expect(ev).toMatchObject({ organization_id: 'acme', team: 'search', key_id: 'search-bot' });
  });

  it('registers an existing secret (a Helicone key) so Helicone-Auth keeps working unchanged', async () => {
    const config = path.join(dir, 'helicone.yaml');
    const heliconeKey = 'sk-helicone-abc123-def456';
    const { stdout } = await cli('keys', 'create', '--org', 'acme', '--id', 'from-helicone', '--key', heliconeKey, '--config', config);
    expect(stdout).not.toContain(heliconeKey);
    const text = readFileSync(config, 'utf8');
    expect(text).toContain(hashKey(heliconeKey));
    expect(text).not.toContain(heliconeKey);
    // A bare /v1 path and Helicone-Auth: exactly what an app pointed at oai.helicone.ai sends.
    const ev = await eventOfOneRequest(text, '/v1/chat/completions', { 'helicone-auth': `Bearer ${heliconeKey}` });
    expect(ev).toMatchObject({ organization_id: 'acme', key_id: 'from-helicone', provider: 'openai' });
  });

  it('creates, updates and revokes runtime keys with budgets and allowlists, never storing a secret', async () => {
    const dataDir = path.join(dir, 'runtime-keys');
    const { stdout } = await cli('keys', 'create', '--org', 'acme', '--team', 'billing', '--id', 'team-billing', '--budget', '200/month', '--models', 'haiku,sonnet', '--rpm', '60', '--metadata', 'owner=ana', '--data-dir', dataDir);
    const secret = stdout.trim().split('\n').at(-1)!;
    expect(secret).toMatch(/^sl-/);
    const stored = readFileSync(path.join(dataDir, 'keys.json'), 'utf8');
    expect(stored).toContain(hashKey(secret));
    expect(stored).not.toContain(secret);
    expect((await cli('keys', 'list', '--data-dir', dataDir)).stdout).toMatch(/team-billing\s+org=acme\s+team=billing\s+budget=\$200\/month\s+models=haiku,sonnet\s+rpm=60\s+owner=ana\s+\(runtime\)/);
    await cli('keys', 'update', 'team-billing', '--budget', '250/month', '--expires', '2030-01-01', '--data-dir', dataDir);
    expect((await cli('keys', 'list', '--data-dir', dataDir)).stdout).toMatch(/budget=\$250\/month.*expires=2030-01-01T00:00:00\.000Z/);
    await expect(cli('keys', 'update', 'team-billing', '--budget', 'lots', '--data-dir', dataDir)).rejects.toMatchObject({ stderr: expect.stringMatching(/--budget: "lots" is not a budget/) });
    await cli('keys', 'revoke', 'team-billing', '--data-dir', dataDir);
    expect((await cli('keys', 'list', '--data-dir', dataDir)).stdout).toMatch(/team-billing.*REVOKED/);
  });

  it('a bad config file is refused naming the field', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'server:\n  port: not-a-port\n');
    await expect(cli('keys', 'list', '--config', bad)).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/server\.port/) });
  });
});
