#!/usr/bin/env node
// Runs a TypeScript entry point under bench/ (or a runtime folder) from the transpiled build, as the product itself
// runs (bin/build.mjs): what a benchmark measures is then the shipped process, not the TypeScript loader.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuild, ROOT } from './build.mjs';

const [entry, ...rest] = process.argv.slice(2);
if (!entry || !entry.endsWith('.ts')) {
  console.error('usage: run-built <file.ts> [args…]');
  process.exit(2);
}
// The benches replay the tests' recorded provider responses through the tests' mock upstream.
const dir = await ensureBuild(['bench', 'test/fixtures', 'test/helpers']);
const built = path.join(dir, path.relative(ROOT, path.resolve(entry))).replace(/\.ts$/, '.js');
process.argv = [process.argv[0], entry, ...rest];
await import(pathToFileURL(built).href);
