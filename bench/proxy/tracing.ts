// Tracing's cost on the request path (issue #18). The proxy alone, as in production (ingest, which builds and
// exports the spans, runs elsewhere): non-stream 1 KiB calls at c=16, each variant a fresh process on the target
// core, the order alternating per round. "On" is 100 % sampling with an OTLP endpoint set (a sink in this process
// answers the proxy's metric exports); the caller sends a traceparent or not. Tracing off is measured twice, so
// the difference between those two runs says how large the noise is. Then the per-call work itself, in-process:
// the trace decision and the upstream traceparent, ns per call.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../config/index.ts';
import { createTraceStarter, traceparentOf } from '../../proxy/trace.ts';
import { medianOf } from '../lib/stats.ts';
import type { BenchContext, Measured } from './context.ts';
import { chatBody, f, measureLoad, withTarget } from './context.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, verdict } from './targets.ts';

const CONNECTIONS = 16;
const BYTES = 1024;
/** Issue #18: with tracing on at 100 % sampling, at c=16. */
export const TRACING_TARGETS = { cpuUs: 25, p50Ms: 0.1 } as const;
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

interface Variant { name: string; on: boolean; traceparent: boolean }

const VARIANTS: Variant[] = [
  { name: 'off', on: false, traceparent: false },
  { name: 'off (again: noise)', on: false, traceparent: false },
  { name: 'off, caller sends traceparent (propagated)', on: false, traceparent: true },
  { name: 'on 100 %, no traceparent (new trace per call)', on: true, traceparent: false },
  { name: 'on 100 %, caller sends traceparent (child span)', on: true, traceparent: true },
];

export interface TracingResult { variants: { name: string; m: Measured }[]; perCallNs: Record<string, number> }

/** An OTLP/HTTP endpoint that takes whatever it is sent (the proxy's counters, once a minute at most). */
async function otlpSink(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** ns per call of what tracing adds in the proxy's own code: the decision from the headers and the header sent upstream. */
function perCall(endpoint: string): Record<string, number> {
  const off = createTraceStarter(parseConfig(undefined, {}).tracing);
  const on = createTraceStarter(parseConfig(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'always_on' }).tracing);
  const cases: [string, () => unknown][] = [
    ['off, no traceparent', () => off({})],
    ['off, traceparent', () => { const t = off({ traceparent: TRACEPARENT }); return t && traceparentOf(t); }],
    ['on, no traceparent', () => { const t = on({}); return t && traceparentOf(t); }],
    ['on, traceparent', () => { const t = on({ traceparent: TRACEPARENT }); return t && traceparentOf(t); }],
  ];
  const out: Record<string, number> = {};
  for (const [name, fn] of cases) {
    let sink: unknown;
    for (let i = 0; i < 50_000; i++) sink = fn(); // warm-up: optimised before it is timed
    const n = 500_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink = fn();
    out[name] = Number(process.hrtime.bigint() - t0) / n;
    if (sink === null) console.log(''); // keeps the result alive, so the loop is not optimised away
  }
  return out;
}

export async function runTracing(ctx: BenchContext): Promise<{ result: TracingResult; verdicts: Verdict[] }> {
  const sink = await otlpSink();
  const body = chatBody(BYTES, false);
  const runs = new Map<string, Measured[]>(VARIANTS.map((v) => [v.name, []]));
  try {
    for (let round = 0; round < ctx.rounds; round++) {
      for (const v of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        process.stderr.write(`  tracing: ${v.name}, round ${round + 1}…\n`);
        const env = v.on ? [`OTEL_EXPORTER_OTLP_ENDPOINT=${sink.url}`, 'OTEL_TRACES_SAMPLER=always_on'] : [];
        const headers = v.traceparent ? { traceparent: TRACEPARENT } : undefined;
        const { result } = await withTarget(ctx, 'sightline', (t) => measureLoad(ctx, t.url, body, CONNECTIONS, t.child.pid, ctx.seconds, headers), { env });
        runs.get(v.name)!.push(result);
      }
    }
  } finally {
    await sink.close();
  }
  const variants = VARIANTS.map((v) => ({ name: v.name, m: medianOf(runs.get(v.name)!) }));
  const perCallNs = perCall(sink.url);
  return { result: { variants, perCallNs }, verdicts: print(variants, perCallNs, ctx.rounds) };
}

function print(variants: TracingResult['variants'], perCallNs: Record<string, number>, rounds: number): Verdict[] {
  const base = variants[0]!.m;
  console.log(`\n### tracing: proxy alone, non-stream 1 KiB, c=${CONNECTIONS} (median of ${rounds} round(s))\n`);
  console.log('| tracing | rps | p50 / p99 ms | CPU µs/req | CPU µs/req over off | p50 ms over off | errors + non-2xx |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const { name, m } of variants) {
    console.log(`| ${name} | ${f(m.rps, 0)} | ${f(m.p50Ms, 3)} / ${f(m.p99Ms, 3)} | ${f(m.cpuUsPerReq, 1)} | ${f(m.cpuUsPerReq - base.cpuUsPerReq, 1)} | ${f(m.p50Ms - base.p50Ms, 3)} | ${m.errors + m.non2xx} |`);
  }
  console.log(`\nPer call, in-process (the trace decision and the upstream traceparent): ${Object.entries(perCallNs).map(([k, ns]) => `${k} ${f(ns, 0)} ns`).join('; ')}.`);
  const out: Verdict[] = [];
  for (const { name, m } of variants.filter((v) => v.name.startsWith('on'))) {
    const cpu = m.cpuUsPerReq - base.cpuUsPerReq;
    const p50 = m.p50Ms - base.p50Ms;
    out.push(verdict(`tracing ${name}, c=${CONNECTIONS}: added CPU per request`, `${f(cpu, 1)} µs (${f(m.cpuUsPerReq, 1)} vs off ${f(base.cpuUsPerReq, 1)})`, `≤ +${TRACING_TARGETS.cpuUs} µs`, cpu <= TRACING_TARGETS.cpuUs));
    out.push(verdict(`tracing ${name}, c=${CONNECTIONS}: added p50`, `${f(p50, 3)} ms (${f(m.p50Ms, 3)} vs off ${f(base.p50Ms, 3)})`, `≤ +${TRACING_TARGETS.p50Ms} ms`, p50 <= TRACING_TARGETS.p50Ms));
  }
  printVerdicts(`Targets: tracing (issue #18), c=${CONNECTIONS}`, out);
  return out;
}
