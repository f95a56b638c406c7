// Virtual keys: created, updated and revoked at run time (CLI, admin API) beside the ones written in the config
// (config as code). Only the sha256 digest of a key is ever stored; the secret is shown once, at creation.
//
// Source of truth: Redis when `redis.url` is set — every replica reads the same hash, and it survives restarts with
// AOF — else `<data_dir>/keys.json`, written atomically, for the embedded default (one gateway per data dir). Each
// replica keeps the keys in memory (a lookup is one Map get on the request path) and checks a version stamp once a
// second, so a revocation or a budget change reaches every replica within that, well inside the 5 s allowed.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../../config/index.ts';
import { ApiKey } from '../../config/index.ts';
import { generateKey, hashKey } from '../auth.ts';
import type { SharedRedis } from '../gateway/redis.ts';

export const StoredKeySchema = ApiKey.extend({
  created_at: z.string(),
  updated_at: z.string(),
});
export type StoredKey = z.infer<typeof StoredKeySchema> & { source: 'config' | 'runtime' };
/** What a create or update may set (the digest is the store's to make). */
export type KeyInput = Omit<z.input<typeof ApiKey>, 'hash' | 'id'> & { id?: string };

/** The key file holds keys as written (a budget as `200/month`); each is validated when loaded. */
const FileSchema = z.object({ version: z.number().int(), keys: z.array(z.object({ id: z.string() }).loose()) });
type RawKey = z.input<typeof StoredKeySchema>;

export const REFRESH_MS = 1000;

/** `sl-…`: recognisably Sightline's, so an unknown one is refused rather than sent to a provider. */
export const newSecret = generateKey;

export class KeyStoreError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

interface Backend {
  /** The version stamp; changes with every write. */
  version(): Promise<number>;
  load(): Promise<z.infer<typeof StoredKeySchema>[]>;
  /** Writes one key as written (replacing the one with its id) and moves the version on. */
  put(key: RawKey): Promise<void>;
}

function fileBackend(dataDir: string): Backend {
  const file = path.join(dataDir, 'keys.json');
  const read = (): z.infer<typeof FileSchema> => {
    try {
      return FileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 0, keys: [] };
      throw new Error(`${file} is not a valid key file: ${(err as Error).message}`);
    }
  };
  return {
    async version() {
      try {
        const s = statSync(file);
        return s.mtimeMs * 1000 + s.size;
      } catch {
        return 0;
      }
    },
    async load() {
      return read().keys.map((k) => StoredKeySchema.parse(k));
    },
    async put(key) {
      const current = read();
      const keys = current.keys.filter((k) => k.id !== key.id);
      keys.push(key);
      mkdirSync(dataDir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify({ version: current.version + 1, keys }, null, 2)}\n`, { mode: 0o600 });
      renameSync(tmp, file);
    },
  };
}

function redisBackend(redis: SharedRedis, prefix: string): Backend {
  const hash = `${prefix}keys`;
  const stamp = `${prefix}keys:version`;
  return {
    async version() {
      return Number((await redis.get(stamp)) ?? 0);
    },
    async load() {
      const all = await redis.hgetall(hash);
      return Object.values(all).map((v) => StoredKeySchema.parse(JSON.parse(v)));
    },
    async put(key) {
      await redis.multi().hset(hash, key.id, JSON.stringify(key)).incr(stamp).exec();
    },
  };
}

export interface KeyStore {
  /** The key whose secret has this sha256 digest (revoked and expired ones too: the caller decides). */
  byHash(hash: string): StoredKey | undefined;
  byId(id: string): StoredKey | undefined;
  list(organization?: string): StoredKey[];
  create(input: KeyInput, secret?: string): Promise<{ key: StoredKey; secret: string }>;
  update(id: string, patch: Partial<KeyInput>): Promise<StoredKey>;
  revoke(id: string): Promise<StoredKey>;
  /** Reads the backing store again when its version moved (the timer does this every REFRESH_MS). */
  refresh(): Promise<void>;
  close(): void;
}

export async function openKeyStore(config: Pick<Config, 'keys' | 'data_dir' | 'redis'>, redis: SharedRedis | undefined, onWarn: (m: string) => void = () => {}): Promise<KeyStore> {
  const backend = redis !== undefined ? redisBackend(redis, config.redis.prefix) : fileBackend(config.data_dir);
  const fromConfig: StoredKey[] = config.keys.map((k) => ({ ...k, created_at: '', updated_at: '', source: 'config' }));
  let runtime: StoredKey[] = [];
  let byHash = new Map<string, StoredKey>();
  let byId = new Map<string, StoredKey>();
  let seen = -1;

  const index = () => {
    const all = [...fromConfig, ...runtime];
    byHash = new Map(all.map((k) => [k.hash, k]));
    byId = new Map(all.map((k) => [k.id, k]));
  };
  const refresh = async () => {
    const v = await backend.version();
    if (v === seen) return;
    runtime = (await backend.load()).map((k) => ({ ...k, source: 'runtime' as const }));
    seen = v;
    index();
  };
  let failing = false;
  try {
    await refresh();
  } catch (err) {
    // Config keys work at once; runtime ones arrive when the store answers (the timer keeps trying).
    onWarn(`virtual keys could not be loaded yet: ${(err as Error).message}`);
    failing = true;
  }
  const timer = setInterval(() => {
    refresh().then(() => {
      failing = false;
    }, (err: Error) => {
      // Keys already loaded keep working; a change waits until the store answers again.
      if (!failing) onWarn(`virtual keys could not be refreshed: ${err.message}`);
      failing = true;
    });
  }, REFRESH_MS);
  timer.unref();

  const write = async (key: StoredKey) => {
    const { source: _source, budget, ...rest } = key;
    // Stored as written (`200/month`), parsed again on load like any key.
    const raw: RawKey = { ...rest, ...(budget === undefined ? {} : { budget: `${budget.usd}/${budget.period}` }) };
    StoredKeySchema.parse(raw);
    await backend.put(raw);
    await refresh();
    return byId.get(key.id)!;
  };
  const runtimeKey = (id: string): StoredKey => {
    const k = byId.get(id);
    if (k === undefined) throw new KeyStoreError(404, `No key "${id}".`);
    if (k.source === 'config') throw new KeyStoreError(409, `Key "${id}" is defined in the config file; change it there.`);
    return k;
  };

  const update = async (id: string, patch: Partial<KeyInput>): Promise<StoredKey> => {
    await refresh();
    const k = runtimeKey(id);
    const { created_at, updated_at: _u, source: _s, ...current } = k;
    const raw = { ...current, budget: current.budget === undefined ? undefined : `${current.budget.usd}/${current.budget.period}`, ...patch, id, hash: k.hash };
    const parsed = ApiKey.safeParse(raw);
    if (!parsed.success) throw new KeyStoreError(400, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    return write({ ...parsed.data, created_at, updated_at: new Date().toISOString(), source: 'runtime' });
  };

  return {
    byHash: (hash) => byHash.get(hash),
    byId: (id) => byId.get(id),
    list: (organization) => [...byId.values()].filter((k) => organization === undefined || k.organization_id === organization),
    async create(input, secret = newSecret()) {
      await refresh();
      const id = input.id ?? `key_${randomBytes(6).toString('hex')}`;
      if (byId.has(id)) throw new KeyStoreError(409, `A key with id "${id}" already exists.`);
      const hash = hashKey(secret);
      if (byHash.has(hash)) throw new KeyStoreError(409, 'That secret is already registered under another key.');
      const now = new Date().toISOString();
      const parsed = ApiKey.safeParse({ ...input, id, hash });
      if (!parsed.success) throw new KeyStoreError(400, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      return { key: await write({ ...parsed.data, created_at: now, updated_at: now, source: 'runtime' }), secret };
    },
    update,
    revoke: (id) => update(id, { revoked: true }),
    refresh,
    close: () => clearInterval(timer),
  };
}
