// Expected costs are computed by hand from the vendors' published USD-per-million-token prices,
// written out in each case, not read back from the price database.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Usage } from '../providers/types.ts';
import { createCoster } from './cost.ts';
import type { ProviderId } from '../contracts/event.ts';

const usage = (u: Partial<Usage>): Usage => ({
  prompt_tokens: 0,
  completion_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  reasoning_tokens: 0,
  ...u,
});

const cost = createCoster({ overrides: {} });

function expectCost(provider: ProviderId, model: string, u: Usage, usd: number): void {
  const r = cost(provider, model, u);
  expect(r.cost_known, `${provider}/${model} priced`).toBe(true);
  expect(r.cost_usd).toBeCloseTo(usd, 12);
}

describe('published prices, 1,000 prompt + 100 completion tokens', () => {
  const u = usage({ prompt_tokens: 1000, completion_tokens: 100 });
  // [provider, model, input $/MTok, output $/MTok]
  const table: [ProviderId, string, number, number][] = [
    ['openai', 'gpt-4o', 2.5, 10],
    ['openai', 'gpt-4o-mini', 0.15, 0.6],
    ['openai', 'gpt-4.1', 2, 8],
    ['openai', 'o3', 2, 8],
    ['openai', 'o4-mini', 1.1, 4.4],
    ['openai', 'gpt-5', 1.25, 10],
    ['openai', 'gpt-5-mini', 0.25, 2],
    ['anthropic', 'claude-sonnet-4-5', 3, 15],
    ['anthropic', 'claude-3-5-haiku-latest', 0.8, 4],
    ['anthropic', 'claude-haiku-4-5', 1, 5],
    ['anthropic', 'claude-opus-4', 15, 75],
    ['gemini', 'gemini-2.5-flash', 0.3, 2.5],
    ['gemini', 'gemini-2.5-pro', 1.25, 10],
    ['openai', 'text-embedding-3-small', 0.02, 0],
  ];
  it.each(table)('%s %s', (provider, model, input, output) => {
    expectCost(provider, model, u, (1000 * input + 100 * output) / 1e6);
  });
});

describe('cache and reasoning tokens', () => {
  it('gpt-4o-mini-2024-07-18: cached input at $0.075', () => {
    // 6,000 uncached × 0.15 + 4,000 cached × 0.075 + 500 out × 0.60 = 900 + 300 + 300
    expectCost('openai', 'gpt-4o-mini-2024-07-18', usage({ prompt_tokens: 10_000, cache_read_tokens: 4_000, completion_tokens: 500 }), 1500 / 1e6);
  });

  it('claude-sonnet-4-5-20250929: cache write $3.75, cache read $0.30', () => {
    // 2,000 × 3 + 15,000 × 0.30 + 3,000 × 3.75 + 1,000 × 15 = 6,000 + 4,500 + 11,250 + 15,000
    expectCost(
      'anthropic',
      'claude-sonnet-4-5-20250929',
      usage({ prompt_tokens: 20_000, cache_read_tokens: 15_000, cache_write_tokens: 3_000, completion_tokens: 1_000 }),
      36_750 / 1e6,
    );
  });

  it('claude-haiku-4-5: cache write $1.25, cache read $0.10', () => {
    // 1,000 × 1 + 8,000 × 0.10 + 1,000 × 1.25 + 200 × 5 = 1,000 + 800 + 1,250 + 1,000
    expectCost('anthropic', 'claude-haiku-4-5-20251001', usage({ prompt_tokens: 10_000, cache_read_tokens: 8_000, cache_write_tokens: 1_000, completion_tokens: 200 }), 4_050 / 1e6);
  });

  it('o3: reasoning tokens billed at the output rate', () => {
    // 800 × 2 + 200 × 0.50 + 3,000 (2,500 of them reasoning) × 8 = 1,600 + 100 + 24,000
    expectCost('openai', 'o3-2025-04-16', usage({ prompt_tokens: 1_000, cache_read_tokens: 200, completion_tokens: 3_000, reasoning_tokens: 2_500 }), 25_700 / 1e6);
  });

  it('gpt-5-mini: cached at $0.025, reasoning at output', () => {
    // 50,000 × 0.25 + 50,000 × 0.025 + 10,000 × 2 = 12,500 + 1,250 + 20,000
    expectCost('openai', 'gpt-5-mini-2025-08-07', usage({ prompt_tokens: 100_000, cache_read_tokens: 50_000, completion_tokens: 10_000, reasoning_tokens: 8_000 }), 33_750 / 1e6);
  });

  it('sonar-deep-research: its own reasoning rate ($3) apart from output ($8)', () => {
    // 1,000 × 2 + 1,000 visible × 8 + 4,000 reasoning × 3 = 2,000 + 8,000 + 12,000
    expectCost('custom', 'perplexity/sonar-deep-research', usage({ prompt_tokens: 1_000, completion_tokens: 5_000, reasoning_tokens: 4_000 }), 22_000 / 1e6);
  });

  it('gemini-2.5-flash: cached input at $0.03', () => {
    // 10,000 × 0.30 + 90,000 × 0.03 + 1,000 × 2.50 = 3,000 + 2,700 + 2,500
    expectCost('gemini', 'gemini-2.5-flash', usage({ prompt_tokens: 100_000, cache_read_tokens: 90_000, completion_tokens: 1_000 }), 8_200 / 1e6);
  });
});

describe('tiered prices', () => {
  it('gemini-2.5-pro at exactly 200k prompt tokens stays on the base tier', () => {
    // 200,000 × 1.25 + 1,000 × 10
    expectCost('gemini', 'gemini-2.5-pro', usage({ prompt_tokens: 200_000, completion_tokens: 1_000 }), 260_000 / 1e6);
  });
  it('gemini-2.5-pro above 200k prompt tokens: $2.50 in, $15 out, $0.25 cached', () => {
    // 150,000 × 2.50 + 100,000 × 0.25 + 1,000 × 15 = 375,000 + 25,000 + 15,000
    expectCost('gemini', 'gemini-2.5-pro', usage({ prompt_tokens: 250_000, cache_read_tokens: 100_000, completion_tokens: 1_000 }), 415_000 / 1e6);
  });
  it('claude-sonnet-4-5 above 200k: $6 in, $22.50 out', () => {
    expectCost('anthropic', 'claude-sonnet-4-5', usage({ prompt_tokens: 300_000, completion_tokens: 2_000 }), (300_000 * 6 + 2_000 * 22.5) / 1e6);
  });
});

describe('names', () => {
  const u = usage({ prompt_tokens: 1_000_000, completion_tokens: 1_000_000 });
  // 100k + 100k tokens: below the 200k long-context tiers, so each cost is (input + output rate) / 10.
  it.each<[ProviderId, string, number]>([
    ['openai', 'gpt-4o-2024-08-06', 2.5 + 10],
    ['openai', 'GPT-4o-Mini-2024-07-18', 0.15 + 0.6],
    ['openai', 'gpt-4.1-2025-04-14', 2 + 8],
    ['openai', 'gpt-5-2025-08-07', 1.25 + 10],
    ['anthropic', 'claude-3-5-haiku-20241022', 0.8 + 4],
    ['anthropic', 'claude-opus-4-20250514', 15 + 75],
    ['anthropic', 'claude-sonnet-4-5@20250929', 3 + 15],
    ['gemini', 'models/gemini-2.5-flash', 0.3 + 2.5],
  ])('%s %s', (provider, model, perMtokSum) => {
    expectCost(provider, model, usage({ prompt_tokens: 100_000, completion_tokens: 100_000 }), perMtokSum / 10);
  });

  // [what the names show, provider, priced names with input + output $/MTok, a name left unpriced]; at 1M + 1M
  // tokens each cost is the input rate plus the output rate.
  describe.each<[string, ProviderId, [string, number][], string]>([
    ['azure: deployment and model names resolve to OpenAI prices', 'azure', [
      ['gpt-4o', 2.5 + 10],
      ['gpt-4o-mini-prod', 0.15 + 0.6],
      ['gpt-4.1-eastus-2', 2 + 8],
      ['gpt-35-turbo', 0.5 + 1.5],
    ], 'my-deployment'],
    ['custom: vendor-prefixed, OpenRouter-style and bare names', 'custom', [
      ['openai/gpt-4o', 2.5 + 10],
      ['anthropic/claude-haiku-4-5', 1 + 5],
      ['google/gemini-2.5-flash', 0.3 + 2.5],
      ['gpt-4o-mini', 0.15 + 0.6],
      // OpenRouter lists Llama 3.1 8B Instruct at $0.02 in / $0.03 out; Groq's own id at $0.05 / $0.08.
      ['meta-llama/llama-3.1-8b-instruct', 0.02 + 0.03],
      ['llama-3.1-8b-instant', 0.05 + 0.08],
    ], 'meta-llama/Llama-3.1-8B'], // the base (non-instruct) model nobody in the database sells: unpriced, not guessed
  ])('%s', (_title, provider, priced, unpriced) => {
    it.each(priced)('%s', (model, perMtokSum) => {
      expectCost(provider, model, u, perMtokSum);
    });
    it(`${unpriced} is unpriced`, () => {
      expect(cost(provider, unpriced, u)).toEqual({ cost_usd: 0, cost_known: false, price_version: '' });
    });
  });

  it('a provider only prices its own models', () => {
    expect(cost('anthropic', 'gpt-4o', u).cost_known).toBe(false);
    expect(cost('openai', 'claude-haiku-4-5', u).cost_known).toBe(false);
  });
});

describe('unknown models and overrides', () => {
  const u = usage({ prompt_tokens: 1_000, completion_tokens: 1_000 });

  it('an unknown model costs 0 and is marked unknown, never throws', () => {
    for (const model of ['', '   ', 'not-a-model', 'gpt-', '/', 'x'.repeat(10_000), '((', 'models/']) {
      for (const provider of ['openai', 'anthropic', 'gemini', 'azure', 'custom'] as const) {
        expect(cost(provider, model, u)).toEqual({ cost_usd: 0, cost_known: false, price_version: '' });
      }
    }
  });

  it('a known model with no tokens costs 0 and is known', () => {
    expect(cost('openai', 'gpt-4o', usage({}))).toMatchObject({ cost_usd: 0, cost_known: true });
  });

  it('an override wins over the database, for the name and for its dated aliases', () => {
    const withOverride = createCoster({ overrides: { 'gpt-4o': { input_per_mtok: 1, output_per_mtok: 2 } } });
    const big = usage({ prompt_tokens: 1_000_000, completion_tokens: 1_000_000, cache_read_tokens: 500_000 });
    // No cache-read rate in the override: cached input is billed at the override's input rate.
    expect(withOverride('openai', 'gpt-4o', big)).toMatchObject({ cost_usd: 3, cost_known: true, price_version: expect.stringMatching(/^override:[0-9a-f]{12}$/) });
    expect(withOverride('openai', 'gpt-4o-2024-08-06', big)).toMatchObject({ cost_usd: 3, cost_known: true, price_version: expect.stringMatching(/^override:[0-9a-f]{12}$/) });
    expect(withOverride('azure', 'gpt-4o', big)).toMatchObject({ cost_usd: 3, cost_known: true, price_version: expect.stringMatching(/^override:[0-9a-f]{12}$/) });
    // Other models keep database prices: 0.5M × 0.15 + 0.5M × 0.075 + 1M × 0.60
    expect(withOverride('openai', 'gpt-4o-mini', big).cost_usd).toBeCloseTo(0.075 + 0.0375 + 0.6, 12);
  });

  it('an override prices a model the database does not know, with all its rates', () => {
    const c = createCoster({
      overrides: {
        'My-Finetune': { input_per_mtok: 4, output_per_mtok: 16, cache_read_per_mtok: 1, cache_write_per_mtok: 5, reasoning_per_mtok: 8 },
      },
    });
    // 1,000 × 4 + 2,000 × 1 + 3,000 × 5 + 1,000 × 16 + 4,000 × 8 = 4,000 + 2,000 + 15,000 + 16,000 + 32,000
    const r = c('custom', 'my-finetune', usage({ prompt_tokens: 6_000, cache_read_tokens: 2_000, cache_write_tokens: 3_000, completion_tokens: 5_000, reasoning_tokens: 4_000 }));
    expect(r.cost_known).toBe(true);
    expect(r.cost_usd).toBeCloseTo(69_000 / 1e6, 12);
  });

  it('inconsistent usage (cache counts above the prompt) never yields a negative cost', () => {
    const r = cost('openai', 'gpt-4o', usage({ prompt_tokens: 100, cache_read_tokens: 500, completion_tokens: 10, reasoning_tokens: 50 }));
    // Clamped to 100 cached × 1.25 + 10 × 10
    expect(r.cost_usd).toBeCloseTo((100 * 1.25 + 10 * 10) / 1e6, 12);
  });
});

describe('offline', () => {
  afterEach(() => vi.unstubAllGlobals());
  it('pricing never touches the network', () => {
    const fetchSpy = vi.fn(() => Promise.reject(new Error('no network')));
    vi.stubGlobal('fetch', fetchSpy);
    const fresh = createCoster({ overrides: {} });
    expect(fresh('openai', 'gpt-4o-mini', usage({ prompt_tokens: 10 })).cost_known).toBe(true);
    expect(fresh('custom', 'unknown/thing', usage({ prompt_tokens: 10 })).cost_known).toBe(false);
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});
