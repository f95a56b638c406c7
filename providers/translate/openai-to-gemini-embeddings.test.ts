// OpenAI embeddings ↔ Gemini batchEmbedContents, both encodings, and what is refused.
import { describe, expect, it } from 'vitest';
import { translateEmbeddings, TranslationError } from './index.ts';

describe('OpenAI embeddings served by Gemini', () => {
  it('sends one batch request per input and answers in order, as floats or base64 float32', () => {
    const t = translateEmbeddings({ model: 'emb', input: ['a', 'b'], encoding_format: 'base64' }, { model: 'gemini-embedding-001' });
    expect(t.request.path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    expect(t.request.body).toEqual({ requests: [{ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'a' }] } }, { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'b' }] } }] });
    const answer = t.response({ embeddings: [{ values: [0.5, -1] }, { values: [2, 0.25] }] }) as { data: { index: number; embedding: string }[]; model: string };
    expect(answer.model).toBe('emb');
    const decoded = answer.data.map((d) => {
      const bytes = Buffer.from(d.embedding, 'base64');
      return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    });
    expect(decoded).toEqual([[0.5, -1], [2, 0.25]]);
    const floats = translateEmbeddings({ model: 'emb', input: 'a' }).response({ embeddings: [{ values: [0.1] }] }) as { data: { embedding: number[] }[] };
    expect(floats.data[0]!.embedding).toEqual([0.1]);
  });

  it('refuses token ids and unknown fields by name, and an answer with the wrong number of vectors as a 502', () => {
    expect(() => translateEmbeddings({ model: 'm', input: [[1, 2]] })).toThrow(expect.objectContaining({ param: 'input[0]', code: 'sightline_untranslatable' }));
    expect(() => translateEmbeddings({ model: 'm', input: 'a', extra: 1 })).toThrow(expect.objectContaining({ param: 'extra' }));
    let err: unknown;
    try {
      translateEmbeddings({ model: 'm', input: ['a', 'b'] }).response({ embeddings: [{ values: [1] }] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TranslationError);
    expect((err as TranslationError).status).toBe(502);
  });
});
