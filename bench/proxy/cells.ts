// Non-stream cells: closed-loop wrk at 1, 16 and 64 connections per body size, each variant a fresh process on the
// target core, raw and Sightline alternating order per round. CPU per request is the target's whole process tree.
import type { BenchContext, EventCount, Measured } from './context.ts';
import { chatBody, f, measureLoad, sizeLabel, withTarget } from './context.ts';
import { medianOf } from '../lib/stats.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, ratioVerdict, TARGETS, verdict } from './targets.ts';

/** raw = node:http + undici Pool (the issue's baseline); raw-http = node:http + http.request; direct = no proxy. */
export const VARIANTS = ['raw', 'sightline', 'raw-http', 'hpm', 'direct'] as const;
export type Variant = (typeof VARIANTS)[number];

interface EventTotals extends EventCount { completed: number; lost: number }

export interface VariantResult extends Measured { events?: EventTotals }

/** One measured run of one variant in a fresh process. */
export async function measureVariant(ctx: BenchContext, variant: Variant, body: string, connections: number): Promise<VariantResult> {
  if (variant === 'direct') return measureLoad(ctx, `${ctx.upstreamUrl}/v1/chat/completions`, body, connections, ctx.upstream.pid);
  const { result: m, events } = await withTarget(ctx, variant, (t) => measureLoad(ctx, t.url, body, connections, t.child.pid));
  if (!events) return m;
  // A response the generator counted must have a status-200 event; extra events are requests cut when the
  // generator stopped (up to `connections` in flight at the end of each run).
  const completed = m.warmupRequests + m.requests;
  return { ...m, events: { ...events, completed, lost: Math.max(0, completed - events.ok) } };
}

/** Medians over rounds; event counts summed. */
function combine(runs: VariantResult[]): VariantResult {
  const m = medianOf(runs);
  const withEvents = runs.filter((r) => r.events);
  if (withEvents.length === 0) return m;
  const sum = (k: keyof EventTotals) => withEvents.reduce((n, r) => n + r.events![k], 0);
  return { ...m, hwmMB: Math.max(...runs.map((r) => r.hwmMB)), events: { records: sum('records'), ok: sum('ok'), completed: sum('completed'), lost: sum('lost') } };
}

/** Raw pass-through runs of this bench process, by body size and connections, so later modes compare to the same run. */
const rawRuns = new Map<string, VariantResult>();
const rawKey = (bytes: number, connections: number) => `${bytes}:${connections}`;

/** The raw pass-through at this body size and connection count: measured earlier in this run, or now. */
export async function rawBaseline(ctx: BenchContext, bytes: number, connections: number): Promise<VariantResult> {
  const key = rawKey(bytes, connections);
  let raw = rawRuns.get(key);
  if (!raw) {
    const runs: VariantResult[] = [];
    for (let round = 0; round < ctx.rounds; round++) runs.push(await measureVariant(ctx, 'raw', chatBody(bytes, false), connections));
    raw = combine(runs);
    rawRuns.set(key, raw);
  }
  return raw;
}

export interface CellsResult { bytes: number; connections: number; variants: Partial<Record<Variant, VariantResult>> }

export async function runCells(ctx: BenchContext, sizes: number[], connectionCounts: number[], variants: Variant[]): Promise<{ cells: CellsResult[]; verdicts: Verdict[] }> {
  const cells: CellsResult[] = [];
  const found: Verdict[] = [];
  const order: Variant[] = ['raw', ...variants.filter((v) => v !== 'raw')];
  for (const bytes of sizes) {
    const body = chatBody(bytes, false);
    for (const connections of connectionCounts) {
      process.stderr.write(`  non-stream ${sizeLabel(bytes)} × ${connections} conns…\n`);
      const runs = new Map<Variant, VariantResult[]>(order.map((v) => [v, []]));
      for (let round = 0; round < ctx.rounds; round++) {
        // Alternate the order, so drift in the machine's load does not always favour the same variant.
        for (const v of round % 2 === 0 ? order : [...order].reverse()) runs.get(v)!.push(await measureVariant(ctx, v, body, connections));
      }
      const cell: CellsResult = { bytes, connections, variants: Object.fromEntries([...runs].map(([v, r]) => [v, combine(r)])) };
      rawRuns.set(rawKey(bytes, connections), cell.variants.raw!);
      cells.push(cell);
    }
    found.push(...printSize(bytes, cells.filter((c) => c.bytes === bytes), order, ctx.rounds));
  }
  return { cells, verdicts: found };
}

function printSize(bytes: number, cells: CellsResult[], order: Variant[], rounds: number): Verdict[] {
  console.log(`\n### non-stream, ${sizeLabel(bytes)} request body (median of ${rounds} round(s))\n`);
  console.log('| conns | target | rps | rps × raw | CPU µs/req (tree) | CPU × raw | CPU % of a core | upstream CPU % | p50 / p99 ms | added p50 / p99 ms | RSS start / end / HWM MB | errors + non-2xx |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of cells) {
    const raw = c.variants.raw!;
    for (const v of order) {
      const m = c.variants[v]!;
      console.log(`| ${c.connections} | ${v} | ${f(m.rps, 0)} | ${f(m.rps / raw.rps)} | ${f(m.cpuUsPerReq, 0)} | ${f(m.cpuUsPerReq / raw.cpuUsPerReq)} | ${f(m.cpuPct, 0)} | ${f(m.upstreamCpuPct, 0)} | ` +
        `${f(m.p50Ms)} / ${f(m.p99Ms)} | ${v === 'raw' ? '' : `${f(m.p50Ms - raw.p50Ms)} / ${f(m.p99Ms - raw.p99Ms)}`} | ` +
        `${f(m.rssStartMB, 0)} / ${f(m.rssEndMB, 0)} / ${f(m.hwmMB, 0)} | ${m.errors + m.non2xx} |`);
    }
  }
  const withEvents = cells.filter((c) => c.variants.sightline?.events);
  if (withEvents.length > 0) {
    console.log(`\nSightline's events in its spool (all rounds): ${withEvents.map((c) => {
      const e = c.variants.sightline!.events!;
      return `c=${c.connections}: ${e.ok} status 200 of ${e.records}, ${e.completed} completed by the load generator, ${e.lost} lost`;
    }).join('; ')}`);
  }
  const out: Verdict[] = [];
  for (const c of cells) {
    const s = c.variants.sightline;
    const raw = c.variants.raw!;
    if (!s) continue;
    const at = `non-stream ${sizeLabel(bytes)}, c=${c.connections}`;
    if (c.connections === 1) {
      const added = s.p50Ms - raw.p50Ms;
      out.push(verdict(`${at}: added p50`, `${f(added, 3)} ms (${f(s.p50Ms, 3)} vs raw ${f(raw.p50Ms, 3)})`, `≤ ${TARGETS.addedP50Ms} ms`, added <= TARGETS.addedP50Ms));
    } else if (c.connections === 16 || c.connections === 64) {
      out.push(ratioVerdict(`${at}: CPU per request`, s.cpuUsPerReq, raw.cpuUsPerReq, TARGETS.cpuVsRaw, true, 'µs'));
      out.push(ratioVerdict(`${at}: throughput`, s.rps, raw.rps, TARGETS.rpsVsRaw, false, 'rps'));
    }
    // Not one of the issue's targets, but a lost event would make every number above meaningless.
    if (s.events && s.events.lost > 0) out.push(verdict(`${at}: events`, `${s.events.lost} of ${s.events.completed} completed requests without a status-200 event`, '0 lost', false));
  }
  printVerdicts(`Targets: non-stream ${sizeLabel(bytes)}`, out);
  return out;
}
