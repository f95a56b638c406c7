// Production mode end to end, every stage its own process: `sightline start` (proxy → spool → forwarder →
// Kafka), a real Kafka broker, `sightline ingest` (Kafka consumer group → redact → ClickHouse over HTTP) and a
// ClickHouse server process. Then the faults: the broker SIGKILLed while requests flow, and the ingest worker
// SIGKILLed in the middle of a backlog; every request the proxy acknowledged is stored exactly once.
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCoster } from '../../ledger/cost.ts';
import { loadFixture } from '../fixtures/index.ts';
import type { ProductionStack } from '../helpers/production-stack.ts';
import { startProductionStack } from '../helpers/production-stack.ts';
import { eventually, queryRows } from '../helpers/processes.ts';
import { countRequests, expectExactlyOnce, sendRequests, startTraffic } from '../helpers/traffic.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cost = createCoster({ overrides: {} });

// Fault tests kill the local broker; an external cluster (KAFKA_BROKERS) cannot be killed from here.
describe.skipIf(process.env.KAFKA_BROKERS)('production mode: Kafka bus, ClickHouse server', { timeout: 150_000 }, () => {
  let stack: ProductionStack;
  /** Every request the proxy acknowledged in this file, across tests: all of them must be stored exactly once. */
  const acknowledged: string[] = [];

  beforeAll(async () => {
    const t0 = Date.now();
    stack = await startProductionStack();
    console.log(`production stack up in ${Date.now() - t0} ms`);
  }, 120_000);
  beforeEach(({ onTestFailed }) => onTestFailed(() => console.log(stack.logs())));
  afterAll(async () => {
    const codes = await stack?.stop();
    expect(codes).toEqual({ gateway: 0, ingest: 0 });
  }, 60_000);

  it('an OpenAI SDK call travels proxy → Kafka → ingest → ClickHouse as a redacted, costed row', async () => {
    const client = new OpenAI({ apiKey: 'sk-proj-kafkasecretkafkasecret', baseURL: `${stack.proxyUrl}/openai/v1`, defaultHeaders: { 'Sightline-User-Id': 'bob' } });
    const sent = Date.now();
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Write to jane.roe@example.org, card 4111 1111 1111 1111' }] })
      .withResponse();
    const id = response.headers.get('sightline-id')!;
    acknowledged.push(id);
    const [row] = await eventually(
      () => queryRows<Record<string, unknown>>(stack.ch, `SELECT * FROM sightline.requests FINAL WHERE request_id = '${id}'`),
      (rows) => rows.length === 1,
      30_000,
    );
    console.log(`first row visible after ${Date.now() - sent} ms (includes topic auto-creation)`);
    const usage = loadFixture('openai', 'chat.json').expect.usage!;
    expect(row).toMatchObject({
      provider: 'openai', model: 'gpt-4o-mini', response_model: 'gpt-4o-mini-2024-07-18', endpoint: 'chat', status: 200, user_id: 'bob',
      prompt_tokens: String(usage.prompt_tokens), completion_tokens: String(usage.completion_tokens), tokens_estimated: false, cost_known: true,
    });
    expect(Number(row!.cost_usd)).toBeCloseTo(cost('openai', 'gpt-4o-mini-2024-07-18', usage).cost_usd, 12);
    const body = String(row!.request_body);
    expect(body).toContain('[EMAIL_1]');
    expect(body).not.toContain('jane.roe@example.org');
    expect(body).toContain('[CREDIT_CARD_1]');
    expect(body).not.toContain('4111 1111 1111 1111');
    expect(JSON.stringify(row)).not.toContain('kafkasecret');
    expect(await countRequests(stack.ch)).toBe(1);
  });

  it('broker SIGKILLed while requests flow: the proxy keeps answering, and every acknowledged request is stored exactly once', async () => {
    const traffic = startTraffic(stack.proxyUrl, { concurrency: 2, pauseMs: 50 });
    await traffic.waitForMore(50);
    const mark = stack.gateway.output().length;
    stack.kafka.kill();
    const killedAt = Date.now();
    // The forwarder must notice (otherwise the broker was not really gone).
    await eventually(async () => stack.gateway.output().slice(mark), (out) => /Kafka unavailable/.test(out), 20_000);
    await sleep(Math.max(0, killedAt + 5000 - Date.now()));
    const restartAt = Date.now();
    await stack.kafka.restart();
    const brokerBackAt = Date.now();
    await traffic.waitForMore(50);
    const ids = await traffic.stop();
    expect(traffic.failures).toEqual([]);
    const duringOutage = traffic.acked.filter((a) => a.at > killedAt && a.at < brokerBackAt).length;
    console.log(`broker down ${brokerBackAt - killedAt} ms (restart took ${brokerBackAt - restartAt} ms); ${duringOutage} of ${ids.length} requests answered meanwhile`);
    // 2 workers pausing 50 ms answer ~30 requests a second when healthy: over 5 s of outage that is far more than 50.
    expect(duringOutage).toBeGreaterThan(50);
    acknowledged.push(...ids);
    const t = Date.now();
    const { rawRows } = await expectExactlyOnce(stack.ch, acknowledged, 120_000);
    console.log(`all ${acknowledged.length} stored ${Date.now() - t} ms after traffic stopped; ${rawRows} physical rows before merges`);
  });

  it('ingest SIGKILLed in the middle of a backlog and restarted: every acknowledged request is stored exactly once', async () => {
    await expectExactlyOnce(stack.ch, acknowledged, 30_000);
    const before = acknowledged.length;
    // Freeze the worker so a backlog builds up in Kafka, then let it go and kill it as the first rows land.
    stack.ingest.kill('SIGSTOP');
    const backlog = await sendRequests(stack.proxyUrl, 600, 8);
    stack.ingest.kill('SIGCONT');
    await eventually(() => countRequests(stack.ch), (n) => n > before, 30_000);
    stack.ingest.kill('SIGKILL');
    await stack.ingest.exited;
    const storedAtKill = await countRequests(stack.ch);
    console.log(`ingest killed with ${storedAtKill - before} of ${backlog.length} backlog rows stored`);
    // The kill landed inside the backlog, not before or after it.
    expect(storedAtKill).toBeGreaterThan(before);
    expect(storedAtKill).toBeLessThan(before + backlog.length);
    // Requests keep coming while no worker runs.
    const whileDown = await sendRequests(stack.proxyUrl, 100, 4);
    const t = Date.now();
    await stack.startIngest();
    acknowledged.push(...backlog, ...whileDown);
    const { rawRows } = await expectExactlyOnce(stack.ch, acknowledged, 120_000);
    console.log(`restarted ingest stored all ${acknowledged.length} ${Date.now() - t} ms after respawn; ${rawRows} physical rows before merges`);
  });
});
