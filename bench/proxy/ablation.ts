// Where the CPU goes. --ablation: CPU per request with pieces removed (each row removes one piece, so the cost of a
// piece is the difference of two rows). --profile: the target under `node --cpu-prof`, summarised over the measured
// window only (start-up excluded). Both use wrk: non-stream, and stream (the 22-event stream under closed-loop load).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { summarizeCpuProfile } from '../lib/cpuprofile.ts';
import { REPO_ROOT } from '../lib/proc.ts';
import { medianOf } from '../lib/stats.ts';
import type { BenchContext, Measured } from './context.ts';
import { chatBody, f, measureLoad, sizeLabel, withTarget } from './context.ts';

export type LoadMode = 'non-stream' | 'stream';

const ABLATION_VARIANTS: { name: string; role: string; env: string[] }[] = [
  { name: 'raw: node:http + undici Pool pass-through', role: 'raw', env: [] },
  { name: 'raw-http: node:http + http.request pass-through', role: 'raw-http', env: [] },
  { name: 'express + http-proxy-middleware only', role: 'hpm', env: [] },
  { name: 'sightline, sink none, usage injection off', role: 'sightline', env: ['SIGHTLINE_SINK=none', 'SIGHTLINE_STREAM_USAGE_INJECT=false'] },
  { name: 'sightline, sink none', role: 'sightline', env: ['SIGHTLINE_SINK=none'] },
  { name: 'sightline, spool sink (as shipped)', role: 'sightline', env: [] },
];

const lat = (m: Measured) => `${f(m.p50Ms)} / ${f(m.p99Ms)}`;

export async function ablation(ctx: BenchContext, modes: LoadMode[], connectionCounts: number[], bytes: number): Promise<void> {
  for (const mode of modes) {
    for (const connections of connectionCounts) {
      console.log(`\n### Ablation: ${mode}, ${sizeLabel(bytes)} body, ${connections} conns (median of ${ctx.rounds} round(s))\n`);
      console.log('| variant | rps | p50 / p99 ms | CPU µs/req (tree) | CPU µs/req over raw |\n|---|---:|---:|---:|---:|');
      let rawCpu = NaN;
      for (const v of ABLATION_VARIANTS) {
        const runs: Measured[] = [];
        for (let round = 0; round < ctx.rounds; round++) {
          runs.push((await withTarget(ctx, v.role, (t) => measureLoad(ctx, t.url, chatBody(bytes, mode === 'stream'), connections, t.child.pid), { env: v.env })).result);
        }
        const m = medianOf(runs);
        if (v.role === 'raw') rawCpu = m.cpuUsPerReq;
        console.log(`| ${v.name} | ${f(m.rps, 0)} | ${lat(m)} | ${f(m.cpuUsPerReq, 0)} | ${f(m.cpuUsPerReq - rawCpu, 0)} |`);
      }
    }
  }
}

export async function profile(ctx: BenchContext, modes: LoadMode[], connectionCounts: number[], bytes: number, target: string, keepDir: string | undefined): Promise<void> {
  for (const mode of modes) {
    for (const connections of connectionCounts) {
      const dir = mkdtempSync(path.join(keepDir ?? tmpdir(), 'sightline-bench-prof-'));
      try {
        const { result: m } = await withTarget(ctx, target, (t) => measureLoad(ctx, t.url, chatBody(bytes, mode === 'stream'), connections, t.child.pid), {
          nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
        });
        // One profile per thread (tsx's loader runs in a worker); the main thread is thread id 0.
        const file = readdirSync(dir).find((n) => /\.0\.\d+\.cpuprofile$/.test(n));
        if (!file) throw new Error('no .cpuprofile written');
        const s = summarizeCpuProfile(path.join(dir, file), REPO_ROOT, m.windowUs);
        console.log(`\n### CPU profile: ${target}, ${mode}, ${sizeLabel(bytes)} body, ${connections} conns (${f(m.rps, 0)} rps under the profiler, ${f(m.cpuUsPerReq, 0)} CPU µs/req; ` +
          `measured window only, busy ${s.busyMs} of ${s.totalMs} ms = ${f((1000 * s.busyMs) / Math.max(1, m.requests), 0)} µs/req)\n`);
        const table = (title: string, rows: typeof s.topSelf) => {
          console.log(`| ${title} | ms | % of busy |\n|---|---:|---:|`);
          for (const r of rows) console.log(`| \`${r.name}\`${r.via ? ` ← \`${r.via}\`` : ''} | ${r.ms} | ${r.pct} |`);
          console.log('');
        };
        table('self time by area', s.byArea.slice(0, 15));
        table('self time by function', s.topSelf);
        table('inclusive time, repo functions', s.repoInclusive.slice(0, 15));
      } finally {
        if (keepDir === undefined) rmSync(dir, { recursive: true, force: true });
        else console.log(`(profile kept in ${dir})`);
      }
    }
  }
}
