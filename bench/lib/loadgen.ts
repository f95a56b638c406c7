// Closed-loop HTTP load: N keep-alive connections, each sending the next request as soon as the last response
// ends, for a fixed time. Two generators with one result shape:
//   wrk        — C and epoll, cheapest on CPU (it shares a 2-core machine with the targets); µs latencies.
//   autocannon — the npm fallback when wrk is not installed. Its own histogram keeps whole milliseconds only,
//                so latencies are recorded here from its per-response event, in µs.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';

export type LoadTool = 'wrk' | 'autocannon';

export interface LoadSpec {
  url: string;
  body: string;
  connections: number;
  seconds: number;
  /** taskset CPU list for wrk (autocannon runs in this process, which the caller pins). */
  cpus?: string;
  /** Ends the run early (wrk gets SIGINT and still prints its summary): for runs sized in requests, not time. */
  signal?: AbortSignal;
  /** Extra request headers (e.g. a W3C traceparent), the same on every request. */
  headers?: Record<string, string>;
}

export interface LoadResult {
  /** Responses received within the window (any status). */
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors and timeouts. */
  errors: number;
  non2xx: number;
}

export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error === undefined;
}

export function runLoad(tool: LoadTool, spec: LoadSpec): Promise<LoadResult> {
  return tool === 'wrk' ? runWrk(spec) : runAutocannon(spec);
}

const luaLongString = (s: string) => `[==[${s}]==]`;

async function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-wrk-'));
  const script = path.join(dir, 'post.lua');
  writeFileSync(script, `wrk.method = "POST"
wrk.body = ${luaLongString(spec.body)}
wrk.headers["Content-Type"] = "application/json"
${Object.entries(spec.headers ?? {}).map(([k, v]) => `wrk.headers[ ${luaLongString(k)} ] = ${luaLongString(v)}\n`).join('')}done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`);
  // One thread: the generator should take one core at most, whatever the connection count.
  const wrkArgs = ['-t1', `-c${spec.connections}`, `-d${spec.seconds}s`, '--timeout', '10s', '-s', script, spec.url];
  const [cmd, ...args] = spec.cpus === undefined ? ['wrk', ...wrkArgs] : ['taskset', '-c', spec.cpus, 'wrk', ...wrkArgs];
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      spec.signal?.addEventListener('abort', () => child.kill('SIGINT'), { once: true });
      let text = '';
      child.stdout.on('data', (d: Buffer) => { text += d.toString('utf8'); });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
    });
    const line = out.split('\n').reverse().find((l) => l.startsWith('{"requests"'));
    if (!line) throw new Error(`wrk printed no summary:\n${out}`);
    const r = JSON.parse(line) as { requests: number; duration_us: number; p50_us: number; p99_us: number; errors: number; non2xx: number };
    const seconds = r.duration_us / 1e6;
    return { requests: r.requests, seconds, rps: r.requests / seconds, p50Ms: r.p50_us / 1000, p99Ms: r.p99_us / 1000, errors: r.errors, non2xx: r.non2xx };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
  const latencyUs = createHistogram();
  let requests = 0;
  let non2xx = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance: autocannon.Instance = autocannon({
      url: spec.url, method: 'POST', body: spec.body, headers: { 'content-type': 'application/json', ...spec.headers },
      connections: spec.connections, duration: spec.seconds, timeout: 10,
    }, (err, res) => (err ? reject(err) : resolve(res)));
    spec.signal?.addEventListener('abort', () => instance.stop(), { once: true });
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
      requests++;
      if (statusCode < 200 || statusCode > 299) non2xx++;
      latencyUs.record(Math.max(1, Math.round(responseTimeMs * 1000)));
    });
  });
  return {
    requests, seconds: result.duration, rps: requests / result.duration,
    p50Ms: latencyUs.percentile(50) / 1000, p99Ms: latencyUs.percentile(99) / 1000,
    errors: result.errors + result.timeouts, non2xx,
  };
}
