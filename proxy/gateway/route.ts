// Picking the deployment of an alias that serves the next attempt, by the router's strategy:
// - simple-shuffle: weighted random (weight);
// - least-busy: fewest attempts in flight in this process;
// - latency-based: lowest recent time to first byte (streams) or latency (the rest); untried deployments first;
// - cost-based: cheapest for the call's expected tokens, by the ledger's prices;
// - usage-based: the most rpm/tpm headroom left this minute, never one at its limit.
// Deployments cooling down (health.ts) are skipped while another is available; when every one is, the one whose
// cooldown ends first is probed. A retry prefers a deployment that has not failed in this call.
import type { Config } from '../../config/index.ts';
import type { RoutingStrategy } from '../../config/gateway.ts';
import type { Coster } from '../../ledger/cost.ts';
import type { GatewayCall } from './index.ts';
import type { Deployment } from './table.ts';

/** Output tokens assumed for a call that sets no max_tokens (cost- and usage-based routing). */
const DEFAULT_EXPECTED_OUTPUT = 256;

export type Picker = (call: GatewayCall, strategy: RoutingStrategy, now: number) => Promise<Deployment | undefined>;

export function createPicker(prices: Config['prices'], random: () => number = Math.random): Picker {
  // The price tables load only when a cost-based alias is first routed: they are large, and most setups never need them.
  let coster: Promise<Coster> | undefined;
  const loadCoster = () => (coster ??= import('../../ledger/cost.ts').then((c) => c.createCoster({ overrides: prices })));

  return async (call, strategy, now) => {
    const all = call.alias.deployments;
    const fresh = all.filter((d) => !call.failed.has(d.id));
    const pool = fresh.length > 0 ? fresh : all;
    const resting = pool.filter((d) => !d.health.coolingDown(now));
    const candidates = resting.length > 0 ? resting : [pool.reduce((a, b) => (b.health.cooldownUntil < a.health.cooldownUntil ? b : a))];
    if (candidates.length === 1 && strategy !== 'usage-based') return candidates[0];
    switch (strategy) {
      case 'least-busy':
        return lowest(candidates, (d) => d.health.inFlight, random);
      case 'latency-based':
        return lowest(candidates, (d) => (call.ctx.stream ? d.health.ttfbMs : d.health.latencyMs) ?? -1, random);
      case 'cost-based': {
        const cost = await loadCoster();
        const usage = expectedUsage(call);
        return lowest(candidates, (d) => {
          const priced = cost(d.adapter.id, d.model, usage, now);
          return priced.cost_known ? priced.cost_usd : Number.POSITIVE_INFINITY;
        }, random);
      }
      case 'usage-based': {
        const tokens = expectedTokens(call);
        const open = candidates.filter((d) => {
          const used = d.health.usage(now);
          return (d.rpm === undefined || used.requests < d.rpm) && (d.tpm === undefined || used.tokens + tokens <= d.tpm);
        });
        if (open.length === 0) return undefined;
        const pickedOne = lowest(open, (d) => headroomUsed(d, now, tokens), random);
        pickedOne.health.addTokens(now, tokens);
        return pickedOne;
      }
      default:
        return weighted(candidates, random);
    }
  };
}

/** Share of the tighter of the deployment's rpm and tpm already used this minute (0 when it has neither). */
function headroomUsed(d: Deployment, now: number, tokens: number): number {
  const used = d.health.usage(now);
  return Math.max(d.rpm === undefined ? 0 : used.requests / d.rpm, d.tpm === undefined ? 0 : (used.tokens + tokens) / d.tpm);
}

function expectedUsage(call: GatewayCall) {
  const prompt = Math.ceil(call.ctx.requestBody.length / 4);
  return { prompt_tokens: prompt, completion_tokens: expectedOutput(call), cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };
}

/** The call's expected tokens: its body's length at ~4 bytes a token, plus what it allows for the answer. */
function expectedTokens(call: GatewayCall): number {
  return Math.ceil(call.ctx.requestBody.length / 4) + expectedOutput(call);
}

function expectedOutput(call: GatewayCall): number {
  const b = call.body;
  for (const key of ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const) {
    const v = b[key];
    if (typeof v === 'number' && v > 0) return v;
  }
  return DEFAULT_EXPECTED_OUTPUT;
}

/** The candidate with the lowest score, ties broken at random (so equal deployments share the load). */
function lowest(candidates: readonly Deployment[], score: (d: Deployment) => number, random: () => number): Deployment {
  let best: Deployment[] = [];
  let bestScore = Number.POSITIVE_INFINITY;
  for (const d of candidates) {
    const s = score(d);
    if (s < bestScore) {
      bestScore = s;
      best = [d];
    } else if (s === bestScore) {
      best.push(d);
    }
  }
  if (best.length === 0) return candidates[0]!;
  return best.length === 1 ? best[0]! : best[Math.floor(random() * best.length)]!;
}

function weighted(candidates: readonly Deployment[], random: () => number): Deployment {
  let total = 0;
  for (const d of candidates) total += d.weight;
  let r = random() * total;
  for (const d of candidates) {
    r -= d.weight;
    if (r < 0) return d;
  }
  return candidates[candidates.length - 1]!;
}
