// OpenAI's embeddings API (`POST /v1/embeddings`) served by Gemini's `batchEmbedContents`: each input string is one
// request of the batch, the vectors come back in order as OpenAI's list, as floats or base64 (little-endian float32,
// what the OpenAI SDK asks for by default). Token-id inputs have no Gemini equivalent and are refused.
import type { JsonObject } from '../shared.ts';
import { asArray, asObject } from '../shared.ts';
import { invalidRequest, untranslatable, untranslatableResponse } from './errors.ts';
import type { TranslatedRequest } from './types.ts';

const SERVED = 'Gemini';
const FIELDS = new Set(['model', 'input', 'encoding_format', 'dimensions', 'user']);

export interface GeminiEmbeddingsContext {
  /** The model the caller asked for: the answer names it. */
  model: string;
  base64: boolean;
  inputs: number;
}

export function openAiToGeminiEmbeddingsRequest(body: unknown, opts: { model?: string } = {}): { request: TranslatedRequest; context: GeminiEmbeddingsContext } {
  const req = asObject(body);
  if (req === undefined) throw invalidRequest('body', 'expected a JSON object');
  for (const key of Object.keys(req)) if (!FIELDS.has(key)) throw untranslatable(key, SERVED);
  const model = opts.model ?? (typeof req.model === 'string' ? req.model : '');
  if (model === '') throw invalidRequest('model', 'expected the model name');
  const raw = req.input;
  const inputs = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : undefined;
  if (inputs === undefined || inputs.length === 0) throw invalidRequest('input', 'expected a string or a non-empty array of strings');
  const texts = inputs.map((v, i) => {
    if (typeof v !== 'string') throw untranslatable(typeof raw === 'string' ? 'input' : `input[${i}]`, SERVED, 'token ids cannot be sent to Gemini; send the text');
    return v;
  });
  const format = req.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw invalidRequest('encoding_format', 'expected "float" or "base64"');
  const dimensions = req.dimensions;
  if (dimensions !== undefined && (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions <= 0)) throw invalidRequest('dimensions', 'expected a positive integer');
  const requests = texts.map((text) => ({
    model: `models/${model}`,
    content: { parts: [{ text }] },
    ...(dimensions !== undefined ? { outputDimensionality: dimensions } : {}),
  }));
  return {
    request: { path: `/v1beta/models/${encodeURIComponent(model)}:batchEmbedContents`, headers: {}, body: { requests }, stream: false, approximated: req.user === undefined ? [] : ['user'] },
    context: { model: typeof req.model === 'string' ? req.model : model, base64: format === 'base64', inputs: texts.length },
  };
}

/** Gemini's `{embeddings: [{values}]}` → OpenAI's `{object:'list', data:[{object:'embedding', index, embedding}]}`. */
export function geminiToOpenAiEmbeddings(body: unknown, ctx: GeminiEmbeddingsContext): JsonObject {
  const embeddings = asArray(asObject(body)?.embeddings);
  if (embeddings.length !== ctx.inputs) throw untranslatableResponse('embeddings', `has ${embeddings.length} vectors for ${ctx.inputs} inputs`);
  const data = embeddings.map((e, index) => {
    const values = asArray(asObject(e)?.values);
    if (!values.every((v) => typeof v === 'number')) throw untranslatableResponse(`embeddings[${index}].values`, 'is not a list of numbers');
    const floats = values as number[];
    return { object: 'embedding', index, embedding: ctx.base64 ? Buffer.from(new Float32Array(floats).buffer).toString('base64') : floats };
  });
  // Gemini reports no token counts for embeddings: the usage says 0 rather than a guess.
  return { object: 'list', data, model: ctx.model, usage: { prompt_tokens: 0, total_tokens: 0 } };
}
