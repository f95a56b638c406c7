// The routing strategies, backoff, the LiteLLM mapping and config reload, each on its own.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { configWarnings, parseConfig } from '../../config/index.ts';
import type { Config } from '../../config/index.ts';
import { watchConfig } from '../../config/watch.ts';
import { backoffMs } from '../../proxy/gateway/backoff.ts';
import type { GatewayCall } from '../../proxy/gateway/index.ts';
import { createPicker } from '../../proxy/gateway/route.ts';
import type { Alias } from '../../proxy/gateway/table.ts';
import { compileTable } from '../../proxy/gateway/table.ts';

const NOW = Date.UTC(2026, 11, 1, 10, 0, 30);

function aliasOf(yaml: string, name: string): Alias {
  const alias = compileTable(parseConfig(yaml, {})).resolve(name);
  if (alias === undefined) throw new Error(`no alias ${name}`);
  return alias;
}

function callFor(alias: Alias, opts: { stream?: boolean; bodyBytes?: number; maxTokens?: number; failed?: string[] } = {}): GatewayCall {
  return {
    alias,
    failed: new Set(opts.failed ?? []),
    ctx: { stream: opts.stream ?? false, requestBody: Buffer.alloc(opts.bodyBytes ?? 400) },
    body: opts.maxTokens === undefined ? {} : { max_tokens: opts.maxTokens },
  } as unknown as GatewayCall;
}

const TWO = `
models:
  - { name: m, id: east, model: openai/gpt-4o-mini, api_base: "https://east.example/v1", rpm: 2, tpm: 10000 }
  - { name: m, id: west, model: openai/gpt-4o-mini, api_base: "https://west.example/v1", rpm: 5, tpm: 10000 }
`;

describe('routing strategies', () => {
  it('least-busy picks the deployment with the fewest attempts in flight', async () => {
    const alias = aliasOf(TWO, 'm');
    const [east, west] = alias.deployments;
    east!.health.begin(NOW);
    east!.health.begin(NOW);
    west!.health.begin(NOW);
    expect((await createPicker({})(callFor(alias), 'least-busy', NOW))!.id).toBe('west');
    west!.health.begin(NOW);
    west!.health.begin(NOW);
    expect((await createPicker({})(callFor(alias), 'least-busy', NOW))!.id).toBe('east');
  });

  it('latency-based tries an untried deployment first, then the fastest (TTFB for streams, latency otherwise)', async () => {
    const alias = aliasOf(TWO, 'm');
    const [east, west] = alias.deployments;
    east!.health.begin(NOW);
    east!.health.end(100, 900);
    expect((await createPicker({})(callFor(alias), 'latency-based', NOW))!.id).toBe('west');
    west!.health.begin(NOW);
    west!.health.end(300, 400);
    expect((await createPicker({})(callFor(alias, { stream: true }), 'latency-based', NOW))!.id).toBe('east');
    expect((await createPicker({})(callFor(alias, { stream: false }), 'latency-based', NOW))!.id).toBe('west');
  });

  it('cost-based picks the cheapest model for the expected tokens, by the ledger\'s prices (overrides included)', async () => {
    const yaml = `
models:
  - { name: m, id: opus, model: anthropic/claude-opus-4-1 }
  - { name: m, id: haiku, model: anthropic/claude-haiku-4-5 }
  - { name: m, id: unpriced, model: custom/house-model, api_base: "https://house.example/v1" }
`;
    const alias = aliasOf(yaml, 'm');
    expect((await createPicker({})(callFor(alias, { maxTokens: 1000 }), 'cost-based', NOW))!.id).toBe('haiku');
    const negotiated = { 'claude-opus-4-1': { input_per_mtok: 0.01, output_per_mtok: 0.01 } };
    expect((await createPicker(negotiated)(callFor(alias, { maxTokens: 1000 }), 'cost-based', NOW))!.id).toBe('opus');
  });

  it('usage-based keeps under each deployment\'s rpm and tpm, and finds none when all are at their limit', async () => {
    const alias = aliasOf(TWO, 'm');
    const pick = createPicker({});
    const picked: string[] = [];
    for (let i = 0; i < 7; i++) {
      const d = (await pick(callFor(alias), 'usage-based', NOW))!;
      d.health.begin(NOW);
      picked.push(d.id);
    }
    expect(picked.filter((id) => id === 'east')).toHaveLength(2);
    expect(picked.filter((id) => id === 'west')).toHaveLength(5);
    expect(await pick(callFor(alias), 'usage-based', NOW)).toBeUndefined();
    // A new minute, new headroom.
    expect(await pick(callFor(alias), 'usage-based', NOW + 60_000)).toBeDefined();
    // tpm: one call expecting more tokens than west's whole minute allows goes nowhere.
    const fresh = aliasOf(TWO, 'm');
    expect(await pick(callFor(fresh, { maxTokens: 20_000 }), 'usage-based', NOW)).toBeUndefined();
  });

  it('skips resting deployments, prefers ones that have not failed in this call, and probes when all rest', async () => {
    const alias = aliasOf(TWO, 'm');
    const [east, west] = alias.deployments;
    const policy = { allowedFails: 1, windowMs: 60_000, cooldownMs: 30_000 };
    east!.health.begin(NOW);
    east!.health.fail(NOW, policy);
    const pick = createPicker({}, () => 0);
    expect((await pick(callFor(alias), 'simple-shuffle', NOW))!.id).toBe('west');
    expect((await pick(callFor(alias), 'simple-shuffle', NOW + 30_001))!.id).toBe('east');
    expect((await pick(callFor(alias, { failed: ['east'] }), 'simple-shuffle', NOW + 30_001))!.id).toBe('west');
    west!.health.begin(NOW);
    west!.health.fail(NOW + 10, policy);
    // Both resting: the one whose rest ends first is probed.
    expect((await pick(callFor(alias), 'simple-shuffle', NOW + 20))!.id).toBe('east');
  });
});

describe('backoff', () => {
  it('grows by the factor from min to max, the upper half random', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffMs(n, 2, 1000, 10_000, () => 1))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect([0, 1, 2, 3].map((n) => backoffMs(n, 2, 1000, 10_000, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffMs(1, 3, 100, 10_000, () => 0.5)).toBe(225);
  });
});

describe('LiteLLM config.yaml', () => {
  it('maps every litellm_params, model_info and router key it implements, and warns by path for the rest', () => {
    const config = parseConfig(`
model_list:
  - model_name: gpt4
    litellm_params: { model: azure/prod-gpt4o, api_base: "https://res.openai.azure.com", api_key: os.environ/AZURE_KEY, api_version: "2024-08-01-preview", rpm: 60, tpm: 90000, timeout: 12.5, weight: 2, max_parallel_requests: 4 }
    model_info: { id: eu-gpt4, base_model: gpt-4o }
  - model_name: local
    litellm_params: { model: openai/llama3, api_base: "http://vllm.internal:8000/v1" }
router_settings:
  routing_strategy: latency-based-routing
  num_retries: 3
  timeout: 30
  allowed_fails: 5
  cooldown_time: 45
  retry_after: 2
  context_window_fallbacks: [{ gpt4: [local] }]
  redis_host: redis
litellm_settings: { drop_params: true, content_policy_fallbacks: [{ gpt4: [local] }] }
general_settings: { master_key: sk-1234 }
`, { AZURE_KEY: 'az-secret' });
    expect(config.models[0]).toMatchObject({ name: 'gpt4', model: 'azure/prod-gpt4o', api_base: 'https://res.openai.azure.com', api_key: 'az-secret', api_version: '2024-08-01-preview', rpm: 60, tpm: 90000, timeout_ms: 12500, weight: 2, id: 'eu-gpt4' });
    expect(config.models[1]).toMatchObject({ name: 'local', model: 'openai/llama3', api_base: 'http://vllm.internal:8000/v1' });
    expect(config.router).toMatchObject({ strategy: 'latency-based', retries: 3, timeout_ms: 30_000, cooldown: { allowed_fails: 5, cooldown_s: 45 }, retry_backoff: { min_ms: 2000 } });
    expect(config.router.context_window_fallbacks).toEqual({ gpt4: ['local'] });
    expect(config.router.content_policy_fallbacks).toEqual({ gpt4: ['local'] });
    const warnings = configWarnings(config).join('\n');
    for (const path of ['model_list[0].litellm_params.max_parallel_requests', 'model_list[0].model_info.base_model', 'router_settings.redis_host', 'litellm_settings.drop_params', 'general_settings.master_key']) {
      expect(warnings).toContain(path);
    }
    expect(warnings).not.toContain('az-secret');
  });

  it('says which variable is unset, and passes the caller\'s key for that deployment', () => {
    const config = parseConfig('model_list: [{ model_name: s, litellm_params: { model: claude-sonnet-4-6, api_key: os.environ/MISSING_KEY } }]', {});
    expect(config.models[0]!.api_key).toBeUndefined();
    expect(configWarnings(config)).toContain("models[0].api_key: MISSING_KEY is not set; the caller's own key will be passed");
  });
});

describe('config reload', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-reload-'));
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it('applies a valid change to the file, and keeps the running config when the new one is invalid, naming the field', async () => {
    const file = path.join(dir, 'sightline.yaml');
    writeFileSync(file, 'models: [{ name: a, model: gpt-4o }]\n');
    const applied: Config[] = [];
    const reports: string[] = [];
    const w = watchConfig({ env: { SIGHTLINE_CONFIG: file }, apply: (c) => applied.push(c), report: (m) => reports.push(m), debounceMs: 20 });
    close = w.close;
    writeFileSync(file, 'models: [{ name: a, model: gpt-4o }, { name: b, model: claude-haiku-4-5 }]\n');
    await vi.waitFor(() => expect(applied).toHaveLength(1), { timeout: 3000 });
    expect(applied[0]!.models.map((m) => m.name)).toEqual(['a', 'b']);
    writeFileSync(file, 'models: [{ name: a, model: gpt-4o, weight: -1 }]\n');
    await vi.waitFor(() => expect(reports.some((r) => r.startsWith('config not reloaded'))).toBe(true), { timeout: 3000 });
    expect(applied).toHaveLength(1);
    expect(reports.find((r) => r.startsWith('config not reloaded'))).toMatch(/models\.0\.weight/);
    // SIGHUP's path: read now.
    writeFileSync(path.join(dir, 'other.yaml'), '');
    w.reload();
    expect(reports.at(-1)).toMatch(/config not reloaded/);
  });
});
