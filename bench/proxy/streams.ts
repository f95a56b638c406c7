// Streams, one at a time: the upstream sends 22 chat chunks 1 ms apart (bench/lib/sse.ts); a sequential client in
// the bench process times raw and Sightline alternately, stream after stream, both proxies running side by side on
// the target core. Per stream: first byte (headers, and the first SSE event), total, and every event's arrival.
// "Held back" shows as a gap between two events that is longer through Sightline than through raw (per-chunk
// added gap), and as a longer send→arrival time of a chunk (delivery, from the upstream's send stamps).
import http from 'node:http';
import type { BenchContext } from './context.ts';
import { chatBody, f, sizeLabel, withTarget } from './context.ts';
import type { StreamSample } from '../lib/sse.ts';
import { STREAM_EVENTS, STREAM_INTERVAL_MS, timedStream } from '../lib/sse.ts';
import { median, percentile } from '../lib/stats.ts';
import type { Verdict } from './targets.ts';
import { printVerdicts, TARGETS, verdict } from './targets.ts';

interface Summary {
  streams: number;
  /** Streams that failed, or did not deliver all STREAM_EVENTS events. */
  bad: number;
  headersMs: [number, number];
  firstEventMs: [number, number];
  totalMs: [number, number];
  deliveryMs: [number, number, number];
}

const p50p99 = (xs: number[]): [number, number] => [percentile(xs, 50) / 1000, percentile(xs, 99) / 1000];

function summarize(samples: StreamSample[]): Summary {
  const delivery = samples.flatMap((s) => s.deliveryUs);
  return {
    streams: samples.length,
    bad: samples.filter((s) => s.error !== undefined || s.status !== 200 || s.arrivalsUs.length !== STREAM_EVENTS).length,
    headersMs: p50p99(samples.map((s) => s.headersUs)),
    firstEventMs: p50p99(samples.map((s) => s.firstEventUs)),
    totalMs: p50p99(samples.map((s) => s.totalUs)),
    deliveryMs: [...p50p99(delivery), Math.max(...delivery) / 1000],
  };
}

const gaps = (s: StreamSample) => s.arrivalsUs.slice(1).map((at, i) => at - s.arrivalsUs[i]!);

/** Each stream's gap before event i minus raw's median gap before event i, pooled over streams and events, ms. */
function addedGaps(samples: StreamSample[], rawMedianGap: number[]): { p99: number; max: number } {
  const added = samples.flatMap((s) => gaps(s).map((g, i) => (g - (rawMedianGap[i] ?? g)) / 1000));
  return { p99: percentile(added, 99), max: Math.max(...added) };
}

export interface StreamsResult { bytes: number; raw: Summary; sightline: Summary; addedGapMs: { p99: number; max: number }; rawGapNoiseMs: { p99: number; max: number } }

export async function runStreams(ctx: BenchContext, sizes: number[], iterations: number, warmup: number): Promise<{ results: StreamsResult[]; verdicts: Verdict[] }> {
  const results: StreamsResult[] = [];
  const found: Verdict[] = [];
  for (const bytes of sizes) {
    process.stderr.write(`  streams ${sizeLabel(bytes)}: ${iterations} × raw and sightline, one at a time…\n`);
    const body = chatBody(bytes, true);
    const samples = { raw: [] as StreamSample[], sightline: [] as StreamSample[] };
    await withTarget(ctx, 'raw', (raw) => withTarget(ctx, 'sightline', async (sl) => {
      const agents = { raw: new http.Agent({ keepAlive: true, maxSockets: 1 }), sightline: new http.Agent({ keepAlive: true, maxSockets: 1 }) };
      const one = async (who: 'raw' | 'sightline', keep: boolean) => {
        const s = await timedStream(agents[who], who === 'raw' ? raw.url : sl.url, body);
        if (keep) samples[who].push(s);
      };
      for (let i = 0; i < warmup + iterations; i++) {
        const keep = i >= warmup;
        if (i % 2 === 0) { await one('raw', keep); await one('sightline', keep); } else { await one('sightline', keep); await one('raw', keep); }
      }
      agents.raw.destroy();
      agents.sightline.destroy();
    }));
    const rawMedianGap = Array.from({ length: STREAM_EVENTS - 1 }, (_, i) => median(samples.raw.map((s) => gaps(s)[i] ?? NaN).filter(Number.isFinite)));
    const r: StreamsResult = {
      bytes, raw: summarize(samples.raw), sightline: summarize(samples.sightline),
      addedGapMs: addedGaps(samples.sightline, rawMedianGap), rawGapNoiseMs: addedGaps(samples.raw, rawMedianGap),
    };
    results.push(r);
    found.push(...print(r));
  }
  return { results, verdicts: found };
}

function print(r: StreamsResult): Verdict[] {
  const { raw, sightline: s } = r;
  console.log(`\n### streams, ${sizeLabel(r.bytes)} request body: ${STREAM_EVENTS} events ${STREAM_INTERVAL_MS} ms apart, one stream at a time, ${s.streams} streams each\n`);
  console.log('| target | headers p50 / p99 ms | first event p50 / p99 ms | total p50 / p99 ms | chunk send→arrival p50 / p99 / max ms | streams not whole |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, m] of [['raw', raw], ['sightline', s]] as const) {
    console.log(`| ${name} | ${f(m.headersMs[0], 3)} / ${f(m.headersMs[1], 3)} | ${f(m.firstEventMs[0], 3)} / ${f(m.firstEventMs[1], 3)} | ${f(m.totalMs[0], 3)} / ${f(m.totalMs[1], 3)} | ` +
      `${f(m.deliveryMs[0], 3)} / ${f(m.deliveryMs[1], 3)} / ${f(m.deliveryMs[2], 3)} | ${m.bad} of ${m.streams} |`);
  }
  const addedFirst = s.firstEventMs[0] - raw.firstEventMs[0];
  const addedTotal = s.totalMs[0] - raw.totalMs[0];
  const addedDelivery = s.deliveryMs[1] - raw.deliveryMs[1];
  console.log(`\nAdded over raw: first event p50 ${f(addedFirst, 3)} ms (p99 ${f(s.firstEventMs[1] - raw.firstEventMs[1], 3)}), total p50 ${f(addedTotal, 3)} ms ` +
    `(p99 ${f(s.totalMs[1] - raw.totalMs[1], 3)}); per-chunk added gap p99 ${f(r.addedGapMs.p99, 3)} ms, max ${f(r.addedGapMs.max, 3)} ms ` +
    `(raw against its own median: p99 ${f(r.rawGapNoiseMs.p99, 3)}, max ${f(r.rawGapNoiseMs.max, 3)}); chunk delivery p99 ${f(addedDelivery, 3)} ms.`);
  const at = `streams ${sizeLabel(r.bytes)}`;
  // A chunk held until the next one is sent would add a whole event interval to a gap and to its delivery. The
  // machine's own jitter is in raw's gaps too, so the gap test is against raw's spread, not against zero.
  const gapOverNoise = r.addedGapMs.p99 - r.rawGapNoiseMs.p99;
  const heldBack = s.bad > 0 || !(gapOverNoise < STREAM_INTERVAL_MS) || !(addedDelivery < STREAM_INTERVAL_MS);
  const out = [
    verdict(`${at}: added first byte (first SSE event, p50)`, `${f(addedFirst, 3)} ms`, `≤ +${TARGETS.streamFirstByteMs} ms`, addedFirst <= TARGETS.streamFirstByteMs),
    verdict(`${at}: added total (p50)`, `${f(addedTotal, 3)} ms`, `≤ +${TARGETS.streamTotalMs} ms`, addedTotal <= TARGETS.streamTotalMs),
    verdict(`${at}: no chunk held back`, `${s.bad} streams not whole; per-chunk added gap p99 ${f(r.addedGapMs.p99, 3)} ms (raw's own ${f(r.rawGapNoiseMs.p99, 3)}), ` +
      `max ${f(r.addedGapMs.max, 3)} ms (raw's own ${f(r.rawGapNoiseMs.max, 3)}); added chunk delivery p99 ${f(addedDelivery, 3)} ms`,
      `every stream whole; added gap p99 within ${STREAM_INTERVAL_MS} ms (one event interval) of raw's own, added delivery p99 < ${STREAM_INTERVAL_MS} ms`, !heldBack),
  ];
  printVerdicts(`Targets: ${at}`, out);
  return out;
}
