// `npm ci` (the README's install step) refuses a lock that names a dependency it does not contain. chdb lists
// native packages for platforms the registry we install from does not serve; npm writes them into the lock
// entry anyway on every `npm install`, so this catches the lock going out of sync before CI does.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

describe('package-lock.json', () => {
  it('every dependency a locked package names is itself in the lock', () => {
    const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, LockEntry> };
    const paths = new Set(Object.keys(lock.packages));
    const missing: string[] = [];
    for (const [where, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
        // Node resolution: node_modules next to the package, then each ancestor's, up to the root.
        let dir = where;
        let found = false;
        for (;;) {
          if (paths.has(`${dir ? `${dir}/` : ''}node_modules/${name}`)) {
            found = true;
            break;
          }
          if (dir === '') break;
          const up = dir.lastIndexOf('/node_modules/');
          dir = up === -1 ? '' : dir.slice(0, up);
        }
        if (!found) missing.push(`${where || '(root)'} → ${name}`);
      }
    }
    expect(missing, 'run `node bin/fix-lock.mjs` after npm install').toEqual([]);
  });
});
