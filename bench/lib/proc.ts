// Child processes for benches: start a TypeScript entry (optionally pinned to CPUs with taskset), wait for
// its `{"port":N}` line, and stop it cleanly; CPU time and RSS of a whole process tree from /proc.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Servers run from the transpiled build, as the product runs, so their RSS and CPU are not the TypeScript loader's.
const RUN_BUILT = fileURLToPath(new URL('../../bin/run-built.mjs', import.meta.url));
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
  const nodeArgv = [process.execPath, ...(opts.nodeFlags ?? []), RUN_BUILT, entry, ...args];
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

/** The process and all its live descendants (every thread's children list under /proc/<pid>/task). */
export function processTree(root: number): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // exited meanwhile
    }
    out.push(pid);
    for (const tid of tasks) {
      try {
        for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (child !== '') queue.push(Number(child));
      } catch {
        // thread exited meanwhile
      }
    }
  }
  return out;
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: rest[0] is field 3 (state), so field n is rest[n - 3].
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * User + system CPU seconds used so far by the process and every live descendant. A process's own cutime/cstime
 * (descendants it has reaped) is added too: cutime does not count live children, and a child that exits during a
 * window moves from the live sum into its parent's cutime, so the difference of two readings stays right.
 */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / CLOCK_TICKS_PER_S;
}

/** User + system CPU seconds of one process alone (its threads; not its children). */
export function processCpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_S : 0;
}

export const MB = 1e6;

export interface TreeMemory {
  /** Sum of VmRSS over the tree now, MB (10^6 bytes). */
  rssMB: number;
  /** Sum of each process's VmHWM (its own peak; the peaks need not coincide, so an upper bound of the tree's). */
  hwmSumMB: number;
  processes: number;
}

export function treeMemory(root: number): TreeMemory {
  const mem: TreeMemory = { rssMB: 0, hwmSumMB: 0, processes: 0 };
  for (const pid of processTree(root)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue;
    }
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    mem.rssMB += (kb('VmRSS') * 1024) / MB;
    mem.hwmSumMB += (kb('VmHWM') * 1024) / MB;
    mem.processes++;
  }
  return mem;
}

export interface RssSampler {
  /** Highest sampled sum of VmRSS over the tree so far, MB. */
  readonly peakMB: number;
  readonly samples: { atMs: number; rssMB: number }[];
  stop(): void;
}

/** Samples the tree's summed VmRSS every `everyMs` (and once at once). */
export function sampleTreeRss(root: number, everyMs: number): RssSampler {
  const samples: { atMs: number; rssMB: number }[] = [];
  const t0 = performance.now();
  let peak = 0;
  const take = () => {
    const { rssMB, processes } = treeMemory(root);
    if (processes === 0) return;
    peak = Math.max(peak, rssMB);
    samples.push({ atMs: performance.now() - t0, rssMB });
  };
  take();
  const timer = setInterval(take, everyMs);
  return { get peakMB() { return peak; }, samples, stop: () => clearInterval(timer) };
}

/** A TCP port nothing listens on right now (for a child told its port in advance). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
