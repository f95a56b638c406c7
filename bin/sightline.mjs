#!/usr/bin/env node
// The `npx sightline` entry. Runs the CLI as plain JavaScript transpiled from the TypeScript sources on first use
// (bin/build.mjs; rebuilt when a source changes), or through tsx if that cannot be done.
import { pathToFileURL } from 'node:url';
import { ensureBuild } from './build.mjs';

let entry;
try {
  entry = await ensureBuild();
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
