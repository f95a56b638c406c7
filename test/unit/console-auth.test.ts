// Who gets into the console: with auth required (any address off loopback), an admin key as `Authorization: Bearer`
// and nothing else; an organisation key is told its organisation. The page itself holds no data and is served to
// anyone, so a browser can load it and ask for the key.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../config/index.ts';
import { bearerKey, organisationFilter, verifyAdminKey } from '../../contracts/tenancy.ts';
import { hashKey } from '../../proxy/auth.ts';
import { createControlPlane } from '../../proxy/control.ts';
import type { Outcome } from '../../proxy/context.ts';
import { createMemorySink } from '../../proxy/sink.ts';

const ROOT_KEY = 'sl-root-unit-1';
const ACME_KEY = 'sl-acme-unit-2';
const config = parseConfig([
  'server: { require_auth: true }',
  'admin:', '  keys:', `    - { id: root, hash: ${hashKey(ROOT_KEY)} }`, `    - { id: acme-admin, hash: ${hashKey(ACME_KEY)}, organization_id: acme }`,
].join('\n'), {});

let server: Server;
let base: string;
beforeAll(async () => {
  const app = createControlPlane({ sink: createMemorySink(), counters: () => ({ outcomes: {} as Record<Outcome, number>, unlogged: { served: 0, rejected: 0 } }), config });
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_sightline`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const get = (p: string, key?: string) => fetch(`${base}${p}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });

describe('console auth', () => {
  it('requires an admin key when auth is required, even from loopback', async () => {
    expect((await get('/api/console/whoami')).status).toBe(401);
    expect((await get('/api/console/catalog')).status).toBe(401);
    expect((await get('/api/console/panels/spend_total')).status).toBe(401);
    expect((await get('/api/console/whoami', 'sl-not-a-key')).status).toBe(401);
    expect(await (await get('/api/console/whoami', ROOT_KEY)).json()).toEqual({ key_id: 'root', organization_id: null, trace_links: false });
    expect(await (await get('/api/console/whoami', ACME_KEY)).json()).toEqual({ key_id: 'acme-admin', organization_id: 'acme', trace_links: false });
    // The page carries no data: it loads, then asks for the key.
    expect((await get('/')).status).toBe(200);
    expect((await get('/console/nope.js')).status).toBe(404);
  });

  it('parses the console\'s requests with zod at the boundary', async () => {
    const bad = await get('/api/console/panels/spend_total?from=yesterday', ROOT_KEY);
    expect(bad.status).toBe(400);
    expect((await bad.json() as { error: { code: string } }).error.code).toBe('sightline_invalid_request');
    expect((await get('/api/console/panels/no_such_panel', ROOT_KEY)).status).toBe(404);
    expect((await get('/api/console/calls/not-a-uuid', ROOT_KEY)).status).toBe(400);
  });
});

describe('tenancy helpers', () => {
  it('matches admin keys by digest and reads Bearer', () => {
    expect(verifyAdminKey(config.admin.keys, ACME_KEY)).toEqual({ key_id: 'acme-admin', organization_id: 'acme' });
    expect(verifyAdminKey(config.admin.keys, `${ACME_KEY}x`)).toBeUndefined();
    expect(bearerKey('Bearer abc')).toBe('abc');
    expect(bearerKey('Basic abc')).toBeUndefined();
  });

  it('writes the organisation as bytes, so no quoting can break out of the filter', () => {
    expect(organisationFilter(['sightline.requests'], "a'b")).toBe("{'sightline.requests': 'organization_id = char(97, 39, 98)'}");
    expect(() => organisationFilter(["sightline.x'y"], 'a')).toThrow(/unexpected table name/);
    expect(() => organisationFilter(['sightline.requests'], '')).toThrow(/needs an organisation id/);
  });
});

describe('config: admin keys and retention', () => {
  it('takes digests only and organisation ids that can sit in a TTL', () => {
    expect(() => parseConfig('admin: { keys: [{ id: ops, hash: sl-plain-key }] }', {})).toThrow(ConfigError);
    expect(() => parseConfig('admin: { keys: [{ id: ops, hash: sl-plain-key }] }', {})).toThrow(/admin\.keys\.0\.hash: expected a sha256 hex digest/);
    expect(() => parseConfig(`retention: { organizations: { "it's": { retention_days: 30 } } }`, {})).toThrow(/retention\.organizations/);
    expect(() => parseConfig('retention: { organizations: { acme: { retention_days: 0 } } }', {})).toThrow(/retention\.organizations\.acme\.retention_days/);
    expect(parseConfig('retention: { organizations: { acme: { body_retention_days: 7 } } }', {}).retention.organizations).toEqual({ acme: { body_retention_days: 7 } });
  });
});
