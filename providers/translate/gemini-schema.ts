// JSON Schema (what OpenAI tools' `parameters` and response_format's `json_schema.schema` hold) → Gemini's Schema
// object, the OpenAPI 3.0 subset generateContent takes in functionDeclarations[].parameters and
// generationConfig.responseSchema. What the subset cannot say is decided keyword by keyword:
// - inlined: local `$ref`s into `$defs` / `definitions` (a recursive schema cannot be inlined: refused);
// - mapped: `type` (upper-cased; `["x", "null"]` becomes `nullable`), `const` (a one-value enum), `oneOf` (as
//   anyOf, noted: one-of becomes any-of), `allOf` of one schema;
// - dropped as equivalent: `additionalProperties: false` (Gemini's output has only the declared properties) and
//   schema metadata (`$schema`, `$id`, `$comment`, `strict`);
// - dropped and noted: validation keywords Gemini does not enforce (`format`s other than its own, `multipleOf`,
//   `uniqueItems`, …), so the caller knows the output may not satisfy them;
// - refused: non-string enums, tuple `items`, several types in one schema, `allOf` of several.
import { asArray, asObject } from '../shared.ts';
import type { JsonObject } from '../shared.ts';
import { at, invalidRequest, untranslatable } from './errors.ts';

const SERVED = 'Gemini';

const TYPES: Readonly<Record<string, string>> = {
  string: 'STRING',
  number: 'NUMBER',
  integer: 'INTEGER',
  boolean: 'BOOLEAN',
  array: 'ARRAY',
  object: 'OBJECT',
  null: 'NULL',
};

/** Keywords Gemini's Schema has under the same name and meaning. */
const KEPT = new Set([
  'description', 'title', 'nullable', 'required', 'minItems', 'maxItems', 'minimum', 'maximum', 'minLength', 'maxLength',
  'pattern', 'minProperties', 'maxProperties', 'default', 'example', 'propertyOrdering',
]);

/** Metadata with no effect on the output, and definitions (inlined where referenced). */
const IGNORED = new Set(['$schema', '$id', '$comment', '$defs', 'definitions', 'strict']);

/** The formats Gemini's Schema documents (date-time for strings, widths for numbers). */
const FORMATS = new Set(['date-time', 'enum', 'float', 'double', 'int32', 'int64']);

interface Walk {
  defs: JsonObject;
  notes: string[];
  /** `$ref`s being inlined on the current path: meeting one again means the schema is recursive. */
  inlining: ReadonlySet<string>;
}

/** Converts `schema` (found at `path` in the caller's body, for errors and notes). */
export function toGeminiSchema(schema: JsonObject, path: string, notes: string[]): JsonObject {
  const defs = { ...asObject(schema.definitions), ...asObject(schema.$defs) };
  return convert(schema, path, { defs, notes, inlining: new Set() });
}

function convert(node: JsonObject, path: string, walk: Walk): JsonObject {
  if (typeof node.$ref === 'string') return inline(node, node.$ref, path, walk);
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    const p = at(path, key);
    if (KEPT.has(key)) out[key] = value;
    else if (!IGNORED.has(key)) keyword(key, value, p, out, walk);
  }
  if (out.enum !== undefined && out.type === undefined) out.type = 'STRING';
  return out;
}

function keyword(key: string, value: unknown, p: string, out: JsonObject, walk: Walk): void {
  switch (key) {
    case 'type':
      setType(value, p, out);
      return;
    case 'properties': {
      const props: JsonObject = {};
      for (const [name, sub] of Object.entries(asObject(value) ?? {})) props[name] = child(sub, at(p, name), walk);
      out.properties = props;
      return;
    }
    case 'items':
      if (Array.isArray(value)) throw untranslatable(p, SERVED, 'tuple schemas (an array of item schemas) have no Gemini equivalent');
      out.items = child(value, p, walk);
      return;
    case 'anyOf':
    case 'oneOf':
      if (key === 'oneOf') walk.notes.push(p);
      out.anyOf = asArray(value).map((sub, i) => child(sub, at(p, i), walk));
      return;
    case 'allOf': {
      const all = asArray(value);
      if (all.length !== 1) throw untranslatable(p, SERVED, 'allOf of several schemas has no Gemini equivalent');
      Object.assign(out, child(all[0], at(p, 0), walk));
      return;
    }
    case 'enum':
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw untranslatable(p, SERVED, 'Gemini enums are strings only');
      out.enum = value;
      return;
    case 'const':
      if (typeof value !== 'string') throw untranslatable(p, SERVED, 'Gemini enums are strings only');
      out.enum = [value];
      return;
    case 'format':
      if (typeof value === 'string' && FORMATS.has(value)) out.format = value;
      else walk.notes.push(p);
      return;
    case 'additionalProperties':
      if (value !== false) walk.notes.push(p);
      return;
    default:
      walk.notes.push(p);
  }
}

function child(value: unknown, path: string, walk: Walk): JsonObject {
  const node = asObject(value);
  if (!node) throw invalidRequest(path, 'must be a JSON Schema object');
  return convert(node, path, walk);
}

function setType(value: unknown, p: string, out: JsonObject): void {
  const names = Array.isArray(value) ? value : [value];
  const concrete = names.filter((n) => n !== 'null');
  if (concrete.length < names.length && concrete.length > 0) out.nullable = true;
  if (concrete.length > 1) throw untranslatable(p, SERVED, 'a Gemini schema has one type (besides null)');
  const name = concrete[0] ?? 'null';
  const type = typeof name === 'string' ? TYPES[name] : undefined;
  if (!type) throw invalidRequest(p, `${JSON.stringify(name)} is not a JSON Schema type`);
  out.type = type;
}

/** `{"$ref": "#/$defs/X", …siblings}` → X's schema with the siblings over it, converted. */
function inline(node: JsonObject, ref: string, path: string, walk: Walk): JsonObject {
  const p = at(path, '$ref');
  const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref);
  const name = match?.[1];
  const target = name === undefined ? undefined : asObject(walk.defs[name]);
  if (name === undefined || !target) throw untranslatable(p, SERVED, `only local references into $defs can be inlined, not ${ref}`);
  if (walk.inlining.has(name)) throw untranslatable(p, SERVED, `${ref} is recursive, which Gemini's schema cannot express`);
  const { $ref: _ref, ...siblings } = node;
  return convert({ ...target, ...siblings }, path, { ...walk, inlining: new Set([...walk.inlining, name]) });
}
