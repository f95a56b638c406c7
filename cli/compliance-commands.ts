// `npx sightline report | audit export | audit erase | retention show`: options parsed by zod, a client and a scope
// chosen once, then cli/compliance.ts does the work. Progress goes to stderr, only on a TTY and never with
// --format json, so piped and machine-read output stays clean.
import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import { z } from 'zod';
import type { Config } from '../config/index.ts';
import { verifyAdminKey, type AdminPrincipal } from '../contracts/tenancy.ts';
import { createClickHouse } from '../analytics/client.ts';
import { resolveRetention, retentionOf } from '../analytics/migrate.ts';
import {
  eraseUser, exportUser, formatErase, formatReport, formatRetention, grantOrganisation, openScope, report, ReportBySchema, showRetention,
  timeRange, type Scope,
} from './compliance.ts';
import { openQueryClient, runClosing } from './store.ts';

type ConfigFor = (overrides: Record<string, string | undefined>) => Config;

const CommonOptions = z.object({
  config: z.string().optional(),
  dataDir: z.string().optional(),
  // An empty SIGHTLINE_ADMIN_KEY is no key, as an unset one.
  key: z.string().optional().transform((v) => (v === '' ? undefined : v)),
  org: z.string().min(1).optional(),
});
type CommonOptions = z.infer<typeof CommonOptions>;

function fail(command: string, message: string): never {
  console.error(`sightline ${command}: ${message}`);
  process.exit(1);
}

function parseOptions<T extends z.ZodType>(command: string, schema: T, opts: unknown): z.infer<T> {
  const parsed = schema.safeParse(opts);
  if (!parsed.success) fail(command, parsed.error.issues.map((i) => `${i.path.length ? `--${i.path.join('.')}` : ''} ${i.message}`.trim()).join('; '));
  return parsed.data;
}

/** The caller: an admin key (scoped to its organisation, if it has one), or the operator (no key: every organisation). */
function principalOf(command: string, config: Config, key: string | undefined): AdminPrincipal | undefined {
  if (key === undefined) return undefined;
  const principal = verifyAdminKey(config.admin.keys, key);
  if (principal === undefined) fail(command, 'the --key (SIGHTLINE_ADMIN_KEY) is not one of admin.keys in the config');
  return principal;
}

/**
 * The client and scope for a command. A ClickHouse server: the configured credentials, held to the key's
 * organisation by the engine filter. The embedded store while the gateway runs (its ingest worker holds it): its HTTP
 * interface, as the key's user (which the interface itself holds to the organisation; writes need a key for every
 * organisation). The embedded store otherwise: opened directly.
 */
async function openCommandScope(command: string, config: Config, opts: CommonOptions, write: boolean): Promise<Scope> {
  const principal = principalOf(command, config, opts.key);
  const keyOrg = principal?.organization_id;
  if (keyOrg !== undefined && opts.org !== undefined && opts.org !== keyOrg) fail(command, `the key is limited to organisation ${keyOrg}`);
  const organization = keyOrg ?? opts.org;
  const actor = principal?.key_id ?? 'cli';
  const { client, route } = await openQueryClient(config, principal && opts.key ? { username: principal.key_id, password: opts.key } : undefined);
  if (route !== 'gateway') return openScope(client, organization, actor);
  if (write && (principal === undefined || keyOrg !== undefined)) {
    await client.close();
    fail(command, `the gateway's embedded store is read-only over HTTP except for an admin key without organization_id: pass --key <admin key> (admin.keys), or stop the gateway`);
  }
  // An organisation key is held to its organisation by the interface; an unscoped key asking for --org gets the filter here.
  return openScope(client, organization, actor, keyOrg !== undefined);
}

const showsProgress = (format: string): boolean => process.stderr.isTTY === true && format !== 'json';

async function confirmErase(user: string, organization: string | undefined): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const where = organization === undefined ? 'every organisation' : `organisation ${organization}`;
    const answer = await rl.question(`Erase every row of user "${user}" in ${where}? This cannot be undone. Type the user id to confirm: `);
    return answer.trim() === user;
  } finally {
    rl.close();
  }
}

function common(cmd: Command): Command {
  return cmd
    .addOption(new Option('-k, --key <key>', 'an admin key (admin.keys); one with organization_id sees only that organisation').env('SIGHTLINE_ADMIN_KEY'))
    .option('--org <organization>', 'only this organisation (an organisation key implies its own)')
    .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG)')
    .option('-d, --data-dir <dir>', 'data dir of the embedded store (SIGHTLINE_DATA_DIR)');
}

function run(command: string, scope: Scope, work: (scope: Scope) => Promise<void>): Promise<void> {
  return runClosing(command, scope.client, () => work(scope));
}

export function registerComplianceCommands(program: Command, configFor: ConfigFor): void {
  const configOf = (o: CommonOptions) => configFor({ SIGHTLINE_CONFIG: o.config, SIGHTLINE_DATA_DIR: o.dataDir });

  const ReportOptions = CommonOptions.extend({
    since: z.string(),
    until: z.string().optional(),
    by: ReportBySchema.default([]),
    format: z.enum(['table', 'csv', 'json']),
  });
  common(program
    .command('report')
    .description('Cost, usage and latency for a time range, grouped by any dimensions; the TOTAL line is the engine\'s sum over every row.')
    .requiredOption('--since <age>', 'from: 7d, 12h, 90m or an ISO date (UTC)')
    .option('--until <age>', 'to (default now): 1d, an ISO date…')
    .option('--by <dimensions>', 'comma list: organization, team, key, user, session, provider, model, alias, deployment, endpoint, status, cache, hour, day, month, property:<name>')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'csv', 'json']).default('table')))
    .action(async (raw: unknown) => {
      const opts = parseOptions('report', ReportOptions, raw);
      const range = (() => { try { return timeRange(opts.since, opts.until); } catch (err) { return fail('report', (err as Error).message); } })();
      await run('report', await openCommandScope('report', configOf(opts), opts, false), async (scope) => {
        process.stdout.write(formatReport(await report(scope, range, opts.by), opts.format));
      });
    });

  const audit = program.command('audit').description('GDPR requests: export or erase everything stored about one user.');
  const ExportOptions = CommonOptions.extend({
    user: z.string().min(1),
    since: z.string().optional(),
    until: z.string().optional(),
    format: z.enum(['jsonl', 'json']),
  });
  common(audit
    .command('export')
    .description('Every stored call of a user (Sightline-User-Id) as JSON lines on stdout, oldest first: a subject access request.')
    .requiredOption('-u, --user <id>', 'the user id')
    .option('--since <age>', 'from (default: the beginning)')
    .option('--until <age>', 'to (default: now)')
    .addOption(new Option('-f, --format <format>', 'jsonl; json = the same lines without progress on stderr').choices(['jsonl', 'json']).default('jsonl')))
    .action(async (raw: unknown) => {
      const opts = parseOptions('audit export', ExportOptions, raw);
      const range = (() => { try { return timeRange(opts.since, opts.until); } catch (err) { return fail('audit export', (err as Error).message); } })();
      const tty = showsProgress(opts.format);
      await run('audit export', await openCommandScope('audit export', configOf(opts), opts, false), async (scope) => {
        const n = await exportUser(scope, opts.user, range, (line) => process.stdout.write(line),
          tty ? (done, total) => process.stderr.write(`\rexporting: ${done} / ${total} rows`) : undefined);
        if (tty) process.stderr.write(`\rexported ${n} rows of user ${opts.user}\n`);
      });
    });

  const EraseOptions = CommonOptions.extend({
    user: z.string().min(1),
    yes: z.boolean().default(false),
    format: z.enum(['table', 'json']),
  });
  common(audit
    .command('erase')
    .description('Delete every stored row of a user from every table holding one, wait for it, prove it with a second count, record it in sightline.audit_log.')
    .requiredOption('-u, --user <id>', 'the user id')
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table')))
    .action(async (raw: unknown) => {
      const opts = parseOptions('audit erase', EraseOptions, raw);
      const config = configOf(opts);
      const scope = await openCommandScope('audit erase', config, opts, true);
      if (!opts.yes && !(await confirmErase(opts.user, scope.organization))) {
        await scope.client.close();
        fail('audit erase', process.stdin.isTTY ? 'not confirmed; nothing erased' : 'refusing to erase without --yes (stdin is not a terminal)');
      }
      const tty = showsProgress(opts.format);
      await run('audit erase', scope, async (s) => {
        const result = await eraseUser(s, opts.user, tty ? (step) => process.stderr.write(`${step}\n`) : undefined);
        process.stdout.write(formatErase(result, opts.format));
      });
    });

  const tenants = program.command('tenants').description('Tenant isolation on a ClickHouse server (the embedded store filters by admin key instead).');
  const GrantOptions = z.object({
    config: z.string().optional(),
    org: z.string().min(1),
    clickhouseUser: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'letters, digits and "_"'),
  });
  tenants
    .command('grant')
    .description('Create row policies holding a ClickHouse server user to one organisation on every sightline table with organization_id (re-run after migrations add tables).')
    .requiredOption('--org <organization>', 'the organisation the user may see')
    .requiredOption('--clickhouse-user <user>', 'an existing ClickHouse user (e.g. the Grafana datasource user of that organisation)')
    .option('-c, --config <file>', 'YAML config file (SIGHTLINE_CONFIG); CLICKHOUSE_URL / clickhouse.url must name the server')
    .action(async (raw: unknown) => {
      const opts = parseOptions('tenants grant', GrantOptions, raw);
      const config = configFor({ SIGHTLINE_CONFIG: opts.config });
      const { url, user, password } = config.clickhouse;
      if (url === undefined) fail('tenants grant', 'row policies need a ClickHouse server (clickhouse.url); the embedded store holds admin keys with organization_id to their organisation itself');
      const client = createClickHouse({ url, user, password, dataDir: config.data_dir });
      await run('tenants grant', { client, organization: opts.org, settings: {}, actor: 'cli' }, async () => {
        for (const statement of await grantOrganisation(client, opts.org, opts.clickhouseUser)) console.log(`${statement};`);
      });
    });

  const retention = program.command('retention').description('Body and row retention (TTLs), per organisation.');
  const RetentionOptions = CommonOptions.extend({ format: z.enum(['table', 'json']) });
  common(retention
    .command('show')
    .description('The TTLs the engine applies to sightline.requests, per organisation, and the configured ones when they differ.')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table')))
    .action(async (raw: unknown) => {
      const opts = parseOptions('retention show', RetentionOptions, raw);
      const config = configOf(opts);
      // The TTLs are read from the table's DDL, which names every organisation with an override; the HTTP interface
      // does not show DDL to an organisation user, so the key only picks the organisation whose line is printed.
      const keyOrg = principalOf('retention show', config, opts.key)?.organization_id;
      if (keyOrg !== undefined && opts.org !== undefined && opts.org !== keyOrg) fail('retention show', `the key is limited to organisation ${keyOrg}`);
      const asOperator = { ...opts, key: undefined, org: keyOrg ?? opts.org };
      await run('retention show', await openCommandScope('retention show', config, asOperator, false), async (scope) => {
        const r = await showRetention(scope.client, resolveRetention(retentionOf(config)));
        process.stdout.write(formatRetention(r, opts.format, scope.organization));
      });
    });
}
