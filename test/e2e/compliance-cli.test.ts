// `npx sightline report | audit export | audit erase | retention show` as a user runs them, on an embedded store
// seeded with two organisations: options, output formats, the organisation key's scope, erase's confirmation.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClickHouse } from '../../analytics/client.ts';
import { migrate } from '../../analytics/migrate.ts';
import { createWriter } from '../../ingest/writer.ts';
import { hashKey } from '../../proxy/auth.ts';
import { makeEvent } from '../helpers/events.ts';
import { BIN } from '../helpers/processes.ts';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'sightline-compliance-'));
const config = path.join(dir, 'sightline.yaml');
const ACME_KEY = 'sl-admin-acme-0123456789';
const ROOT_KEY = 'sl-admin-root-0123456789';

beforeAll(async () => {
  writeFileSync(config, [
    `data_dir: ${dir}`,
    'admin:',
    '  keys:',
    `    - { id: acme-admin, hash: ${hashKey(ACME_KEY)}, organization_id: acme }`,
    `    - { id: root, hash: ${hashKey(ROOT_KEY)} }`,
    'retention:',
    '  organizations:',
    '    acme: { body_retention_days: 7 }',
    '',
  ].join('\n'));
  const client = createClickHouse({ user: 'default', password: '', dataDir: dir });
  await migrate(client);
  const at = new Date(Date.now() - 3_600_000).toISOString();
  await createWriter(client).insert([
    makeEvent({ organization_id: 'acme', team: 'search', model: 'gpt-4o', user_id: 'alice', cost_usd: 0.5, created_at: at }),
    makeEvent({ organization_id: 'acme', team: 'ads', model: 'gpt-4o-mini', user_id: 'alice', cost_usd: 0.25, created_at: at }),
    makeEvent({ organization_id: 'globex', team: 'core', model: 'gpt-4o', user_id: 'alice', cost_usd: 2, created_at: at }),
  ]);
  await client.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// http_port 0: the CLI opens the store itself rather than asking a gateway that might run on this machine's 8123.
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [BIN, ...args, '--config', config], { env: { ...process.env, SIGHTLINE_CONFIG: '', SIGHTLINE_CLICKHOUSE_HTTP_PORT: '0', SIGHTLINE_ADMIN_KEY: '', ...env } });

describe('sightline compliance commands', () => {
  it('report: rows by team and model with totals, in json, csv and table; an organisation key sees its own only', async () => {
    const json = JSON.parse((await cli(['report', '--since', '7d', '--by', 'team,model', '--format', 'json'])).stdout) as { rows: Record<string, string>[]; totals: Record<string, string> };
    expect(json.rows.map((r) => [r.team, r.model, r.cost_usd])).toEqual([['core', 'gpt-4o', '2'], ['search', 'gpt-4o', '0.5'], ['ads', 'gpt-4o-mini', '0.25']]);
    expect(json.totals).toMatchObject({ calls: '3', cost_usd: '2.75' });

    const csv = (await cli(['report', '--since', '7d', '--by', 'organization', '--format', 'csv', '--key', ACME_KEY])).stdout.trim().split('\n');
    expect(csv.map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['organization,calls', 'acme,2', 'TOTAL,2']);
    const table = (await cli(['report', '--since', '7d', '--by', 'model'], { SIGHTLINE_ADMIN_KEY: ACME_KEY })).stdout;
    expect(table).toMatch(/^organisation acme, /);
    expect(table).not.toContain('globex');

    await expect(cli(['report', '--since', '7d', '--by', 'colour'])).rejects.toMatchObject({ stderr: expect.stringMatching(/unknown dimension "colour"/) });
    await expect(cli(['report', '--since', '7d', '--key', 'sl-not-a-key'])).rejects.toMatchObject({ stderr: expect.stringMatching(/not one of admin\.keys/) });
    await expect(cli(['report', '--since', '7d', '--key', ACME_KEY, '--org', 'globex'])).rejects.toMatchObject({ stderr: expect.stringMatching(/limited to organisation acme/) });
  });

  it('retention show: the configured per-organisation TTL once migrate applied it', async () => {
    const before = JSON.parse((await cli(['retention', 'show', '--format', 'json'])).stdout) as { applied: unknown[]; configured: unknown[] };
    expect(before.applied).toEqual([{ organization: '(default)', body_retention_days: 90, retention_days: 365 }]);
    expect(before.configured).toContainEqual({ organization: 'acme', body_retention_days: 7, retention_days: 365 });
    expect((await cli(['retention', 'show'])).stdout).toMatch(/Configured, not applied yet/);
    await cli(['migrate']);
    const after = JSON.parse((await cli(['retention', 'show', '--format', 'json'])).stdout) as { applied: unknown[] };
    expect(after.applied).toEqual([
      { organization: '(default)', body_retention_days: 90, retention_days: 365 },
      { organization: 'acme', body_retention_days: 7, retention_days: 365 },
    ]);
    expect(JSON.parse((await cli(['retention', 'show', '--format', 'json', '--key', ACME_KEY])).stdout).applied)
      .toEqual([{ organization: 'acme', body_retention_days: 7, retention_days: 365 }]);
  });

  it('on a terminal: progress on stderr (none with --format json), and erase asks for the user id', async () => {
    // util-linux `script` runs the CLI on a pseudo-terminal; what it prints comes back on script's stdout.
    const onTty = (args: string[], input = '') => new Promise<string>((resolve, reject) => {
      const quoted = [process.execPath, BIN, ...args, '--config', config].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
      const child = spawn('script', ['-qec', quoted, '/dev/null'], { env: { ...process.env, SIGHTLINE_CONFIG: '', SIGHTLINE_CLICKHOUSE_HTTP_PORT: '0', SIGHTLINE_ADMIN_KEY: '' } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (input && out.includes('Type the user id')) { child.stdin.write(input); input = ''; } });
      child.on('error', reject);
      child.on('exit', () => resolve(out));
    });
    expect(await onTty(['audit', 'export', '--user', 'alice'])).toMatch(/exporting: 3 \/ 3 rows[\s\S]*exported 3 rows of user alice/);
    const quiet = await onTty(['audit', 'export', '--user', 'alice', '--format', 'json']);
    expect(quiet).not.toMatch(/export(ing|ed)/);
    expect(quiet.trim().split('\n')).toHaveLength(3);
    const refused = await onTty(['audit', 'erase', '--user', 'alice'], 'bob\n');
    expect(refused).toMatch(/Erase every row of user "alice" in every organisation\? This cannot be undone\. Type the user id to confirm: /);
    expect(refused).toMatch(/not confirmed; nothing erased/);
  });

  it('audit export and erase: JSON lines of one user; erase needs --yes off a terminal, then proves and logs itself', async () => {
    const exported = (await cli(['audit', 'export', '--user', 'alice'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { organization_id: string });
    expect(exported.map((r) => r.organization_id).sort()).toEqual(['acme', 'acme', 'globex']);

    await expect(cli(['audit', 'erase', '--user', 'alice', '--key', ACME_KEY])).rejects.toMatchObject({ stderr: expect.stringMatching(/without --yes/) });
    const erased = await cli(['audit', 'erase', '--user', 'alice', '--key', ACME_KEY, '--yes', '--format', 'json']);
    expect(erased.stderr).toBe('');
    expect(JSON.parse(erased.stdout)).toMatchObject({ user: 'alice', organization: 'acme', rowsBefore: expect.any(Number), rowsAfter: 0 });

    const left = (await cli(['audit', 'export', '--user', 'alice', '--format', 'json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { organization_id: string });
    expect(left.map((r) => r.organization_id)).toEqual(['globex']);
    const log = JSON.parse((await cli(['sql', 'SELECT action, organization_id, subject_user_id, actor, rows_after FROM sightline.audit_log', '--format', 'json'])).stdout);
    expect(log).toEqual([{ action: 'erase', organization_id: 'acme', subject_user_id: 'alice', actor: 'acme-admin', rows_after: '0' }]);
  });
});
