// Sightline-Auth keys. Only sha256 digests are configured or stored; the key itself never is.
import { hash, randomBytes } from 'node:crypto';
import type { ApiKey } from '../config/index.ts';
import { unauthorized } from './errors.ts';

export interface Principal {
  organization_id: string;
  team: string;
  key_id: string;
  /** The key's own settings (model allowlist, budget, limits); absent for anonymous calls. */
  key?: KeyRecord;
  /** The key came as the provider key (`OpenAI(api_key="sk-virtual-…")`): it must not reach the provider. */
  standsIn?: boolean;
  /** The key's calls are cached (config `cache: true` on the key). */
  cache?: boolean;
}

/** What authentication needs of a key (a config key, or a runtime one from the key store). */
export type KeyRecord = Pick<ApiKey, 'id' | 'organization_id' | 'team'> & Partial<Omit<ApiKey, 'id' | 'organization_id' | 'team' | 'hash'>>;

/** The principal of unauthenticated requests, allowed only where auth is not required. */
export const ANONYMOUS: Principal = Object.freeze({ organization_id: 'default', team: '', key_id: '' });

/** One-shot: a third of createHash's cost, and it runs on every authenticated call. */
export function hashKey(key: string): string {
  return hash('sha256', key, 'hex');
}

export function generateKey(): string {
  return `sl-${randomBytes(24).toString('base64url')}`;
}

export interface Authenticator {
  /**
   * `sightlineAuth`: the Sightline-Auth (or Helicone-Auth) key. `providerKey`: the caller's provider credential, which
   * may be a virtual key standing in for it. Throws 401 for an unknown, revoked or expired key.
   */
  authenticate(sightlineAuth: string | undefined, providerKey?: string): Principal;
}

/** Keys by the sha256 digest of their secret: a fixed list, or a live store's lookup. */
export function createAuthenticator(keys: readonly (KeyRecord & { hash: string })[] | ((hash: string) => KeyRecord | undefined), required: boolean, now: () => number = Date.now): Authenticator {
  let lookup: (hash: string) => KeyRecord | undefined;
  if (typeof keys === 'function') lookup = keys;
  else {
    const byHash = new Map(keys.map((k) => [k.hash, k]));
    lookup = (hash) => byHash.get(hash);
  }
  const principalOf = (k: KeyRecord, standsIn: boolean): Principal => {
    if (k.revoked === true) throw unauthorized(`Key "${k.id}" has been revoked; ask for a new one.`);
    if (k.expires_at !== undefined && Date.parse(k.expires_at) <= now()) throw unauthorized(`Key "${k.id}" expired at ${k.expires_at}; ask for a new one.`);
    return { organization_id: k.organization_id, team: k.team, key_id: k.id, key: k, ...(standsIn ? { standsIn } : {}), ...(k.cache !== undefined ? { cache: k.cache } : {}) };
  };
  return {
    authenticate(key, providerKey) {
      if (key !== undefined) {
        // Lookup is by sha256 digest: timing reveals nothing usable about the key itself.
        const found = lookup(hashKey(key));
        if (found === undefined) throw unauthorized('Unknown Sightline-Auth key: check the key, or create one with `npx sightline keys create`.');
        return principalOf(found, false);
      }
      if (providerKey !== undefined && providerKey !== '') {
        const found = lookup(hashKey(providerKey));
        if (found !== undefined) return principalOf(found, true);
        // Sightline's own keys look like sl-…: an unknown one is a mistake, not a provider key to pass on.
        if (providerKey.startsWith('sl-')) throw unauthorized('Unknown virtual key: check the key, or create one with `npx sightline keys create`.');
      }
      if (required) throw unauthorized('Missing Sightline-Auth header: send "Sightline-Auth: Bearer <key>" (create one with `npx sightline keys create`), or a virtual key as the provider key.');
      return ANONYMOUS;
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
