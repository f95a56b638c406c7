// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, self time per area (package,
// node internals, repo file) and inclusive time of the repo's own functions.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const CpuProfileSchema = z.object({
  nodes: z.array(z.object({
    id: z.number(),
    callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
    children: z.array(z.number()).optional(),
  })),
  startTime: z.number(),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});

export interface ProfileRow { name: string; ms: number; pct: number; /** The caller that most of this self time came through. */ via?: string }
export interface ProfileSummary {
  totalMs: number;
  /** Time not spent idle: what the process actually burnt. */
  busyMs: number;
  topSelf: ProfileRow[];
  byArea: ProfileRow[];
  repoInclusive: ProfileRow[];
}

const IDLE = '(idle)';

function shortUrl(url: string, repoRoot: string): string {
  return url.replace(/^file:\/\//, '').replace(repoRoot, '').replace(/^.*node_modules\//, '~/');
}

function area(url: string, fn: string, repoRoot: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native/builtin)';
  if (url.startsWith('node:')) return url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  return shortUrl(url, repoRoot);
}

/**
 * `window` ([from, to] in µs of the monotonic clock, as process.hrtime.bigint() / 1000 reads it; V8 stamps
 * samples on the same clock) keeps only the samples taken under measured load, leaving out start-up.
 */
export function summarizeCpuProfile(file: string, repoRoot: string, window?: [number, number], top = 25): ProfileSummary {
  const profile = CpuProfileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (id: number) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    return url === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'} ${shortUrl(url, repoRoot)}:${lineNumber + 1}`;
  };

  const self = new Map<string, number>();
  const selfVia = new Map<string, Map<string, number>>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the gap before sample i; attributing it to sample i is how DevTools does it.
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (window && (at < window[0] || at > window[1])) return;
    totalUs += dt;
    const { functionName, url } = byId.get(id)!.callFrame;
    if (functionName === IDLE) {
      idleUs += dt;
      return;
    }
    const k = key(id);
    self.set(k, (self.get(k) ?? 0) + dt);
    const p = parent.get(id);
    if (p !== undefined) {
      const via = selfVia.get(k) ?? new Map<string, number>();
      selfVia.set(k, via);
      via.set(key(p), (via.get(key(p)) ?? 0) + dt);
    }
    const a = area(url, functionName, repoRoot);
    areas.set(a, (areas.get(a) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)!;
      const u = node.callFrame.url;
      if (!u.includes(repoRoot) || u.includes('node_modules')) continue;
      const ck = key(cur);
      if (seen.has(ck)) continue;
      seen.add(ck);
      inclusive.set(ck, (inclusive.get(ck) ?? 0) + dt);
    }
  });
  const busyUs = totalUs - idleUs;
  const rows = (m: Map<string, number>, n: number): ProfileRow[] => [...m]
    .sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pct: Math.round((1000 * us) / busyUs) / 10 }));
  const topSelf = rows(self, top).map((r) => {
    const via = [...(selfVia.get(r.name) ?? [])].sort((a, b) => b[1] - a[1])[0];
    return via ? { ...r, via: via[0] } : r;
  });
  return { totalMs: Math.round(totalUs / 1000), busyMs: Math.round(busyUs / 1000), topSelf, byArea: rows(areas, top), repoInclusive: rows(inclusive, top) };
}
