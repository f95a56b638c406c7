// Both ends of the bench's streams. The upstream side writes an OpenAI chat-completion chunk stream, one event per
// write, each JSON chunk stamped with its send time on the monotonic clock (in `system_fingerprint`, a string field
// real chunks carry), which every process on the machine shares: the client can tell how long each chunk took to
// reach it, not only the gaps between chunks. The client side times one stream: headers, each event, the end.
import http from 'node:http';

export const STREAM_EVENTS = 22;
export const STREAM_INTERVAL_MS = 1;

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const STAMP = /"system_fingerprint":"fp_t(\d+)"/;

const CHUNK_HEAD = { id: 'chatcmpl-bench0000000000000000000000', object: 'chat.completion.chunk', created: 1753364800, model: 'gpt-4o-mini-2024-07-18' };

const chunk = (delta: object, finish: string | null, withUsage: boolean) => `data: ${JSON.stringify({
  ...CHUNK_HEAD, service_tier: 'default', system_fingerprint: `fp_t${nowUs()}`,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  ...(withUsage ? { usage: null } : {}),
})}\n\n`;

/**
 * `events` writes, each producing its bytes when called (so the stamp is the send time): a role chunk, content
 * chunks, a finish chunk, and `data: [DONE]`. With include_usage the usage chunk goes out in the same write as
 * [DONE], so a proxy that asks for usage gets the same number of writes at the same times as one that does not.
 */
export function chatStreamWrites(events: number, includeUsage: boolean): (() => string)[] {
  if (events < 3) throw new Error('a chat stream has at least 3 events (role, finish, [DONE])');
  const contentChunks = events - 3;
  const writes: (() => string)[] = [() => chunk({ role: 'assistant', content: '', refusal: null }, null, includeUsage)];
  for (let i = 0; i < contentChunks; i++) writes.push(() => chunk({ content: i === 0 ? 'Hello' : ' word' }, null, includeUsage));
  writes.push(() => chunk({}, 'stop', includeUsage));
  const usage = includeUsage
    ? `data: ${JSON.stringify({
      ...CHUNK_HEAD, choices: [], usage: { prompt_tokens: 24, completion_tokens: contentChunks, total_tokens: 24 + contentChunks },
    })}\n\n`
    : '';
  writes.push(() => `${usage}data: [DONE]\n\n`);
  return writes;
}

export interface StreamSample {
  status: number;
  /** µs from sending the request to the response headers, to the first SSE event, and to the end. */
  headersUs: number;
  firstEventUs: number;
  totalUs: number;
  /** Arrival of each complete SSE event, µs after the request was sent. */
  arrivalsUs: number[];
  /** For each stamped event: its arrival minus its send time at the upstream, µs. */
  deliveryUs: number[];
  error?: string;
}

/** Sends one streaming request and times it; never rejects (an error is recorded in the sample). */
export function timedStream(agent: http.Agent, url: string, body: string, headers: Record<string, string> = {}): Promise<StreamSample> {
  return new Promise((resolve) => {
    const sample: StreamSample = { status: 0, headersUs: NaN, firstEventUs: NaN, totalUs: NaN, arrivalsUs: [], deliveryUs: [] };
    let pending = '';
    const t0 = nowUs();
    const req = http.request(url, {
      agent, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
    }, (res) => {
      sample.status = res.statusCode ?? 0;
      sample.headersUs = nowUs() - t0;
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const at = nowUs();
        pending += text;
        for (let end = pending.indexOf('\n\n'); end !== -1; end = pending.indexOf('\n\n')) {
          const stamp = STAMP.exec(pending.slice(0, end));
          if (stamp) sample.deliveryUs.push(at - Number(stamp[1]));
          sample.arrivalsUs.push(at - t0);
          pending = pending.slice(end + 2);
        }
      });
      res.on('end', () => {
        sample.totalUs = nowUs() - t0;
        sample.firstEventUs = sample.arrivalsUs[0] ?? NaN;
        resolve(sample);
      });
      res.on('error', (err) => resolve({ ...sample, error: err.message }));
    });
    req.on('error', (err) => resolve({ ...sample, error: err.message }));
    req.end(body);
  });
}
