/**
 * Token estimates for responses that carry no usage (a stream cut short, an upstream that never reports it).
 * The event marks such counts with tokens_estimated = true.
 *
 * Real BPE tokenizers (js-tiktoken, ranks shipped in the package, no network): o200k_base for gpt-4o,
 * gpt-4.1, gpt-4.5, the o-series and gpt-5; cl100k_base for gpt-3.5, gpt-4 / gpt-4-turbo and the embedding
 * models. Claude, Gemini, Llama and every other non-OpenAI model are counted with o200k_base as an
 * approximation: their own tokenizers are not public or not shipped, so expect those counts to be off by
 * tens of percent, in either direction.
 *
 * Chat framing follows OpenAI's cookbook (How_to_count_tokens_with_tiktoken): 3 tokens per message plus
 * its encoded string fields, 1 more for a `name`, 3 for the reply priming; function tools add the
 * cookbook's per-function, per-property and per-enum constants. Images, audio and files are not counted.
 *
 * Each encoding's ranks load on first use, synchronously, once per process (o200k_base: ~0.3 s of CPU and
 * ~50 MB RSS, see `leanTiktoken`), so a process that never needs an estimate never pays for them. Ingest is
 * the only caller; a stall of that size there delays one batch, never a request.
 */
import { createRequire } from 'node:module';
import { Tiktoken } from 'js-tiktoken/lite';
import type { TiktokenBPE } from 'js-tiktoken/lite';

type EncodingName = 'o200k_base' | 'cl100k_base';

/** The cookbook's tool-definition constants; they differ between encodings only in the per-function start. */
interface ToolFraming {
  funcInit: number;
  propInit: number;
  propKey: number;
  enumInit: number;
  enumItem: number;
  funcEnd: number;
}
const TOOL_FRAMING: Readonly<Record<EncodingName, ToolFraming>> = {
  o200k_base: { funcInit: 7, propInit: 3, propKey: 3, enumInit: -3, enumItem: 3, funcEnd: 12 },
  cl100k_base: { funcInit: 10, propInit: 3, propKey: 3, enumInit: -3, enumItem: 3, funcEnd: 12 },
};
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;

const require = createRequire(import.meta.url);

interface Encoding {
  tiktoken: Tiktoken;
  /** The encoding's own pre-tokenization pattern, to find pieces too long for its quadratic merge loop. */
  pieces: RegExp;
}
const loaded = new Map<EncodingName, Encoding>();

function isRanks(v: unknown): v is TiktokenBPE {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.pat_str === 'string' && typeof r.bpe_ranks === 'string' && typeof r.special_tokens === 'object';
}

function encoding(name: EncodingName): Encoding {
  let enc = loaded.get(name);
  if (enc === undefined) {
    const mod: unknown = require(`js-tiktoken/ranks/${name}`);
    const ranks = isRanks(mod) ? mod : (mod as { default?: unknown }).default;
    if (!isRanks(ranks)) throw new Error(`js-tiktoken/ranks/${name}: unexpected module shape`);
    enc = { tiktoken: leanTiktoken(ranks), pieces: new RegExp(ranks.pat_str, 'gu') };
    loaded.set(name, enc);
  }
  return enc;
}

/**
 * js-tiktoken's constructor builds, besides the rank table encode() reads, a decode table of one Uint8Array (with
 * its own ArrayBuffer) per token and an intermediate object keyed by every token; we never decode. Measured for
 * o200k_base: +150 MB RSS and 0.59 s CPU with the stock constructor, +50 MB and 0.26 s filling only `rankMap`
 * (keyed, as encode() looks pieces up, by the piece's bytes joined with ','). `rankMap` is not in js-tiktoken's
 * typings, so a build that no longer has it gets the stock constructor instead of wrong counts.
 */
function leanTiktoken(ranks: TiktokenBPE): Tiktoken {
  const tiktoken = new Tiktoken({ ...ranks, bpe_ranks: '' });
  const rankMap = (tiktoken as unknown as { rankMap?: unknown }).rankMap;
  if (!(rankMap instanceof Map) || rankMap.size !== 0) return new Tiktoken(ranks);
  // bpe_ranks lines: `<marker> <first rank> <base64 token> <base64 token> …`, consecutive ranks.
  const text = ranks.bpe_ranks;
  for (let pos = 0; pos < text.length;) {
    const nl = text.indexOf('\n', pos);
    const line = text.slice(pos, nl === -1 ? text.length : nl);
    pos = nl === -1 ? text.length : nl + 1;
    if (line === '') continue;
    const fields = line.split(' ');
    let rank = Number.parseInt(fields[1] ?? '', 10);
    for (let i = 2; i < fields.length; i++, rank++) rankMap.set(Buffer.from(fields[i]!, 'base64').join(','), rank);
  }
  return tiktoken;
}

/** Which encoding a model name uses; vendor prefixes (`openai/…`, `models/…`) are ignored. */
export function encodingForModel(model: string): EncodingName {
  const name = model.trim().toLowerCase();
  const bare = name.slice(name.lastIndexOf('/') + 1);
  if (/^gpt-3\.5|^gpt-35|^text-embedding-|^gpt-4(?:$|-)/.test(bare)) return 'cl100k_base';
  return 'o200k_base';
}

/**
 * Text tokenized exactly per estimate; the rest is extrapolated at the tokens-per-character ratio seen so
 * far. js-tiktoken runs at about 0.8 MB/s of prose on this machine, and bodies may be 32 MB: without a
 * bound one estimate could hold the event loop for most of a minute.
 */
const EXACT_CHARS_PER_ESTIMATE = 100_000;
/**
 * js-tiktoken's merge loop is quadratic in piece length (16,000 × "a" takes 25 s). Pieces longer than this
 * are tokenized in SLICE-sized parts, which can only add a token per cut, and only on such degenerate text.
 */
const MAX_PIECE = 32;
const SLICE = 16;
const MAY_HAVE_LONG_PIECE = /\S{32,}|\s{33,}/;

/** A counting function for one estimate, carrying that estimate's exact-tokenization budget. */
function counter(enc: Encoding): (text: string) => number {
  let exactChars = 0;
  let exactTokens = 0;
  return (text) => {
    if (text.length === 0) return 0;
    const room = EXACT_CHARS_PER_ESTIMATE - exactChars;
    const head = room <= 0 ? '' : text.length <= room ? text : text.slice(0, room);
    if (head.length > 0) {
      const n = countBounded(enc, head);
      exactChars += head.length;
      exactTokens += n;
      if (head.length === text.length) return n;
      return n + Math.ceil(((text.length - head.length) * exactTokens) / exactChars);
    }
    return Math.ceil((text.length * exactTokens) / exactChars);
  };
}

function countBounded(enc: Encoding, text: string): number {
  if (!MAY_HAVE_LONG_PIECE.test(text)) return encodeCount(enc.tiktoken, text);
  let total = 0;
  let from = 0;
  for (const m of text.matchAll(enc.pieces)) {
    if (m[0].length <= MAX_PIECE) continue;
    total += encodeCount(enc.tiktoken, text.slice(from, m.index));
    for (let i = 0; i < m[0].length; i += SLICE) total += encodeCount(enc.tiktoken, m[0].slice(i, i + SLICE));
    from = m.index + m[0].length;
  }
  return total + encodeCount(enc.tiktoken, text.slice(from));
}

/** Special-token text such as `<|endoftext|>` in user content is counted as plain text, never rejected. */
function encodeCount(t: Tiktoken, text: string): number {
  return text.length === 0 ? 0 : t.encode(text, [], []).length;
}

export function estimateCompletionTokens(model: string, text: string): number {
  return counter(encoding(encodingForModel(model)))(text);
}

// ---- request bodies, narrowed from unknown ----

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** One chat turn reduced to what is tokenized: its string fields and text parts. */
interface Turn {
  role: string;
  name: string;
  texts: string[];
}
/** A function tool in the cookbook's terms. */
interface ToolDef {
  name: string;
  description: string;
  parameters: unknown;
}
interface Prompt {
  turns: Turn[];
  tools: ToolDef[];
  /** Text sent without chat framing (embeddings, legacy completions). */
  plain: string[];
  /** Token ids sent as-is (embeddings accept pre-tokenized input). */
  pretokenized: number;
}

export function estimatePromptTokens(model: string, requestBody: unknown): number {
  const encName = encodingForModel(model);
  const count = counter(encoding(encName));
  const prompt = readPrompt(requestBody, /embed/i.test(model));
  let total = prompt.pretokenized;
  for (const text of prompt.plain) total += count(text);
  for (const turn of prompt.turns) {
    total += TOKENS_PER_MESSAGE + count(turn.role);
    for (const text of turn.texts) total += count(text);
    if (turn.name !== '') total += count(turn.name) + TOKENS_PER_NAME;
  }
  if (prompt.turns.length > 0) total += REPLY_PRIMING;
  total += countTools(count, TOOL_FRAMING[encName], prompt.tools);
  return total;
}

function readPrompt(body: unknown, embeddings: boolean): Prompt {
  const p: Prompt = { turns: [], tools: [], plain: [], pretokenized: 0 };
  if (!isObject(body)) return p;

  // OpenAI chat completions, and Anthropic messages (whose `system` lives beside them).
  if (body.system !== undefined) p.turns.push({ role: 'system', name: '', texts: textsOf(body.system) });
  for (const m of arr(body.messages)) if (isObject(m)) p.turns.push(turnOf(m));

  // OpenAI Responses: `instructions` + `input` items; embeddings: `input` strings or token ids.
  if (typeof body.instructions === 'string') p.turns.push({ role: 'system', name: '', texts: [body.instructions] });
  if (body.input !== undefined) readInput(body.input, embeddings, p);

  // Gemini generateContent.
  if (isObject(body.systemInstruction)) p.turns.push({ role: 'system', name: '', texts: partsTexts(body.systemInstruction.parts) });
  for (const c of arr(body.contents)) if (isObject(c)) p.turns.push({ role: str(c.role) || 'user', name: '', texts: partsTexts(c.parts) });

  // Legacy completions.
  for (const text of typeof body.prompt === 'string' ? [body.prompt] : arr(body.prompt)) if (typeof text === 'string') p.plain.push(text);

  for (const t of [...arr(body.tools), ...arr(body.functions)]) p.tools.push(...toolsOf(t));
  return p;
}

function readInput(input: unknown, embeddings: boolean, p: Prompt): void {
  if (embeddings) {
    const items = Array.isArray(input) ? input : [input];
    for (const item of items) {
      if (typeof item === 'string') p.plain.push(item);
      else if (typeof item === 'number') p.pretokenized += 1;
      else if (Array.isArray(item)) p.pretokenized += item.length;
    }
    return;
  }
  if (typeof input === 'string') {
    p.turns.push({ role: 'user', name: '', texts: [input] });
    return;
  }
  for (const item of arr(input)) {
    if (!isObject(item)) continue;
    if (item.type === 'function_call') p.turns.push({ role: 'assistant', name: '', texts: [str(item.name), str(item.arguments)] });
    else if (item.type === 'function_call_output') p.turns.push({ role: 'tool', name: '', texts: textsOf(item.output) });
    else p.turns.push(turnOf(item));
  }
}

/** Fields that are framing or bookkeeping (`role` and `name` are counted on their own). */
const NOT_TOKENIZED = new Set(['role', 'name', 'type', 'id', 'status']);

/** A chat message: every string field is tokenized (role separately), as the cookbook does. */
function turnOf(m: Json): Turn {
  const turn: Turn = { role: str(m.role), name: str(m.name), texts: [] };
  for (const [key, value] of Object.entries(m)) {
    if (NOT_TOKENIZED.has(key)) continue;
    if (key === 'content') turn.texts.push(...textsOf(value));
    else if (key === 'tool_calls') {
      for (const call of arr(value)) {
        if (isObject(call) && isObject(call.function)) turn.texts.push(str(call.function.name), str(call.function.arguments));
      }
    } else if (typeof value === 'string') turn.texts.push(value);
  }
  return turn;
}

/** Text of a content value: a string, or blocks in the OpenAI / Anthropic / Responses shapes. */
function textsOf(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  const out: string[] = [];
  for (const block of arr(content)) {
    if (typeof block === 'string') out.push(block);
    else if (!isObject(block)) continue;
    else if (typeof block.text === 'string') out.push(block.text); // text, input_text, output_text
    else if (block.type === 'tool_use') out.push(str(block.name), JSON.stringify(block.input ?? {}));
    else if (block.type === 'tool_result') out.push(...textsOf(block.content));
    else if (typeof block.refusal === 'string') out.push(block.refusal);
  }
  return out;
}

function partsTexts(parts: unknown): string[] {
  const out: string[] = [];
  for (const part of arr(parts)) {
    if (!isObject(part)) continue;
    if (typeof part.text === 'string') out.push(part.text);
    else if (isObject(part.functionCall)) out.push(str(part.functionCall.name), JSON.stringify(part.functionCall.args ?? {}));
    else if (isObject(part.functionResponse)) out.push(str(part.functionResponse.name), JSON.stringify(part.functionResponse.response ?? {}));
  }
  return out;
}

/** Tool definitions in OpenAI chat, OpenAI Responses, Anthropic and Gemini shapes. */
function toolsOf(t: unknown): ToolDef[] {
  if (!isObject(t)) return [];
  if (isObject(t.function)) return [{ name: str(t.function.name), description: str(t.function.description), parameters: t.function.parameters }];
  if (Array.isArray(t.functionDeclarations)) {
    return t.functionDeclarations.filter(isObject).map((f) => ({ name: str(f.name), description: str(f.description), parameters: f.parameters }));
  }
  if (typeof t.name === 'string') return [{ name: t.name, description: str(t.description), parameters: t.parameters ?? t.input_schema }];
  return [];
}

function countTools(count: (text: string) => number, f: ToolFraming, tools: readonly ToolDef[]): number {
  if (tools.length === 0) return 0;
  let total = 0;
  for (const tool of tools) {
    total += f.funcInit + count(`${tool.name}:${withoutFinalDot(tool.description)}`);
    const properties = isObject(tool.parameters) && isObject(tool.parameters.properties) ? Object.entries(tool.parameters.properties) : [];
    if (properties.length === 0) continue;
    total += f.propInit;
    for (const [key, schema] of properties) {
      const s = isObject(schema) ? schema : {};
      total += f.propKey;
      if (Array.isArray(s.enum)) {
        total += f.enumInit;
        for (const item of s.enum) total += f.enumItem + count(String(item));
      }
      total += count(`${key}:${str(s.type)}:${withoutFinalDot(str(s.description))}`);
    }
  }
  return total + f.funcEnd;
}

const withoutFinalDot = (s: string): string => (s.endsWith('.') ? s.slice(0, -1) : s);
