// Panel SQL → ClickHouse SQL, expanded the way Grafana with grafana-clickhouse-datasource expands it, so the console
// and the tests run exactly what a Grafana panel runs. Three passes, in the plugin's order:
//   1. `$__conditionalAll(<phrase>, $var)` (the plugin's frontend, CHDatasource.applyConditionalAll): the phrase
//      becomes `1=1` when the variable is '' or All, else stays; innermost-last, scanning from the end.
//   2. Template variables (Grafana's templateSrv.replace with the plugin's format function): `$var`, `${var}`,
//      `${var:format}`, `[[var]]`; a multi-value without a format becomes `'a','b'`, a single value goes in bare.
//      Grafana's own `$__from`, `$__to` (epoch ms), `$__interval`, `$__interval_ms`. Unknown names stay as they are.
//   3. The plugin's backend macros (pkg/macros, through grafana/sqlds: longest name first, arguments split at
//      top-level commas and trimmed): $__timeFilter, $__timeFilter_ms, $__dateFilter, $__dateTimeFilter / $__dt,
//      $__fromTime, $__toTime, $__fromTime_ms, $__toTime_ms, $__timeInterval, $__timeInterval_ms, $__interval_s.
//
// One deliberate difference: Grafana's `singlequote` / `sqlstring` formats escape quotes but not backslashes, so a
// value ending in `\` breaks out of its literal in ClickHouse (which reads `\'` as an escaped quote). The console
// takes variable values from a URL, so here a backslash is escaped too; every value without one expands byte for
// byte as Grafana expands it.

/** A variable's current value: one value, several (multi-value), or All (`$__all`). */
export type VariableValue = string | readonly string[];

export interface ExpandContext {
  /** The time range (Grafana's time picker), inclusive at both ends as $__timeFilter makes it. */
  from: Date;
  to: Date;
  /** The query's interval (Grafana's $__interval_ms); see grafanaIntervalMs for the one Grafana would pick. */
  intervalMs: number;
  /** Current values of the dashboard's variables, by name. */
  variables: Readonly<Record<string, VariableValue>>;
}

export const ALL = '$__all';

export class PanelSqlError extends Error {
  override name = 'PanelSqlError';
}

// ---- pass 1: $__conditionalAll ------------------------------------------------------------------------------------

const CONDITIONAL_ALL = '$__conditionalAll(';
// The plugin finds the variable in the second argument as `${name}` or `$name` (a `${name:format}` matches neither).
const CONDITIONAL_VAR_RE = /(?<=\$\{)\w+(?=\})|(?<=\$)\w+/;

/** The arguments of the bracket at `open`, split at its top-level commas (untrimmed), or [] if it never closes. */
function bracketArgs(sql: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < sql.length; i++) {
    const c = sql[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === ',' && depth === 1) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
    if (depth === 0) {
      args.push(sql.slice(start, i));
      return args;
    }
  }
  return [];
}

function isAllOrEmpty(value: VariableValue | undefined): boolean {
  if (value === undefined) return false;
  // The plugin compares `current.value.toString()`: an array joins with commas.
  const text = typeof value === 'string' ? value : value.join(',');
  return text === '' || text === ALL;
}

function applyConditionalAll(sql: string, variables: ExpandContext['variables']): string {
  let at = sql.lastIndexOf(CONDITIONAL_ALL);
  while (at !== -1) {
    const args = bracketArgs(sql, at + CONDITIONAL_ALL.length - 1);
    // The plugin gives up on the whole query here and leaves it as it is; so do we (ClickHouse will say why).
    if (args.length !== 2) return sql;
    const [phrase, variable] = args as [string, string];
    const name = CONDITIONAL_VAR_RE.exec(variable.trim())?.[0];
    const replacement = name !== undefined && isAllOrEmpty(variables[name]) ? '1=1' : phrase;
    sql = sql.replace(`${CONDITIONAL_ALL}${phrase},${variable})`, () => replacement);
    at = sql.lastIndexOf(CONDITIONAL_ALL);
  }
  return sql;
}

// ---- pass 2: template variables -----------------------------------------------------------------------------------

// Grafana's variable syntax: $name | [[name]] / [[name:format]] | ${name} / ${name.field} / ${name:format}.
const VARIABLE_RE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

const quote = (v: string, q: string, escapedQuote: string): string =>
  `${q}${v.replaceAll('\\', '\\\\').replaceAll(q, escapedQuote)}${q}`;

const FORMATS: Record<string, (values: readonly string[]) => string> = {
  singlequote: (vs) => vs.map((v) => quote(v, "'", "\\'")).join(','),
  doublequote: (vs) => vs.map((v) => quote(v, '"', '\\"')).join(','),
  sqlstring: (vs) => vs.map((v) => quote(v, "'", "''")).join(','),
  csv: (vs) => vs.join(','),
  pipe: (vs) => vs.join('|'),
  raw: (vs) => vs.join(','),
};

/** The plugin's format function for a variable written without a format: arrays quoted and joined, scalars bare. */
function datasourceFormat(values: readonly string[], multi: boolean): string {
  return multi ? `'${values.join("','")}'` : (values[0] ?? '');
}

/** Grafana's secondsToHms, which renders $__interval. */
export function intervalText(ms: number): string {
  const s = ms / 1000;
  const units: [number, string][] = [[31536000, 'y'], [86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];
  let rest = s;
  for (const [size, unit] of units) {
    const n = Math.floor(rest / size);
    if (n) return `${n}${unit}`;
    rest %= size;
  }
  const millis = Math.floor(s * 1000);
  return millis ? `${millis}ms` : 'less than a millisecond';
}

function builtins(ctx: ExpandContext): Record<string, string> {
  return {
    __from: String(ctx.from.getTime()),
    __to: String(ctx.to.getTime()),
    __interval: intervalText(ctx.intervalMs),
    __interval_ms: String(ctx.intervalMs),
  };
}

function applyVariables(sql: string, ctx: ExpandContext): string {
  const globals = builtins(ctx);
  return sql.replace(VARIABLE_RE, (match: string, plain?: string, bracket?: string, bracketFormat?: string, braced?: string, _field?: string, bracedFormat?: string) => {
    const name = plain ?? bracket ?? braced ?? '';
    const format = bracketFormat ?? bracedFormat;
    const builtin = globals[name];
    if (builtin !== undefined) return builtin;
    const value = ctx.variables[name];
    if (value === undefined) return match;
    const multi = typeof value !== 'string';
    const values: readonly string[] = typeof value === 'string' ? [value] : value;
    if (values.includes(ALL)) {
      throw new PanelSqlError(`variable ${name} is All where the query uses its values; wrap that filter in $__conditionalAll(…, $${name})`);
    }
    if (format === undefined) return datasourceFormat(values, multi);
    const formatter = FORMATS[format];
    if (!formatter) throw new PanelSqlError(`unsupported variable format ${format} in ${match}`);
    return formatter(values);
  });
}

// ---- pass 3: the plugin's backend macros --------------------------------------------------------------------------

type Macro = (args: readonly string[], ctx: ExpandContext) => string;

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);
const dateTime = (d: Date): string => `toDateTime(${seconds(d)})`;
const dateTime64 = (d: Date): string => `fromUnixTimestamp64Milli(${d.getTime()})`;
const date = (d: Date): string => `toDate('${d.toISOString().slice(0, 10)}')`;

function arity(name: string, args: readonly string[], n: number): void {
  if (args.length !== n) throw new PanelSqlError(`$__${name}: expected ${n} argument${n === 1 ? '' : 's'}, received ${args.length}`);
}

function between(column: string, from: string, to: string): string {
  return `${column} >= ${from} AND ${column} <= ${to}`;
}

const dateTimeFilter: Macro = (args, ctx) => {
  arity('dateTimeFilter', args, 2);
  const [dateColumn, timeColumn] = args as [string, string];
  return `(${between(dateColumn, date(ctx.from), date(ctx.to))}) AND (${between(timeColumn, dateTime(ctx.from), dateTime(ctx.to))})`;
};

const MACROS: Record<string, Macro> = {
  fromTime: (_a, ctx) => dateTime(ctx.from),
  toTime: (_a, ctx) => dateTime(ctx.to),
  fromTime_ms: (_a, ctx) => dateTime64(ctx.from),
  toTime_ms: (_a, ctx) => dateTime64(ctx.to),
  timeFilter: (args, ctx) => { arity('timeFilter', args, 1); return between(args[0]!, dateTime(ctx.from), dateTime(ctx.to)); },
  timeFilter_ms: (args, ctx) => { arity('timeFilter_ms', args, 1); return between(args[0]!, dateTime64(ctx.from), dateTime64(ctx.to)); },
  dateFilter: (args, ctx) => { arity('dateFilter', args, 1); return between(args[0]!, date(ctx.from), date(ctx.to)); },
  dateTimeFilter,
  dt: dateTimeFilter,
  timeInterval: (args, ctx) => {
    arity('timeInterval', args, 1);
    return `toStartOfInterval(toDateTime(${args[0]!}), INTERVAL ${Math.trunc(Math.max(ctx.intervalMs / 1000, 1))} second)`;
  },
  timeInterval_ms: (args, ctx) => {
    arity('timeInterval_ms', args, 1);
    return `toStartOfInterval(toDateTime64(${args[0]!}, 3), INTERVAL ${Math.trunc(Math.max(ctx.intervalMs, 1))} millisecond)`;
  },
  interval_s: (_a, ctx) => String(Math.trunc(Math.max(ctx.intervalMs / 1000, 1))),
};

// sqlds applies the longest names first, so $__timeFilter never eats the front of $__timeFilter_ms.
const MACRO_NAMES = Object.keys(MACROS).sort((a, b) => b.length - a.length);

/** sqlds' argument scan: a bracket right after the name, split at depth-1 commas, each trimmed; length -1 = unclosed. */
function macroArgs(rest: string): { args: string[]; length: number } {
  if (!rest.startsWith('(')) return { args: [], length: 0 };
  const args: string[] = [];
  let depth = 0;
  let arg = '';
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i]!;
    if (c === '(') {
      depth++;
      if (depth === 1) continue;
    } else if (c === ')') {
      depth--;
      if (depth === 0) {
        args.push(arg.trim());
        return { args, length: i + 1 };
      }
    } else if (c === ',' && depth === 1) {
      args.push(arg.trim());
      arg = '';
      continue;
    }
    arg += c;
  }
  return { args: [], length: -1 };
}

function applyMacros(sql: string, ctx: ExpandContext): string {
  for (const name of MACRO_NAMES) {
    const re = new RegExp(`\\$__${name}\\b`, 'g');
    const found: { full: string; args: string[] }[] = [];
    for (const m of sql.matchAll(re)) {
      const end = m.index + m[0].length;
      const { args, length } = macroArgs(sql.slice(end));
      if (length < 0) throw new PanelSqlError(`$__${name}: failed to parse macro arguments (missing close bracket?)`);
      found.push({ full: sql.slice(m.index, end + length), args });
    }
    for (const { full, args } of found) sql = sql.replaceAll(full, MACROS[name]!(args, ctx));
  }
  return sql;
}

/** Expands a panel's SQL for one time range, interval and set of variable values, as Grafana and the plugin do. */
export function expandPanelSql(sql: string, ctx: ExpandContext): string {
  if (!(ctx.from.getTime() <= ctx.to.getTime())) throw new PanelSqlError('the time range ends before it starts');
  if (!(ctx.intervalMs > 0)) throw new PanelSqlError(`intervalMs must be positive, got ${ctx.intervalMs}`);
  return applyMacros(applyVariables(applyConditionalAll(sql, ctx.variables), ctx), ctx);
}

// Grafana's roundInterval: the raw interval (range / max data points) rounded to a readable one, as [below, use] ms.
const ROUNDED_INTERVALS: readonly (readonly [number, number])[] = [
  [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1500, 1000], [3500, 2000], [7500, 5000],
  [12500, 10000], [17500, 15000], [25000, 20000], [45000, 30000], [90000, 60000], [150000, 120000], [450000, 300000],
  [750000, 600000], [1050000, 900000], [1500000, 1200000], [2700000, 1800000], [5400000, 3600000], [9000000, 7200000],
  [16200000, 10800000], [32400000, 21600000], [86400000, 43200000], [604800000, 86400000], [1814400000, 604800000],
  [3628800000, 2592000000],
];

/** The interval Grafana gives a panel query: (to − from) / maxDataPoints, rounded, at least minIntervalMs. */
export function grafanaIntervalMs(from: Date, to: Date, maxDataPoints: number, minIntervalMs = 0): number {
  const raw = (to.getTime() - from.getTime()) / Math.max(maxDataPoints, 1);
  const rounded = ROUNDED_INTERVALS.find(([below]) => raw < below)?.[1] ?? 31536000000;
  return Math.max(rounded, minIntervalMs);
}
