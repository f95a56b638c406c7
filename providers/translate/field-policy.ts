// Every top-level field of a caller's request has a stated fate per serving provider: it maps, it is approximated
// (noted in TranslatedRequest.approximated), or it is refused with a TranslationError naming it. A field outside the
// table is refused too, so a parameter added to the caller's API later is never dropped unseen. The tables are the
// source of the README's translation table (a test checks that every field in them is documented there).
import type { z } from 'zod';
import type { JsonObject } from '../shared.ts';
import { at, invalidRequest, untranslatable } from './errors.ts';

export type Support =
  | { readonly kind: 'maps' }
  /** Carried over with a loss `how` describes; values for which `exact` holds are carried exactly (no note). */
  | { readonly kind: 'approximated'; readonly how: string; readonly exact?: (value: unknown) => boolean }
  /** No equivalent; values for which `harmless` holds (the caller's API default) are accepted and dropped. */
  | { readonly kind: 'refused'; readonly why: string; readonly harmless?: (value: unknown) => boolean };

export const MAPS: Support = Object.freeze({ kind: 'maps' });

export function approximated(how: string, exact?: (value: unknown) => boolean): Support {
  return exact ? { kind: 'approximated', how, exact } : { kind: 'approximated', how };
}

export function refused(why: string, harmless?: (value: unknown) => boolean): Support {
  return harmless ? { kind: 'refused', why, harmless } : { kind: 'refused', why };
}

/** Value predicates for `exact` / `harmless`. */
export const isFalse = (v: unknown): boolean => v === false;
export const isZero = (v: unknown): boolean => v === 0;
export const isEmptyObject = (v: unknown): boolean => typeof v === 'object' && v !== null && Object.keys(v).length === 0;
export const isOne = (v: unknown): boolean => v === 1;
export const isTrue = (v: unknown): boolean => v === true;
export const oneOf =
  (...values: readonly unknown[]) =>
  (v: unknown): boolean =>
    values.includes(v);

export interface FieldCheck {
  /** The caller's API, for the unknown-field message (`Chat Completions`, `Messages`). */
  api: string;
  /** The serving provider's name as refusals print it (`Anthropic`, `Gemini`). */
  served: string;
  table: Readonly<Record<string, Support>>;
}

/**
 * Applies a table to a body's top-level fields: throws for an unknown or refused field, appends the approximated
 * ones to `notes`. A null value counts as absent, as the caller's own API reads it.
 */
export function checkFields(body: JsonObject, check: FieldCheck, notes: string[]): void {
  for (const key of Object.keys(body)) {
    const value = body[key];
    if (value === null || value === undefined) continue;
    const support = check.table[key];
    if (support === undefined) throw untranslatable(key, check.served, `not a ${check.api} parameter Sightline knows how to translate`);
    if (support.kind === 'refused' && !support.harmless?.(value)) throw untranslatable(key, check.served, support.why);
    if (support.kind === 'approximated' && !support.exact?.(value)) notes.push(key);
  }
}

/** One provider's column of a table that has one per provider. */
export function column<K extends string>(table: Readonly<Record<string, Readonly<Record<K, Support>>>>, key: K): Record<string, Support> {
  const out: Record<string, Support> = {};
  for (const [field, row] of Object.entries(table)) out[field] = row[key];
  return out;
}

/** Validates a caller's body at the boundary; the first problem becomes a 400 naming its field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown, api: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue ? issue.path.reduce<string>((p, k) => at(p, typeof k === 'number' ? k : String(k)), '') : '';
  throw invalidRequest(path === '' ? 'body' : path, issue?.message ?? `is not a ${api} request`);
}
