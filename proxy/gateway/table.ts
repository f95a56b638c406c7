// The routing table: the config's `models` compiled once (at start and on each reload) into what a call needs
// per attempt, so the request path does lookups, not parsing. Each deployment carries its live health
// (health.ts), which a reload keeps for deployments that did not change.
import type { Config } from '../../config/index.ts';
import type { DeploymentConfig, RouterConfig } from '../../config/gateway.ts';
import { resolveModel } from '../../config/gateway.ts';
import { adapterById } from '../../providers/index.ts';
import type { ProviderAdapter } from '../../providers/types.ts';
import { DeploymentHealth } from './health.ts';

export interface Deployment {
  /** `smart#0`, or the configured id. */
  readonly id: string;
  readonly alias: string;
  readonly adapter: ProviderAdapter;
  /** The upstream model (no provider prefix). */
  readonly model: string;
  readonly base: string;
  /** The base came from the deployment's api_base (an SDK base URL), not the provider's configured host. */
  readonly explicitBase: boolean;
  readonly apiVersion: string;
  /** The provider-key header, or undefined when the caller's own key passes. */
  readonly credential: readonly [string, string] | undefined;
  /** Extra headers, flat [name, value, …]. */
  readonly headers: readonly string[];
  readonly weight: number;
  readonly rpm: number | undefined;
  readonly tpm: number | undefined;
  readonly timeoutMs: number | undefined;
  readonly health: DeploymentHealth;
}

export interface Alias {
  readonly name: string;
  readonly deployments: readonly Deployment[];
}

export interface RoutingTable {
  readonly router: RouterConfig;
  /** Configured alias names, in config order: /v1/models and the unknown-model 404 list them. */
  readonly names: readonly string[];
  /** True when any models are configured: bare /v1/… then serves aliases instead of passing through to OpenAI. */
  readonly active: boolean;
  /** The alias serving `model`: configured, or made for a wildcard entry; undefined when none matches. */
  resolve(model: string): Alias | undefined;
  /** Every deployment, for metrics. */
  readonly deployments: readonly Deployment[];
}

interface Wildcard {
  /** Matches a model: `*` everything, `openai/*` models with that prefix. */
  readonly prefix: string;
  readonly config: DeploymentConfig;
}

/** Compiles the config's models; `previous` lends its health to deployments that are the same. */
export function compileTable(config: Config, previous?: RoutingTable): RoutingTable {
  const oldHealth = new Map<string, { key: string; health: DeploymentHealth }>();
  for (const d of previous?.deployments ?? []) oldHealth.set(d.id, { key: identity(d), health: d.health });
  const byAlias = new Map<string, Deployment[]>();
  const wildcards: Wildcard[] = [];
  for (const entry of config.models) {
    if (entry.model.includes('*')) {
      wildcards.push({ prefix: entry.name === '*' ? '' : entry.name.slice(0, -1), config: entry });
      continue;
    }
    const list = byAlias.get(entry.name) ?? [];
    const d = compileDeployment(config, entry, entry.name, entry.model, list.length);
    const kept = oldHealth.get(d.id);
    list.push(kept !== undefined && kept.key === identity(d) ? { ...d, health: kept.health } : d);
    byAlias.set(entry.name, list);
  }
  const aliases = new Map<string, Alias>();
  for (const [name, deployments] of byAlias) aliases.set(name, Object.freeze({ name, deployments: Object.freeze(deployments) }));
  const made = new Map<string, Alias>();
  return {
    router: config.router,
    names: [...aliases.keys()],
    active: config.models.length > 0,
    deployments: [...byAlias.values()].flat(),
    resolve(model) {
      const hit = aliases.get(model);
      if (hit !== undefined || wildcards.length === 0) return hit;
      const cached = made.get(model);
      if (cached !== undefined) return cached;
      const w = wildcards.find((c) => model.startsWith(c.prefix));
      if (w === undefined) return undefined;
      // The wildcard's own model says the provider when it names one (`openai/*`); `*` lets the model's name say it.
      const upstream = w.config.model === '*' ? model : `${w.config.model.slice(0, -1)}${model.slice(w.prefix.length)}`;
      if (typeof resolveModel(upstream, w.config.provider, w.config.api_base !== undefined) === 'string') return undefined;
      const alias = Object.freeze({ name: model, deployments: Object.freeze([compileDeployment(config, w.config, model, upstream, 0)]) });
      // Bounded: a caller naming endless distinct models cannot grow the table without limit.
      if (made.size < 1000) made.set(model, alias);
      return alias;
    },
  };
}

function compileDeployment(config: Config, entry: DeploymentConfig, alias: string, model: string, index: number): Deployment {
  const resolved = resolveModel(model, entry.provider, entry.api_base !== undefined);
  // checkDeployments() refused unresolvable models when the config was parsed.
  if (typeof resolved === 'string') throw new Error(`${alias}: ${resolved}`);
  const adapter = adapterById(resolved.provider);
  const configuredBase = (config.upstreams as Record<string, string>)[resolved.provider] ?? adapter.defaultBaseUrl;
  const headers: string[] = [];
  for (const [name, value] of Object.entries(entry.headers)) headers.push(name.toLowerCase(), value);
  return {
    id: entry.id ?? `${alias}#${index}`,
    alias,
    adapter,
    model: resolved.model,
    base: entry.api_base ?? configuredBase,
    explicitBase: entry.api_base !== undefined,
    apiVersion: entry.api_version,
    credential: entry.api_key === undefined ? undefined : adapter.gateway.credential(entry.api_key),
    headers,
    weight: entry.weight,
    rpm: entry.rpm,
    tpm: entry.tpm,
    timeoutMs: entry.timeout_ms,
    health: new DeploymentHealth(),
  };
}

/** What makes two deployments the same one across a reload (its stats stay meaningful). */
function identity(d: Deployment): string {
  return `${d.adapter.id}|${d.model}|${d.base}`;
}
