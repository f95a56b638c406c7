// The gateway's cost on the request path (issue #15), the proxy alone on the target core: CPU per request of alias
// routing and of translation (1 KiB chat, each direction) over plain pass-through, at c=16 under wrk; the time to
// first byte of a translated stream against a passed-through one, one stream at a time; and what a fallback after a
// fast 5xx adds beyond its two attempts, at c=1. Every variant runs in the same Sightline process, round-robin.
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchContext, Measured } from './context.ts';
import { chatBody, f, measureLoad, withTarget } from './context.ts';
import { timedStream } from '../lib/sse.ts';
import { median, medianOf } from '../lib/stats.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, verdict } from './targets.ts';

const CONNECTIONS = 16;
const BYTES = 1024;
export const GATEWAY_TARGETS = { routingUs: 30, translationUs: 80, streamFirstByteMs: 0.2, fallbackMs: 1 } as const;

const MODELS = (upstream: string) => `
models:
  - { name: fast, model: openai/gpt-4o-mini, api_key: bench-openai }
  - { name: claude, model: anthropic/claude-sonnet-4-6, api_key: bench-anthropic }
  - { name: failing, model: openai/gpt-4o-mini, api_key: bench-openai, api_base: "${upstream}/_bench/fail/v1" }
  - { name: falls-back, model: openai/gpt-4o-mini, api_key: bench-openai, api_base: "${upstream}/_bench/fail/v1" }
router:
  fallback_on: [500]
  fallbacks: [{ falls-back: [fast] }]
  # Every call must meet the failing deployment: without this it would rest after 3 failures and be passed over.
  cooldown: { allowed_fails: 1000000000 }
`;

/** A valid Anthropic Messages request of exactly `bytes` bytes (system text padded). */
function messagesBody(bytes: number, model: string): string {
  const make = (pad: string) => JSON.stringify({ model, max_tokens: 256, system: pad, messages: [{ role: 'user', content: 'Say hello in three languages.' }] });
  const room = bytes - make('').length;
  const body = make('You are a helpful assistant. '.repeat(Math.ceil(room / 29)).slice(0, room));
  if (Buffer.byteLength(body) !== bytes) throw new Error('padding miscounted');
  return body;
}

const withModel = (body: string, model: string) => body.replace('"model":"gpt-4o-mini"', `"model":"${model}"`);

interface Case { name: string; path: string; body: string; connections: number }

export interface GatewayResult { cases: { name: string; m: Measured }[]; streamFirstByteMs: { passThrough: number; translated: number } }

export async function runGateway(ctx: BenchContext): Promise<{ result: GatewayResult; verdicts: Verdict[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-bench-gateway-'));
  const file = path.join(dir, 'models.yaml');
  writeFileSync(file, MODELS(ctx.upstreamUrl));
  const chat = chatBody(BYTES, false);
  const cases: Case[] = [
    { name: 'pass-through /openai/v1/chat/completions', path: '/openai/v1/chat/completions', body: chat, connections: CONNECTIONS },
    { name: 'alias → OpenAI (routing, same API)', path: '/v1/chat/completions', body: withModel(chat, 'fast'), connections: CONNECTIONS },
    { name: 'alias → Anthropic (OpenAI caller, translated)', path: '/v1/chat/completions', body: withModel(chat, 'claude'), connections: CONNECTIONS },
    { name: 'pass-through /anthropic/v1/messages', path: '/anthropic/v1/messages', body: messagesBody(BYTES, 'claude-sonnet-4-6'), connections: CONNECTIONS },
    { name: '/v1/messages alias → OpenAI (Anthropic caller, translated)', path: '/v1/messages', body: messagesBody(BYTES, 'fast'), connections: CONNECTIONS },
    { name: 'c=1: alias → OpenAI', path: '/v1/chat/completions', body: withModel(chat, 'fast'), connections: 1 },
    { name: 'c=1: alias answering a fast 500 (no fallback)', path: '/v1/chat/completions', body: withModel(chat, 'failing'), connections: 1 },
    { name: 'c=1: fast 500, then fallback → OpenAI', path: '/v1/chat/completions', body: withModel(chat, 'falls-back'), connections: 1 },
  ];
  const runs = new Map<string, Measured[]>(cases.map((c) => [c.name, []]));
  let firstByte = { passThrough: NaN, translated: NaN };
  try {
    await withTarget(ctx, 'sightline', async (t) => {
      const origin = new URL(t.url).origin;
      for (let round = 0; round < ctx.rounds; round++) {
        for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
          process.stderr.write(`  gateway: ${c.name}, round ${round + 1}…\n`);
          runs.get(c.name)!.push(await measureLoad(ctx, origin + c.path, c.body, c.connections, t.child.pid, ctx.seconds));
        }
      }
      firstByte = await streamFirstBytes(origin);
    }, { env: [`SIGHTLINE_CONFIG=${file}`] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const measured = cases.map((c) => ({ name: c.name, m: medianOf(runs.get(c.name)!) }));
  return { result: { cases: measured, streamFirstByteMs: firstByte }, verdicts: print(measured, firstByte, ctx.rounds) };
}

/**
 * Median time to the first event, one stream at a time, alternating: Anthropic's stream passed through as it is
 * (`/anthropic/v1/messages`) against the same upstream stream translated into OpenAI chunks for an OpenAI caller, so
 * both wait for the same bytes and the difference is the gateway's.
 */
async function streamFirstBytes(origin: string): Promise<{ passThrough: number; translated: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const translatedBody = withModel(chatBody(BYTES, true), 'claude');
  const passedBody = JSON.stringify({ ...(JSON.parse(messagesBody(BYTES, 'claude-sonnet-4-6')) as Record<string, unknown>), stream: true });
  const samples = { passThrough: [] as number[], translated: [] as number[] };
  for (let i = 0; i < 440; i++) {
    const translated = i % 2 === 1;
    const s = await timedStream(agent, `${origin}${translated ? '/v1/chat/completions' : '/anthropic/v1/messages'}`, translated ? translatedBody : passedBody);
    if (s.status !== 200 || s.error !== undefined) throw new Error(`stream failed: ${s.status} ${s.error ?? ''}`);
    if (i >= 40) (translated ? samples.translated : samples.passThrough).push(s.firstEventUs / 1000);
  }
  agent.destroy();
  return { passThrough: median(samples.passThrough), translated: median(samples.translated) };
}

function print(cases: GatewayResult['cases'], firstByte: GatewayResult['streamFirstByteMs'], rounds: number): Verdict[] {
  console.log(`\n### gateway: proxy alone, 1 KiB chat (median of ${rounds} round(s))\n`);
  console.log('| call | c | rps | p50 / p99 ms | CPU µs/req | errors + non-2xx |\n|---|---:|---:|---:|---:|---:|');
  const by = new Map(cases.map((c) => [c.name, c.m]));
  for (const { name, m } of cases) console.log(`| ${name} | ${name.startsWith('c=1') ? 1 : CONNECTIONS} | ${f(m.rps, 0)} | ${f(m.p50Ms, 3)} / ${f(m.p99Ms, 3)} | ${f(m.cpuUsPerReq, 1)} | ${m.errors + m.non2xx} |`);
  const cpu = (name: string) => by.get(name)!.cpuUsPerReq;
  const routing = cpu('alias → OpenAI (routing, same API)') - cpu('pass-through /openai/v1/chat/completions');
  const toAnthropic = cpu('alias → Anthropic (OpenAI caller, translated)') - cpu('pass-through /openai/v1/chat/completions');
  const fromAnthropic = cpu('/v1/messages alias → OpenAI (Anthropic caller, translated)') - cpu('pass-through /anthropic/v1/messages');
  const stream = firstByte.translated - firstByte.passThrough;
  const p50 = (name: string) => by.get(name)!.p50Ms;
  const fallbackExtra = p50('c=1: fast 500, then fallback → OpenAI') - p50('c=1: alias answering a fast 500 (no fallback)') - p50('c=1: alias → OpenAI');
  console.log(`\nAnthropic's stream one at a time, first event: passed through ${f(firstByte.passThrough, 3)} ms, translated to OpenAI chunks ${f(firstByte.translated, 3)} ms (median of 200 each).`);
  const out = [
    verdict('gateway: alias routing (same API), CPU per request over pass-through', `${f(routing, 1)} µs`, `≤ +${GATEWAY_TARGETS.routingUs} µs`, routing <= GATEWAY_TARGETS.routingUs),
    verdict('gateway: translation OpenAI caller → Anthropic, non-stream, CPU per request over pass-through', `${f(toAnthropic, 1)} µs`, `≤ +${GATEWAY_TARGETS.translationUs} µs`, toAnthropic <= GATEWAY_TARGETS.translationUs),
    verdict('gateway: translation Anthropic caller → OpenAI, non-stream, CPU per request over pass-through', `${f(fromAnthropic, 1)} µs`, `≤ +${GATEWAY_TARGETS.translationUs} µs`, fromAnthropic <= GATEWAY_TARGETS.translationUs),
    verdict('gateway: translated stream, added time to first event', `${f(stream, 3)} ms`, `≤ +${GATEWAY_TARGETS.streamFirstByteMs} ms`, stream <= GATEWAY_TARGETS.streamFirstByteMs),
    verdict('gateway: fallback after a fast 500, p50 beyond its two attempts', `${f(fallbackExtra, 3)} ms`, `≤ +${GATEWAY_TARGETS.fallbackMs} ms`, fallbackExtra <= GATEWAY_TARGETS.fallbackMs),
  ];
  printVerdicts('Targets: gateway layer I (issue #15)', out);
  return out;
}
