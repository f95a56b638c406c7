// How a realtime session's kept server events become usage, text and model (providers/openai.ts), what the proxy
// keeps of them, and that v1 events written before the session columns still parse.
import { describe, expect, it } from 'vitest';
import { RequestEventSchema } from '../../contracts/event.ts';
import { fromOpenAiRealtime, openAiRealtime, openAiRealtimeUsage } from '../../providers/openai.ts';
import { makeEvent } from '../helpers/events.ts';
import { MOCK_USAGE } from '../helpers/realtime-upstream.ts';

const done = (response: Record<string, unknown>) => ({ type: 'response.done', event_id: 'e', response });

describe('OpenAI Realtime usage', () => {
  it('maps input (cached included), cached and output tokens', () => {
    expect(openAiRealtimeUsage(MOCK_USAGE[0])).toEqual({ prompt_tokens: 132, completion_tokens: 121, cache_read_tokens: 64, cache_write_tokens: 0, reasoning_tokens: 0, input_audio_tokens: 13, output_audio_tokens: 91 });
    expect(openAiRealtimeUsage(null)).toBeNull();
    expect(openAiRealtimeUsage({ total_tokens: 3 })).toBeNull();
    // A cached count above the input is clamped, never trusted into a negative uncached part.
    expect(openAiRealtimeUsage({ input_tokens: 10, output_tokens: 1, input_token_details: { cached_tokens: 50 } })?.cache_read_tokens).toBe(10);
  });

  it('sums every response of a session, reads text and transcripts (GA and beta part names) and the session model', () => {
    const extracted = fromOpenAiRealtime([
      { type: 'session.created', session: { model: 'gpt-realtime-2025-08-28', instructions: 'x' } },
      done({ status: 'completed', usage: MOCK_USAGE[0], output: [{ id: 'i1', type: 'message', content: [{ type: 'output_audio', transcript: 'Hello.' }] }] }),
      done({ status: 'cancelled', usage: null, output: [] }),
      done({ status: 'completed', usage: MOCK_USAGE[1], output: [{ id: 'i2', type: 'message', content: [{ type: 'text', text: 'Paris.' }] }, { id: 'f1', type: 'function_call', arguments: '{"city":"Paris"}' }] }),
      { type: 'session.updated', session: { model: 'gpt-realtime-2025-08-28' } },
      'not an object',
    ]);
    expect(extracted).toEqual({
      usage: { prompt_tokens: 1332, completion_tokens: 271, cache_read_tokens: 1088, cache_write_tokens: 0, reasoning_tokens: 0, input_audio_tokens: 813, cache_audio_read_tokens: 640, output_audio_tokens: 91 },
      response_model: 'gpt-realtime-2025-08-28',
      finish_reason: 'completed',
      error_type: '',
      text: 'Hello.\nParis.\n{"city":"Paris"}',
    });
  });

  it('reports the first failed response and no usage when none came', () => {
    const extracted = fromOpenAiRealtime([
      done({ status: 'failed', status_details: { type: 'failed', error: { type: 'server_error', code: 'internal' } }, output: [] }),
      done({ status: 'failed', status_details: { type: 'failed', error: { type: 'rate_limit_exceeded' } }, output: [] }),
    ]);
    expect(extracted).toMatchObject({ usage: null, finish_reason: 'failed', error_type: 'server_error' });
  });

  it('keeps response.done whole, or briefly (no content) when asked, and only the model of session events', () => {
    const message = done({ id: 'r', status: 'failed', status_details: { type: 'failed', error: { type: 'server_error', code: 'c', message: 'said: secret' } }, output: [{ type: 'message', content: [{ type: 'text', text: 'secret' }] }], usage: MOCK_USAGE[0] });
    expect(openAiRealtime.keep(message, false)).toBe(message);
    const brief = openAiRealtime.keep(message, true);
    expect(JSON.stringify(brief)).not.toContain('secret');
    expect(openAiRealtime.read([brief])).toMatchObject({ usage: { prompt_tokens: 132 }, finish_reason: 'failed', error_type: 'server_error', text: '' });
    expect(openAiRealtime.keep({ type: 'session.created', session: { model: 'm', instructions: 'secret', tools: [] } }, false)).toEqual({ type: 'session.created', session: { model: 'm' } });
    expect(openAiRealtime.keep({ type: 'response.output_audio.delta', delta: 'AAAA' }, false)).toBeUndefined();
    expect(openAiRealtime.keep('"response.done"', false)).toBeUndefined();
    // Every kept type carries a marker, so the proxy's substring check lets it through.
    for (const type of ['response.done', 'session.created', 'session.updated']) {
      expect(openAiRealtime.markers.some((m) => JSON.stringify({ type }).includes(m))).toBe(true);
    }
  });
});

describe('session columns in the v1 event', () => {
  it('default to 0 for events written before them', () => {
    const { messages_in: _in, messages_out: _out, close_code: _code, ...older } = makeEvent();
    expect(RequestEventSchema.parse(older)).toMatchObject({ messages_in: 0, messages_out: 0, close_code: 0 });
  });

  it('are bounded by the columns they land in', () => {
    expect(RequestEventSchema.safeParse(makeEvent({ endpoint: 'realtime', messages_in: 3, messages_out: 9, close_code: 1000 })).success).toBe(true);
    expect(() => makeEvent({ messages_in: 2 ** 32 })).toThrow();
    expect(() => makeEvent({ close_code: 5000 })).toThrow();
  });
});
