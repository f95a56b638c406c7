// Child processes for benches: start a TypeScript entry (optionally pinned to CPUs with taskset), wait for
// its `{"port":N}` line, read its CPU time and RSS from /proc, and stop it cleanly.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.mjs', import.meta.url));
const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux; /proc/<pid>/stat counts CPU time in these ticks

export function hasTaskset(): boolean {
  return spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
}

export interface ServerChild {
  pid: number;
  port: number;
  /** Lines the child printed after its ready line (e.g. the `stopped` summary). */
  lines: unknown[];
  /** Sends SIGTERM and resolves with the child's last JSON line once it has exited. */
  stop(): Promise<unknown>;
}

export interface SpawnOptions {
  /** taskset CPU list, e.g. "1"; undefined = not pinned. */
  cpus?: string;
  nodeFlags?: string[];
}

export async function startServerChild(entry: string, args: string[], opts: SpawnOptions = {}): Promise<ServerChild> {
  const nodeArgv = [process.execPath, ...(opts.nodeFlags ?? []), RUN_TS, entry, ...args];
  const [cmd, ...argv] = opts.cpus === undefined ? nodeArgv : ['taskset', '-c', opts.cpus, ...nodeArgv];
  // taskset execs node in place, so the pid we get is the node process itself.
  const child: ChildProcess = spawn(cmd!, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: unknown[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      const p = (msg as { port?: unknown }).port;
      if (typeof p === 'number') resolve(p);
      else lines.push(msg);
    });
    void exited.then((code) => reject(new Error(`${entry} ${args.join(' ')} exited (${code}) before listening`)));
  });
  return {
    pid: child.pid!,
    port,
    lines,
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`${entry} ${args[0] ?? ''} exited with ${code}`);
      return lines.at(-1);
    },
  };
}

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS_PER_S;
}

/** Current and peak (high-water mark) resident set size, in MiB. */
export function rssMiB(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}
