// Redaction evaluation: per-type precision/recall on the labelled corpus and throughput, for our redactor and
// two libraries; person names alone for the NLP libraries we measured as name detectors (compromise's people(),
// wink-nlp's proper-noun tags); plus event throughput of `compileRedactor` on typical and large events.
// Run: node bin/run-ts.mjs bench/redaction.ts [--write]   (--write refreshes bench/redaction-eval.md)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { OpenRedaction } from '@openredaction/openredaction';
import { SyncRedactor } from 'redact-pii';
import nlp from 'compromise';
import winkNLP from 'wink-nlp';
import winkModel from 'wink-eng-lite-web-model';
import { compileRedactor, findPii, DEFAULT_POLICY, type PiiSpan, type RedactionPolicy } from '../ledger/pii/redact.ts';
import { RequestEventSchema, type RequestEvent } from '../contracts/event.ts';

export interface GoldSpan { start: number; end: number; type: string }
export interface CorpusLine { id: string; kind: 'positive' | 'negative'; note: string; text: string; spans: GoldSpan[] }

export const CORPUS_PATH = fileURLToPath(new URL('../test/fixtures/pii/corpus.jsonl', import.meta.url));
export const EVAL_TYPES = ['email', 'phone', 'credit_card', 'ssn', 'iban', 'ip_address', 'secret', 'person_name', 'street_address'] as const;

export function loadCorpus(path = CORPUS_PATH): CorpusLine[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CorpusLine);
}

/** The eval runs our redactor as shipped: every type on, names and addresses included (the default since #19). */
export const EVAL_POLICY: RedactionPolicy = DEFAULT_POLICY;

export interface TypeScore { type: string; gold: number; recalled: number; predicted: number; truePositive: number }
export interface Evaluation { perType: TypeScore[]; negativeLinesFlagged: number; negativeLines: number }

/**
 * Recall: a gold span counts as redacted when ≥ 90 % of its non-space characters are covered by predicted
 * spans of any type (what matters is that the value does not leak). Precision: a predicted span is correct
 * when it overlaps any gold span; it is attributed to its own (mapped) type.
 */
export function evaluate(corpus: readonly CorpusLine[], detect: (text: string) => PiiSpan[]): Evaluation {
  const scores = new Map<string, TypeScore>();
  const score = (type: string): TypeScore => {
    let s = scores.get(type);
    if (!s) { s = { type, gold: 0, recalled: 0, predicted: 0, truePositive: 0 }; scores.set(type, s); }
    return s;
  };
  for (const t of EVAL_TYPES) score(t);
  let negativeLinesFlagged = 0;
  for (const line of corpus) {
    const predicted = detect(line.text);
    if (line.kind === 'negative' && predicted.length > 0) negativeLinesFlagged++;
    const covered = new Uint8Array(line.text.length);
    for (const p of predicted) covered.fill(1, p.start, p.end);
    for (const g of line.spans) {
      const s = score(g.type);
      s.gold++;
      let total = 0;
      let hit = 0;
      for (let i = g.start; i < g.end; i++) {
        if (line.text[i] === ' ') continue;
        total++;
        hit += covered[i]!;
      }
      if (hit >= 0.9 * total) s.recalled++;
    }
    for (const p of predicted) {
      const s = score(p.type);
      s.predicted++;
      if (line.spans.some((g) => p.start < g.end && g.start < p.end)) s.truePositive++;
    }
  }
  return { perType: [...scores.values()], negativeLinesFlagged, negativeLines: corpus.filter((l) => l.kind === 'negative').length };
}

// --- the three detectors, as span producers ------------------------------------------------------------
export const oursDetect = (text: string): PiiSpan[] => findPii(text, EVAL_POLICY);

function mapOpenRedactionType(t: string): string {
  if (t === 'EMAIL') return 'email';
  if (t.startsWith('PHONE')) return 'phone';
  if (t === 'CREDIT_CARD') return 'credit_card';
  if (t === 'SSN') return 'ssn';
  if (t === 'IBAN') return 'iban';
  if (t === 'IPV4' || t === 'IPV6') return 'ip_address';
  if (/API_KEY|_TOKEN$|SECRET|ACCESS_KEY|PRIVATE_KEY|STORAGE_KEY/.test(t)) return 'secret';
  if (t === 'NAME') return 'person_name';
  if (t.startsWith('ADDRESS')) return 'street_address';
  return 'other';
}
const openRedaction = new OpenRedaction();
export const openRedactionDetect = (text: string): PiiSpan[] =>
  openRedaction.detect(text).detections.map((d) => ({ start: d.position[0], end: d.position[1], type: mapOpenRedactionType(d.type) }));

// redact-pii only returns text, and 3.4.0 ignores per-type `replaceWith` (it always writes the snake-cased
// rule name): spans are recovered by aligning its output with the input, since the literal text between
// replacement tokens is preserved verbatim.
const REDACT_PII_TOKENS: Readonly<Record<string, string>> = {
  CREDIT_CARD_NUMBER: 'credit_card', STREET_ADDRESS: 'street_address', ZIPCODE: 'other', PHONE_NUMBER: 'phone', IP_ADDRESS: 'ip_address',
  US_SOCIAL_SECURITY_NUMBER: 'ssn', EMAIL_ADDRESS: 'email', USERNAME: 'other', PASSWORD: 'secret', CREDENTIALS: 'secret', DIGITS: 'other',
  URL: 'other', PERSON_NAME: 'person_name',
};
const TOKEN_SPLIT = new RegExp(`(${Object.keys(REDACT_PII_TOKENS).join('|')})`);
const redactPii = new SyncRedactor();
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function redactPiiDetect(text: string): PiiSpan[] {
  const out = redactPii.redact(text);
  const parts = out.split(TOKEN_SPLIT);
  const types: string[] = [];
  let pattern = '^';
  parts.forEach((p, i) => {
    if (i % 2 === 0) { pattern += escapeRe(p); return; }
    types.push(REDACT_PII_TOKENS[p] ?? 'other');
    pattern += '([\\s\\S]*?)';
  });
  const m = new RegExp(pattern + '$', 'd').exec(text);
  if (!m?.indices) return [];
  const spans: PiiSpan[] = [];
  types.forEach((type, i) => {
    const r = m.indices![i + 1];
    if (r && r[1] > r[0]) spans.push({ start: r[0], end: r[1], type });
  });
  return spans;
}

// --- NLP libraries as person-name detectors (what ledger/pii/people.ts was chosen against) -----------------
/** Finds each value in order from `from`, so repeated words map to their own occurrence. */
function spansOf(text: string, values: readonly string[], type: string): PiiSpan[] {
  const out: PiiSpan[] = [];
  let from = 0;
  for (const v of values) {
    const at = text.indexOf(v, from);
    if (at < 0) continue;
    out.push({ start: at, end: at + v.length, type });
    from = at + v.length;
  }
  return out;
}
/** compromise@14's own person recogniser (its tagger over the whole text). */
export const compromisePeopleDetect = (text: string): PiiSpan[] =>
  spansOf(text, (nlp(text).people().out('array') as string[]).map((p) => p.replace(/[,.;:!?]+$/, '')), 'person_name');
const wink = winkNLP(winkModel);
/** wink-nlp@2 with wink-eng-lite-web-model: its lite model has no PERSON entity, so runs of PROPN tokens. */
export function winkProperNounDetect(text: string): PiiSpan[] {
  const doc = wink.readDoc(text);
  const tokens = doc.tokens().out() as string[];
  const pos = doc.tokens().out(wink.its.pos) as string[];
  const runs: string[] = [];
  let run: string[] = [];
  tokens.forEach((t, i) => {
    if (pos[i] === 'PROPN') run.push(t);
    else if (run.length > 0) { runs.push(run.join(' ')); run = []; }
  });
  if (run.length > 0) runs.push(run.join(' '));
  return spansOf(text, runs, 'person_name');
}
const namesOnly = (detect: (t: string) => PiiSpan[]) => (t: string): PiiSpan[] => detect(t).filter((s) => s.type === 'person_name');

// --- throughput -------------------------------------------------------------------------------------------
function mbPerSecond(texts: readonly string[], fn: (t: string) => unknown, minMs = 1500): number {
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  for (const t of texts) fn(t); // warm-up
  let rounds = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) { for (const t of texts) fn(t); rounds++; }
  return (bytes * rounds) / 1e6 / ((performance.now() - start) / 1000);
}

const PROSE = 'The quarterly report shows revenue grew in every region except the north-east, where two large customers ' +
  'renewed late. Summarise the main drivers in three bullet points, keep it under 120 words, and flag any risk for Q3. ';

/** A ~2 KB chat event: prose plus the ids, counts and timestamps real bodies carry; optionally a few PII values. */
export function typicalEvent(withPii: boolean, i = 0): RequestEvent {
  const user = PROSE.repeat(5) + (withPii ? ` Contact me at jane.doe${i}@example.com or +44 20 7946 ${String(1000 + (i % 9000))}.` : '');
  const request = JSON.stringify({ model: 'gpt-4o-mini', temperature: 0.2, max_tokens: 512, messages: [
    { role: 'system', content: 'You are a concise financial analyst. Answer in English.' }, { role: 'user', content: user }] });
  const response = JSON.stringify({ id: 'chatcmpl-9xYzAbC123', object: 'chat.completion', created: 1718000000 + i, model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: PROSE.repeat(2) + (withPii ? ` I will email jane.doe${i}@example.com.` : '') } }],
    usage: { prompt_tokens: 412, completion_tokens: 96, total_tokens: 508 }, system_fingerprint: 'fp_0aa8d3e20b' });
  return RequestEventSchema.parse({
    schema_version: 1, request_id: '8f14e45f-ceea-4e7a-9f1e-1d2b3c4d5e6f', created_at: '2025-03-14T15:09:26.535Z',
    organization_id: 'org_acme', team: 't', key_id: 'k', user_id: 'u', session_id: '', session_path: '', session_name: '',
    properties: { env: 'prod', customer: withPii ? 'bob@example.org' : 'acme' }, provider: 'openai', model: 'gpt-4o-mini',
    response_model: 'gpt-4o-mini-2024-07-18', endpoint: 'chat', path: '/v1/chat/completions', method: 'POST', target_host: 'api.openai.com',
    stream: false, status: 200, latency_ms: 800, ttfb_ms: 100, ttft_ms: null, finish_reason: 'stop', error_type: '', error_code: '',
    prompt_tokens: 412, completion_tokens: 96, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, tokens_estimated: false,
    cost_usd: 0.0001, cost_known: true, cache_status: 'none', attempts: 1, trace_id: '', span_id: '',
    request_body: request, response_body: response, request_bytes: request.length, response_bytes: response.length,
  });
}

function eventsPerSecond(events: readonly RequestEvent[], redact: (e: RequestEvent) => RequestEvent, minMs = 2000): number {
  for (const e of events) redact(e);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) { for (const e of events) redact(e); n += events.length; }
  return n / ((performance.now() - start) / 1000);
}

// --- report ----------------------------------------------------------------------------------------------
const pct = (a: number, b: number): string => (b === 0 ? '—' : `${((100 * a) / b).toFixed(1)}`);

async function main(): Promise<void> {
  const corpus = loadCorpus();
  const texts = corpus.map((l) => l.text);
  const impls = [
    { name: 'sightline (ledger/pii/redact.ts)', detect: oursDetect },
    { name: '@openredaction/openredaction@1.0.4', detect: openRedactionDetect },
    { name: 'redact-pii@3.4.0 (local regex mode)', detect: redactPiiDetect },
  ];
  const results = impls.map((impl) => ({ ...impl, ev: evaluate(corpus, impl.detect), mbps: mbPerSecond(texts, impl.detect, 1500) }));

  const lines: string[] = [];
  const positives = corpus.filter((l) => l.kind === 'positive');
  lines.push('# Redaction evaluation', '', `Generated by \`node bin/run-ts.mjs bench/redaction.ts --write\` on ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), Node ${process.version}.`, '');
  lines.push(`Corpus: \`test/fixtures/pii/corpus.jsonl\` (built by \`test/fixtures/pii/generate.ts\`): ${positives.reduce((n, l) => n + l.spans.length, 0)} labelled PII spans in ${positives.length} lines (a third embedded in JSON chat bodies), ${corpus.length - positives.length} lookalike negative lines.`, '');
  lines.push('Recall: a labelled value counts as redacted when ≥ 90 % of its characters are covered by any predicted span (the value must not leak). Precision: a predicted span is correct when it overlaps a labelled value; it is counted under its own type (library types mapped onto ours; everything else is `other`).', '');
  lines.push('| type | ' + results.map((r) => `${r.name} P / R (%)`).join(' | ') + ' |');
  lines.push('|---|' + results.map(() => '---|').join(''));
  const types = [...EVAL_TYPES, 'other'];
  for (const t of types) {
    const cells = results.map((r) => {
      const s = r.ev.perType.find((x) => x.type === t);
      if (!s) return '— / —';
      return `${pct(s.truePositive, s.predicted)} / ${pct(s.recalled, s.gold)}` + (s.predicted > 0 ? ` (${s.predicted - s.truePositive} FP)` : '');
    });
    lines.push(`| ${t} | ${cells.join(' | ')} |`);
  }
  const all = results.map((r) => {
    const g = r.ev.perType.reduce((a, s) => ({ gold: a.gold + s.gold, rec: a.rec + s.recalled, pred: a.pred + s.predicted, tp: a.tp + s.truePositive }), { gold: 0, rec: 0, pred: 0, tp: 0 });
    return `${pct(g.tp, g.pred)} / ${pct(g.rec, g.gold)}`;
  });
  lines.push(`| **all** | ${all.join(' | ')} |`);
  lines.push(`| negative lines with any redaction | ${results.map((r) => `${r.ev.negativeLinesFlagged} / ${r.ev.negativeLines}`).join(' | ')} |`);
  lines.push(`| throughput on the corpus (MB/s) | ${results.map((r) => r.mbps.toFixed(r.mbps < 1 ? 3 : 1)).join(' | ')} |`, '');

  // Person names alone, on the lines that carry names and on the lookalike negatives.
  const nameLines = corpus.filter((l) => l.kind === 'negative' || l.spans.some((sp) => sp.type === 'person_name'))
    .map((l) => ({ ...l, spans: l.spans.filter((sp) => sp.type === 'person_name') }));
  const nameImpls = [
    { name: 'sightline (ledger/pii/people.ts: compromise lexicon + context)', detect: namesOnly(oursDetect) },
    { name: 'compromise@14.17.0 people()', detect: compromisePeopleDetect },
    { name: 'wink-nlp@2.4.0 + wink-eng-lite-web-model@1.8.1 (PROPN runs)', detect: winkProperNounDetect },
    { name: '@openredaction/openredaction@1.0.4 (NAME)', detect: namesOnly(openRedactionDetect) },
  ];
  lines.push('## Person names: the NLP libraries measured against each other', '');
  lines.push('Lines with names plus every lookalike negative line; P / R on person_name only, negative lines with a name found, MB/s on these lines.', '');
  lines.push('| detector | P / R (%) | negatives flagged | MB/s |', '|---|---|---|---|');
  for (const impl of nameImpls) {
    const ev = evaluate(nameLines, impl.detect);
    const sc = ev.perType.find((x) => x.type === 'person_name')!;
    const mb = mbPerSecond(nameLines.map((l) => l.text), impl.detect, 800);
    lines.push(`| ${impl.name} | ${pct(sc.truePositive, sc.predicted)} / ${pct(sc.recalled, sc.gold)} | ${ev.negativeLinesFlagged} / ${ev.negativeLines} | ${mb.toFixed(mb < 1 ? 3 : 1)} |`);
  }
  lines.push('');

  // Per type: our detector over the corpus lines that carry that type, so each row is dominated by it.
  lines.push('## Throughput per PII type (sightline, corpus lines of that type)', '');
  lines.push('| type | lines | MB/s |', '|---|---|---|');
  for (const t of EVAL_TYPES) {
    const ofType = positives.filter((l) => l.spans.some((sp) => sp.type === t)).map((l) => l.text);
    if (ofType.length > 0) lines.push(`| ${t} | ${ofType.length} | ${mbPerSecond(ofType, oursDetect, 500).toFixed(1)} |`);
  }
  const negatives = corpus.filter((l) => l.kind !== 'positive').map((l) => l.text);
  lines.push(`| (lookalike negatives) | ${negatives.length} | ${mbPerSecond(negatives, oursDetect, 500).toFixed(1)} |`, '');

  const redact = compileRedactor(DEFAULT_POLICY);
  const clean = Array.from({ length: 64 }, (_, i) => typicalEvent(false, i));
  const dirty = Array.from({ length: 64 }, (_, i) => typicalEvent(true, i));
  const bodyBytes = (e: RequestEvent): number => e.request_body.length + e.response_body.length;
  const epsClean = eventsPerSecond(clean, redact);
  const epsDirty = eventsPerSecond(dirty, redact);
  const big = typicalEvent(true);
  const timeBigBody = (filler: string): { bytes: number; ms: number } => {
    const body = big.request_body.slice(0, -4) + ' ' + filler.repeat(Math.ceil(10_000_000 / filler.length)) + '"}]}';
    const t0 = performance.now();
    const out = redact({ ...big, request_body: body });
    const ms = performance.now() - t0;
    JSON.parse(out.request_body);
    return { bytes: body.length, ms };
  };
  const dense = timeBigBody('Lorem ipsum 1234 dolor sit amet, call 030-1234567 or mail a@b.io. ');
  const prose = timeBigBody(PROSE.repeat(8) + ' Reach me at ops@example.com. ');
  lines.push('## Event throughput of `compileRedactor` (default policy: every detector on, names and addresses included; one core)', '');
  lines.push('| event | body bytes | events/s | µs/event |', '|---|---|---|---|');
  const typicalRow = (name: string, e: RequestEvent, eps: number): string =>
    `| ${name} | ${bodyBytes(e)} | ${Math.round(eps).toLocaleString('en')} | ${(1e6 / eps).toFixed(2)} (${((bodyBytes(e) * eps) / 1e6).toFixed(0)} MB/s) |`;
  // What the two #19 detectors cost: the same events with them switched off.
  const epsDirtyWithout = eventsPerSecond(dirty, compileRedactor({ ...DEFAULT_POLICY, disabledTypes: ['person_name', 'street_address'] }));
  lines.push(
    typicalRow('typical chat event, no PII', clean[0]!, epsClean),
    typicalRow('typical chat event, 3 emails + 1 phone', dirty[0]!, epsDirty),
    typicalRow('the same, person_name and street_address off', dirty[0]!, epsDirtyWithout),
  );
  const bigRow = (name: string, r: { bytes: number; ms: number }): string => `| ${name} | ${r.bytes} | — | ${(r.ms * 1000).toFixed(0)} (${(r.bytes / 1e6 / (r.ms / 1000)).toFixed(0)} MB/s) |`;
  lines.push(bigRow('10 MB prose body, one email per 2 KB', prose), bigRow('10 MB body, a phone and an email every 66 bytes (300k values)', dense));
  const refStart = performance.now();
  for (let i = 0; i < 20_000; i++) { const e = clean[i % clean.length]!; JSON.parse(e.request_body); JSON.parse(e.response_body); }
  lines.push('', `Reference on the same machine at the same time: \`JSON.parse\` of both bodies of the typical event takes ${((performance.now() - refStart) / 20).toFixed(2)} µs; load average during the run: ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores.`, '');

  const report = lines.join('\n');
  console.log(report);
  if (process.argv.includes('--write')) {
    const out = fileURLToPath(new URL('./redaction-eval.md', import.meta.url));
    // Hand-written notes live below the marker and survive regeneration.
    const notes = existsSync(out) ? (readFileSync(out, 'utf8').split('<!-- generated -->')[1] ?? '') : '';
    writeFileSync(out, report + '\n<!-- generated -->' + notes);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
