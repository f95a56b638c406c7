// PII redaction, shared by the ingest worker (before anything is stored) and the gateway (its cache keys and stored
// entries, from the proxy process, which may not import ingest/).
//
// Shape (pino style): `compileRedactor` does all the work that depends on policy once (regexes,
// allowlists, per-organisation variants); the function it returns is pure and allocation-light.
//
// Bodies are JSON text and are scanned raw, never parsed: parsing and re-serialising a 2 KB body costs
// more than the whole budget, and would rewrite bytes we have no reason to touch. Two consequences:
//  - a match may start right after a JSON escape (`\nsk-…`, `\u00e9john@…`): the boundary rules treat the
//    escape as a separator and never let a span begin inside one, and no built-in pattern can match a quote
//    or backslash, so a replacement never breaks the JSON. Custom patterns are checked for the same.
//  - `\u0040`-style escapes of printable ASCII (which no mainstream encoder emits, but which would hide an
//    address from a raw scan) are first unescaped in bodies; the JSON still decodes to the same value.
//
// Decisions (documented in bench/redaction-eval.md too):
//  - IPv4 in a version context (`version 1.2.3.4`, `v1.2.3.4`, `Chrome/120.0.0.0`, `1.2.3.4.5`) is not an address.
//  - Phone numbers need a `+` country code or a separator-shaped national format; bare digit runs and
//    numbers right after `order`/`tracking`/`invoice`/`#`… are not phones.
//  - Cards need 13–19 digits, a known IIN prefix and a valid Luhn sum; SSNs follow SSA validity rules;
//    IBANs need the country's length and mod-97 = 1.
//  - user_id (and every other attribution column) is left alone: it is how requests are attributed, and
//    callers choose it. Only request_body, response_body and property values are redacted.
import type { RequestEvent } from '../../contracts/event.ts';
import { startsAtBoundary } from './boundary.ts';
import type { PiiSpan } from './boundary.ts';
import { scanPersonNames, scanStreetAddresses } from './people.ts';
import { DIGITS, positionsOf, SHORT_TEXT } from './scan.ts';

export type { PiiSpan } from './boundary.ts';

export interface RedactionPolicy {
  enabled: boolean;
  disabledTypes: readonly string[];
  custom: Readonly<Record<string, string>>;
  allowlist: readonly string[];
}

/**
 * Built-in types, all on by default: person names and street addresses reached the targets of issue #19 on the
 * labelled corpus (bench/redaction-eval.md), so they are no longer opt-in. A type is switched off with
 * `disabledTypes`; `custom: { person_name: '' }` (empty source = the built-in detector) still names one.
 */
export const PII_TYPES: readonly string[] = [
  'email', 'phone', 'credit_card', 'ssn', 'iban', 'ip_address', 'secret', 'person_name', 'street_address',
];
/** Types a policy must switch on (none today; kept so a future detector below its targets can ship off). */
export const OPT_IN_TYPES: readonly string[] = [];

export const DEFAULT_POLICY: RedactionPolicy = { enabled: true, disabledTypes: [], custom: {}, allowlist: [] };

const LABELS: Readonly<Record<string, string>> = {
  email: 'EMAIL', phone: 'PHONE', credit_card: 'CREDIT_CARD', ssn: 'SSN', iban: 'IBAN', ip_address: 'IP_ADDRESS',
  secret: 'SECRET', person_name: 'NAME', street_address: 'ADDRESS',
};


/** Placeholder numbering shared by every text of one event. */
interface PlaceholderState { readonly byValue: Map<string, string>; readonly counts: Map<string, number> }

const END = String.raw`(?![A-Za-z0-9_])`;

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

function oddBackslashesBefore(text: string, pos: number): boolean {
  let n = 0;
  while (pos - 1 - n >= 0 && text.charCodeAt(pos - 1 - n) === 92) n++;
  return n % 2 === 1;
}

function digitsOf(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) if (isDigit(s.charCodeAt(i))) out += s[i];
  return out;
}

// --- email: found from each '@' outwards (memchr-fast), no regex over the whole text -------------------
const isLocalChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
const isDomainChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 46 || c === 45;

function scanEmails(text: string, out: PiiSpan[]): void {
  let at = text.indexOf('@');
  while (at !== -1) {
    let s = at;
    while (s > 0 && isLocalChar(text.charCodeAt(s - 1))) s--;
    if (s > 0 && text.charCodeAt(s - 1) === 92 && oddBackslashesBefore(text, s)) s += text[s] === 'u' ? 5 : 1;
    while (s < at && text.charCodeAt(s) === 46) s++;
    let e = at + 1;
    while (e < text.length && isDomainChar(text.charCodeAt(e))) e++;
    while (e > at + 1 && (text.charCodeAt(e - 1) === 46 || text.charCodeAt(e - 1) === 45)) e--;
    if (s < at && validDomain(text, at + 1, e)) {
      out.push({ start: s, end: e, type: 'email' });
      at = text.indexOf('@', e);
    } else {
      at = text.indexOf('@', at + 1);
    }
  }
}

function validDomain(text: string, from: number, to: number): boolean {
  const lastDot = text.lastIndexOf('.', to - 1);
  if (lastDot <= from || to - lastDot - 1 < 2) return false;
  for (let i = lastDot + 1; i < to; i++) {
    const c = text.charCodeAt(i) | 0x20;
    if (c < 97 || c > 122) return false; // TLDs are letters: `pkg@1.2.3` and `node@20.1.0` are not addresses
  }
  return text.charCodeAt(from) !== 46;
}

// --- numbers: one combined regex, one pass; each alternative is a capture group validated in code -------
const OCTET = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`;
const INTERNATIONAL = String.raw`(?:\+|00 ?(?=[1-9]\d{0,2}[ .\-]))(?:[1-9]\d{6,14}|[1-9]\d{0,2}(?:[ .\-]?\(\d{1,5}\)[ .\-]?\d{1,14})?(?:[ .\-]\d{1,14}){0,6})(?!\d|[\-.]\d)`;
/** A 00-prefixed number looks like a card candidate to NUMERIC_RE (its leftmost alternative): tried again here when that fails. */
const INTERNATIONAL_AT = new RegExp(INTERNATIONAL, 'y');
const NUMERIC_RE = new RegExp(
  String.raw`(?:` +
    // 1 SSN, dashed or spaced (validity checked in code)
    String.raw`(\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})(?![\d]|[\-.]\d)` +
    // 2 IPv4
    String.raw`|(${OCTET}(?:\.${OCTET}){3})(?!\d|\.\d)` +
    // 3 card candidate: 13–19 digits with optional single space/dash separators, not part of a longer cluster
    String.raw`|((?:\d[ \-]?){12,18}\d)(?![ \-]?\d)` +
    // 4 North American: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199
    String.raw`|((?:1[ .\-])?(?:\([2-9]\d{2}\)[ .\-]?|[2-9]\d{2}-(?=\d{3}-)|[2-9]\d{2}\.(?=\d{3}\.)|[2-9]\d{2} (?=\d{3} ))[2-9]\d{2}[ .\-]\d{4})(?!\d|[\-.]\d)` +
    // 5 national trunk formats: 030-1234567, 020 7946 0958, 07700 900123, 01 42 68 53 00, (020) 7946 0958
    String.raw`|(0[1-9](?:[ .\-]\d{2}){4}|0[1-9]\d{0,4}(?:[ \-/]\d{3,8}){1,2}|\(0[1-9]\d{0,4}\)[ \-]?\d{2,8}(?:[ \-]\d{2,8}){0,2})(?!\d|[\-.:]\d)` +
    // 6 bare 9 digits: an SSN only with an SSN keyword just before (checked in code)
    String.raw`|(\d{9})(?!\d)` +
  ')|' +
  // 7 international: +44 20 7946 0958, +49 30 901820, +1 (415) 555-2671; or with the 00 prefix: 0044 20 7946 0958
  String.raw`(${INTERNATIONAL})`,
  'g',
);
/** An extension after a phone number: `ext. 12`, `x414`, `extension 5`, `#7`. */
const EXTENSION = /^,? ?(?:ext\.?|extension|x|#) ?\d{1,6}(?![A-Za-z0-9_])/i;

const VERSION_CONTEXT = /(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\brev|\bupdate|[A-Za-z]\/)\s*[:=]?\s*$/i;
const NOT_A_PHONE_CONTEXT = /(?:\b(?:order|tracking|track|invoice|inv|ref|reference|ticket|case|acct|account|sku|serial|part|po|shipment|isbn|id|no\.?|zip|postcode|postal code|plz)\b[^\n]{0,12}|#\s*)$/i;
const SSN_CONTEXT = /\b(?:ssn|social security(?: number| no\.?)?|soc\.? sec\.?)\b\W{0,4}$/i;

function before(text: string, pos: number, n: number): string {
  return text.slice(Math.max(0, pos - n), pos);
}

function validSsn(d: string): boolean {
  const area = d.slice(0, 3);
  if (area === '000' || area === '666' || area[0] === '9') return false;
  if (d.slice(3, 5) === '00' || d.slice(5) === '0000') return false;
  return d !== '078051120' && d !== '219099999'; // famous advertising/sample numbers
}

function luhn(d: string): boolean {
  let sum = 0;
  for (let i = d.length - 1, alt = false; i >= 0; i--, alt = !alt) {
    let v = d.charCodeAt(i) - 48;
    if (alt) { v *= 2; if (v > 9) v -= 9; }
    sum += v;
  }
  return sum % 10 === 0;
}

/** Issuer prefixes: Luhn alone passes one random number in ten, the IIN ranges cut that by another ~3×. */
function knownIssuer(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p4 = Number(d.slice(0, 4));
  if (d[0] === '4') return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // Amex
  if (d.startsWith('6011') || d.startsWith('65') || (p4 >= 6440 && p4 <= 6499) || d.startsWith('622')) return n >= 16; // Discover/UnionPay
  if (p4 >= 3528 && p4 <= 3589) return n >= 16; // JCB
  if ((p2 === 36 || p2 === 38 || (p4 >= 3000 && p4 <= 3059))) return n >= 14; // Diners
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 12; // Maestro
  return false;
}

function validCard(raw: string): boolean {
  const d = digitsOf(raw);
  if (d.length < 13 || d.length > 19) return false;
  const seps = raw.replace(/\d/g, '');
  if (seps.length > 0 && seps !== seps[0]!.repeat(seps.length)) return false; // mixed separators: not one number
  return knownIssuer(d) && luhn(d);
}

function validPhoneDigits(raw: string, min: number, max: number): boolean {
  const n = digitsOf(raw).length;
  return n >= min && n <= max;
}

const NUMERIC_AT = new RegExp(NUMERIC_RE.source, 'y');

/**
 * NUMERIC_RE's next match from `from`, as its global exec would find it. With the text's digit positions, it is
 * tried (sticky) only where a match can start: every alternative starts with a digit, or with `(` or `+` right
 * before one. Without them (dense text) the regex scans itself. `cursor` is where the digit list was left.
 */
function numericFrom(text: string, from: number, digits: Int32Array | undefined, cursor: { i: number }): RegExpExecArray | null {
  if (digits === undefined) {
    NUMERIC_RE.lastIndex = from;
    return NUMERIC_RE.exec(text);
  }
  for (; cursor.i < digits.length; cursor.i++) {
    const d = digits[cursor.i]!;
    if (d < from) continue;
    const p = d - 1;
    if (p >= from && (text.charCodeAt(p) === 40 || text.charCodeAt(p) === 43)) {
      NUMERIC_AT.lastIndex = p;
      const m = NUMERIC_AT.exec(text);
      if (m !== null) return m;
    }
    NUMERIC_AT.lastIndex = d;
    const m = NUMERIC_AT.exec(text);
    if (m !== null) return m;
  }
  return null;
}

function scanNumeric(text: string, out: PiiSpan[], types: ReadonlySet<string>, digits: Int32Array | undefined): void {
  const cursor = { i: 0 };
  let next = 0; // NUMERIC_RE's lastIndex
  let m: RegExpExecArray | null;
  while ((m = numericFrom(text, next, digits, cursor)) !== null) {
    const start = m.index;
    next = start + m[0].length;
    if (!startsAtBoundary(text, start, m[7] !== undefined ? '+' : '.-+')) { next = start + 1; continue; }
    let end = start + m[0].length;
    let type: string | undefined;
    if (m[1] !== undefined) type = validSsn(digitsOf(m[1])) ? 'ssn' : undefined;
    else if (m[2] !== undefined) type = VERSION_CONTEXT.test(before(text, start, 12)) ? undefined : 'ip_address';
    else if (m[3] !== undefined) {
      type = validCard(m[3]) ? 'credit_card' : undefined;
      if (type === undefined && m[3].startsWith('00')) {
        INTERNATIONAL_AT.lastIndex = start;
        const intl = INTERNATIONAL_AT.exec(text);
        if (intl !== null && validPhoneDigits(intl[0], 10, 17) && !NOT_A_PHONE_CONTEXT.test(before(text, start, 24))) {
          type = 'phone';
          end = start + intl[0].length;
          next = end;
        }
      }
    }
    else if (m[4] !== undefined || m[5] !== undefined) {
      type = (m[4] !== undefined || validPhoneDigits(m[5]!, 9, 12)) && !NOT_A_PHONE_CONTEXT.test(before(text, start, 24)) ? 'phone' : undefined;
    } else if (m[6] !== undefined) type = validSsn(m[6]) && SSN_CONTEXT.test(before(text, start, 30)) ? 'ssn' : undefined;
    else if (m[7] !== undefined) {
      // The 00 prefix is dialled, not part of the number: 8–15 digits after it, as after a `+`.
      const plus = m[7].startsWith('+');
      type = validPhoneDigits(m[7], plus ? 8 : 10, plus ? 15 : 17) && !NOT_A_PHONE_CONTEXT.test(before(text, start, 24)) ? 'phone' : undefined;
    }
    if (type === undefined || !types.has(type)) continue;
    let spanEnd = end;
    if (type === 'phone') {
      const ext = EXTENSION.exec(text.slice(end, end + 20));
      if (ext !== null) {
        spanEnd = end + ext[0].length;
        next = spanEnd;
      }
    }
    out.push({ start, end: spanEnd, type });
    // A rejected card-shaped cluster may still contain an IP or phone only if it had dots; nothing to retry.
  }
}

// --- IBAN ---------------------------------------------------------------------------------------------
const IBAN_RE = new RegExp(String.raw`[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?` + END, 'g');
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27,
  GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LI: 21, LT: 20, LU: 20,
  LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25,
  QA: 29, RO: 24, RS: 22, SA: 24, SE: 24, SI: 19, SK: 24, SM: 27, TN: 24, TR: 26, UA: 29, VG: 24, XK: 20,
};

export function validIban(raw: string): boolean {
  const s = raw.replace(/ /g, '');
  const want = IBAN_LENGTHS[s.slice(0, 2)];
  if (want === undefined || s.length !== want) return false;
  const rearranged = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    const v = c <= 57 ? c - 48 : c - 55;
    rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

const IBAN_AT = new RegExp(IBAN_RE.source, 'y');
const isUpper = (c: number): boolean => c >= 65 && c <= 90;

function scanIban(text: string, out: PiiSpan[], digits: Int32Array | undefined): void {
  if (digits === undefined) {
    IBAN_RE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = IBAN_RE.exec(text)) !== null) {
      if (!startsAtBoundary(text, m.index, '')) { IBAN_RE.lastIndex = m.index + 1; continue; }
      if (validIban(m[0])) out.push({ start: m.index, end: m.index + m[0].length, type: 'iban' });
    }
    return;
  }
  // The same matches, tried only two letters before a pair of digits (an IBAN's `[A-Z]{2}\d{2}` start).
  let next = 0;
  for (const d of digits) {
    const s = d - 2;
    if (s < next || !isUpper(text.charCodeAt(s)) || !isUpper(text.charCodeAt(s + 1)) || !isDigit(text.charCodeAt(d + 1))) continue;
    IBAN_AT.lastIndex = s;
    const m = IBAN_AT.exec(text);
    if (m === null) continue;
    if (!startsAtBoundary(text, s, '')) { next = s + 1; continue; }
    if (validIban(m[0])) out.push({ start: s, end: s + m[0].length, type: 'iban' });
    next = s + m[0].length;
  }
}

// --- IPv6 ---------------------------------------------------------------------------------------------
const H = '[0-9A-Fa-f]{1,4}';
const IPV6_RE = new RegExp(
  String.raw`(?<![0-9A-Za-z_:.])(?:` +
    [
      `(?:${H}:){7}${H}`,
      `(?:${H}:){1,4}:${OCTET}(?:\\.${OCTET}){3}`,
      `::(?:ffff(?::0{1,4})?:)?${OCTET}(?:\\.${OCTET}){3}`,
      `(?:${H}:){1,6}:${H}`,
      `(?:${H}:){1,5}(?::${H}){1,2}`,
      `(?:${H}:){1,4}(?::${H}){1,3}`,
      `(?:${H}:){1,3}(?::${H}){1,4}`,
      `(?:${H}:){1,2}(?::${H}){1,5}`,
      `${H}:(?::${H}){1,6}`,
      `:(?::${H}){1,7}`,
      `(?:${H}:){1,7}:`,
    ].join('|') +
  String.raw`)(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z_:])`,
  'g',
);
// 8 full groups, or a `::` form: MAC addresses and clock times (`12:30:45`) never qualify.
// Both alternatives start with ':', so irregexp scans for that one character.
const IPV6_HINT = new RegExp(`::|:${H}:${H}:${H}:`);

const IPV6_HINT_AT = new RegExp(IPV6_HINT.source, 'y');

/** IPV6_HINT.test, tried only at colons (both its alternatives start with one), found by memchr. */
function ipv6Hint(text: string): boolean {
  for (let i = text.indexOf(':'); i !== -1; i = text.indexOf(':', i + 1)) {
    IPV6_HINT_AT.lastIndex = i;
    if (IPV6_HINT_AT.test(text)) return true;
  }
  return false;
}

function scanIpv6(text: string, out: PiiSpan[]): void {
  if (!ipv6Hint(text)) return;
  IPV6_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = IPV6_RE.exec(text)) !== null) {
    // `dead::beef`, `a::b` in code: a real address nearly always carries a digit and more than one group.
    if (/\d/.test(m[0]) && /[0-9A-Fa-f]:+[0-9A-Fa-f]/.test(m[0])) out.push({ start: m.index, end: m.index + m[0].length, type: 'ip_address' });
  }
}

// --- secrets: literal prefixes, so irregexp's quick checks skip most of the text ----------------------
const TOKEN_END = String.raw`(?![A-Za-z0-9_\-])`;
const SECRET_RE = new RegExp(
  String.raw`(?:` +
    String.raw`sk-ant-[A-Za-z0-9_\-]{20,}` +
    String.raw`|(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,})` + // group 1: needs a digit and a letter (kebab-case words are not keys)
    String.raw`|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}` +
    String.raw`|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}` +
    String.raw`|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}` +
    String.raw`|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}` +
  ')' + TOKEN_END +
  // group 2: the token after `Bearer` (the scheme word itself stays)
  String.raw`|[Bb]earer\s+([A-Za-z0-9._~+/\-]{16,}=*)(?![A-Za-z0-9._~+/=\-])`,
  'g',
);
/**
 * Whether the text holds one of SECRET_RE's prefixes: exactly `/sk[-_]|rk_|A[KSBC][IC]A|gh[pousr]_|github_pat_|eyJ|[Bb]earer/.test`,
 * but found from the prefixes' rare characters (`-`, `_`, `A`, `J`, and `bearer`/`Bearer`, whose first letters are
 * rare too) by single-character indexOf: that regex steps through prose at ~0.7 ns a character (its first
 * characters `s`, `r`, `e`, `g`, `b` are common letters), ~12 µs of a 16 KiB body; these memchr passes ~1.5 µs.
 */
function secretHint(text: string): boolean {
  for (let i = text.indexOf('J'); i !== -1; i = text.indexOf('J', i + 1)) if (i >= 2 && text[i - 2] === 'e' && text[i - 1] === 'y') return true;
  for (let i = text.indexOf('-'); i !== -1; i = text.indexOf('-', i + 1)) if (i >= 2 && text[i - 2] === 's' && text[i - 1] === 'k') return true;
  for (let i = text.indexOf('_'); i !== -1; i = text.indexOf('_', i + 1)) {
    if (i < 2) continue;
    const a = text[i - 2];
    const b = text[i - 1]!;
    if (b === 'k' && (a === 's' || a === 'r')) return true;
    if (i >= 3 && text[i - 3] === 'g' && a === 'h' && 'pousr'.includes(b)) return true;
    if (i >= 6 && text.startsWith('github_pat_', i - 6)) return true;
  }
  for (let i = text.indexOf('A'); i !== -1; i = text.indexOf('A', i + 1)) {
    if ('KSBC'.includes(text[i + 1] ?? '.') && 'IC'.includes(text[i + 2] ?? '.') && text[i + 3] === 'A') return true;
  }
  return text.includes('Bearer') || text.includes('bearer');
}

function scanSecrets(text: string, out: PiiSpan[]): void {
  if (!secretHint(text)) return;
  SECRET_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = SECRET_RE.exec(text)) !== null) {
    if (!startsAtBoundary(text, m.index, '-')) { SECRET_RE.lastIndex = m.index + 1; continue; }
    if (m[2] !== undefined) {
      const start = m.index + m[0].length - m[2].length;
      out.push({ start, end: start + m[2].length, type: 'secret' });
      continue;
    }
    if (m[1] !== undefined && !(/\d/.test(m[1].slice(3)) && /[A-Za-z]/.test(m[1].slice(3)))) continue;
    out.push({ start: m.index, end: m.index + m[0].length, type: 'secret' });
  }
}

function scanRegex(re: RegExp, type: string, group: number, text: string, out: PiiSpan[]): void {
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) { re.lastIndex++; continue; }
    const g = m[group];
    if (g === undefined) continue;
    const start = m.index + m[0].lastIndexOf(g);
    out.push({ start, end: start + g.length, type });
  }
}

// ---------------------------------------------------------------------------------------------------
interface CustomPattern { type: string; re: RegExp }

/** Everything that depends on a policy, built once. */
interface CompiledPolicy {
  readonly enabled: boolean;
  readonly types: ReadonlySet<string>;
  readonly numeric: boolean;
  readonly custom: readonly CustomPattern[];
  readonly allowlist: ReadonlySet<string>;
}

function customLabel(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

function compilePolicy(p: RedactionPolicy): CompiledPolicy {
  const disabled = new Set(p.disabledTypes);
  const types = new Set(PII_TYPES.filter((t) => !disabled.has(t) && (!OPT_IN_TYPES.includes(t) || p.custom[t] === '')));
  const custom: CustomPattern[] = [];
  for (const [name, source] of Object.entries(p.custom)) {
    if (source === '' && OPT_IN_TYPES.includes(name)) continue;
    if (disabled.has(name)) continue;
    try {
      custom.push({ type: name, re: new RegExp(source, 'g') });
    } catch (err) {
      throw new Error(`redaction.custom.${name}: invalid regular expression: ${(err as Error).message}`);
    }
  }
  const numeric = ['phone', 'credit_card', 'ssn', 'ip_address'].some((t) => types.has(t));
  return { enabled: p.enabled, types, numeric, custom, allowlist: new Set(p.allowlist) };
}

/** A custom match must not split a JSON escape or cross a string boundary; trims or rejects it. */
function jsonSafeSpan(text: string, start: number, end: number): [number, number] | undefined {
  let s = start;
  if (s > 0 && text.charCodeAt(s - 1) === 92 && oddBackslashesBefore(text, s)) s += text[s] === 'u' ? 5 : 1;
  let e = end;
  while (e > s && text.charCodeAt(e - 1) === 92 && oddBackslashesBefore(text, e)) e--;
  if (e <= s) return undefined;
  for (let i = s; i < e; i++) {
    if (text.charCodeAt(i) === 34 && !oddBackslashesBefore(text, i)) return undefined;
  }
  return [s, e];
}

const ANY_DIGIT = /\d/;

function detect(text: string, cp: CompiledPolicy): PiiSpan[] {
  const spans: PiiSpan[] = [];
  const t = cp.types;
  if (t.has('email') && text.includes('@')) scanEmails(text, spans);
  if (t.has('secret')) scanSecrets(text, spans);
  // Every numeric, IBAN and street match holds a digit. Their positions (ten memchr passes) replace a regex
  // pass of each detector over prose; undefined when dense (more than one in 16 characters: the regexes scan).
  // Below SHORT_TEXT characters the regexes' own scans cost no more than finding the candidates (measured on
  // the ingest bench's 3.4 KB events), so short texts keep them.
  const digits = text.length < SHORT_TEXT || !(cp.numeric || t.has('iban') || t.has('street_address')) ? undefined : positionsOf(text, DIGITS, text.length >> 4);
  const anyDigit = digits === undefined ? ANY_DIGIT.test(text) : digits.length > 0;
  if (cp.numeric && anyDigit) scanNumeric(text, spans, t, digits);
  if (t.has('ip_address')) scanIpv6(text, spans);
  if (t.has('iban') && anyDigit) scanIban(text, spans, digits);
  if (t.has('person_name')) scanPersonNames(text, spans);
  if (t.has('street_address') && anyDigit) scanStreetAddresses(text, spans, digits);
  for (const c of cp.custom) {
    const raw: PiiSpan[] = [];
    scanRegex(c.re, c.type, 0, text, raw);
    for (const r of raw) {
      const safe = jsonSafeSpan(text, r.start, r.end);
      if (safe) spans.push({ start: safe[0], end: safe[1], type: c.type });
    }
  }
  return resolveOverlaps(spans, text, cp.allowlist);
}


/** Earliest start wins; on a tie the longer span. Allowlisted values are dropped first. */
function resolveOverlaps(spans: PiiSpan[], text: string, allowlist: ReadonlySet<string>): PiiSpan[] {
  const kept = allowlist.size === 0 ? spans : spans.filter((s) => !allowlist.has(text.slice(s.start, s.end)));
  if (kept.length < 2) return kept;
  kept.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: PiiSpan[] = [kept[0]!];
  for (let i = 1; i < kept.length; i++) {
    const s = kept[i]!;
    if (s.start >= out[out.length - 1]!.end) out.push(s);
  }
  return out;
}

const NUMERIC_TYPES = new Set(['phone', 'credit_card', 'ssn', 'iban']);

function placeholderFor(type: string, value: string, state: PlaceholderState): string {
  const norm = NUMERIC_TYPES.has(type) ? value.replace(/[^0-9A-Za-z]/g, '') : type === 'email' ? value.toLowerCase() : value;
  const key = `${type}\u0000${norm}`;
  const known = state.byValue.get(key);
  if (known !== undefined) return known;
  const label = LABELS[type] ?? customLabel(type);
  const n = (state.counts.get(label) ?? 0) + 1;
  state.counts.set(label, n);
  const ph = `[${label}_${n}]`;
  state.byValue.set(key, ph);
  return ph;
}

// `\u0040`-style escapes of characters PII is made of; `"` and `\` stay escaped, `<>&` (Go) are left alone.
const ESCAPED_ASCII = /(?<!\\)((?:\\\\)*)\\u00(4[0-9A-Fa-f]|5[0-9AaBbFf]|6[0-9A-Fa-f]|7[0-9Aa]|3[0-9Aa]|2[BbDdEe])/g;


/**
 * Whether ESCAPED_ASCII can match: `/\\u00[2-7]/.test`, from each `\u00` (a substring search V8 runs as a memchr
 * of its rare first character; the regex stepped through a 16 KiB body in ~2.4 µs).
 */
function hasEscapedPrintable(text: string): boolean {
  for (let i = text.indexOf('\\u00'); i !== -1; i = text.indexOf('\\u00', i + 1)) {
    const c = text.charCodeAt(i + 4);
    if (c >= 50 && c <= 55) return true;
  }
  return false;
}

function unescapePrintable(text: string): string {
  if (!hasEscapedPrintable(text)) return text;
  return text.replace(ESCAPED_ASCII, (_m, bs: string, hex: string) => bs + String.fromCharCode(parseInt(hex, 16)));
}

function redactWith(text: string, cp: CompiledPolicy, state: PlaceholderState, json: boolean): string {
  if (text.length === 0) return text;
  const src = json ? unescapePrintable(text) : text;
  const spans = detect(src, cp);
  if (spans.length === 0) return src;
  let out = '';
  let last = 0;
  for (const s of spans) {
    out += src.slice(last, s.start) + placeholderFor(s.type, src.slice(s.start, s.end), state);
    last = s.end;
  }
  return out + src.slice(last);
}

const newState = (): PlaceholderState => ({ byValue: new Map(), counts: new Map() });

function fullPolicy(p: Partial<RedactionPolicy> | undefined): RedactionPolicy {
  return { ...DEFAULT_POLICY, ...p };
}

const compiledCache = new WeakMap<object, CompiledPolicy>();
function compiledFor(policy: Partial<RedactionPolicy> | undefined): CompiledPolicy {
  if (policy === undefined) return DEFAULT_COMPILED;
  let cp = compiledCache.get(policy);
  if (cp === undefined) {
    cp = compilePolicy(fullPolicy(policy));
    compiledCache.set(policy, cp);
  }
  return cp;
}
const DEFAULT_COMPILED = compilePolicy(DEFAULT_POLICY);

/** The spans that `redactText` would replace (for the evaluation bench and tests). */
export function findPii(text: string, policy?: Partial<RedactionPolicy>): PiiSpan[] {
  const cp = compiledFor(policy);
  return cp.enabled ? detect(text, cp) : [];
}

/**
 * Redacts one text with fresh numbering. `json: true` treats it as JSON text (bodies).
 * The policy object is compiled once and cached by identity.
 */
export function redactText(text: string, policy?: Partial<RedactionPolicy>, opts: { json?: boolean } = {}): string {
  const cp = compiledFor(policy);
  return cp.enabled ? redactWith(text, cp, newState(), opts.json ?? false) : text;
}

/**
 * Compiles the base policy and every organisation's override once. An override replaces `enabled`,
 * `disabledTypes` and `allowlist` when given; `custom` is merged over the base's so an organisation adding
 * a pattern never silently loses the company-wide ones.
 */
export function compileRedactor(
  base: RedactionPolicy,
  perOrg: Readonly<Record<string, Partial<RedactionPolicy>>> = {},
): (event: RequestEvent) => RequestEvent {
  const baseCompiled = compilePolicy(base);
  const orgs = new Map<string, CompiledPolicy>();
  for (const [org, o] of Object.entries(perOrg)) {
    orgs.set(org, compilePolicy({
      enabled: o.enabled ?? base.enabled,
      disabledTypes: o.disabledTypes ?? base.disabledTypes,
      allowlist: o.allowlist ?? base.allowlist,
      custom: { ...base.custom, ...o.custom },
    }));
  }
  return (event) => {
    const cp = orgs.get(event.organization_id) ?? baseCompiled;
    if (!cp.enabled) return { ...event, properties: { ...event.properties } };
    const state = newState(); // numbering follows reading order: request, response, then properties
    const request_body = redactWith(event.request_body, cp, state, true);
    const response_body = redactWith(event.response_body, cp, state, true);
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(event.properties)) properties[k] = redactWith(v, cp, state, false);
    return { ...event, request_body, response_body, properties };
  };
}
