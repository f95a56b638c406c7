// `npx sightline <command>`: one entry for running and operating the gateway.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parseDocument, YAMLSeq } from 'yaml';
import type { Config } from '../config/index.ts';
import { ConfigError, loadConfig } from '../config/index.ts';
import { generateKey, hashKey } from '../proxy/auth.ts';
import { startGateway } from './start.ts';

type Env = Record<string, string | undefined>;

/** CLI flags become the same environment overrides the config loader already knows: one precedence order. */
function configWith(overrides: Env): Config {
  const env: Env = { ...process.env };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) env[k] = v;
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`sightline: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}

const program = new Command('sightline')
  .description('Sightline: an observability-first AI gateway. Every LLM call logged, costed, attributed and queryable.')
  .showHelpAfterError();

program
  .command('start')
  .description('Run the gateway: proxy on 127.0.0.1:8787 plus the event pipeline (embedded by default).')
  .addOption(new Option('-p, --port <port>', 'port to listen on (SIGHTLINE_PORT)').default(undefined, '8787'))
  .addOption(new Option('-H, --host <host>', 'address to listen on; auth is required off loopback (SIGHTLINE_HOST)').default(undefined, '127.0.0.1'))
  .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG); ./sightline.yaml is read when present')
  .option('-d, --data-dir <dir>', 'where the spool and embedded ClickHouse live (SIGHTLINE_DATA_DIR, default ./data)')
  .option('-s, --sink <sink>', 'where events go: spool (default), kafka, jsonl:<file> (jsonl:- for stdout), none (SIGHTLINE_SINK)')
  .action(async (opts: { port?: string; host?: string; config?: string; dataDir?: string; sink?: string }) => {
    const config = configWith({
      SIGHTLINE_PORT: opts.port,
      SIGHTLINE_HOST: opts.host,
      SIGHTLINE_CONFIG: opts.config,
      SIGHTLINE_DATA_DIR: opts.dataDir,
      SIGHTLINE_SINK: opts.sink,
    });
    await startGateway(config);
  });

const keys = program.command('keys').description('Manage Sightline-Auth keys (only their sha256 digests are stored).');

keys
  .command('create')
  .description('Generate a key, add its digest to the config file, and print the key once.')
  .requiredOption('-o, --org <organization>', 'organization the key belongs to')
  .option('-t, --team <team>', 'team within the organization', '')
  .option('-i, --id <id>', 'a name for the key (default: generated)')
  .option('-c, --config <file>', 'config file to add the key to (default: SIGHTLINE_CONFIG or ./sightline.yaml, created if missing)')
  .action((opts: { org: string; team: string; id?: string; config?: string }) => {
    const file = opts.config ?? process.env.SIGHTLINE_CONFIG ?? 'sightline.yaml';
    const key = generateKey();
    const id = opts.id ?? `key_${hashKey(key).slice(0, 8)}`;
    // An empty file has no top-level map yet; `{}` parses into one so keys can be set on it.
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const doc = parseDocument(text.trim() === '' ? '{}' : text);
    const list = doc.get('keys');
    const entry = doc.createNode({ id, hash: hashKey(key), organization_id: opts.org, team: opts.team });
    if (list instanceof YAMLSeq) {
      if ((list.toJSON() as { id?: string }[]).some((k) => k.id === id)) {
        console.error(`sightline: a key with id "${id}" already exists in ${file}`);
        process.exit(1);
      }
      list.add(entry);
    } else doc.set('keys', doc.createNode([entry.toJSON()]));
    writeFileSync(file, doc.toString());
    console.log(`Created key ${id} for organization "${opts.org}"${opts.team ? `, team "${opts.team}"` : ''} in ${file}.`);
    console.log('Send it as "Sightline-Auth: Bearer <key>". It is shown only now:');
    console.log(key);
  });

keys
  .command('hash <key>')
  .description('Print the sha256 digest to put under keys[].hash in sightline.yaml.')
  .action((key: string) => console.log(hashKey(key)));

keys
  .command('list')
  .description('List configured keys (ids, organizations, teams; never secrets).')
  .option('-c, --config <file>', 'config file (SIGHTLINE_CONFIG)')
  .action((opts: { config?: string }) => {
    const config = configWith({ SIGHTLINE_CONFIG: opts.config });
    if (config.keys.length === 0) console.log('No keys configured.');
    for (const k of config.keys) console.log(`${k.id}\torg=${k.organization_id}\tteam=${k.team || '-'}`);
  });

await program.parseAsync(process.argv);
