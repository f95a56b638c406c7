// Small pieces every adapter needs: narrowing foreign JSON, building the upstream URL, and
// collecting the model's text in a stable order. Nothing here knows about a provider.
import type { Extracted, Usage, UpstreamTarget } from './types.ts';

export type JsonObject = Record<string, unknown>;

export function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

export function asArray(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A token count: a finite non-negative integer, anything else is 0. */
export function asCount(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

export function hasNumber(obj: JsonObject, key: string): boolean {
  return typeof obj[key] === 'number';
}

/**
 * Builds a Usage that keeps the convention (see index.ts): cached tokens are a subset of the prompt,
 * reasoning a subset of the completion. A provider reporting a subset larger than its whole is clamped
 * rather than trusted, so cost never counts a token twice.
 */
export function makeUsage(prompt: number, completion: number, cacheRead: number, cacheWrite: number, reasoning: number): Usage {
  const cache_read_tokens = Math.min(cacheRead, prompt);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    cache_read_tokens,
    cache_write_tokens: Math.min(cacheWrite, prompt - cache_read_tokens),
    reasoning_tokens: Math.min(reasoning, completion),
  };
}

const DETAIL_FIELDS = ['cache_write_1h_tokens', 'input_audio_tokens', 'cache_audio_read_tokens', 'input_image_tokens', 'output_audio_tokens', 'output_image_tokens'] as const;
/** The priced dimensions beyond the five totals, as a response reports them (see Usage). */
export type UsageDetail = Pick<Usage, (typeof DETAIL_FIELDS)[number]>;

/**
 * `u` with the detail counts it reports, each clamped to the total it is part of (as makeUsage clamps), so a
 * provider over-reporting one never makes cost count a token twice. Zero counts are left out.
 */
export function withDetail(u: Usage, d: UsageDetail): Usage {
  const inputAudio = Math.min(d.input_audio_tokens ?? 0, u.prompt_tokens);
  const bounds: Record<(typeof DETAIL_FIELDS)[number], number> = {
    cache_write_1h_tokens: u.cache_write_tokens,
    input_audio_tokens: u.prompt_tokens,
    cache_audio_read_tokens: Math.min(u.cache_read_tokens, inputAudio),
    input_image_tokens: u.prompt_tokens - inputAudio,
    output_audio_tokens: u.completion_tokens,
    output_image_tokens: u.completion_tokens - Math.min(d.output_audio_tokens ?? 0, u.completion_tokens),
  };
  const out: Usage = { ...u };
  for (const field of DETAIL_FIELDS) {
    const n = Math.min(d[field] ?? 0, bounds[field]);
    if (n > 0) out[field] = n;
  }
  return out;
}

/** Two usages of one call added up (a realtime session's responses), field by field. */
export function addUsage(a: Usage, b: Usage): Usage {
  return {
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    cache_read_tokens: a.cache_read_tokens + b.cache_read_tokens,
    cache_write_tokens: a.cache_write_tokens + b.cache_write_tokens,
    reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
    ...Object.fromEntries(DETAIL_FIELDS.flatMap((f) => {
      const n = (a[f] ?? 0) + (b[f] ?? 0);
      return n > 0 ? [[f, n]] : [];
    })),
  };
}

/** Path part of `rest` (the contract passes the query separately, but never trust it blindly). */
export function pathOf(rest: string): string {
  const q = rest.indexOf('?');
  return q < 0 ? rest : rest.slice(0, q);
}

/**
 * `base` + `rest` + `?query`, verbatim (the query may carry Gemini's `key=` and must reach the
 * upstream unchanged). Refuses anything that would land on another origin than `base`.
 */
export function joinTarget(base: string, rest: string, query: string, modelFromPath: string): UpstreamTarget | string {
  if (base === '') return 'No upstream base URL is configured for this route.';
  const trimmed = base.endsWith('/') ? base.slice(0, -1) : base;
  const path = rest.startsWith('/') ? rest : `/${rest}`;
  const url = query === '' ? `${trimmed}${path}` : `${trimmed}${path}?${query}`;
  let baseUrl: URL;
  let full: URL;
  try {
    baseUrl = new URL(trimmed);
    full = new URL(url);
  } catch {
    return `Cannot build an upstream URL from base "${clip(base)}" and path "${clip(rest)}".`;
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') return `Upstream base must be http(s): "${clip(base)}".`;
  if (full.origin !== baseUrl.origin) return `Path "${clip(rest)}" would leave the upstream host.`;
  return { url, modelFromPath };
}

export function clip(s: string, max = 80): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

/**
 * The model's output as ordered slots (one per content block / choice / tool call). Streams append
 * deltas to a slot; whole bodies set it. Slots join with '\n' so text and tool-call JSON stay apart.
 */
export class TextSlots {
  private readonly slots = new Map<string, string>();

  append(key: string, text: string): void {
    if (text === '') {
      if (!this.slots.has(key)) this.slots.set(key, '');
      return;
    }
    this.slots.set(key, (this.slots.get(key) ?? '') + text);
  }

  get size(): number {
    return this.slots.size;
  }

  toString(): string {
    let out = '';
    for (const text of this.slots.values()) {
      if (text === '') continue;
      out = out === '' ? text : `${out}\n${text}`;
    }
    return out;
  }
}

/**
 * What a stream accumulator reads off a response besides its usage, which each provider counts its own way. A
 * subclass fills these frame by frame and spreads `response()` after its usage fields.
 */
export abstract class StreamResponse {
  protected tier: string | undefined;
  protected model = '';
  protected id = '';
  protected finish = '';
  protected errorType = '';
  protected readonly slots = new TextSlots();

  /** `text` for a stream whose answer is not in its slots (a Responses stream whose deltas never came). */
  protected response(text = this.slots.toString()): Omit<Extracted, 'usage' | 'usage_final'> {
    return { service_tier: this.tier, response_model: this.model, response_id: this.id || undefined, finish_reason: this.finish, error_type: this.errorType, text };
  }
}

export function emptyExtracted(): Extracted {
  return { usage: null, response_model: '', finish_reason: '', error_type: '', text: '' };
}

/**
 * A Batch API results file: every non-empty line a JSON object with the caller's `custom_id`, read by `line` into
 * that request's usage and model. Null when any line is not such an object (the file is something else).
 */
export function readBatchLines(jsonl: string, line: (o: JsonObject) => { usage: Usage | null; model: string }): Extracted | null {
  let usage: Usage | null = null;
  let model = '';
  let lines = 0;
  for (const raw of jsonl.split('\n')) {
    if (raw.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return null;
    }
    const o = asObject(parsed);
    if (!o || typeof o.custom_id !== 'string') return null;
    lines++;
    const read = line(o);
    if (read.usage) usage = usage ? addUsage(usage, read.usage) : read.usage;
    model ||= read.model;
  }
  if (lines === 0) return null;
  return { usage, service_tier: 'batch', response_model: model, finish_reason: '', error_type: '', text: '' };
}
