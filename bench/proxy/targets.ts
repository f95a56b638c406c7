// Issue #14's targets, in one place, and the MET / NOT MET lines every mode prints next to what it measured.
import { f } from './context.ts';

export const TARGETS = {
  /** Proxy alone, non-stream, c=16 and c=64, one core: CPU per request ≤ 1.5× raw, throughput ≥ 0.67× raw. */
  cpuVsRaw: 1.5,
  rpsVsRaw: 0.67,
  /** c=1: added p50 ≤ 0.2 ms over raw. */
  addedP50Ms: 0.2,
  /** Streams of 22 events 1 ms apart: first byte ≤ +0.3 ms, total ≤ +0.5 ms over raw, no chunk held back. */
  streamFirstByteMs: 0.3,
  streamTotalMs: 0.5,
  /** `npm start` as a whole, c=16: CPU per request ≤ 2.5× raw, every event stored within 5 s, RSS idle ≤ 300 MB, peak ≤ 450 MB. */
  startCpuVsRaw: 2.5,
  startStoredSeconds: 5,
  startIdleMB: 300,
  startPeakMB: 450,
  /** 1,000 concurrent 30 s streams: proxy RSS ≤ 150 MB. */
  longStreamsMB: 150,
  /** Over 1M requests: RSS flat, ±10 %. */
  soakFlat: 0.1,
} as const;

export interface Verdict { what: string; measured: string; target: string; met: boolean }

/** Collects verdicts as modes produce them, so the run can end with all of them together. */
export const verdicts: Verdict[] = [];

export function verdict(what: string, measured: string, target: string, met: boolean): Verdict {
  const v = { what, measured, target, met };
  verdicts.push(v);
  return v;
}

export const line = (v: Verdict) => `- ${v.what}: ${v.measured} (target ${v.target}): **${v.met ? 'MET' : 'NOT MET'}**`;

export function printVerdicts(title: string, list: Verdict[]): void {
  if (list.length === 0) return;
  console.log(`\n#### ${title}\n\n${list.map(line).join('\n')}`);
}

/** "0.84× raw" style ratio verdict: measured/raw against a bound. */
export function ratioVerdict(what: string, value: number, raw: number, bound: number, atMost: boolean, unit: string): Verdict {
  const ratio = value / raw;
  return verdict(what, `${f(ratio)}× raw (${f(value, 0)} vs ${f(raw, 0)} ${unit})`, `${atMost ? '≤' : '≥'} ${bound}× raw`, atMost ? ratio <= bound : ratio >= bound);
}
