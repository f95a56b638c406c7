// Small order statistics shared by the benches.

/** Nearest-rank percentile (p in 0..100) of unsorted numbers; NaN for none. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Field-wise median of the rounds' numeric fields: one slow round (other work on the machine) does not set the result. */
export function medianOf<T extends object>(runs: T[]): T {
  const out: Record<string, unknown> = { ...runs[0] };
  for (const [k, v] of Object.entries(runs[0]!)) if (typeof v === 'number') out[k] = median(runs.map((r) => (r as Record<string, number>)[k]!));
  return out as T;
}
