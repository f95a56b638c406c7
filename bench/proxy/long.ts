// Long-lived streams through the proxy alone (spool sink): N concurrent streams (default 1,000) of S seconds each
// (default 30), the upstream sending one chat chunk a second; plain node:http clients in the bench process on one
// Agent with room for every socket. Reports the proxy's RSS peak against the issue's 150 MB.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StreamSample } from '../lib/sse.ts';
import { timedStream } from '../lib/sse.ts';
import { sampleTreeRss, treeMemory } from '../lib/proc.ts';
import type { BenchContext } from './context.ts';
import { chatBody, f, sizeLabel, withTarget } from './context.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, TARGETS, verdict } from './targets.ts';

const OPEN_BATCH = 100;
const OPEN_EVERY_MS = 50;

/** Soft limit on open files of this process (each stream holds a socket here, two in the proxy, one upstream). */
function openFilesLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === undefined || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

export interface LongStreamsResult {
  streams: number; seconds: number; bytes: number; whole: number; failed: string[];
  idleMB: number; peakSampledMB: number; hwmMB: number; elapsedS: number;
}

export async function runLongStreams(ctx: BenchContext, streams: number, seconds: number, bytes: number): Promise<{ result: LongStreamsResult; verdicts: Verdict[] }> {
  const limit = openFilesLimit();
  if (limit < streams + 64) throw new Error(`open files limit ${limit} is too low for ${streams} streams: raise it (ulimit -n ${streams * 4}) and run again`);
  process.stderr.write(`  ${streams} concurrent streams of ${seconds} s through sightline…\n`);
  const events = seconds + 1; // one write a second: role chunk at 0 s … [DONE] at `seconds` s
  const { result } = await withTarget(ctx, 'sightline', async (t) => {
    const idle = treeMemory(t.child.pid);
    const sampler = sampleTreeRss(t.child.pid, 100);
    const agent = new http.Agent({ keepAlive: false, maxSockets: streams + 16 });
    const body = chatBody(bytes, true);
    const headers = { 'x-bench-events': String(events), 'x-bench-interval-ms': '1000' };
    const t0 = performance.now();
    const running: Promise<StreamSample>[] = [];
    // Opened in batches, so the listen backlog is not what is measured.
    for (let i = 0; i < streams; i += OPEN_BATCH) {
      for (let j = i; j < Math.min(streams, i + OPEN_BATCH); j++) running.push(timedStream(agent, t.url, body, headers));
      await sleep(OPEN_EVERY_MS);
    }
    const samples = await Promise.all(running);
    const elapsedS = (performance.now() - t0) / 1000;
    sampler.stop();
    agent.destroy();
    const end = treeMemory(t.child.pid);
    const failed = samples.filter((s) => s.error !== undefined || s.status !== 200 || s.arrivalsUs.length !== events)
      .map((s) => s.error ?? `status ${s.status}, ${s.arrivalsUs.length} events`);
    return { streams, seconds, bytes, whole: streams - failed.length, failed, idleMB: idle.rssMB, peakSampledMB: sampler.peakMB, hwmMB: end.hwmSumMB, elapsedS };
  });
  const r = result;
  console.log(`\n### ${r.streams} concurrent streams of ${r.seconds} s (one chunk a second), proxy alone, ${sizeLabel(r.bytes)} request body\n`);
  console.log(`${r.whole} of ${r.streams} streams whole (${r.seconds + 1} events each)${r.failed.length > 0 ? `; failures, first: ${r.failed.slice(0, 3).join(' | ')}` : ''}; ` +
    `all done ${f(r.elapsedS, 1)} s after the first opened. Proxy RSS: ${f(r.idleMB, 0)} MB before, peak ${f(r.peakSampledMB, 0)} MB sampled every 100 ms, VmHWM ${f(r.hwmMB, 0)} MB.`);
  const out = [
    verdict(`${r.streams} concurrent ${r.seconds} s streams: proxy RSS peak (VmHWM)`, `${f(r.hwmMB, 0)} MB`, `≤ ${TARGETS.longStreamsMB} MB`, r.hwmMB <= TARGETS.longStreamsMB),
    verdict(`${r.streams} concurrent ${r.seconds} s streams: every stream whole`, `${r.whole} of ${r.streams}`, `all`, r.whole === r.streams),
  ];
  printVerdicts('Targets: long-lived streams', out);
  return { result: r, verdicts: out };
}
