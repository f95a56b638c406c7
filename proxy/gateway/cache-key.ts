// The exact cache's key: the full normalised request, so that two calls share an answer only when everything that
// can change the answer is the same (the article's "common mistake 2": a cache keyed on the last message hands one
// conversation another's reply). In the key: the organisation, the cache seed, where the call goes (the provider
// route and path, or the alias and the models it resolves to), the headers that change a provider's answer or its
// encoding, a digest of the provider credential when the caller's own key is what pays, and the body — every
// message, tool and parameter — with its object keys sorted, minus Sightline-Cache-Ignore-Keys and the few fields
// that only label a call (`user`, `metadata`, `store`). The key is a sha256 digest: no prompt text is in it.
import { hash } from 'node:crypto';

/** Top-level request fields that tag a call for the provider's records without changing its answer. */
const LABELS: ReadonlySet<string> = new Set(['user', 'metadata', 'store']);
/** Request headers that change what a provider answers, or how the bytes come (the replay is byte for byte). */
export const KEYED_HEADERS: readonly string[] = ['anthropic-version', 'anthropic-beta', 'openai-beta', 'accept-encoding'];

export interface CacheKeyParts {
  organization: string;
  seed: string;
  /** `openai /v1/chat/completions`, or `alias:chat smart → anthropic/claude-sonnet-4-6`. */
  route: string;
  /** KEYED_HEADERS values, in that order ('' when absent). */
  headers: readonly string[];
  /** Digest of the provider credential the caller sent, '' when Sightline's own key pays. */
  credential: string;
  body: unknown;
  ignoreKeys: readonly string[];
}

/** Each part then NUL, then the body: one string digested once (a hash object fed piece by piece cost ~3 µs a call). */
export function cacheKey(p: CacheKeyParts): string {
  return hash('sha256', [p.organization, p.seed, p.route, ...p.headers, p.credential, canonicalBody(p.body, p.ignoreKeys)].join('\0'), 'base64url');
}

/** The body as JSON with every object's keys sorted, without the ignored and labelling top-level fields. */
export function canonicalBody(body: unknown, ignoreKeys: readonly string[]): string {
  return canonical(body, (k) => LABELS.has(k) || ignoreKeys.includes(k));
}

const KEEP_ALL = (): boolean => false;

function canonical(v: unknown, skip: (key: string) => boolean = KEEP_ALL): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + canonical(v[i]);
    return `${out}]`;
  }
  if (isRecord(v)) {
    let out = '{';
    for (const k of Object.keys(v).sort()) {
      const x = v[k];
      if (x === undefined || skip(k)) continue;
      out += `${out.length === 1 ? '' : ','}${JSON.stringify(k)}:${canonical(x)}`;
    }
    return `${out}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A digest of credential values: keys apart without keeping them. */
export function credentialDigest(values: readonly string[]): string {
  if (values.length === 0) return '';
  return hash('sha256', values.join('\0'), 'base64url').slice(0, 22);
}

/**
 * The semantic cache's view of a chat: the text of the last user message (what is embedded) and a scope that is
 * everything else — the same model, system prompt, earlier turns, tools and parameters — so a paraphrase is only
 * answered from a call that differed in that message alone. Undefined for a body that is not a chat whose last
 * message is the user's text.
 */
export function semanticParts(body: unknown): { text: string; rest: Record<string, unknown> } | undefined {
  if (!isRecord(body) || !Array.isArray(body.messages) || body.messages.length === 0) return undefined;
  const messages = body.messages as unknown[];
  const last = messages.at(-1);
  if (!isRecord(last) || last.role !== 'user') return undefined;
  const text = messageText(last.content);
  if (text === undefined || text.trim() === '') return undefined;
  return { text, rest: { ...body, messages: [...messages.slice(0, -1), { role: 'user', content: '\u0000last' }] } };
}

function messageText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const parts: string[] = [];
  for (const part of content) {
    // Only text: a message carrying an image or a tool result is not something a paraphrase can stand for.
    if (!isRecord(part) || part.type !== 'text' || typeof part.text !== 'string') return undefined;
    parts.push(part.text);
  }
  return parts.join('\n');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
