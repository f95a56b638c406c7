// Every priced dimension a response reports, from the provider's wire JSON through the ledger's assembly to
// cost_usd. Expected costs are worked out by hand from the published USD-per-million-token prices written in
// each case, not read back from the price data.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Endpoint, ProviderId, RequestEvent } from '../contracts/event.ts';
import { ConfigSchema } from '../config/index.ts';
import { openAiRealtimeUsage } from '../providers/openai.ts';
import { makeExchange } from '../test/helpers/events.ts';
import { assembleEvent } from './assemble.ts';
import { createCoster } from './cost.ts';
import { activePriceVersion, BUNDLED_PRICE_VERSION, costerFromConfig, fetchLatestPriceData, loadPriceData, providersOfBundle, writePriceData } from './prices.ts';

const listPrices = createCoster({ overrides: {}, priceVersion: BUNDLED_PRICE_VERSION });

function row(provider: ProviderId, endpoint: Endpoint, body: unknown, overrides: { organization_id?: string; cost?: typeof listPrices } = {}): RequestEvent {
  const ex = makeExchange({ body: Buffer.from(JSON.stringify(body)), contentType: 'application/json' }, { provider, endpoint, organization_id: overrides.organization_id ?? 'org_acme' });
  return assembleEvent(ex, { cost: overrides.cost ?? listPrices, maxLoggedBodyBytes: 1 << 20 });
}

const anthropicBody = (usage: Record<string, unknown>) => ({
  id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', stop_reason: 'end_turn',
  content: [{ type: 'text', text: 'ok' }], usage,
});

const geminiBody = (model: string, text: string, usageMetadata: Record<string, unknown>) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: model,
});

describe('Anthropic cache writes by TTL', () => {
  it('1-hour writes at $6, 5-minute writes at $3.75 (claude-sonnet-4-5)', () => {
    const r = row('anthropic', 'messages', anthropicBody({
      input_tokens: 1000, cache_read_input_tokens: 0, cache_creation_input_tokens: 3000, output_tokens: 100,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 }, service_tier: 'standard',
    }));
    expect(r).toMatchObject({ prompt_tokens: 4000, cache_write_tokens: 3000, cache_write_1h_tokens: 2000, service_tier: 'standard', price_version: BUNDLED_PRICE_VERSION });
    // 1,000 × 3 + 1,000 × 3.75 + 2,000 × 6 + 100 × 15
    expect(r.cost_usd).toBeCloseTo((3000 + 3750 + 12_000 + 1500) / 1e6, 12);
  });

  it('without the TTL split every write is a 5-minute one', () => {
    const r = row('anthropic', 'messages', anthropicBody({ input_tokens: 1000, cache_creation_input_tokens: 3000, output_tokens: 100 }));
    expect(r.cache_write_1h_tokens).toBe(0);
    expect(r.cost_usd).toBeCloseTo((3000 + 3000 * 3.75 + 1500) / 1e6, 12);
  });
});

describe('audio and image tokens', () => {
  it('gpt-realtime: text, audio, cached audio and audio output each at their rate', () => {
    // input 3,000 = 1,000 text + 2,000 audio, of which 500 cached (all audio); output 1,000 = 800 audio + 200 text.
    const u = openAiRealtimeUsage({
      input_tokens: 3000, output_tokens: 1000,
      input_token_details: { text_tokens: 1000, audio_tokens: 2000, cached_tokens: 500, cached_tokens_details: { text_tokens: 0, audio_tokens: 500 } },
      output_token_details: { text_tokens: 200, audio_tokens: 800 },
    })!;
    expect(u).toMatchObject({ input_audio_tokens: 2000, cache_audio_read_tokens: 500, output_audio_tokens: 800, cache_read_tokens: 500 });
    // 1,000 × 4 + 1,500 × 32 + 500 × 0.40 + 200 × 16 + 800 × 64
    expect(listPrices('openai', 'gpt-realtime', u).cost_usd).toBeCloseTo((4000 + 48_000 + 200 + 3200 + 51_200) / 1e6, 12);
  });

  it('gemini-2.5-flash: audio input at $1, text at $0.30, from promptTokensDetails', () => {
    const r = row('gemini', 'generate', geminiBody('gemini-2.5-flash', 'ok', {
      promptTokenCount: 1500, candidatesTokenCount: 100, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 500 }, { modality: 'AUDIO', tokenCount: 1000 }],
    }));
    expect(r.input_audio_tokens).toBe(1000);
    expect(r.cost_usd).toBeCloseTo((500 * 0.3 + 1000 * 1 + 100 * 2.5) / 1e6, 12);
  });

  it('gemini-2.5-flash-image: image output at $30, text output at $2.50', () => {
    const r = row('gemini', 'generate', geminiBody('gemini-2.5-flash-image', 'here', {
      promptTokenCount: 100, candidatesTokenCount: 1310, candidatesTokensDetails: [{ modality: 'IMAGE', tokenCount: 1290 }, { modality: 'TEXT', tokenCount: 20 }],
    }));
    expect(r.output_image_tokens).toBe(1290);
    expect(r.cost_usd).toBeCloseTo((100 * 0.3 + 1290 * 30 + 20 * 2.5) / 1e6, 12);
  });

  it('gpt-image-1: image input at $10, text input at $5 (Responses-shaped usage)', () => {
    const r = row('openai', 'responses', {
      object: 'response', id: 'resp_1', model: 'gpt-image-1', status: 'completed', output: [],
      usage: { input_tokens: 1100, output_tokens: 0, input_tokens_details: { text_tokens: 100, image_tokens: 1000, cached_tokens: 0 } },
    });
    expect(r.input_image_tokens).toBe(1000);
    expect(r.cost_usd).toBeCloseTo((100 * 5 + 1000 * 10) / 1e6, 12);
  });

  it('a detail count above its total is clamped, never billed twice', () => {
    const u = openAiRealtimeUsage({ input_tokens: 100, output_tokens: 10, input_token_details: { audio_tokens: 5000 }, output_token_details: { audio_tokens: 99 } })!;
    expect(u).toMatchObject({ input_audio_tokens: 100, output_audio_tokens: 10 });
    expect(listPrices('openai', 'gpt-realtime', u).cost_usd).toBeCloseTo((100 * 32 + 10 * 64) / 1e6, 12);
  });
});

describe('service tiers and batches', () => {
  const tiered = costerFromConfig(ConfigSchema.parse({ data_dir: mkdtempSync(path.join(tmpdir(), 'sl-prices-')) }));
  const chat = (tier: string) => ({
    id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o-mini-2024-07-18', service_tier: tier,
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1000, completion_tokens: 100 },
  });
  const standard = (1000 * 0.15 + 100 * 0.6) / 1e6;

  it.each([['flex', 0.5], ['priority', 1], ['default', 1]] as const)('OpenAI %s is recorded and priced at %s × the standard rates', (tier, factor) => {
    const r = row('openai', 'chat', chat(tier), { cost: tiered });
    expect(r.service_tier).toBe(tier);
    expect(r.cost_usd).toBeCloseTo(standard * factor, 12);
  });

  it('an OpenAI Batch API output file downloaded through the proxy: usage summed over its lines, at half price', () => {
    const line = (i: number) => JSON.stringify({
      id: `batch_req_${i}`, custom_id: `task-${i}`, error: null,
      response: { status_code: 200, request_id: `req_${i}`, body: { ...chat('default'), id: `chatcmpl-${i}` } },
    });
    const jsonl = `${[1, 2, 3].map(line).join('\n')}\n`;
    const ex = makeExchange({ body: Buffer.from(jsonl), contentType: 'application/octet-stream' }, { endpoint: 'other', path: '/v1/files/file-abc/content', method: 'GET', model: '' });
    const r = assembleEvent(ex, { cost: tiered, maxLoggedBodyBytes: 1 << 20 });
    expect(r).toMatchObject({ service_tier: 'batch', prompt_tokens: 3000, completion_tokens: 300, response_model: 'gpt-4o-mini-2024-07-18', error_type: '', response_body: jsonl });
    expect(r.cost_usd).toBeCloseTo(3 * standard * 0.5, 12);
  });

  it('Anthropic Message Batches results: succeeded lines summed, errored ones cost nothing, at half price', () => {
    const ok = (i: number) => JSON.stringify({ custom_id: `r${i}`, result: { type: 'succeeded', message: anthropicBody({ input_tokens: 1000, output_tokens: 100, service_tier: 'batch' }) } });
    const failed = JSON.stringify({ custom_id: 'r9', result: { type: 'errored', error: { type: 'invalid_request_error' } } });
    const ex = makeExchange({ body: Buffer.from([ok(1), ok(2), failed].join('\n')), contentType: 'application/binary' }, { provider: 'anthropic', endpoint: 'other', path: '/v1/messages/batches/msgbatch_1/results', method: 'GET', model: '' });
    const r = assembleEvent(ex, { cost: tiered, maxLoggedBodyBytes: 1 << 20 });
    expect(r).toMatchObject({ service_tier: 'batch', prompt_tokens: 2000, completion_tokens: 200, response_model: 'claude-sonnet-4-5-20250929' });
    expect(r.cost_usd).toBeCloseTo((2000 * 3 + 200 * 15) / 1e6 * 0.5, 12);
  });

  it('a message answered in Anthropic\'s batch tier says so in its usage, and is discounted too', () => {
    const r = row('anthropic', 'messages', anthropicBody({ input_tokens: 1000, output_tokens: 100, service_tier: 'batch' }), { cost: tiered });
    expect(r.cost_usd).toBeCloseTo((1000 * 3 + 100 * 15) / 1e6 * 0.5, 12);
  });

  it('a file that is not a batch result is an ordinary download: no usage, no cost', () => {
    const ex = makeExchange({ body: Buffer.from('{"a":1}\n{"b":2}\n'), contentType: 'application/octet-stream' }, { endpoint: 'other', path: '/v1/files/file-x/content', method: 'GET', model: '' });
    expect(assembleEvent(ex, { cost: tiered, maxLoggedBodyBytes: 1 << 20 })).toMatchObject({ prompt_tokens: 0, cost_usd: 0, service_tier: '', error_type: '' });
  });

  it('tier factors are configurable', () => {
    const cfg = ConfigSchema.parse({ data_dir: mkdtempSync(path.join(tmpdir(), 'sl-prices-')), pricing: { tier_factors: { openai: { priority: 2 } } } });
    expect(row('openai', 'chat', chat('priority'), { cost: costerFromConfig(cfg) }).cost_usd).toBeCloseTo(standard * 2, 12);
    expect(row('openai', 'chat', chat('flex'), { cost: costerFromConfig(cfg) }).cost_usd).toBeCloseTo(standard, 12);
  });
});

describe('negotiated prices per organisation', () => {
  const config = ConfigSchema.parse({
    data_dir: mkdtempSync(path.join(tmpdir(), 'sl-prices-')),
    prices: { 'gpt-4o-mini': { input_per_mtok: 0.1, output_per_mtok: 0.4 } },
    pricing: { organizations: { org_big: { 'claude-sonnet-4-5': { input_per_mtok: 2, output_per_mtok: 10, cache_write_per_mtok: 2.5, cache_write_1h_per_mtok: 4 } } } },
  });
  const cost = costerFromConfig(config);
  const body = anthropicBody({ input_tokens: 1000, cache_creation_input_tokens: 2000, output_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 1000 } });

  it('the organisation with a contract pays its rates, under a price_version naming them', () => {
    const r = row('anthropic', 'messages', body, { organization_id: 'org_big', cost });
    expect(r.cost_usd).toBeCloseTo((1000 * 2 + 1000 * 2.5 + 1000 * 4 + 100 * 10) / 1e6, 12);
    expect(r.price_version).toMatch(/^override:[0-9a-f]{12}$/);
  });

  it('every other organisation pays list prices', () => {
    const r = row('anthropic', 'messages', body, { organization_id: 'org_small', cost });
    expect(r.cost_usd).toBeCloseTo((1000 * 3 + 1000 * 3.75 + 1000 * 6 + 100 * 15) / 1e6, 12);
    expect(r.price_version).toBe(BUNDLED_PRICE_VERSION);
  });

  it('the shared overrides still apply to an organisation with its own table', () => {
    const u = { prompt_tokens: 1_000_000, completion_tokens: 1_000_000, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };
    expect(cost('openai', 'gpt-4o-mini', u, Date.now(), 'org_big').cost_usd).toBeCloseTo(0.5, 12);
    expect(cost('openai', 'gpt-4o-mini', u, Date.now(), 'org_small').cost_usd).toBeCloseTo(0.5, 12);
  });
});

describe('price data updated without a release', () => {
  it('a price-data file replaces the bundled data, and its version lands in price_version', () => {
    // The bundled data itself, taken out of the package the way `sightline prices update` takes a downloaded one,
    // with one price changed.
    const require = createRequire(import.meta.url);
    const bundle = readFileSync(path.join(path.dirname(require.resolve('@pydantic/genai-prices')), 'index.js'), 'utf8');
    const providers = providersOfBundle(bundle) as { id: string; models: { id: string; prices: Record<string, unknown> }[] }[];
    const openai = providers.find((p) => p.id === 'openai')!;
    const mini = openai.models.find((m) => m.id === 'gpt-4o-mini')!;
    expect(mini.prices).toMatchObject({ input_mtok: 0.15, output_mtok: 0.6 });
    mini.prices = { input_mtok: 1, output_mtok: 2 };
    const dir = mkdtempSync(path.join(tmpdir(), 'sl-prices-'));
    writePriceData(path.join(dir, 'prices.json'), { version: 'genai-prices@9.9.9-test', providers: providers as never });

    // <data_dir>/prices.json is found without naming it.
    const cost = costerFromConfig(ConfigSchema.parse({ data_dir: dir }));
    expect(activePriceVersion()).toBe('genai-prices@9.9.9-test');
    const u = { prompt_tokens: 1_000_000, completion_tokens: 1_000_000, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };
    expect(cost('openai', 'gpt-4o-mini', u)).toEqual({ cost_usd: 3, cost_known: true, price_version: 'genai-prices@9.9.9-test' });
    // Models the file did not change keep their prices.
    expect(cost('openai', 'gpt-4o', u).cost_usd).toBeCloseTo(12.5, 9);
  });

  it('a file that is not price data is refused with its name', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sl-prices-'));
    writePriceData(path.join(dir, 'bad.json'), { version: 'x', providers: [] } as never);
    expect(() => loadPriceData(path.join(dir, 'bad.json'))).toThrow(/bad\.json/);
  });
});

describe('sightline prices update: the newest package from an npm registry', () => {
  it('reads the packument, downloads the tarball and takes the data out of its bundle', async () => {
    // A registry of one package: the installed @pydantic/genai-prices, packed as npm publishes it.
    const require = createRequire(import.meta.url);
    const pkgDir = path.join(path.dirname(require.resolve('@pydantic/genai-prices')), '..');
    const packDir = mkdtempSync(path.join(tmpdir(), 'sl-pack-'));
    const packed = execFileSync('npm', ['pack', pkgDir, '--pack-destination', packDir, '--silent', '--ignore-scripts'], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
    const tarball = readFileSync(path.join(packDir, packed));
    const version = (JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
    const server = createServer((req, res) => {
      if (req.url === '/@pydantic/genai-prices/latest') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ name: '@pydantic/genai-prices', version, dist: { tarball: `http://127.0.0.1:${(server.address() as AddressInfo).port}/t.tgz` } }));
      } else if (req.url === '/t.tgz') res.end(tarball);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const data = await fetchLatestPriceData(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      expect(data.version).toBe(`genai-prices@${version}`);
      const openai = data.providers.find((p) => p.id === 'openai') as { models: { id: string; prices: unknown }[] } | undefined;
      expect(openai?.models.find((m) => m.id === 'gpt-4o-mini')?.prices).toMatchObject({ input_mtok: 0.15, output_mtok: 0.6 });
      expect(data.providers.length).toBeGreaterThan(20);
    } finally {
      server.close();
    }
  });

  it('a registry error is an error, not empty price data', async () => {
    const server = createServer((_req, res) => res.writeHead(503).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await expect(fetchLatestPriceData(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)).rejects.toThrow(/HTTP 503/);
    } finally {
      server.close();
    }
  });
});
