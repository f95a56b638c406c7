// Sightline-Target-Url is an SSRF surface: the caller names the host we connect to. A target must match
// the allowlist; private, loopback and link-local addresses additionally need a pattern that names them
// exactly (a wildcard never opens them), and hostnames are resolved so a public name cannot point inside.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { targetNotAllowed } from './errors.ts';

/** Public OpenAI-compatible hosts allowed out of the box (HTTPS only). */
export const DEFAULT_ALLOWED_TARGETS: readonly string[] = [
  'api.together.xyz:443', 'openrouter.ai:443', 'api.groq.com:443', 'api.fireworks.ai:443', 'api.deepseek.com:443',
  'api.mistral.ai:443', 'api.x.ai:443', 'api.perplexity.ai:443', 'api.deepinfra.com:443', 'api.cerebras.ai:443',
];

interface Pattern {
  host: string; // lowercased; '*' or '*.suffix' or exact
  port: string; // '*' or digits
  exact: boolean; // names one host literally (may open a private address)
}

function compile(p: string): Pattern {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\*|\d+))?$/.exec(p.trim().toLowerCase());
  if (!m) throw new Error(`invalid allowed target pattern "${p}"`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return { host, port: m[2] ?? '*', exact: !host.includes('*') };
}

function hostMatches(pattern: Pattern, host: string): boolean {
  if (pattern.host === '*') return true;
  if (pattern.host.startsWith('*.')) return host.endsWith(pattern.host.slice(1));
  return pattern.host === host;
}

export function isPrivateAddress(ip: string): boolean {
  if (isIP(ip) === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
  }
  const v6 = ip.toLowerCase();
  if (v6 === '::1' || v6 === '::') return true;
  // IPv4-mapped: WHATWG URL parsing turns [::ffff:192.168.1.1] into [::ffff:c0a8:101].
  const mapped = /^::ffff:(?:([0-9.]+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(v6);
  if (mapped) {
    if (mapped[1] !== undefined) return isPrivateAddress(mapped[1]);
    const hi = parseInt(mapped[2]!, 16);
    const lo = parseInt(mapped[3]!, 16);
    return isPrivateAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  return /^(fc|fd|fe8|fe9|fea|feb)/.test(v6);
}

export interface TargetGuard {
  /** Resolves to the validated URL, or throws SightlineError(sightline_target_not_allowed) saying what to change. */
  check(targetUrl: string): Promise<URL>;
  /** True when an allowlist entry names this host exactly, so it may resolve to a private address. */
  privateAllowed(host: string): boolean;
}

export function createTargetGuard(configured: readonly string[], resolve: (host: string) => Promise<string[]> = resolveAll): TargetGuard {
  const patterns = [...DEFAULT_ALLOWED_TARGETS, ...configured].map(compile);
  const resolved = new Map<string, { at: number; privateAddr: boolean }>();
  const TTL_MS = 60_000;

  async function resolvesPrivate(host: string): Promise<boolean> {
    const hit = resolved.get(host);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.privateAddr;
    let privateAddr: boolean;
    try {
      privateAddr = (await resolve(host)).some(isPrivateAddress);
    } catch {
      throw targetNotAllowed(`Sightline-Target-Url host "${host}" does not resolve.`);
    }
    resolved.set(host, { at: Date.now(), privateAddr });
    return privateAddr;
  }

  const exactHosts = new Set(patterns.filter((p) => p.exact).map((p) => p.host));
  return {
    privateAllowed: (host) => exactHosts.has(host.replace(/^\[|\]$/g, '').toLowerCase()),
    async check(targetUrl) {
      const url = new URL(targetUrl);
      const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
      const port = url.port || (url.protocol === 'https:' ? '443' : '80');
      const matching = patterns.filter((p) => hostMatches(p, host) && (p.port === '*' || p.port === port));
      if (matching.length === 0) {
        throw targetNotAllowed(`Sightline-Target-Url ${url.protocol}//${host}:${port} is not in the allowlist; add "${host}:${port}" to allowed_targets (SIGHTLINE_ALLOWED_TARGETS).`);
      }
      const namedExactly = matching.some((p) => p.exact);
      if (!namedExactly) {
        const literalPrivate = isIP(host) !== 0 && isPrivateAddress(host);
        if (literalPrivate || host === 'localhost' || (isIP(host) === 0 && (await resolvesPrivate(host)))) {
          throw targetNotAllowed(`Sightline-Target-Url ${host} is a private or loopback address; only an allowlist entry naming it exactly ("${host}:${port}") permits it.`);
        }
      }
      return url;
    },
  };
}

async function resolveAll(host: string): Promise<string[]> {
  return (await lookup(host, { all: true })).map((a) => a.address);
}
