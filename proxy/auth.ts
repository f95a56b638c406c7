// Sightline-Auth keys. Only sha256 digests are configured or stored; the key itself never is.
import { createHash, randomBytes } from 'node:crypto';
import type { ApiKey } from '../config/index.ts';
import { unauthorized } from './errors.ts';

export interface Principal {
  organization_id: string;
  team: string;
  key_id: string;
}

/** The principal of unauthenticated requests, allowed only where auth is not required. */
export const ANONYMOUS: Principal = Object.freeze({ organization_id: 'default', team: '', key_id: '' });

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateKey(): string {
  return `sl-${randomBytes(24).toString('base64url')}`;
}

export interface Authenticator {
  authenticate(key: string | undefined): Principal;
}

export function createAuthenticator(keys: readonly ApiKey[], required: boolean): Authenticator {
  const byHash = new Map<string, Principal>();
  for (const k of keys) byHash.set(k.hash, Object.freeze({ organization_id: k.organization_id, team: k.team, key_id: k.id }));
  return {
    authenticate(key) {
      if (key === undefined) {
        if (required) throw unauthorized('Missing Sightline-Auth header: send "Sightline-Auth: Bearer <key>" (create one with `npx sightline keys create`).');
        return ANONYMOUS;
      }
      // Lookup is by sha256 digest: timing reveals nothing usable about the key itself.
      const principal = byHash.get(hashKey(key));
      if (principal === undefined) {
        throw unauthorized('Unknown Sightline-Auth key: check the key, or create one with `npx sightline keys create`.');
      }
      return principal;
    },
  };
}

/** Auth may be skipped only on loopback, unless the config says otherwise explicitly. */
export function authRequired(host: string, explicit: boolean | undefined): boolean {
  if (explicit !== undefined) return explicit;
  return !isLoopbackHost(host);
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
