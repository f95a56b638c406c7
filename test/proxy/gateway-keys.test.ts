// Gateway layer II with the official SDKs: the article's three virtual keys (budgets, model allowlists, standing in
// for the provider key), revocation, rate limits in Helicone's grammar, and budgets that hold across two replicas
// sharing one real Redis (Debian's redis-server), restarts included.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../proxy/auth.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import type { TestRedis } from '../helpers/redis.ts';
import { startRedis } from '../helpers/redis.ts';
import { DOLLAR_BUDGET_YAML, DOLLAR_KEY } from '../fixtures/gateway/dollar-budget.ts';

const ARTICLE_KEYS = `
keys:
  - { id: team-billing, hash: ${hashKey('sk-team-billing')}, organization_id: acme, team: billing, budget: 200/month, models: [haiku, sonnet] }
  - { id: team-research, hash: ${hashKey('sk-team-research')}, organization_id: acme, team: research, budget: 5000/month, models: [opus, sonnet] }
  - { id: public-demo, hash: ${hashKey('sk-public-demo')}, organization_id: acme, team: demo, budget: 10/day, models: [haiku] }
models:
  - { name: haiku, model: anthropic/claude-haiku-4-5, api_key: k-ant }
  - { name: sonnet, model: anthropic/claude-sonnet-4-6, api_key: k-ant }
  - { name: opus, model: anthropic/claude-opus-4-1, api_key: k-ant }
admin:
  keys:
    - { id: root, hash: ${hashKey('sl-admin-root')} }
    - { id: globex-admin, hash: ${hashKey('sl-admin-globex')}, organization_id: globex }
prices:
  # The mock answers as claude-sonnet-4-5-20250929: 12 + 21 tokens at $1 each make a call cost $33.
  claude-sonnet-4-5-20250929: { input_per_mtok: 1000000, output_per_mtok: 1000000 }
`;

const hi = (model: string, extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {}): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming =>
  ({ model, messages: [{ role: 'user', content: `hi ${Math.random()}` }], ...extra });

describe('the article\'s virtual keys', () => {
  let gw: TestGateway;
  const client = (key: string) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });

  beforeAll(async () => {
    gw = await startTestGateway({ yaml: ARTICLE_KEYS, settle: true });
  });
  afterAll(() => gw.close());

  it('stand in for the provider key: the provider gets the configured key, the row the key\'s team', async () => {
    const done = await client('sk-team-billing').chat.completions.create(hi('sonnet'));
    expect(done.choices[0]!.message.content).toMatch(/^Hello!/);
    const upstream = gw.mock.requests.at(-1)!;
    expect(upstream.headers['x-api-key']).toBe('k-ant');
    expect(JSON.stringify(upstream.headers)).not.toContain('sk-team-billing');
    const row = (await gw.waitForEvents(1)).at(-1)!;
    expect(row).toMatchObject({ key_id: 'team-billing', team: 'billing', organization_id: 'acme', model_alias: 'sonnet' });
    expect(JSON.stringify(gw.events)).not.toContain('sk-team-billing');
  });

  it('refuses a model outside the key\'s allowlist with a 403 listing what it may call', async () => {
    const err = await client('sk-team-billing').chat.completions.create(hi('opus')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as Error).message).toMatch(/may not call "opus"; it may call: haiku, sonnet/);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_model_not_allowed');
    expect((await client('sk-team-research').chat.completions.create(hi('opus'))).choices).toHaveLength(1);
  });

  it('sk-public-demo → max $10/day: the call after the budget is spent is refused before any upstream call, saying budget, spend and reset', async () => {
    const demo = client('sk-public-demo');
    await demo.chat.completions.create(hi('haiku', { max_tokens: 21 }));
    const before = gw.mock.requests.length;
    // Settled by "ingest" a few ms after the row exists.
    let err: unknown;
    for (let i = 0; i < 50 && err === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      err = await demo.chat.completions.create(hi('haiku', { max_tokens: 21 })).then(() => undefined, (e: unknown) => e);
    }
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiErr.code).toBe('sightline_budget_exceeded');
    expect(apiErr.message).toMatch(/Budget of key "public-demo" exceeded: \$10\.00\/day, spent \$33\.00; resets \d{4}-\d\d-\d\dT00:00:00\.000Z/);
    expect(Number(apiErr.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect(gw.mock.requests.length).toBe(before);
    const row = (await gw.waitForEvents(gw.written.length)).at(-1)!;
    expect(row).toMatchObject({ status: 429, error_code: 'sightline_budget_exceeded', key_id: 'public-demo', cost_usd: 0 });
  });

  it('warns as a budget passes its thresholds, in a header and in /_sightline/metrics', async () => {
    const research = client('sk-team-research');
    // Three calls of $33 against $5000 stay under 50 %; the header is absent.
    const { response } = await research.chat.completions.create(hi('sonnet')).withResponse();
    expect(response.headers.get('sightline-budget-warning')).toBeNull();
    const metrics = await (await fetch(`${gw.url}/_sightline/metrics`)).text();
    expect(metrics).toMatch(/sightline_budget_used_ratio\{scope="key:team-research"\} 0\.0\d+/);
    expect(metrics).toMatch(/sightline_budget_refused_total\{scope="key:public-demo"\} 1/);
  });

  it('revoking a runtime key takes effect within the refresh, and an unknown sl- key is a 401', async () => {
    const { key, secret } = await gw.proxy.keys.create({ organization_id: 'acme', team: 'ops', models: ['haiku'] });
    expect(secret).toMatch(/^sl-/);
    expect((await client(secret).chat.completions.create(hi('haiku'))).choices).toHaveLength(1);
    await gw.proxy.keys.revoke(key.id);
    const err = await client(secret).chat.completions.create(hi('haiku')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as Error).message).toMatch(/has been revoked/);
    const unknown = await client('sl-not-a-key').chat.completions.create(hi('haiku')).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('manages keys over the admin API: created with the secret shown once, spend shown, a budget change applied, scoped by organisation', async () => {
    const api = (method: string, path: string, key: string | undefined, body?: unknown) => fetch(`${gw.url}/_sightline/api${path}`, {
      method, headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect((await api('GET', '/keys', 'sl-admin-wrong')).status).toBe(401);
    const bad = await api('POST', '/keys', 'sl-admin-root', { organization_id: 'acme', budget: 'lots' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toMatch(/budget: expected <usd>\/<day\|week\|month>/);
    const created = await api('POST', '/keys', 'sl-admin-root', { id: 'ml-bot', organization_id: 'acme', team: 'ml', budget: '1000/day', models: ['haiku'], metadata: { owner: 'ana' } });
    expect(created.status).toBe(201);
    const { secret, ...shown } = await created.json() as { secret: string; hash?: string };
    expect(secret).toMatch(/^sl-/);
    expect(shown.hash).toBeUndefined();
    await client(secret).chat.completions.create(hi('haiku', { max_tokens: 21 }));
    await new Promise((r) => setTimeout(r, 100));
    const one = await (await api('GET', '/keys/ml-bot', 'sl-admin-root')).json() as { spend: { spent_usd: number; limit_usd: number; period: string } ; metadata: Record<string, string> };
    expect(one.spend).toMatchObject({ spent_usd: 33, limit_usd: 1000 });
    expect(one.spend.period).toMatch(/^day:\d{4}-\d\d-\d\d$/);
    expect(one.metadata).toEqual({ owner: 'ana' });
    // Lower the budget below what is spent: the next call is refused.
    expect((await api('PATCH', '/keys/ml-bot', 'sl-admin-root', { budget: '10/day' })).status).toBe(200);
    const refused = await client(secret).chat.completions.create(hi('haiku', { max_tokens: 21 })).catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_budget_exceeded');
    // An organisation's admin key sees and makes only its organisation's keys.
    expect((await api('GET', '/keys/ml-bot', 'sl-admin-globex')).status).toBe(404);
    expect((await api('POST', '/keys', 'sl-admin-globex', { organization_id: 'acme' })).status).toBe(403);
    const listed = await (await api('GET', '/keys', 'sl-admin-globex')).json() as { data: unknown[] };
    expect(listed.data).toEqual([]);
    expect((await api('DELETE', '/keys/ml-bot', 'sl-admin-root')).status).toBe(200);
    expect(await client(secret).chat.completions.create(hi('haiku')).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('takes Helicone\'s rate-limit grammar per request: 429 with retry-after and the RateLimit headers, and a 400 for a bad policy', async () => {
    const research = client('sk-team-research');
    const headers = { 'Helicone-RateLimit-Policy': '3;w=60;u=request;s=user', 'Helicone-User-Id': `u-${Math.random()}` };
    for (let i = 0; i < 3; i++) {
      const { response } = await research.chat.completions.create(hi('sonnet'), { headers }).withResponse();
      expect(response.headers.get('ratelimit')).toBe(`limit=3, remaining=${2 - i}, reset=${response.headers.get('ratelimit')!.split('reset=')[1]}`);
      expect(response.headers.get('helicone-ratelimit-remaining')).toBe(String(2 - i));
      expect(response.headers.get('ratelimit-policy')).toBe('3;w=60');
    }
    const err = await research.chat.completions.create(hi('sonnet'), { headers }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiErr.code).toBe('sightline_rate_limited');
    expect(Number(apiErr.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect(apiErr.headers?.get('helicone-ratelimit-remaining')).toBe('0');
    const bad = await research.chat.completions.create(hi('sonnet'), { headers: { 'Sightline-RateLimit-Policy': '3;w=sixty' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as Error).message).toMatch(/Header Sightline-RateLimit-Policy: w=sixty must be a window in whole seconds.*1000;w=3600;u=request;s=user/i);
  });
});

describe('budgets across two replicas sharing one Redis', () => {
  let redis: TestRedis;
  const gateways: TestGateway[] = [];
  const start = () => startTestGateway({ yaml: DOLLAR_BUDGET_YAML, env: { REDIS_URL: redis.url }, settle: true });

  beforeAll(async () => {
    redis = await startRedis();
    gateways.push(await start(), await start());
  });
  afterAll(async () => {
    for (const g of gateways) await g.close();
    await redis.stop();
  });

  it('32 concurrent callers spend the $1 budget and at most one call past it', async () => {
    const clients = gateways.map((g) => new OpenAI({ baseURL: `${g.url}/v1`, apiKey: DOLLAR_KEY, maxRetries: 0 }));
    let refusedSpent = 0;
    const caller = async (i: number) => {
      const c = clients[i % 2]!;
      let waits = 0;
      for (;;) {
        const r = await c.chat.completions.create(hi('haiku', { max_tokens: 21 })).then(() => 'ok', (e: unknown) => e);
        if (r === 'ok') continue;
        const msg = (r as Error).message;
        // Refused while others were in flight: their settlement may leave room, so try again shortly.
        if (/in flight/.test(msg) && ++waits < 2000) {
          await new Promise((res) => setTimeout(res, 10));
          continue;
        }
        expect(msg).toMatch(/sightline|Budget/);
        refusedSpent = Number(/spent \$([\d.]+)/.exec(msg)?.[1] ?? NaN);
        return;
      }
    };
    await Promise.all(Array.from({ length: 32 }, (_, i) => caller(i)));
    await new Promise((r) => setTimeout(r, 100));
    const rows = gateways.flatMap((g) => g.events).filter((r) => r.key_id === 'shared-dollar' && r.status === 200);
    const perCall = rows[0]!.cost_usd;
    expect(perCall).toBeCloseTo(0.033, 6);
    const total = rows.reduce((a, r) => a + r.cost_usd, 0);
    expect(rows.filter((r) => gateways[0]!.events.includes(r)).length).toBeGreaterThan(0);
    expect(rows.filter((r) => gateways[1]!.events.includes(r)).length).toBeGreaterThan(0);
    expect(total).toBeGreaterThanOrEqual(1);
    expect(total).toBeLessThanOrEqual(1 + 2 * perCall);
    expect(refusedSpent).toBeGreaterThanOrEqual(1);
  });

  it('keeps the spend when a replica restarts, and when Redis itself restarts (AOF)', async () => {
    await gateways[0]!.close();
    gateways[0] = await start();
    const c = new OpenAI({ baseURL: `${gateways[0]!.url}/v1`, apiKey: DOLLAR_KEY, maxRetries: 0 });
    const err = await c.chat.completions.create(hi('haiku', { max_tokens: 21 })).catch((e: unknown) => e);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_budget_exceeded');
    await redis.stop(true);
    await redis.restart();
    await new Promise((r) => setTimeout(r, 2500)); // ioredis reconnects
    const again = await c.chat.completions.create(hi('haiku', { max_tokens: 21 })).catch((e: unknown) => e);
    expect((again as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_budget_exceeded');
  });

  it('a key created on one replica works on the other, and its revocation reaches it within seconds', async () => {
    const { key, secret } = await gateways[0]!.proxy.keys.create({ organization_id: 'acme', team: 'ops' });
    const other = new OpenAI({ baseURL: `${gateways[1]!.url}/v1`, apiKey: secret, maxRetries: 0 });
    const started = Date.now();
    let ok: unknown;
    while (ok === undefined && Date.now() - started < 5000) {
      ok = await other.chat.completions.create(hi('haiku')).catch(() => undefined);
      if (ok === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok).toBeDefined();
    await gateways[0]!.proxy.keys.revoke(key.id);
    const revokedAt = Date.now();
    let refused: unknown;
    while (refused === undefined && Date.now() - revokedAt < 5000) {
      refused = await other.chat.completions.create(hi('haiku')).then(() => undefined, (e: unknown) => e);
      if (refused === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(Date.now() - revokedAt).toBeLessThan(5000);
  });

  it('with Redis down: budgets fail closed at once, rate limits fail open, never a hang', async () => {
    await redis.stop();
    const c = new OpenAI({ baseURL: `${gateways[1]!.url}/v1`, apiKey: DOLLAR_KEY, maxRetries: 0 });
    const t0 = performance.now();
    const err = await c.chat.completions.create(hi('haiku', { max_tokens: 21 })).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('sightline_budget_unavailable');
    const anonymous = new OpenAI({ baseURL: `${gateways[1]!.url}/v1`, apiKey: 'provider-key', maxRetries: 0 });
    const passed = await anonymous.chat.completions.create(hi('haiku'), { headers: { 'Sightline-RateLimit-Policy': '1;w=60' } });
    expect(passed.choices).toHaveLength(1);
    const metrics = await (await fetch(`${gateways[1]!.url}/_sightline/metrics`)).text();
    expect(metrics).toMatch(/sightline_redis_failures_total\{use="rate_limit"\} [1-9]/);
    await redis.restart();
  });
});

describe('team and organisation budgets, configured rate limits, tokens per minute', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      settle: true,
      yaml: `
keys:
  - { id: ml-1, hash: ${hashKey('sk-ml-1')}, organization_id: acme, team: ml }
  - { id: ml-2, hash: ${hashKey('sk-ml-2')}, organization_id: acme, team: ml }
  - { id: tok, hash: ${hashKey('sk-tok')}, organization_id: initech, tpm: 40 }
  - { id: globex-1, hash: ${hashKey('sk-globex-1')}, organization_id: globex }
  - { id: umbrella-1, hash: ${hashKey('sk-umbrella-1')}, organization_id: umbrella }
models:
  - { name: haiku, model: anthropic/claude-haiku-4-5, api_key: k-ant }
  - { name: sonnet, model: anthropic/claude-sonnet-4-6, api_key: k-ant }
budgets:
  teams: { acme/ml: 40/week }
  organizations: { globex: 10/month }
rate_limits: ["3;w=60;u=request;s=model"]
prices:
  claude-sonnet-4-5-20250929: { input_per_mtok: 1000000, output_per_mtok: 1000000 }
`,
    });
  });
  afterAll(() => gw.close());
  const as = (key: string) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
  const settledFor = async (n: number) => {
    await gw.waitForEvents(n);
    await new Promise((r) => setTimeout(r, 50));
  };

  it('a team\'s budget is shared by its keys, an organisation\'s by everyone in it', async () => {
    await as('sk-ml-1').chat.completions.create(hi('haiku', { max_tokens: 21 }));
    await settledFor(gw.written.length);
    // $33 of $40: the team's other key may start one more call, which takes the team past it, and says 80 % is used…
    const { response } = await as('sk-ml-2').chat.completions.create(hi('sonnet', { max_tokens: 21 })).withResponse();
    expect(response.headers.get('sightline-budget-warning')).toMatch(/^80% of team "ml" of "acme"'s \$40\.00\/week used \(\$33\.00\); resets /);
    await settledFor(gw.written.length);
    // …and then neither key may.
    for (const key of ['sk-ml-1', 'sk-ml-2']) {
      const err = await as(key).chat.completions.create(hi('haiku', { max_tokens: 21 })).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/Budget of team "ml" of "acme" exceeded: \$40\.00\/week, spent \$66\.00/);
    }
    await as('sk-globex-1').chat.completions.create(hi('haiku', { max_tokens: 21 }));
    await settledFor(gw.written.length);
    const err = await as('sk-globex-1').chat.completions.create(hi('sonnet', { max_tokens: 21 })).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/Budget of organisation "globex" exceeded/);
  });

  it('counts tokens per minute once calls settle, and a configured policy per model for each organisation', async () => {
    const tok = as('sk-tok');
    await tok.chat.completions.create(hi('haiku', { max_tokens: 21 }));
    await settledFor(gw.written.length);
    // 33 of the key's 40 tokens a minute are used: the next call may start, and takes it past.
    await tok.chat.completions.create(hi('haiku', { max_tokens: 21 }));
    await settledFor(gw.written.length);
    const overTokens = await tok.chat.completions.create(hi('haiku', { max_tokens: 21 })).catch((e: unknown) => e);
    expect((overTokens as Error).message).toMatch(/Rate limit 40;w=60;u=token;s=key reached \(per key\)/);

    const umbrella = as('sk-umbrella-1');
    for (let i = 0; i < 3; i++) await umbrella.chat.completions.create(hi('haiku'));
    const perModel = await umbrella.chat.completions.create(hi('haiku')).catch((e: unknown) => e);
    expect((perModel as Error).message).toMatch(/Rate limit 3;w=60;u=request;s=model reached \(per model\)/);
    // Another model is another segment.
    expect((await umbrella.chat.completions.create(hi('sonnet'))).choices).toHaveLength(1);
  });
});
