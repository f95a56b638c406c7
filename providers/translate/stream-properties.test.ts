// Properties every stream translator must have, checked on every recorded stream it applies to:
// - chunking does not matter: the client bytes are the same whether the upstream's bytes arrive whole, cut in two
//   at any byte offset (UTF-8 sequences and CRLF pairs included), one byte at a time, or in random pieces;
// - nothing is buffered: a frame's translation is out as soon as that frame's bytes are in.
import { describe, expect, it } from 'vitest';
import { listFixtures } from '../../test/fixtures/index.ts';
import type { Fixture } from '../../test/fixtures/index.ts';
import { framesOf, randomSizes, translateSplit, translateStream } from '../../test/helpers/translation.ts';
import { geminiToAnthropicStream } from './anthropic-to-gemini.ts';
import { AnthropicToOpenAiStream } from './anthropic-to-openai-stream.ts';
import { GeminiToOpenAiStream } from './gemini-to-openai-stream.ts';
import { OpenAiToAnthropicStream } from './openai-to-anthropic-stream.ts';
import { toStreamTranslator } from './sse-frames.ts';
import type { StreamTranslator } from './sse-frames.ts';
import type { OpenAiAnswerContext } from './types.ts';
import { adapterById } from '../index.ts';

const adapterFor = (provider: Fixture['provider']) => adapterById(provider);

const ctx = (extra: Partial<OpenAiAnswerContext> = {}): OpenAiAnswerContext => ({ model: 'smart', created: 1_753_364_800, includeUsage: true, jsonTool: null, ...extra });

interface Case {
  name: string;
  fixture: Fixture;
  translator: () => StreamTranslator;
}

const sse = (provider: 'openai' | 'anthropic' | 'gemini' | 'azure') => listFixtures(provider).filter((f) => f.sse);
const chatStreams = [...sse('openai'), ...sse('azure')].filter((f) => !f.name.startsWith('responses'));

const cases: Case[] = [
  ...sse('anthropic').map((fixture) => ({ name: `anthropic/${fixture.name} → openai`, fixture, translator: () => toStreamTranslator(new AnthropicToOpenAiStream(ctx())) })),
  ...sse('anthropic').map((fixture) => ({
    name: `anthropic/${fixture.name} → openai (forced JSON tool)`,
    fixture,
    translator: () => toStreamTranslator(new AnthropicToOpenAiStream(ctx({ jsonTool: 'get_weather', includeUsage: false }))),
  })),
  ...sse('gemini').map((fixture) => ({ name: `gemini/${fixture.name} → openai`, fixture, translator: () => toStreamTranslator(new GeminiToOpenAiStream(ctx())) })),
  ...sse('gemini').map((fixture) => ({
    name: `gemini/${fixture.name} → anthropic`,
    fixture,
    translator: () => toStreamTranslator(geminiToAnthropicStream({ openai: ctx(), anthropic: { model: 'smart' } })),
  })),
  ...chatStreams.map((fixture) => ({ name: `${fixture.provider}/${fixture.name} → anthropic`, fixture, translator: () => toStreamTranslator(new OpenAiToAnthropicStream({ model: 'smart' })) })),
];

describe('stream translation does not depend on how the bytes were chunked', () => {
  it('covers every recorded chat stream of every provider', () => {
    expect(cases.length).toBe(2 * sse('anthropic').length + 2 * sse('gemini').length + chatStreams.length);
    expect(sse('anthropic').length).toBeGreaterThanOrEqual(4);
    expect(sse('gemini').length).toBeGreaterThanOrEqual(3);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: same output cut at every byte offset', (_name, c) => {
    const whole = translateStream(c.translator(), c.fixture.body);
    expect(framesOf(whole).length).toBeGreaterThanOrEqual(2);
    for (let cut = 1; cut < c.fixture.body.length; cut++) {
      const split = translateSplit(c.translator(), c.fixture.body, cut);
      if (split !== whole) expect(split, `cut at byte ${cut}`).toBe(whole);
    }
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: same output byte by byte and in random pieces', (_name, c) => {
    const whole = translateStream(c.translator(), c.fixture.body);
    expect(translateStream(c.translator(), c.fixture.body, [1])).toBe(whole);
    for (let seed = 1; seed <= 20; seed++) expect(translateStream(c.translator(), c.fixture.body, randomSizes(seed, 64, 97)), `seed ${seed}`).toBe(whole);
  });
});

describe('stream translation buffers nothing', () => {
  // Every upstream frame that carries model output (as the provider's adapter counts it for time-to-first-token)
  // yields client bytes at once. The forced JSON tool is left out: there, text around the tool is dropped on purpose.
  const unbuffered = cases.filter((c) => !c.name.includes('forced JSON tool'));
  it.each(unbuffered.map((c) => [c.name, c] as const))('%s: output frames are translated as they arrive', (_name, c) => {
    const accumulator = adapterFor(c.fixture.provider).newStream();
    const translator = c.translator();
    let outputFrames = 0;
    for (const frame of framesOf(c.fixture.body.toString('utf8'))) {
      const carriesOutput = accumulator.onFrame(frame);
      const text = translator.push(frame);
      if (!carriesOutput) continue;
      outputFrames++;
      expect(text, JSON.stringify(frame.json)).not.toBe('');
    }
    expect(outputFrames).toBe(c.fixture.expect.output_frames);
  });
});
