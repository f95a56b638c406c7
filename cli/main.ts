// `npx sightline <command>`: one entry for running and operating the gateway.
import { Command, Option } from 'commander';
import type { Config } from '../config/index.ts';
import { ConfigError, loadConfig } from '../config/index.ts';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../analytics/client.ts';
import { migrate, retentionOf, rollback } from '../analytics/migrate.ts';
import { runSql } from '../analytics/sql.ts';
import { startIngest } from '../ingest/main.ts';
import { activePriceVersion, costerFromConfig, defaultPriceDataFile, fetchLatestPriceData, priceDataFileOf, writePriceData } from '../ledger/prices.ts';
import { formatSummary, reprice } from './reprice.ts';
import { registerComplianceCommands } from './compliance-commands.ts';
import { registerKeyCommands } from './keys.ts';
import { startGateway } from './start.ts';
import { openQueryClient, runClosing } from './store.ts';

type Env = Record<string, string | undefined>;

/** CLI flags become the same environment overrides the config loader already knows: one precedence order. */
function envWith(overrides: Env): Env {
  const env: Env = { ...process.env };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) env[k] = v;
  return env;
}

function configWith(overrides: Env): Config {
  try {
    return loadConfig(envWith(overrides));
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
  .option('-p, --port <port>', 'port to listen on (SIGHTLINE_PORT, default 8787)')
  .option('-H, --host <host>', 'address to listen on; auth is required off loopback (SIGHTLINE_HOST, default 127.0.0.1)')
  .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG); ./sightline.yaml is read when present')
  .option('-d, --data-dir <dir>', 'where the spool and embedded ClickHouse live (SIGHTLINE_DATA_DIR, default ./data)')
  .option('-s, --sink <sink>', 'where events go: spool (default), kafka, jsonl:<file> (jsonl:- for stdout), none (SIGHTLINE_SINK)')
  .action(async (opts: { port?: string; host?: string; config?: string; dataDir?: string; sink?: string }) => {
    const overrides = {
      SIGHTLINE_PORT: opts.port,
      SIGHTLINE_HOST: opts.host,
      SIGHTLINE_CONFIG: opts.config,
      SIGHTLINE_DATA_DIR: opts.dataDir,
      SIGHTLINE_SINK: opts.sink,
    };
    // The embedded ingest worker is a child process: it gets the same overrides, so both read one config.
    await startGateway(configWith(overrides), envWith(overrides));
  });

program
  .command('ingest')
  .description('Run an ingest worker: bus (Kafka when KAFKA_BROKERS is set, else the local spools) → redact → ClickHouse.')
  .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG)')
  .option('-d, --data-dir <dir>', 'data dir holding the spools and the embedded ClickHouse (SIGHTLINE_DATA_DIR)')
  .action(async (opts: { config?: string; dataDir?: string }) => {
    const config = configWith({ SIGHTLINE_CONFIG: opts.config, SIGHTLINE_DATA_DIR: opts.dataDir });
    const ingest = await startIngest(config);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      await ingest.stop();
      const s = ingest.stats;
      console.error(`sightline ingest: stopped; received ${s.received}, written ${s.written}, dead-lettered ${s.deadLettered}, retries ${s.retries}`);
      process.exit(0);
    };
    process.on('SIGINT', () => void stop());
    process.on('SIGTERM', () => void stop());
  });

program
  .command('sql <query>')
  .description('Run a query against sightline.requests and friends: the ClickHouse server (CLICKHOUSE_URL), else the running embedded store over its HTTP interface (127.0.0.1:8123), else the embedded store directly.')
  .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
  .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG)')
  .option('-d, --data-dir <dir>', 'data dir of the embedded store (SIGHTLINE_DATA_DIR)')
  .action(async (query: string, opts: { format: 'table' | 'json'; config?: string; dataDir?: string }) => {
    const config = configWith({ SIGHTLINE_CONFIG: opts.config, SIGHTLINE_DATA_DIR: opts.dataDir });
    await withStore(config, 'sql', async (client) => {
      process.stdout.write(await runSql(client, query, opts.format));
    });
  });

program
  .command('migrate')
  .description('Apply the ClickHouse migrations in analytics/migrations (also done by every ingest worker at start).')
  .option('--to <version>', 'apply up to this version only')
  .option('--down <version>', 'roll back every migration above this version')
  .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG)')
  .option('-d, --data-dir <dir>', 'data dir of the embedded store (SIGHTLINE_DATA_DIR)')
  .action(async (opts: { to?: string; down?: string; config?: string; dataDir?: string }) => {
    const config = configWith({ SIGHTLINE_CONFIG: opts.config, SIGHTLINE_DATA_DIR: opts.dataDir });
    const client = createClickHouse({ url: config.clickhouse.url, user: config.clickhouse.user, password: config.clickhouse.password, dataDir: config.data_dir });
    try {
      if (opts.down !== undefined) {
        const { rolledBack } = await rollback(client, Number(opts.down));
        console.log(rolledBack.length ? `rolled back: ${rolledBack.join(', ')}` : 'nothing to roll back');
      } else {
        const { applied } = await migrate(client, {
          ...(opts.to !== undefined ? { target: Number(opts.to) } : {}),
          ...retentionOf(config),
        });
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'up to date');
      }
    } finally {
      await client.close();
    }
  });

program
  .command('reprice')
  .description('Recompute cost_usd of stored rows from their stored usage with the current price data and overrides; changed rows get a new version.')
  .requiredOption('--since <age>', 'rows created since: 30d, 12h, 90m or an ISO date (UTC)')
  .option('--model <model>', 'only rows of this model (or response model)')
  .option('--org <organization>', 'only rows of this organization')
  .option('--dry-run', 'report what would change, write nothing', false)
  .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG): its prices, pricing.organizations and price data')
  .option('-d, --data-dir <dir>', 'data dir of the embedded store (SIGHTLINE_DATA_DIR)')
  .action(async (opts: { since: string; model?: string; org?: string; dryRun: boolean; config?: string; dataDir?: string }) => {
    const config = configWith({ SIGHTLINE_CONFIG: opts.config, SIGHTLINE_DATA_DIR: opts.dataDir });
    const tty = process.stderr.isTTY;
    await withStore(config, 'reprice', async (client) => {
      const summary = await reprice(client, costerFromConfig(config), {
        since: opts.since,
        model: opts.model,
        organization: opts.org,
        dryRun: opts.dryRun,
        onProgress: tty ? (done, total) => process.stderr.write(`\rrepricing: ${done} / ${total} rows`) : undefined,
      });
      if (tty) process.stderr.write('\n');
      process.stdout.write(formatSummary(summary));
    });
  });

program
  .command('prices')
  .description('Show or update the price data rows are priced with (@pydantic/genai-prices).')
  .argument('[action]', '"update": fetch the newest @pydantic/genai-prices from the npm registry into <data_dir>/prices.json', 'show')
  .option('--registry <url>', 'npm registry to fetch from', 'https://registry.npmjs.org')
  .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG)')
  .option('-d, --data-dir <dir>', 'data dir (SIGHTLINE_DATA_DIR)')
  .action(async (action: string, opts: { registry: string; config?: string; dataDir?: string }) => {
    const config = configWith({ SIGHTLINE_CONFIG: opts.config, SIGHTLINE_DATA_DIR: opts.dataDir });
    if (action === 'show') {
      const file = priceDataFileOf(config);
      costerFromConfig(config);
      console.log(`${activePriceVersion()} (${file === '' ? 'bundled with the package' : file})`);
      return;
    }
    if (action !== 'update') {
      console.error(`sightline prices: unknown action "${action}" (show, update)`);
      process.exit(1);
    }
    const file = config.pricing.data_file ?? defaultPriceDataFile(config.data_dir);
    const data = await fetchLatestPriceData(opts.registry);
    writePriceData(file, data);
    console.log(`${data.version}: ${data.providers.length} providers written to ${file}; new rows are priced with it (restart running gateways), stored rows with \`sightline reprice\`.`);
  });

registerKeyCommands(program, configWith);

/** `work` with the config's store, reported and closed as every store command is (store.ts). */
async function withStore(config: Config, command: string, work: (client: ClickHouseClient) => Promise<void>): Promise<void> {
  const { client } = await openQueryClient(config);
  await runClosing(command, client, () => work(client));
}

registerComplianceCommands(program, configWith);

await program.parseAsync(process.argv);
