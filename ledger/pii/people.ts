// Person names and street addresses, the two detectors that find people rather than patterns.
//
// Names: runs of capitalised words (with the particles, hyphens and apostrophes names carry: `van der Berg`,
// `Al-Sayed`, `O'Connor`, `Ji-woo`), kept when the words themselves or their context say "person". The words:
// compromise's lexicon (its first-name, last-name, place, organisation and common-word tags: 24,612 words, 4,092 of
// them names, shipped in the package, nothing downloaded). The context: a title before (`Dr.`, `Ms.`), a cue before
// (`Dear`, `Hi`, `my name is`, `ask`, `email`, `with`, `to`, `cc`…), a verb or mark after (`said`, `asked`, `will`,
// `'s`). compromise's own tagger (`people()`) runs at 0.04–0.15 MB/s, two orders of magnitude below the ingest
// budget, and misses most names it has no lexicon entry for (bench/redaction-eval.md has both measurements); its
// lexicon, applied to the candidates only, keeps the detector at tens of MB/s.
//
// Addresses: the street line, in the shapes of the countries we wrote it for: number first (US, UK, Ireland,
// Australia, Canada: `221B Baker Street`, `1600 Pennsylvania Avenue NW, Suite 200`; France: `12 rue de Rivoli`),
// street first (Germany, Austria, Switzerland: `Hauptstraße 5`; Netherlands: `Prinsengracht 263`; Nordics:
// `Drottninggatan 12`; Spain, Italy, Portugal, Brazil, Poland: `Calle Mayor 10`, `Via Roma, 15`, `Rua Augusta, 100`,
// `ul. Długa 5`) and `PO Box 123`. Not found: Japanese block addresses (`1-2-3 Shibuya`) and streets named
// without a street word (`Unter den Linden 77`).
import { createRequire } from 'node:module';
import { startsAtBoundary } from './boundary.ts';
import type { PiiSpan } from './boundary.ts';
import { ASCII_UPPER, isAscii, SHORT_TEXT } from './scan.ts';

type Kind = 'first' | 'last' | 'place' | 'common';

const LEXICON_KIND: Readonly<Record<string, Kind>> = {
  FirstName: 'first', FemaleName: 'first', MaleName: 'first', Person: 'first', LastName: 'last',
  City: 'place', Country: 'place', Place: 'place', Region: 'place', Organization: 'place', SportsTeam: 'place',
  Demonym: 'place', Month: 'place', WeekDay: 'place', Currency: 'place', Holiday: 'place',
};

/** Capitalised words that are not names in chat text: products, places and organisations' words, headings. */
const NOT_NAMES = [
  'apple', 'google', 'microsoft', 'amazon', 'tesla', 'samsung', 'adobe', 'notion', 'grammarly', 'salesforce', 'oracle', 'openai',
  'watch', 'series', 'sheets', 'docs', 'teams', 'studio', 'code', 'visual', 'cloud', 'platform', 'services', 'service', 'web', 'model',
  'pro', 'max', 'plus', 'premium', 'galaxy', 'tab', 'premiere', 'mustang', 'mach', 'powerpoint', 'excel', 'word', 'outlook', 'slack',
  'city', 'station', 'lake', 'mount', 'river', 'street', 'road', 'avenue', 'square', 'airport', 'university', 'college', 'school',
  'hospital', 'bank', 'group', 'inc', 'ltd', 'llc', 'gmbh', 'corp', 'company', 'partners', 'capital', 'holdings', 'foundation', 'institute',
  'organization', 'organisation', 'association', 'union', 'united', 'nations', 'general', 'assembly', 'world', 'health', 'journal', 'times',
  'central', 'north', 'south', 'east', 'west', 'new', 'san', 'santa', 'rio', 'janeiro', 'buenos', 'aires', 'como', 'naples', 'rome',
  'sachs', 'stanley', 'young', 'gamble', 'report', 'summary', 'takeaways', 'items', 'sprint', 'practices', 'design', 'review', 'document',
  'customer', 'team', 'world', 'update', 'table', 'contents', 'questions', 'engineer', 'remote', 'terms', 'conditions', 'year', 'happy',
  'executive', 'quarterly', 'revenue', 'action', 'next', 'best', 'please', 'attached', 'frequently', 'asked', 'machine', 'learning', 'key',
  'all', 'everyone', 'folks', 'there', 'guys', 'sir', 'madam', 'ai', 'api', 'sql', 'pr', 'ok', 'yes', 'no', 'hello', 'welcome',
  // Assistants and models people address by name in LLM traffic (`Hi Claude`), and the software chat is full of.
  'anthropic', 'deepseek', 'cohere', 'meta', 'claude', 'gemini', 'chatgpt', 'gpt', 'copilot', 'siri', 'alexa', 'cortana', 'llama', 'mistral', 'grok', 'bard', 'sonnet', 'opus', 'haiku',
  'python', 'react', 'native', 'flask', 'django', 'node', 'java', 'javascript', 'typescript', 'rust', 'kotlin', 'swift', 'ruby', 'rails',
  'docker', 'kubernetes', 'linux', 'windows', 'mac', 'ios', 'android', 'chrome', 'firefox', 'safari', 'aws', 'azure', 'postgres', 'mysql',
  'redis', 'kafka', 'spark', 'pandas', 'numpy', 'tensorflow', 'pytorch', 'jupyter', 'github', 'gitlab', 'jira', 'confluence', 'figma', 'vue',
  'angular', 'svelte', 'next', 'express', 'spring', 'laravel', 'terraform', 'ansible', 'jenkins', 'grafana', 'prometheus', 'elastic',
];

/** Words before a name that say a person follows (lower case; `Dear`, `Hi` and titles are checked capitalised too). */
const CUES_BEFORE = new Set([
  'dear', 'hi', 'hello', 'hey', 'thanks', 'thank', 'regards', 'cheers', 'best', 'sincerely', 'from', 'to', 'cc', 'with', 'by', 'for', 'and',
  'ask', 'tell', 'email', 'call', 'invite', 'meet', 'met', 'remind', 'congratulate', 'forward', 'reply', 'between', 'candidate', 'patient',
  'manager', 'colleague', 'boss', 'client', 'customer', 'wife', 'husband', 'son', 'daughter', 'friend', 'mother', 'father', 'named', 'add',
  'introduce', 'hire', 'thank', 'ping', 'message', 'contact', 'name:', 'is', 'am', 'i\'m', 'about', 'says', 'said',
]);
/** Cues strong enough for a single capitalised word the lexicon does not know (`Tell Ananya`, `Hey Min-jun`). */
const STRONG_CUES = new Set(['dear', 'hi', 'hello', 'hey', 'thanks', 'thank', 'ask', 'tell', 'remind', 'cc', 'regards', 'cheers', 'sincerely']);
const ARTICLES = new Set(['the', 'a', 'an', 'this', 'that', 'these', 'our', 'your', 'their', 'its']);
const TITLES = /(?:^|[^\p{L}])(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sir|Dame|Herr|Frau|Mme|Mlle|Sr|Sra|Señor|Señora|Signor|Signora)\.?\s+$/u;
const CUES_AFTER = /^(?:\s+(?:said|says|asked|wrote|wants|will|would|is|was|has|had|who|from|approved|led|signed|requested|mentioned|thinks|called)\b|['’]s\b|,|\s*\()/u;

const PARTICLES = String.raw`(?:van|von|der|den|de|la|le|del|della|da|di|du|dos|das|bin|binti|bint|al|el|ibn|ben|y|ter)`;
// O'Connor, McCarthy, Al-Sayed, Ji-woo, María, Çelik: an upper-case letter, lower-case letters, optional inner capital or hyphen part.
const WORD = String.raw`\p{Lu}(?:['’]\p{Lu})?[\p{Ll}\p{M}]+(?:\p{Lu}[\p{Ll}\p{M}]+)?(?:-\p{L}[\p{Ll}\p{M}]*)?`;
const RUN_RE = new RegExp(String.raw`${WORD}(?:[ \t]+(?:${PARTICLES}[ \t]+)*${WORD}){0,4}`, 'gu');
const WORD_RE = new RegExp(WORD, 'gu');

const require = createRequire(import.meta.url);
let kinds: Map<string, Kind> | undefined;
/**
 * compromise's lexicon reduced to what names need, loaded on the first name scan: `compromise/two` (the smallest
 * build that carries the lexicon) costs ~0.5 s and ~30 MB RSS to load, which a process that never scans a name
 * (the gateway without a cache, the CLI) should not pay.
 */
function wordKinds(): Map<string, Kind> {
  if (kinds !== undefined) return kinds;
  const nlp = require('compromise/two') as { model(): unknown };
  // compromise types its model as `object`; the lexicon is `{ word: tag | tags }`.
  const lexicon = (nlp.model() as { one?: { lexicon?: Record<string, string | string[]> } }).one?.lexicon ?? {};
  const out = new Map<string, Kind>();
  for (const [word, tags] of Object.entries(lexicon)) {
    if (word.includes(' ')) continue;
    const first = Array.isArray(tags) ? tags[0] : tags;
    out.set(word, (first !== undefined ? LEXICON_KIND[first] : undefined) ?? 'common');
  }
  for (const w of NOT_NAMES) out.set(w, 'place');
  kinds = out;
  return out;
}

interface Word { text: string; start: number; end: number; kind: Kind | undefined }

/** A word's kind (lower case in): the lexicon's, or for a hyphenated word the kind of its name parts. */
function kindOf(lower: string, k: Map<string, Kind>): Kind | undefined {
  const known = k.get(lower);
  if (known !== undefined || !lower.includes('-')) return known;
  // A hyphenated word is a name when one of its parts is (`Jean-Luc`, `Min-jun`), never a common word because
  // of one (`jean` and `min` are nouns to the lexicon).
  const parts = lower.split('-');
  return parts.some((p) => k.get(p) === 'first' || k.get(p) === 'last') ? 'first' : parts.some((p) => k.get(p) === 'place') ? 'place' : undefined;
}

/** The word before `pos` (lower case), skipping spaces and a JSON `\n` escape; '' at the start of a line. */
function previousWord(text: string, pos: number): string {
  let i = pos;
  while (i > 0 && (text[i - 1] === ' ' || text[i - 1] === '\t')) i--;
  if (i >= 2 && text[i - 2] === '\\' && text[i - 1] === 'n') i -= 2; // `Regards,\nJane`: the line above still cues
  else if (i > 0 && text[i - 1] === '\n') i -= 1;
  while (i > 0 && (text[i - 1] === ',' || text[i - 1] === ' ')) i--;
  let j = i;
  while (j > 0 && /[\p{L}'’:]/u.test(text[j - 1]!)) j--;
  return text.slice(j, i).toLowerCase();
}

function atSentenceStart(text: string, pos: number): boolean {
  let i = pos;
  while (i > 0 && text[i - 1] === ' ') i--;
  if (i === 0) return true;
  const c = text[i - 1]!;
  return c === '.' || c === '!' || c === '?' || c === '"' || c === '\n' || (c === 'n' && text[i - 2] === '\\');
}

/**
 * RUN_RE, sticky: started only at capitals. In ASCII text every match starts at A–Z, found by 26 memchr passes
 * (scan.ts) instead of a \p{Lu} regex stepping through every character; other text keeps the global scan.
 */
const RUN_AT = new RegExp(RUN_RE.source, 'uy');

export function scanPersonNames(text: string, out: PiiSpan[]): void {
  const k = wordKinds();
  const slow = text.length >= SHORT_TEXT && isAscii(text) ? capitalsToTry(text, k) : undefined;
  if (slow === undefined) {
    RUN_RE.lastIndex = 0;
    for (let m = RUN_RE.exec(text); m !== null; m = RUN_RE.exec(text)) personInRun(text, m[0], m.index, k, out);
    return;
  }
  let next = 0;
  for (const at of slow) {
    if (at < next) continue;
    RUN_AT.lastIndex = at;
    const m = RUN_AT.exec(text);
    if (m === null) continue;
    personInRun(text, m[0], at, k, out);
    next = at + m[0].length;
  }
}

/**
 * The capitals of an ASCII text where a name may start, ascending; undefined past one capital in 8 characters
 * (not prose: RUN_RE's own scan is then the cheaper one). Most capitals in prose start one word that is a cue, a
 * common word or a place (`The`, `You`): RUN_RE's match there is that word alone and yields nothing, so it is
 * dropped without a regex call (three execs cost ~150 ns a run, most of this scan's time). Such a word holds no
 * other capital, so dropping it out of order changes nothing for the others.
 */
function capitalsToTry(text: string, k: Map<string, Kind>): number[] | undefined {
  const max = text.length >> 3;
  let seen = 0;
  const slow: number[] = [];
  for (let c = 0; c < ASCII_UPPER.length; c++) {
    const ch = ASCII_UPPER[c]!;
    for (let at = text.indexOf(ch); at !== -1; at = text.indexOf(ch, at + 1)) {
      if (++seen > max) return undefined;
      const end = loneWordEnd(text, at);
      if (end !== -1) {
        const lower = text.slice(at, end).toLowerCase();
        const kind = k.get(lower);
        if (kind === 'common' || kind === 'place' || CUES_BEFORE.has(lower)) continue;
      }
      slow.push(at);
    }
  }
  return slow.sort((a, b) => a - b);
}

const PARTICLE_SET = new Set(PARTICLES.slice(3, -1).split('|'));
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isBlank = (c: number): boolean => c === 32 || c === 9;

/**
 * In ASCII text, where RUN_RE's match at the capital `at` is one plain word (`[A-Z][a-z]+` not followed by a
 * capital, a hyphen or a blank leading to a capital or a particle), its end; otherwise -1 (the regex decides).
 * In ASCII, \p{Lu} is A–Z, \p{Ll} a–z and \p{M} nothing, so such a word is exactly RUN_RE's match there.
 */
function loneWordEnd(text: string, at: number): number {
  let j = at + 1;
  while (j < text.length && isLower(text.charCodeAt(j))) j++;
  if (j === at + 1) return -1;
  const c = text.charCodeAt(j);
  if ((c >= 65 && c <= 90) || c === 45) return -1;
  if (!isBlank(c)) return j;
  let n = j + 1;
  while (n < text.length && isBlank(text.charCodeAt(n))) n++;
  const d = text.charCodeAt(n);
  if (d >= 65 && d <= 90) return -1;
  let e = n;
  while (e < text.length && isLower(text.charCodeAt(e))) e++;
  if (e > n && isBlank(text.charCodeAt(e)) && PARTICLE_SET.has(text.slice(n, e))) return -1;
  return j;
}

/** One capitalised run: the name in it, if any. */
function personInRun(text: string, run: string, index: number, k: Map<string, Kind>, out: PiiSpan[]): void {
  if (!startsAtBoundary(text, index, '')) return;
  // Cue and common words leading the run are the sentence around the name (`Thanks`, `Ask`, `Hey`), not part of
  // it. Not at the end: many surnames are common words too (`Berg`, `Baker`, `Le`). Most runs in prose are one
  // such word (`The`, `You`), so they are dropped here before any Word is allocated.
  let cue = '';
  let w: RegExpExecArray | null;
  let lower = '';
  WORD_RE.lastIndex = 0;
  for (w = WORD_RE.exec(run); w !== null; w = WORD_RE.exec(run)) {
    lower = w[0].toLowerCase();
    if (!CUES_BEFORE.has(lower) && kindOf(lower, k) !== 'common') break;
    cue = lower;
  }
  // Names take no article: `The Eiffel Tower is…`, `Our Customer Success Team will…`.
  if (w === null || ARTICLES.has(cue)) return;
  const words: Word[] = [];
  for (; w !== null; w = WORD_RE.exec(run)) {
    const kind = words.length === 0 ? kindOf(lower, k) : kindOf(w[0].toLowerCase(), k);
    if (kind === 'place') return;
    words.push({ text: w[0], start: index + w.index, end: index + w.index + w[0].length, kind });
  }
  const start = words[0]!.start;
  const end = words[words.length - 1]!.end;
  if (isPerson(text, start, end, words, cue)) out.push({ start, end, type: 'person_name' });
}

function isPerson(text: string, start: number, end: number, words: readonly Word[], cueWord: string): boolean {
  const named = words.some((w) => w.kind === 'first' || w.kind === 'last');
  const before = cueWord || previousWord(text, start);
  const titled = TITLES.test(text.slice(Math.max(0, start - 12), start));
  const cue = titled || CUES_BEFORE.has(before) || /my name is\s+$|i am\s+$|this is\s+$/i.test(text.slice(Math.max(0, start - 12), start));
  const after = CUES_AFTER.test(text.slice(end, end + 14));
  if (words.length === 1) {
    const kind = words[0]!.kind;
    return (kind === 'first' && cue) || (kind === 'last' && titled) || (kind === undefined && (titled || STRONG_CUES.has(before)));
  }
  if (named) return cue || after || !atSentenceStart(text, start) || words.length >= 2;
  // Names no lexicon knows (most of the world's): two or more capitalised words with a person's context.
  return cue || after;
}

// ---- street addresses ----

const STREET_WORD = String.raw`\p{Lu}[\p{L}\p{M}.'’-]*`;
// Abbreviations may carry their dot (`St.`); a full word's following dot ends the sentence, not the street.
const NUMBER_FIRST_TYPES = String.raw`(?:Street|Avenue|Road|Boulevard|Lane|Drive|Way|Court|Place|Terrace|Crescent|Close|Gardens|Parade|Parkway|Square|Highway|Row|Mews|Grove|Hill|Walk)\b|(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Pkwy|Sq|Hwy)\b\.?`;
const FRENCH_TYPES = 'rue|avenue|av\\.|boulevard|bd|place|allée|chemin|impasse|quai|cours|route';
const COMPOUND_TYPES = 'straße|strasse|str\\.|weg|platz|allee|gasse|ring|damm|ufer|gracht|straat|laan|plein|kade|singel|gatan|vägen|gata|gade|vej|veien';
const STREET_FIRST_TYPES = 'Calle|C/|Avenida|Avda\\.|Av\\.|Paseo|Plaza|Plaça|Carrer|Camino|Ronda|Via|Viale|Piazza|Piazzale|Corso|Largo|Vicolo|Rua|Praça|Travessa|Alameda|ul\\.|ulica|al\\.|aleja|plac';
const CONNECT = String.raw`(?:(?:de|del|della|dei|degli|di|da|do|dos|das|de la|de las|de los|des|du|de l'|d'|d’)\s?)?`;
const UNIT = String.raw`(?:,?\s(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|Flat)\.?\s?[A-Za-z0-9-]+|,?\s#\d+)?`;
const STREET_RE = new RegExp(
  [
    // 221B Baker Street, 1600 Pennsylvania Avenue NW, Suite 200; Flat 4, 12 Mill Lane
    String.raw`(?:(?:Flat|Apt|Unit|Suite)\s[A-Za-z0-9]+,\s)?\d{1,5}[A-Za-z]?\s(?:${STREET_WORD}\s){1,4}(?:${NUMBER_FIRST_TYPES})(?:\s(?:NW|NE|SW|SE|N|S|E|W)\b)?${UNIT}`,
    // 12 rue de Rivoli, 8 bis avenue des Champs-Élysées
    String.raw`\d{1,4}(?:\s(?:bis|ter))?,?\s(?:${FRENCH_TYPES})\s${CONNECT}${STREET_WORD}(?:\s${STREET_WORD}){0,3}`,
    // Hauptstraße 5, Berliner Straße 12a, Prinsengracht 263, Drottninggatan 12
    String.raw`(?:\p{Lu}\p{Ll}+\s)?\p{Lu}\p{Ll}*(?:${COMPOUND_TYPES})\s\d{1,4}(?:\s?[a-z](?![\p{L}]))?`,
    String.raw`\p{Lu}\p{Ll}+\s(?:Straße|Strasse|Weg|Platz|Allee|Gasse|Ring)\s\d{1,4}[a-z]?`,
    // Calle Mayor 10, Via Roma, 15, Rua Augusta, 100, ul. Długa 5
    String.raw`(?:${STREET_FIRST_TYPES})\s${CONNECT}(?:${STREET_WORD}\s?){1,4},?\s(?:nº\s?|n\.\s?)?\d{1,4}[A-Za-z]?`,
    String.raw`P\.?\s?O\.?\sBox\s\d{1,6}`,
  ].map((s) => `(?:${s})`).join('|') + String.raw`(?![\p{L}\d])`,
  'gu',
);

/**
 * Shortcuts past STREET_RE (whose alternatives start at every digit and capital): a number-first street has a
 * number before a capitalised or French street word, which one scan for a digit finds; a street-first one has a
 * number after its street word, so only the text just before each number that follows a word is looked at.
 * Without the `u` flag (and its \p classes), which measured ~2× slower over prose: upper case as Latin ranges.
 */
const NUMBER_FIRST_HINT = new RegExp(String.raw`\d[A-Za-z]?,? (?:[A-ZÀ-ÖØ-Þ]|(?:bis|ter) |${FRENCH_TYPES})`);
const NUMBER_AFTER_WORD = /[A-Za-zÀ-ÿ.],? \d/g;
/** How far before its number a street-first street can start (`Avenida de la Constitución, nº 12`). */
const LOOK_BACK = 48;
const STREET_WORD_BEFORE = new RegExp(String.raw`(?:${COMPOUND_TYPES}|Straße|Strasse|Weg|Platz|Allee|Gasse|Ring|Box)\.?,? $|(?:^|[^\p{L}])(?:${STREET_FIRST_TYPES}) `, 'u');

const NUMBER_FIRST_HINT_AT = new RegExp(NUMBER_FIRST_HINT.source, 'y');
/** NUMBER_AFTER_WORD's first character: [A-Za-zÀ-ÿ.] (without the u flag, À-ÿ is U+00C0–U+00FF). */
const wordEndChar = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 0xc0 && c <= 0xff) || c === 46;

/**
 * `digits`: the text's digit positions, ascending (undefined when dense: the regexes scan). Both hints start
 * at a digit or end at one, so with the positions they are tried there only; the matches are the same.
 */
export function scanStreetAddresses(text: string, out: PiiSpan[], digits?: Int32Array): void {
  if (digits === undefined ? NUMBER_FIRST_HINT.test(text) : numberFirstAt(text, digits)) {
    streetsFrom(text, 0, text.length, out);
    return;
  }
  let scannedTo = 0;
  const lookAt = (index: number, digit: number): void => {
    const from = Math.max(scannedTo, index - LOOK_BACK);
    if (STREET_WORD_BEFORE.test(text.slice(from, digit))) scannedTo = streetsFrom(text, from, digit, out);
  };
  if (digits === undefined) {
    NUMBER_AFTER_WORD.lastIndex = 0;
    for (let m = NUMBER_AFTER_WORD.exec(text); m !== null; m = NUMBER_AFTER_WORD.exec(text)) lookAt(m.index, m.index + m[0].length - 1);
    return;
  }
  // NUMBER_AFTER_WORD's matches (`x 1`, `x, 1`) end at a digit and cannot overlap, so each digit is one or none.
  for (const d of digits) {
    if (d < 2 || text.charCodeAt(d - 1) !== 32) continue;
    if (wordEndChar(text.charCodeAt(d - 2))) lookAt(d - 2, d);
    else if (d >= 3 && text.charCodeAt(d - 2) === 44 && wordEndChar(text.charCodeAt(d - 3))) lookAt(d - 3, d);
  }
}

function numberFirstAt(text: string, digits: Int32Array): boolean {
  for (const d of digits) {
    NUMBER_FIRST_HINT_AT.lastIndex = d;
    if (NUMBER_FIRST_HINT_AT.test(text)) return true;
  }
  return false;
}

/** STREET_RE's matches starting in [from, until]; returns where the last one ended (or `until`). */
function streetsFrom(text: string, from: number, until: number, out: PiiSpan[]): number {
  let end = until;
  STREET_RE.lastIndex = from;
  for (let m = STREET_RE.exec(text); m !== null && m.index <= until; m = STREET_RE.exec(text)) {
    if (!startsAtBoundary(text, m.index, '')) {
      STREET_RE.lastIndex = m.index + 1;
      continue;
    }
    const value = m[0].replace(/[\s,]+$/u, '');
    out.push({ start: m.index, end: m.index + value.length, type: 'street_address' });
    end = m.index + m[0].length;
  }
  return end;
}
