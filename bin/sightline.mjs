#!/usr/bin/env -S node --max-semi-space-size=4
// The `npx sightline` entry. A 4 MiB young generation (V8's default grows to 16 MiB per semi-space) keeps a busy
// proxy ~30 MB smaller (1,000 open streams: 169 → 137 MB) at no CPU cost measured (bench/README.md); `npm start`
// passes the same flag. Runs the CLI as plain JavaScript transpiled from the TypeScript sources on first use
// (bin/build.mjs; rebuilt when a source changes), or through tsx if that cannot be done.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuild } from './build.mjs';

let entry;
try {
  entry = path.join(await ensureBuild(), 'cli', 'main.js');
} catch (err) {
  console.error(`sightline: running from the TypeScript sources through tsx (transpiling failed: ${err instanceof Error ? err.message : String(err)})`);
}
if (entry !== undefined) {
  await import(pathToFileURL(entry).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
