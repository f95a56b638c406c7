// Starts the real proxy (real sockets, real http-proxy-middleware) in front of the mock upstream,
// with an in-memory sink so tests can read the events it emits.
import { parseConfig } from '../../config/index.ts';
import type { RequestEvent } from '../../proxy/event.ts';
import { RequestEventSchema } from '../../proxy/event.ts';
import type { RunningProxy } from '../../proxy/main.ts';
import { startProxy } from '../../proxy/main.ts';
import { createMemorySink } from '../../proxy/sink.ts';
import type { MockUpstream } from './mock-upstream.ts';
import { startMockUpstream } from './mock-upstream.ts';

export interface TestGateway {
  proxy: RunningProxy;
  mock: MockUpstream;
  /** Base URL of the proxy, e.g. http://127.0.0.1:41234 */
  url: string;
  events: RequestEvent[];
  /** Waits until at least n events were emitted (events are assembled after the response ends). */
  waitForEvents(n: number, timeoutMs?: number): Promise<RequestEvent[]>;
  close(): Promise<void>;
}

type EnvSpec = Record<string, string> | ((mockUrl: string) => Record<string, string>);

export async function startTestGateway(opts: { env?: EnvSpec; yaml?: string } = {}): Promise<TestGateway> {
  const mock = await startMockUpstream();
  const config = parseConfig(opts.yaml, {
    SIGHTLINE_PORT: '0',
    SIGHTLINE_SINK: 'none',
    SIGHTLINE_UPSTREAM_OPENAI: mock.url,
    SIGHTLINE_UPSTREAM_ANTHROPIC: mock.url,
    SIGHTLINE_UPSTREAM_GEMINI: mock.url,
    SIGHTLINE_UPSTREAM_AZURE: mock.url,
    ...(typeof opts.env === 'function' ? opts.env(mock.url) : opts.env),
  });
  const sink = createMemorySink();
  const proxy = await startProxy(config, sink);
  return {
    proxy,
    mock,
    url: proxy.url,
    events: sink.events,
    async waitForEvents(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (sink.events.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} events, got ${sink.events.length}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      // Every event must satisfy the contract the bus and ingest rely on.
      for (const e of sink.events) RequestEventSchema.parse(e);
      return sink.events;
    },
    async close() {
      await proxy.close();
      await mock.close();
    },
  };
}
