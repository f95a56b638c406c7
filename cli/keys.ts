// `npx sightline keys …`: virtual keys. By default they go to the runtime key store every gateway replica reads
// (Redis with REDIS_URL, else <data_dir>/keys.json) and take effect within a second; with --config a key is
// written into that YAML file instead (config as code, read at start and on reload). Only digests are stored.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDocument, YAMLSeq } from 'yaml';
import type { Config } from '../config/index.ts';
import { parseBudget } from '../config/budgets.ts';
import { hashKey } from '../proxy/auth.ts';
import { connectRedis, redisReady } from '../proxy/gateway/redis.ts';
import type { KeyInput, KeyStore, StoredKey } from '../proxy/keys/store.ts';
import { KeyStoreError, newSecret, openKeyStore } from '../proxy/keys/store.ts';

type Env = Record<string, string | undefined>;
type ConfigWith = (overrides: Env) => Config;

interface KeyOptions {
  team?: string;
  budget?: string;
  models?: string;
  rpm?: string;
  tpm?: string;
  expires?: string;
  metadata?: string[];
  config?: string;
  dataDir?: string;
}

/** The key settings the flags give, checked the way the store checks them (messages name the flag). */
function settingsOf(opts: KeyOptions): Partial<KeyInput> {
  const out: Partial<KeyInput> = {};
  if (opts.team !== undefined) out.team = opts.team;
  if (opts.budget !== undefined) {
    const b = parseBudget(opts.budget);
    if (typeof b === 'string') fail(`--budget: ${b}`);
    out.budget = opts.budget;
  }
  if (opts.models !== undefined) out.models = opts.models.split(',').map((m) => m.trim()).filter(Boolean);
  for (const flag of ['rpm', 'tpm'] as const) {
    const v = opts[flag];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) fail(`--${flag}: expected a positive whole number, got "${v}"`);
    out[flag] = n;
  }
  if (opts.expires !== undefined) {
    const at = /^\d{4}-\d\d-\d\d$/.test(opts.expires) ? `${opts.expires}T00:00:00Z` : opts.expires;
    if (Number.isNaN(Date.parse(at))) fail(`--expires: expected a date (2027-01-01) or an ISO time, got "${opts.expires}"`);
    out.expires_at = new Date(at).toISOString();
  }
  if (opts.metadata !== undefined) {
    const metadata: Record<string, string> = {};
    for (const pair of opts.metadata) {
      const eq = pair.indexOf('=');
      if (eq <= 0) fail(`--metadata: expected key=value, got "${pair}"`);
      metadata[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    out.metadata = metadata;
  }
  return out;
}

function fail(message: string): never {
  console.error(`sightline keys: ${message}`);
  process.exit(1);
}

function describe(k: StoredKey): string {
  const parts = [`org=${k.organization_id}`, `team=${k.team || '-'}`];
  if (k.budget) parts.push(`budget=$${k.budget.usd}/${k.budget.period}`);
  if (k.models.length > 0) parts.push(`models=${k.models.join(',')}`);
  if (k.rpm !== undefined) parts.push(`rpm=${k.rpm}`);
  if (k.tpm !== undefined) parts.push(`tpm=${k.tpm}`);
  if (k.expires_at !== undefined) parts.push(`expires=${k.expires_at}`);
  for (const [name, v] of Object.entries(k.metadata)) parts.push(`${name}=${v}`);
  if (k.revoked) parts.push('REVOKED');
  parts.push(k.source === 'config' ? '(config)' : '(runtime)');
  return `${k.id}\t${parts.join('\t')}`;
}

async function withStore<T>(config: Config, work: (store: KeyStore) => Promise<T>): Promise<T> {
  const redis = connectRedis(config.redis, (m) => console.error(`sightline keys: ${m}`));
  if (redis !== undefined && !(await redisReady(redis))) fail(`Redis at ${config.redis.url} is not reachable`);
  const store = await openKeyStore(config, redis);
  try {
    return await work(store);
  } catch (err) {
    if (err instanceof KeyStoreError) fail(err.message);
    throw err;
  } finally {
    store.close();
    redis?.disconnect();
  }
}

const keyFlags = (c: Command) => c
  .option('-t, --team <team>', 'team within the organization')
  .option('-b, --budget <usd/period>', 'spend limit: 200/month, 10/day, 5000/week (the ledger\'s cost)')
  .option('-m, --models <list>', 'aliases and provider models it may call, comma-separated, globs allowed (haiku,sonnet or claude-*)')
  .option('--rpm <n>', 'requests per minute')
  .option('--tpm <n>', 'tokens per minute')
  .option('-e, --expires <date>', 'refused from then on (2027-01-01 or an ISO time)')
  .option('--metadata <key=value...>', 'labels shown with the key')
  .option('-d, --data-dir <dir>', 'data dir whose keys.json holds runtime keys (SIGHTLINE_DATA_DIR; not with Redis)');

export function registerKeyCommands(program: Command, configWith: ConfigWith): void {
  const keys = program.command('keys').description('Manage virtual keys (only their sha256 digests are stored).');

  keyFlags(keys
    .command('create')
    .description('Create a key and print its secret once: in the runtime key store, or with --config in that YAML file.')
    .requiredOption('-o, --org <organization>', 'organization the key belongs to')
    .option('-i, --id <id>', 'a name for the key (default: generated)')
    .option('-c, --config <file>', 'write the key into this config file instead (config as code; created if missing)')
    .option('-k, --key <secret>', 'register this existing secret instead of generating one (e.g. the Helicone key your apps already send as Helicone-Auth)'))
    .action(async (opts: KeyOptions & { org: string; id?: string; key?: string }) => {
      const settings = settingsOf(opts);
      const secret = opts.key ?? newSecret();
      if (opts.config !== undefined) {
        const id = opts.id ?? `key_${hashKey(secret).slice(0, 8)}`;
        addToConfigFile(opts.config, { id, hash: hashKey(secret), organization_id: opts.org, team: opts.team ?? '', ...settings });
        console.log(`Created key ${id} for organization "${opts.org}"${opts.team ? `, team "${opts.team}"` : ''} in ${opts.config}.`);
      } else {
        const config = configWith({ SIGHTLINE_DATA_DIR: opts.dataDir });
        const { key } = await withStore(config, (store) => store.create({ ...settings, organization_id: opts.org, ...(opts.id !== undefined ? { id: opts.id } : {}) }, secret));
        console.log(`Created key ${key.id}: ${describe(key)}`);
      }
      if (opts.key !== undefined) {
        console.log('Requests sending it as Sightline-Auth or Helicone-Auth ("Bearer <key>"), or as the provider key, are now attributed to it.');
        return;
      }
      console.log('Send it as "Sightline-Auth: Bearer <key>", or as the provider key (OpenAI(api_key=…)). It is shown only now:');
      console.log(secret);
    });

  keyFlags(keys.command('update <id>').description('Change a runtime key; every gateway replica applies it within a second.'))
    .action(async (id: string, opts: KeyOptions) => {
      const config = configWith({ SIGHTLINE_DATA_DIR: opts.dataDir });
      const key = await withStore(config, (store) => store.update(id, settingsOf(opts)));
      console.log(`Updated ${describe(key)}`);
    });

  keys
    .command('revoke <id>')
    .description('Revoke a runtime key; every gateway replica refuses it within a second.')
    .option('-d, --data-dir <dir>', 'data dir (SIGHTLINE_DATA_DIR)')
    .action(async (id: string, opts: { dataDir?: string }) => {
      const config = configWith({ SIGHTLINE_DATA_DIR: opts.dataDir });
      const key = await withStore(config, (store) => store.revoke(id));
      console.log(`Revoked ${key.id}.`);
    });

  keys
    .command('hash <key>')
    .description('Print the sha256 digest to put under keys[].hash in sightline.yaml.')
    .action((key: string) => console.log(hashKey(key)));

  keys
    .command('list')
    .description('List keys from the config and the runtime store (ids, organizations, settings; never secrets).')
    .option('-c, --config <file>', 'config file (SIGHTLINE_CONFIG)')
    .option('-o, --org <organization>', 'only this organization\'s keys')
    .option('-d, --data-dir <dir>', 'data dir (SIGHTLINE_DATA_DIR)')
    .action(async (opts: { config?: string; org?: string; dataDir?: string }) => {
      const config = configWith({ SIGHTLINE_CONFIG: opts.config, SIGHTLINE_DATA_DIR: opts.dataDir });
      const list = await withStore(config, async (store) => store.list(opts.org));
      if (list.length === 0) console.log('No keys configured.');
      for (const k of list) console.log(describe(k));
    });
}

function addToConfigFile(file: string, entry: Record<string, unknown>): void {
  // An empty file has no top-level map yet; `{}` parses into one so keys can be set on it.
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const doc = parseDocument(text.trim() === '' ? '{}' : text);
  const list = doc.get('keys');
  const node = doc.createNode(entry);
  if (list instanceof YAMLSeq) {
    if ((list.toJSON() as { id?: string }[]).some((k) => k.id === entry.id)) fail(`a key with id "${String(entry.id)}" already exists in ${file}`);
    list.add(node);
  } else doc.set('keys', doc.createNode([node.toJSON()]));
  writeFileSync(file, doc.toString());
}
