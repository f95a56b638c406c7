// Starts the real proxy (real sockets, real http-proxy-middleware) in front of the mock upstream,
// with an in-memory sink so tests can read the events it emits.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../../config/index.ts';
import { parseConfig } from '../../config/index.ts';
import type { RequestEvent } from '../../contracts/event.ts';
import { RequestEventSchema } from '../../contracts/event.ts';
import type { BusEvent } from '../../contracts/sink.ts';
import { encodeBusEvent } from '../../contracts/sink.ts';
import { assembleDepsFromConfig, decodeEvent } from '../../ingest/pipeline.ts';
import { settlementOf } from '../../ingest/settle.ts';
import type { Settlement } from '../../contracts/spend.ts';
import type { RunningProxy } from '../../proxy/main.ts';
import { startProxy } from '../../proxy/main.ts';
import { createMemorySink } from '../../proxy/sink.ts';
import type { MockUpstream } from './mock-upstream.ts';
import { startMockUpstream } from './mock-upstream.ts';

export interface TestGateway {
  proxy: RunningProxy;
  /** The config the gateway runs with. */
  config: Config;
  mock: MockUpstream;
  /** Base URL of the proxy, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The rows the calls became: each bus event as ingest assembles it. */
  events: RequestEvent[];
  /** What the proxy wrote, as it wrote it. */
  written: BusEvent[];
  /** Waits until at least n events were emitted (events are assembled after the response ends). */
  waitForEvents(n: number, timeoutMs?: number): Promise<RequestEvent[]>;
  close(): Promise<void>;
}

type EnvSpec = Record<string, string> | ((mockUrl: string) => Record<string, string>);

export interface TestGatewayOptions {
  env?: EnvSpec;
  yaml?: string | ((mockUrl: string) => string);
  /**
   * Settle budget spend as ingest does once each row is stored (ingest/settle.ts), into the proxy's own spend store
   * (memory, or the shared Redis): the rows are assembled and settled a few ms after each call ends.
   */
  settle?: boolean;
}

export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const mock = await startMockUpstream();
  const config = parseConfig(typeof opts.yaml === 'function' ? opts.yaml(mock.url) : opts.yaml, {
    // Its own data dir: runtime keys (keys.json) and anything else a gateway writes stay out of the repository.
    SIGHTLINE_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'sightline-gw-')),
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
  const deps = assembleDepsFromConfig(config);
  const events: RequestEvent[] = [];
  // Each event goes the way it goes in production: encoded for the bus, then decoded and assembled by ingest.
  const assembled = () => {
    for (let i = events.length; i < sink.events.length; i++) {
      const raw = encodeBusEvent(sink.events[i]!);
      const decoded = decodeEvent(typeof raw === 'string' ? Buffer.from(raw) : raw, config.ingest.max_event_bytes, deps);
      if (!decoded.ok) throw new Error(`the proxy wrote an event ingest refuses: ${decoded.letter.reason}: ${decoded.letter.detail}`);
      events.push(RequestEventSchema.parse(decoded.event));
    }
    return events;
  };
  let settled = 0;
  let unsettled: Settlement[] = [];
  const settler = opts.settle !== true ? undefined : setInterval(() => {
    const rows = assembled();
    unsettled.push(...rows.slice(settled).map(settlementOf));
    settled = rows.length;
    if (unsettled.length === 0) return;
    const batch = unsettled;
    unsettled = [];
    // As ingest does (ingest/settle.ts): a settlement that fails (Redis down, slow) is tried again.
    proxy.spend.settle(batch, config.budgets.timezone).catch(() => unsettled.unshift(...batch));
  }, 5);
  return {
    proxy,
    config,
    mock,
    url: proxy.url,
    get events() {
      return assembled();
    },
    written: sink.events,
    async waitForEvents(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (sink.events.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} events, got ${sink.events.length}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return assembled();
    },
    async close() {
      clearInterval(settler);
      await proxy.close();
      await mock.close();
    },
  };
}
