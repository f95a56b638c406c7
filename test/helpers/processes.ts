// Runs the real `sightline` CLI as child processes for end-to-end and fault tests: what a user runs,
// on real ports and a real data dir, so kill -9 means what it means in production.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'sightline.mjs');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface SightlineProcess {
  proc: ChildProcess;
  pid: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<void>;
  /** PIDs of this process's direct children (the embedded ingest worker under `start`). */
  children(): number[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnSightline(args: string[], env: Record<string, string>): SightlineProcess {
  const proc = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, TZ: 'UTC', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  // A test that fails must not leave gateways running.
  const cleanup = () => {
    try {
      proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', cleanup);
  // Once it has exited there is nothing to clean up: a test spawning many gateways must not pile up listeners.
  proc.once('exit', () => process.removeListener('exit', cleanup));
  return {
    proc,
    pid: proc.pid!,
    output: () => out,
    async waitForOutput(re, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (proc.exitCode !== null) throw new Error(`sightline exited (${proc.exitCode}) before ${re}:\n${out}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    children() {
      try {
        return execFileSync('ps', ['-o', 'pid=', '--ppid', String(proc.pid)], { encoding: 'utf8' }).split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
      } catch {
        return [];
      }
    },
    exited,
    kill(signal = 'SIGTERM') {
      proc.kill(signal);
    },
  };
}

/** A client for the ClickHouse HTTP interface the embedded store serves. */
export function httpClickHouse(port: number): ClickHouseClient {
  // Polling a store that is restarting on purpose refuses connections: that is expected, not log-worthy.
  return createClient({ url: `http://127.0.0.1:${port}`, clickhouse_settings: { output_format_json_quote_64bit_integers: 1 }, log: { level: ClickHouseLogLevel.OFF } });
}

export async function queryRows<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** Polls until `check` returns true (errors count as "not yet"), or fails with the last observation. */
export async function eventually<T>(probe: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (check(v)) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
