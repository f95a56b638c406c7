// Soak: N non-stream requests (default 1,000,000) at 16 connections through the proxy alone (spool sink), RSS of the
// proxy sampled every second against the upstream's count of requests served; wrk runs until the count reaches N.
// Flat = after the first 10 % (warm-up), every sample within ±10 % of the RSS at 10 %.
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad } from '../lib/loadgen.ts';
import { treeCpuSeconds, treeMemory } from '../lib/proc.ts';
import type { BenchContext } from './context.ts';
import { chatBody, f, sizeLabel, withTarget } from './context.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, TARGETS, verdict } from './targets.ts';

const CONNECTIONS = 16;
const SAMPLE_EVERY_MS = 1000;

async function served(ctx: BenchContext): Promise<number> {
  return Number(await (await fetch(`${ctx.upstreamUrl}/_bench/count`)).text());
}

interface Sample { atS: number; served: number; rssMB: number }

export interface SoakResult {
  requests: number; bytes: number; seconds: number; rps: number; cpuUsPerReq: number; errors: number;
  samples: Sample[]; at10MB: number; at50MB: number; at100MB: number; minAfterWarmupMB: number; maxAfterWarmupMB: number;
  events?: { records: number; ok: number };
}

export async function runSoak(ctx: BenchContext, requests: number, bytes: number): Promise<{ result: SoakResult; verdicts: Verdict[] }> {
  process.stderr.write(`  soak: ${requests} requests at ${CONNECTIONS} conns through sightline…\n`);
  const { result, events } = await withTarget(ctx, 'sightline', async (t) => {
    const pid = t.child.pid;
    const base = await served(ctx);
    const stop = new AbortController();
    const samples: Sample[] = [];
    const cpu0 = treeCpuSeconds(pid);
    const t0 = performance.now();
    let done = false;
    const load = runLoad(ctx.tool, { url: t.url, body: chatBody(bytes, false), connections: CONNECTIONS, seconds: 7 * 24 * 3600, cpus: ctx.cpuLoad, signal: stop.signal })
      .finally(() => { done = true; });
    let next = 0;
    for (;;) {
      const n = (await served(ctx)) - base;
      const now = performance.now() - t0;
      if (now >= next || n >= requests) {
        samples.push({ atS: now / 1000, served: n, rssMB: treeMemory(pid).rssMB });
        next += SAMPLE_EVERY_MS;
      }
      if (n >= requests || done) break;
      await sleep(100);
    }
    stop.abort();
    const r = await load;
    const cpu = treeCpuSeconds(pid) - cpu0;
    return { r, samples, cpu };
  });
  const { r, samples, cpu } = result;
  const at = (share: number) => samples.find((s) => s.served >= share * requests) ?? samples.at(-1)!;
  const after = samples.filter((s) => s.served >= 0.1 * requests).map((s) => s.rssMB);
  const soak: SoakResult = {
    requests, bytes, seconds: r.seconds, rps: r.rps, cpuUsPerReq: (cpu * 1e6) / Math.max(1, r.requests), errors: r.errors + r.non2xx, samples,
    at10MB: at(0.1).rssMB, at50MB: at(0.5).rssMB, at100MB: samples.at(-1)!.rssMB, minAfterWarmupMB: Math.min(...after), maxAfterWarmupMB: Math.max(...after),
    ...(events ? { events } : {}),
  };
  console.log(`\n### soak: ${requests} requests (${r.requests} counted by the load generator), ${sizeLabel(bytes)} body, ${CONNECTIONS} conns, proxy alone\n`);
  console.log(`${f(soak.seconds, 0)} s at ${f(soak.rps, 0)} rps, ${f(soak.cpuUsPerReq, 0)} CPU µs/req, ${soak.errors} errors + non-2xx` +
    `${events ? `; events in the spool: ${events.ok} status 200 of ${events.records}` : ''}.\n`);
  console.log('| progress | 10 % | 50 % | 100 % | min / max after 10 % |\n|---|---:|---:|---:|---:|');
  console.log(`| proxy RSS MB | ${f(soak.at10MB, 0)} | ${f(soak.at50MB, 0)} | ${f(soak.at100MB, 0)} | ${f(soak.minAfterWarmupMB, 0)} / ${f(soak.maxAfterWarmupMB, 0)} |`);
  const lo = (1 - TARGETS.soakFlat) * soak.at10MB;
  const hi = (1 + TARGETS.soakFlat) * soak.at10MB;
  const out = [
    verdict(`soak ${requests} requests: RSS flat after warm-up (10 %)`,
      `${f(soak.minAfterWarmupMB, 0)}–${f(soak.maxAfterWarmupMB, 0)} MB against ${f(soak.at10MB, 0)} MB at 10 % (${f((100 * soak.maxAfterWarmupMB) / soak.at10MB - 100, 1)} % at most)`,
      `within ±${100 * TARGETS.soakFlat} % (${f(lo, 0)}–${f(hi, 0)} MB)`, soak.minAfterWarmupMB >= lo && soak.maxAfterWarmupMB <= hi),
  ];
  const reached = samples.at(-1)!.served;
  if (reached < requests) out.push(verdict('soak: ran to the requested count', `${reached} served (load generator stopped early)`, `${requests}`, false));
  printVerdicts('Targets: soak', out);
  return { result: soak, verdicts: out };
}
