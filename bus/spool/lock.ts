// A pid lock file, created atomically with its content (write a temp file, then link(2) it into place: link
// fails if the lock exists, and nobody can see a half-written lock). A lock whose pid is dead — or whose pid
// now belongs to a different process, told apart by the start time in /proc/<pid>/stat — is stale and taken over.
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

export class SpoolLockedError extends Error {
  readonly code = 'SPOOL_LOCKED';
  constructor(readonly lockFile: string, readonly holderPid: number) {
    super(`${lockFile} is held by live process ${holderPid}; only one process may hold it at a time (give each process its own spool dir)`);
    this.name = 'SpoolLockedError';
  }
}

interface Holder { pid: number; start: string | null }

/** Takes the lock or throws SpoolLockedError; returns the release function. */
export function acquireLock(file: string, onWarn: (msg: string) => void): () => void {
  const mine = JSON.stringify({ pid: process.pid, start: processStart(process.pid) } satisfies Holder);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, mine);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, file);
        return () => {
          if (readOrEmpty(file) === mine) rmSync(file, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = readOrEmpty(file);
      const holder = parseHolder(text);
      if (holder && isAlive(holder)) throw new SpoolLockedError(file, holder.pid);
      onWarn(`${file}: taking over a stale lock (${holder ? `process ${holder.pid} is gone` : 'unreadable content'})`);
      // Remove it only if nobody replaced it meanwhile; two processes racing for one stale lock is the one
      // window left open, and it is microseconds wide.
      if (readOrEmpty(file) === text) rmSync(file, { force: true });
    }
    throw new Error(`${file}: could not take the lock after 3 attempts`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function parseHolder(text: string): Holder | null {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && 'pid' in v && Number.isSafeInteger(v.pid) && (v.pid as number) > 0) {
      const start = 'start' in v && typeof v.start === 'string' ? v.start : null;
      return { pid: v.pid as number, start };
    }
  } catch {
    // unparsable: treated as stale
  }
  return null;
}

function isAlive(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = procStat(holder.pid);
  if (now === null) return true;
  if (now.state === 'Z') return false; // killed, not yet reaped by its parent
  return holder.start === null || now.start === holder.start;
}

const processStart = (pid: number): string | null => procStat(pid)?.start ?? null;

/** State (field 3) and start time in clock ticks since boot (field 22) of /proc/<pid>/stat; null where /proc is absent. */
function procStat(pid: number): { state: string; start: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return null;
  }
}
