/**
 * Which price data prices the rows, and how it is updated without a Sightline release.
 *
 * The source stays @pydantic/genai-prices. Its data ships inside the package (bundled: `genai-prices@<version>`);
 * a price-data file replaces it: `pricing.data_file`, else `<data_dir>/prices.json` when present. That file is what
 * `npx sightline prices update` writes: the newest @pydantic/genai-prices published on the npm registry (the only
 * registry this deployment is assumed to reach; the package's own auto-update reads GitHub), its data taken out of
 * the package's bundle. A file holds `{ version, providers }` (providers: genai-prices' data.json array, so the
 * project's published data.json can be given as `{ "version": "…", "providers": <data.json> }` too).
 *
 * The data is process-global inside genai-prices (`updatePrices`), so it is loaded once, before any coster prices.
 */
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runInNewContext } from 'node:vm';
import { updatePrices } from '@pydantic/genai-prices';
import type { Provider } from '@pydantic/genai-prices';
import { z } from 'zod';
import type { Config } from '../config/index.ts';
import { createCoster } from './cost.ts';
import type { Coster } from './cost.ts';

const PACKAGE = '@pydantic/genai-prices';
const require = createRequire(import.meta.url);
// Its exports map hides package.json: read it beside the entry point (dist/…).
const bundledPackage = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(path.join(path.dirname(require.resolve(PACKAGE)), '..', 'package.json'), 'utf8')));

/** The bundled data's price_version. */
export const BUNDLED_PRICE_VERSION = `genai-prices@${bundledPackage.version}`;

// Loose on purpose: genai-prices validates the providers itself when the data is set, and rejects what it cannot use.
const PriceDataFile = z.object({
  version: z.string().min(1),
  providers: z.array(z.looseObject({ id: z.string(), models: z.array(z.unknown()) })).min(1),
});
export type PriceData = z.infer<typeof PriceDataFile>;

let active = BUNDLED_PRICE_VERSION;
let activeFile = '';

/** The price_version of the data genai-prices currently prices with. */
export function activePriceVersion(): string {
  return active;
}

/** The file a config prices from ('' = the bundled data). */
export function priceDataFileOf(config: Pick<Config, 'pricing' | 'data_dir'>): string {
  if (config.pricing.data_file !== undefined) return config.pricing.data_file;
  const dflt = defaultPriceDataFile(config.data_dir);
  return existsSync(dflt) ? dflt : '';
}

export function defaultPriceDataFile(dataDir: string): string {
  return path.join(dataDir, 'prices.json');
}

/** Makes the file's data the active price data (once per file and process); returns its price_version. */
export function loadPriceData(file: string): string {
  if (file === activeFile) return active;
  let parsed: PriceData;
  try {
    parsed = PriceDataFile.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new Error(`price data ${file}: ${(err as Error).message}`);
  }
  updatePrices(({ setProviderData }) => setProviderData(parsed.providers as unknown as Provider[]));
  active = parsed.version;
  activeFile = file;
  return active;
}

/** A coster as the config says: its price data, its overrides and each organisation's. */
export function costerFromConfig(config: Pick<Config, 'pricing' | 'data_dir' | 'prices'>): Coster {
  const file = priceDataFileOf(config);
  const priceVersion = file === '' ? activePriceVersion() : loadPriceData(file);
  return createCoster({ overrides: config.prices, organizations: config.pricing.organizations, priceVersion, tierFactors: config.pricing.tier_factors });
}

// ---- update from the npm registry ----

const Packument = z.object({ version: z.string(), dist: z.object({ tarball: z.url() }) });

/** The newest published genai-prices data, fetched from the npm registry. */
export async function fetchLatestPriceData(registry = 'https://registry.npmjs.org'): Promise<PriceData> {
  const meta = Packument.parse(await (await checkedFetch(`${registry.replace(/\/$/, '')}/${PACKAGE}/latest`)).json());
  const tarball = Buffer.from(await (await checkedFetch(meta.dist.tarball)).arrayBuffer());
  const bundle = fileInTar(gunzipSync(tarball), 'package/dist/index.js');
  if (bundle === undefined) throw new Error(`${PACKAGE}@${meta.version}: no dist/index.js in its tarball`);
  return PriceDataFile.parse({ version: `genai-prices@${meta.version}`, providers: providersOfBundle(bundle.toString('utf8')) });
}

/** Writes the data atomically where `priceDataFileOf` finds it. */
export function writePriceData(file: string, data: PriceData): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(data));
  renameSync(tmp, file);
}

async function checkedFetch(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res;
}

/**
 * The bundle opens with its data as one array literal (`const E = [ … ], J = …`: the first line starting with `]`
 * closes it). The literal alone is evaluated, in an empty context: data, not the package's code.
 */
export function providersOfBundle(source: string): unknown {
  const open = /^const \w+ = \[$/m.exec(source);
  if (open === null) throw new Error('price bundle: no data array found');
  const close = /\n\](?=[,;\n])/g;
  close.lastIndex = open.index;
  const end = close.exec(source);
  if (end === null) throw new Error('price bundle: data array not closed');
  const literal = source.slice(open.index + open[0].length - 1, end.index + 2);
  return runInNewContext(`(${literal})`, Object.create(null), { timeout: 5000 });
}

/** One file of a ustar archive (npm tarballs: 512-byte headers, sizes in octal). */
function fileInTar(tar: Buffer, name: string): Buffer | undefined {
  for (let at = 0; at + 512 <= tar.length;) {
    const header = tar.subarray(at, at + 512);
    const entry = header.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    if (entry === '') return undefined;
    const size = Number.parseInt(header.toString('utf8', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
    const prefix = header.toString('utf8', 345, 500).replace(/\0.*$/s, '');
    const full = prefix === '' ? entry : `${prefix}/${entry}`;
    if (full === name) return tar.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return undefined;
}
