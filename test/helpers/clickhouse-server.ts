// "A ClickHouse server" for production-mode tests, as its own process: there is no clickhouse-server binary
// here, so chDB on a data dir is served by our ClickHouse HTTP interface (writable) on a loopback port.
// Ingest then talks real HTTP to it through @clickhouse/client (CLICKHOUSE_URL), and kill() is a real
// "ClickHouse went away mid-run"; restart() brings it back on the same data dir and the same port.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './processes.ts';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHILD = path.join(ROOT, 'test', 'helpers', 'clickhouse-server.child.ts');
const READY = /clickhouse listening on (\d+)/;

export interface ClickHouseServer {
  /** http://127.0.0.1:<port>, stable across restart(). */
  url: string;
  dataDir: string;
  pid(): number | undefined;
  /** SIGTERM and wait; removes the data dir when this helper created it. */
  stop(): Promise<void>;
  /** SIGKILL; resolves once the process is gone (its chDB lock is then free). */
  kill(): Promise<void>;
  /** Starts the server again on the same data dir and port; resolves once it answers. */
  restart(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function launch(dataDir: string, port: number, timeoutMs = 30_000): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'run-ts.mjs'), CHILD, dataDir, String(port)], {
    cwd: ROOT,
    env: { ...process.env, TZ: 'UTC' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A failing test must not leave a server holding the data dir.
  const cleanup = () => child.kill('SIGKILL');
  process.once('exit', cleanup);
  child.once('exit', () => process.off('exit', cleanup));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ClickHouse server not ready after ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (READY.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`ClickHouse server exited (${signal ?? code}) before it was ready:\n${out}`));
    });
  });
  return child;
}

export async function startClickHouseServer(dataDir?: string): Promise<ClickHouseServer> {
  const dir = dataDir ?? mkdtempSync(path.join(tmpdir(), 'sightline-chserver-'));
  const port = await freePort();
  let child = await launch(dir, port);
  return {
    url: `http://127.0.0.1:${port}`,
    dataDir: dir,
    pid: () => child.pid,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited(child);
      clearTimeout(timer);
      if (dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    async restart() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited(child);
      }
      child = await launch(dir, port);
    },
  };
}
