// The two Debian packages the suite runs for real — redis-server (keys, budgets, limits, cache) and chromium (the
// console, driven by playwright-core) — are installed before any test file starts when they are missing, so the
// README's `npm ci && npm test` holds on a fresh machine (Node 20, npm, Java 17 and apt, as root).
import { execFileSync, spawnSync } from 'node:child_process';

const PACKAGES: readonly { command: string; pkg: string }[] = [
  { command: 'redis-server', pkg: 'redis-server' },
  { command: 'chromium', pkg: 'chromium' },
];

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

export default function setup(): void {
  const missing = PACKAGES.filter((p) => !has(p.command));
  if (missing.length === 0) return;
  const names = missing.map((p) => p.pkg);
  if (process.getuid?.() !== 0 || !has('apt-get')) {
    throw new Error(`the tests need ${names.join(' and ')}: install them (apt-get install ${names.join(' ')}) and run again`);
  }
  console.error(`test setup: installing ${names.join(', ')} with apt-get…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...names], { stdio: 'inherit', env });
}
