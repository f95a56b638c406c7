// Transpiles the runtime sources to plain JavaScript under .build/<stamp>/, one file per source (no bundling, so
// lazy imports stay lazy), rebuilt whenever a source file changed. Running plain JS instead of registering tsx
// saves each process tsx's module-loader thread (a second V8 isolate, ~40 MB RSS measured) and its
// compile-on-import work; there is still no build step to remember: the entry point calls ensureBuild().
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Folders the CLI's code lives in (tests run through vitest, not from here; benches add bench/). */
const SOURCE_DIRS = ['cli', 'config', 'contracts', 'providers', 'ledger', 'panels', 'proxy', 'bus', 'ingest', 'analytics', 'dashboards', 'otel'];
/** Files read at run time relative to the code (migrations, fixtures), copied beside it. */
const ASSET = /^(?!.*\.(ts|md)$)/;
const OUT = path.join(ROOT, '.build');

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if ((e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) || ASSET.test(e.name)) out.push(p);
  }
  return out;
}

function sources(dirs) {
  return dirs.flatMap((d) => walk(path.join(ROOT, d), [])).sort();
}

/** Names the sources' current state: any edit, addition or removal gives another stamp. */
function stampOf(files, esbuildVersion) {
  const h = createHash('sha256').update(esbuildVersion);
  for (const f of files) {
    const s = statSync(f);
    h.update(`${path.relative(ROOT, f)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

// Relative `.ts` specifiers become `.js`: the emitted files sit where their sources sat, renamed.
const TS_SPECIFIER = /((?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"']*?)\.ts\2/g;

/**
 * Returns the directory of the transpiled sources (the runtime folders, plus `extraDirs` such as bench/), building
 * it first when a source changed. A source `x/y.ts` is at `<dir>/x/y.js`.
 */
export async function ensureBuild(extraDirs = []) {
  const files = sources([...SOURCE_DIRS, ...extraDirs]);
  // esbuild is loaded only to build (importing it costs ~15 MB RSS); its version comes from its package.json.
  const esbuildVersion = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('esbuild/package.json'), 'utf8')).version;
  const stamp = stampOf(files, esbuildVersion);
  const dir = path.join(OUT, stamp);
  if (existsSync(path.join(dir, 'package.json'))) return dir;
  const esbuild = await import('esbuild');

  // Built aside and renamed into place, so concurrent starts never see half a build.
  const tmp = path.join(OUT, `.tmp-${stamp}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const ts = files.filter((f) => f.endsWith('.ts'));
  esbuild.buildSync({
    entryPoints: ts,
    outdir: tmp,
    outbase: ROOT,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    bundle: false,
    logLevel: 'error',
  });
  for (const f of ts) {
    const out = path.join(tmp, path.relative(ROOT, f)).replace(/\.ts$/, '.js');
    writeFileSync(out, readFileSync(out, 'utf8').replace(TS_SPECIFIER, '$1$2$3.js$2'));
  }
  for (const f of files.filter((x) => ASSET.test(x))) {
    const out = path.join(tmp, path.relative(ROOT, f));
    mkdirSync(path.dirname(out), { recursive: true });
    cpSync(f, out);
  }
  // Code that re-runs the CLI (the embedded ingest worker) finds bin/ beside itself: point it at the real entry.
  mkdirSync(path.join(tmp, 'bin'), { recursive: true });
  writeFileSync(path.join(tmp, 'bin', 'sightline.mjs'), `await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'bin', 'sightline.mjs')).href)});\n`);
  // Written last: its presence marks a complete build.
  writeFileSync(path.join(tmp, 'package.json'), '{"type":"module"}\n');
  try {
    renameSync(tmp, dir);
  } catch {
    // Another process built the same stamp first: use theirs.
    rmSync(tmp, { recursive: true, force: true });
  }
  // Builds of older sources go once they are a day old: a process started from one may still import from it lazily.
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const old of readdirSync(OUT)) {
    const p = path.join(OUT, old);
    if (old !== stamp && statSync(p).mtimeMs < dayAgo) rmSync(p, { recursive: true, force: true });
  }
  return dir;
}

// `node bin/build.mjs` builds ahead of time (the container image does, so its read-only code needs no first-start build).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(path.relative(ROOT, await ensureBuild()));
}
