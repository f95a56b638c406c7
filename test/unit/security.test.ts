// The SSRF guard for Sightline-Target-Url and the auth-required rule, on their own.
import { describe, expect, it } from 'vitest';
import { authRequired, createAuthenticator, hashKey } from '../../proxy/auth.ts';
import { SightlineError } from '../../proxy/errors.ts';
import { createTargetGuard, isPrivateAddress } from '../../proxy/targets.ts';

const refused = async (p: Promise<unknown>) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SightlineError);
  expect((err as SightlineError).code).toBe('sightline_target_not_allowed');
  return (err as SightlineError).message;
};

describe('target guard', () => {
  const resolver = (table: Record<string, string[]>) => async (host: string) => {
    const hit = table[host];
    if (!hit) throw new Error('ENOTFOUND');
    return hit;
  };

  it('allows the built-in public hosts over HTTPS only', async () => {
    const guard = createTargetGuard([], resolver({ 'api.together.xyz': ['104.18.1.1'] }));
    expect((await guard.check('https://api.together.xyz/v1')).host).toBe('api.together.xyz');
    expect(await refused(guard.check('http://api.together.xyz/v1'))).toMatch(/api\.together\.xyz:80 is not in the allowlist/);
  });

  it('a wildcard never opens private, loopback, link-local or mapped addresses', async () => {
    const guard = createTargetGuard(['*:*'], resolver({ 'rebind.example.com': ['93.184.216.34', '10.0.0.5'], 'ok.example.com': ['93.184.216.34'] }));
    for (const url of ['http://127.0.0.1:8080', 'http://10.1.2.3', 'http://169.254.169.254/latest/meta-data', 'http://[::1]:80', 'http://[::ffff:192.168.1.1]', 'http://[::ffff:127.0.0.1]:8080', 'http://[fd00::1]', 'http://localhost:11434', 'http://0x7f000001', 'http://2130706433']) {
      expect(await refused(guard.check(url))).toMatch(/private or loopback/);
    }
    // A public name that also resolves inside is refused too.
    expect(await refused(guard.check('https://rebind.example.com'))).toMatch(/private or loopback/);
    expect((await guard.check('https://ok.example.com')).hostname).toBe('ok.example.com');
    expect(await refused(guard.check('https://nxdomain.example.com'))).toMatch(/does not resolve/);
  });

  it('an entry naming a private host exactly opens just that host and port', async () => {
    const guard = createTargetGuard(['localhost:11434', '10.0.0.7:8000'], resolver({}));
    expect((await guard.check('http://localhost:11434/v1')).port).toBe('11434');
    expect((await guard.check('http://10.0.0.7:8000')).hostname).toBe('10.0.0.7');
    await refused(guard.check('http://localhost:11435'));
    await refused(guard.check('http://10.0.0.8:8000'));
  });

  it('classifies addresses', () => {
    expect(['10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', '127.0.0.1', '0.0.0.0', '100.64.0.1', '::1', 'fe80::1', 'fc00::1'].every(isPrivateAddress)).toBe(true);
    expect(['::ffff:c0a8:101', '::ffff:7f00:1', '::ffff:10.0.0.1'].every(isPrivateAddress)).toBe(true);
    expect(['8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '::ffff:808:808'].some(isPrivateAddress)).toBe(false);
  });
});

describe('auth', () => {
  it('is required off loopback unless explicitly switched off', () => {
    expect(authRequired('127.0.0.1', undefined)).toBe(false);
    expect(authRequired('::1', undefined)).toBe(false);
    expect(authRequired('localhost', undefined)).toBe(false);
    expect(authRequired('0.0.0.0', undefined)).toBe(true);
    expect(authRequired('10.0.0.5', undefined)).toBe(true);
    expect(authRequired('0.0.0.0', false)).toBe(false);
    expect(authRequired('127.0.0.1', true)).toBe(true);
  });

  it('resolves a key by digest and refuses unknown ones', () => {
    const auth = createAuthenticator([{ id: 'k1', hash: hashKey('sl-secret'), organization_id: 'acme', team: 'ml' }], true);
    expect(auth.authenticate('sl-secret')).toMatchObject({ organization_id: 'acme', team: 'ml', key_id: 'k1' });
    expect(() => auth.authenticate('sl-other')).toThrow(/Unknown Sightline-Auth key/);
    expect(() => auth.authenticate(undefined)).toThrow(/Missing Sightline-Auth/);
  });
});
