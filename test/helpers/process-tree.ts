// Finding and killing every process of one gateway, for kill -9 tests. A SIGKILLed `sightline start` does not
// take its ingest worker (or tsx's esbuild service) with it: they are reparented and keep the data dir, and the
// embedded ClickHouse can be opened by one process only. Parentage is lost on the kill, so the processes are
// found by what they all inherit instead: the environment naming their data dir.
import { readdirSync, readFileSync } from 'node:fs';

/** True while pid runs: not gone, and not a zombie (an orphan's reaper may take its time; a zombie holds nothing). */
export function isLive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Live processes (other than this one) whose environment holds `name=value`, e.g. one gateway's data dir. */
export function processesWithEnv(name: string, value: string): number[] {
  const wanted = `${name}=${value}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (environ.split('\0').includes(wanted) && isLive(pid)) pids.push(pid);
  }
  return pids;
}

/** SIGKILLs each pid in order, all in one tick; a pid already gone is fine. */
export function killNow(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
