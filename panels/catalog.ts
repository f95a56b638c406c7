// The panels of issue #17, one definition each, read by dashboards/ (Grafana JSON through the foundation SDK) and by
// the console (which expands the SQL with expand.ts and runs it). The SQL is what a Grafana panel holds: the
// ClickHouse plugin's macros and the dashboard's template variables, every filter behind $__conditionalAll so
// All (or an empty textbox) drops it.
//
// Rollup panels read the materialized views of migrations 0009–0012 and 0014 and are exact to their bucket: the hour
// (or day, or 5 minutes) that contains `from` counts whole. Raw panels read sightline.audit_trail (requests FINAL), exact
// to the millisecond. `source` says which, and so which benchmark target a panel has (≤ 100 ms / ≤ 1 s).
//
// Every panel filters on $organisation, so a caller scoped to one organisation (the console with an organisation
// key) pins that variable to its organisation and can see nothing else; panels.test.ts holds every panel to it.
import type { VariableValue } from './expand.ts';

export const VARIABLE_NAMES = ['organisation', 'team', 'key', 'provider', 'model', 'user', 'property', 'property_value', 'session', 'request_id'] as const;
export type VariableName = (typeof VARIABLE_NAMES)[number];

export interface VariableDef {
  name: VariableName;
  label: string;
  /** query: the values come from `sql` (one column), itself expanded with the variables before it; textbox: typed. */
  kind: 'query' | 'textbox';
  sql?: string;
  multi: boolean;
  includeAll: boolean;
  /** Value before anyone picks one: All for query variables, a textbox's text otherwise ('' drops its filter). */
  initial: VariableValue;
  description: string;
}

export type PanelType = 'stat' | 'timeseries' | 'table' | 'barchart';
/** Grafana unit ids. */
export type Unit = 'currencyUSD' | 'short' | 'ms' | 's' | 'percentunit' | 'none';

export interface PanelDef {
  /** Stable id: console URLs, tests and the Grafana panel's id derive from it. */
  id: string;
  title: string;
  description: string;
  type: PanelType;
  unit: Unit;
  /** How the plugin returns rows: a table, or time series (first column `time`, long rows turned wide by label). */
  format: 'table' | 'time_series';
  source: 'rollup' | 'raw';
  sql: string;
  /** The variables the SQL reads (panels.test.ts checks this against the SQL). */
  variables: readonly VariableName[];
  /** Table panels that open one row elsewhere: clicking `field` sets `variable` to its value on `dashboard`. */
  link?: { field: string; variable: VariableName; dashboard: DashboardId };
  /** A column holding a W3C trace id: it opens the trace (Grafana: the traces datasource; the console: trace_url_template). */
  traceField?: string;
}

// ---- filters ------------------------------------------------------------------------------------------------------

const inList = (column: string, variable: VariableName): string =>
  `$__conditionalAll(${column} IN (\${${variable}:singlequote}), $${variable})`;
const equals = (column: string, variable: VariableName): string =>
  `$__conditionalAll(${column} = \${${variable}:singlequote}, $${variable})`;

const ORG = inList('organization_id', 'organisation');
const TEAM = inList('team', 'team');
const KEY = inList('key_id', 'key');
const PROVIDER = inList('provider', 'provider');
const MODEL = inList('model', 'model');
const USER = equals('user_id', 'user');
const RAW_PROPERTY = equals('properties[${property:singlequote}]', 'property_value');
const ROLLUP_PROPERTY = equals('value', 'property_value');

const HOURS = "hour >= toStartOfHour($__fromTime, 'UTC') AND hour <= $__toTime";
const DAYS = "day >= toDate($__fromTime, 'UTC') AND day <= toDate($__toTime, 'UTC')";
/** Ranges over two days read the hourly health rollup (0014), shorter ones the 5-minute one (0011). */
const LONG_RANGE = 'dateDiff(\'second\', $__fromTime, $__toTime) > 172800';

const where = (...conditions: string[]): string => `WHERE ${conditions.join('\n  AND ')}`;
/** A series bucket no finer than the rollup's own grain. */
const bucketOf = (column: string, grainSeconds: number | string): string =>
  `toStartOfInterval(${column}, INTERVAL greatest($__interval_s, ${grainSeconds}) second)`;

const COST_HOURLY_FILTER = where(HOURS, ORG, TEAM, KEY, PROVIDER, MODEL);
const COST_HOURLY_VARS: readonly VariableName[] = ['organisation', 'team', 'key', 'provider', 'model'];
// Both branches are there; the range decides which one reads anything (the other's WHERE folds to false).
const HEALTH = `(
  SELECT * FROM sightline.provider_health_5m
  WHERE NOT ${LONG_RANGE} AND bucket >= toStartOfFiveMinutes($__fromTime, 'UTC') AND bucket <= $__toTime
  UNION ALL
  SELECT * FROM sightline.provider_health_1h
  WHERE ${LONG_RANGE} AND bucket >= toStartOfHour($__fromTime, 'UTC') AND bucket <= $__toTime
) AS h
${where(ORG, PROVIDER, MODEL)}`;
/** The health rollup's own grain: no series bucket is finer. */
const HEALTH_GRAIN = `if(${LONG_RANGE}, 3600, 300)`;
const HEALTH_VARS: readonly VariableName[] = ['organisation', 'provider', 'model'];
const PROPERTY_FILTER = where(DAYS, ORG, TEAM, KEY, PROVIDER, MODEL, 'property = ${property:singlequote}', ROLLUP_PROPERTY);
const PROPERTY_VARS: readonly VariableName[] = [...COST_HOURLY_VARS, 'property', 'property_value'];
const RAW_FILTER = where('$__timeFilter(created_at)', ORG, TEAM, KEY, PROVIDER, MODEL, USER, RAW_PROPERTY);
const RAW_VARS: readonly VariableName[] = [...COST_HOURLY_VARS, 'user', 'property', 'property_value'];

// ---- shared column lists ------------------------------------------------------------------------------------------

const SPEND_COLUMNS = `sum(calls) AS calls,
  sum(cost_usd) AS spend_usd,
  sum(prompt_tokens) AS input_tokens,
  sum(completion_tokens) AS output_tokens,
  sum(cache_read_tokens) AS cache_read_tokens,
  sum(cache_write_tokens) AS cache_write_tokens,
  sum(reasoning_tokens) AS reasoning_tokens`;

/** Spend, calls and tokens per `dims` (a comma list), costliest first. */
const spendBy = (dims: string, from = `sightline.cost_hourly\n${COST_HOURLY_FILTER}`, limit = ''): string =>
  `SELECT ${dims},\n  ${SPEND_COLUMNS}\nFROM ${from}\nGROUP BY ${dims}\nORDER BY spend_usd DESC, ${dims}${limit}`;

const CACHE_SUMS = `sum(calls) AS calls,
    sum(gateway_cache_hits) AS hits,
    sum(gateway_cache_misses) AS misses,
    sum(gateway_cache_saved_usd) AS gateway_saved_usd,
    sum(prompt_tokens) AS input_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens`;

/** The newest saving per cached million tokens, per model (migration 0010). */
const PRICES = `(SELECT provider, model, argMax(cache_read_saving_usd_per_mtok, priced_at) AS saving_per_mtok
   FROM sightline.model_prices GROUP BY provider, model)`;

/** Cache columns over a per-(…, provider, model) subquery `c` joined to the prices: the provider cache's dollars
 *  saved are its cached tokens at (full − cached) rate; the gateway cache's come with each hit (issue #16). */
const CACHE_COLUMNS = `sum(c.calls) AS calls,
  sum(c.hits) AS gateway_hits,
  sum(c.misses) AS gateway_misses,
  if(sum(c.hits) + sum(c.misses) = 0, 0, sum(c.hits) / (sum(c.hits) + sum(c.misses))) AS gateway_hit_rate,
  sum(c.cache_read_tokens) AS cache_read_tokens,
  sum(c.cache_write_tokens) AS cache_write_tokens,
  if(sum(c.input_tokens) = 0, 0, sum(c.cache_read_tokens) / sum(c.input_tokens)) AS prompt_cache_share,
  sum(c.cache_read_tokens * p.saving_per_mtok) / 1e6 AS prompt_cache_saved_usd,
  sum(c.gateway_saved_usd) AS gateway_saved_usd`;

function cacheBy(dims: readonly string[], table: string, filter: string): string {
  const inner = [...new Set([...dims, 'provider', 'model'])].join(', ');
  const outer = dims.join(', ');
  return `SELECT ${outer ? `${outer},\n  ` : ''}${CACHE_COLUMNS}
FROM (
  SELECT ${inner},
    ${CACHE_SUMS}
  FROM ${table}
  ${filter}
  GROUP BY ${inner}
) AS c
LEFT JOIN ${PRICES} AS p USING (provider, model)${outer ? `
GROUP BY ${outer}
ORDER BY prompt_cache_saved_usd + gateway_saved_usd DESC, ${outer}` : ''}`;
}

// Over the health rollup `h`: qualified, so `calls` inside the rates is the column, not the alias.
const HEALTH_COLUMNS = `sum(h.calls) AS calls,
  if(sum(h.calls) = 0, 0, 1 - sum(h.status_2xx) / sum(h.calls)) AS error_rate,
  if(sum(h.calls) = 0, 0, sum(h.status_429) / sum(h.calls)) AS rate_429,
  sum(h.stream_cut) AS cut_streams,
  sum(h.retries) AS retries,
  sum(h.fallbacks) AS fallbacks`;

/** p50 / p95 / p99 of a t-digest column of the health rollup per interval (at least the rollup's grain). */
const quantilesOverTime = (digest: string): string => `SELECT time, q[1] AS p50, q[2] AS p95, q[3] AS p99
FROM (
  SELECT ${bucketOf('bucket', HEALTH_GRAIN)} AS time, quantilesTDigestMerge(0.5, 0.95, 0.99)(${digest}) AS q
  FROM ${HEALTH.replaceAll('\n', '\n  ')}
  GROUP BY time
)
ORDER BY time`;

// ---- panels -------------------------------------------------------------------------------------------------------

/** What sets one panel apart once its id, title, type and unit are said; `source` is 'rollup' unless given. */
type PanelSpec = Pick<PanelDef, 'description' | 'sql' | 'variables' | 'link' | 'traceField'> & { source?: PanelDef['source'] };

// `format` follows the type: a timeseries panel plots the plugin's time series, every other type reads rows. The keys
// come out in PanelDef's order whatever order the spec is written in, so a panel serialises as it did before.
function panel<const Id extends string>(id: Id, title: string, type: PanelType, unit: Unit, spec: PanelSpec): PanelDef & { id: Id } {
  const { description, sql, variables, source = 'rollup', ...links } = spec;
  return { id, title, type, unit, format: type === 'timeseries' ? 'time_series' : 'table', source, description, sql, variables, ...links };
}

export const PANELS = {
  spend_total: panel('spend_total', 'Spend', 'stat', 'currencyUSD', {
    description: 'Cost of every call in the range (the hour containing `from` counts whole).',
    sql: `SELECT sum(cost_usd) AS spend_usd\nFROM sightline.cost_hourly\n${COST_HOURLY_FILTER}`,
    variables: COST_HOURLY_VARS,
  }),
  calls_total: panel('calls_total', 'Calls', 'stat', 'short', {
    description: 'Calls in the range, and how many got no 2xx answer.',
    sql: `SELECT sum(calls) AS calls, sum(errors) AS errors\nFROM sightline.cost_hourly\n${COST_HOURLY_FILTER}`,
    variables: COST_HOURLY_VARS,
  }),
  tokens_total: panel('tokens_total', 'Tokens', 'stat', 'short', {
    description: 'Input (all of it, cache reads and writes included), output (reasoning included), cache read, cache write and reasoning tokens.',
    sql: `SELECT sum(prompt_tokens) AS input_tokens, sum(completion_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens,
  sum(cache_write_tokens) AS cache_write_tokens, sum(reasoning_tokens) AS reasoning_tokens
FROM sightline.cost_hourly
${COST_HOURLY_FILTER}`,
    variables: COST_HOURLY_VARS,
  }),
  spend_over_time: panel('spend_over_time', 'Spend by model', 'timeseries', 'currencyUSD', {
    description: 'Spend per interval (at least an hour) and model.',
    sql: `SELECT ${bucketOf('hour', 3600)} AS time, model, sum(cost_usd) AS spend_usd
FROM sightline.cost_hourly
${COST_HOURLY_FILTER}
GROUP BY time, model
ORDER BY time, model`,
    variables: COST_HOURLY_VARS,
  }),
  spend_by_team: panel('spend_by_team', 'Spend by organisation and team', 'table', 'currencyUSD', {
    description: 'Calls, spend and tokens per organisation and team.',
    sql: spendBy('organization_id, team'),
    variables: COST_HOURLY_VARS,
  }),
  spend_by_key: panel('spend_by_key', 'Spend by key', 'table', 'currencyUSD', {
    description: 'Calls, spend and tokens per API key (key_id).',
    sql: spendBy('organization_id, key_id'),
    variables: COST_HOURLY_VARS,
  }),
  spend_by_model: panel('spend_by_model', 'Spend by provider, model and endpoint', 'table', 'currencyUSD', {
    description: 'Calls, spend and tokens per provider, model and endpoint.',
    sql: spendBy('provider, model, endpoint'),
    variables: COST_HOURLY_VARS,
  }),
  spend_by_month: panel('spend_by_month', 'Spend per day and month', 'table', 'currencyUSD', {
    description: 'Calls and spend per UTC day, with each month\'s total on its first line (day = NULL).',
    sql: `SELECT toStartOfMonth(hour) AS month, toDate(hour) AS day, sum(calls) AS calls, sum(cost_usd) AS spend_usd
FROM sightline.cost_hourly
${COST_HOURLY_FILTER}
GROUP BY GROUPING SETS ((month), (month, day))
ORDER BY month DESC, day IS NOT NULL, day DESC
SETTINGS group_by_use_nulls = 1`,
    variables: COST_HOURLY_VARS,
  }),
  spend_by_user: panel('spend_by_user', 'Top users by spend', 'table', 'currencyUSD', {
    description: 'The 100 users (Sightline-User-Id) who spent most in the range (whole UTC days).',
    sql: spendBy('organization_id, user_id', `sightline.cost_users_daily\n${where(DAYS, ORG, TEAM, PROVIDER, MODEL, USER)}`, '\nLIMIT 100'),
    variables: ['organisation', 'team', 'provider', 'model', 'user'],
  }),
  spend_by_property: panel('spend_by_property', 'Spend by property value', 'table', 'currencyUSD', {
    description: 'Calls, spend and tokens per value of the property named in $property (Sightline-Property-<Name>), whole UTC days.',
    sql: spendBy('value', `sightline.cost_properties_daily\n${PROPERTY_FILTER}`, '\nLIMIT 100'),
    variables: PROPERTY_VARS,
  }),
  cache_summary: panel('cache_summary', 'Cache', 'stat', 'short', {
    description: 'Gateway cache hit rate, the share of input tokens the providers served from their prompt cache, and the dollars both saved.',
    sql: cacheBy([], 'sightline.cost_hourly', COST_HOURLY_FILTER),
    variables: COST_HOURLY_VARS,
  }),
  cache_by_model: panel('cache_by_model', 'Cache by model', 'table', 'short', {
    description: 'Gateway hits and misses, prompt-cache tokens and the dollars saved, per provider and model.',
    sql: cacheBy(['provider', 'model'], 'sightline.cost_hourly', COST_HOURLY_FILTER),
    variables: COST_HOURLY_VARS,
  }),
  cache_by_key: panel('cache_by_key', 'Cache by key', 'table', 'short', {
    description: 'Gateway hits and misses, prompt-cache tokens and the dollars saved, per organisation and key.',
    sql: cacheBy(['organization_id', 'key_id'], 'sightline.cost_hourly', COST_HOURLY_FILTER),
    variables: COST_HOURLY_VARS,
  }),
  cache_by_property: panel('cache_by_property', 'Cache by property value', 'table', 'short', {
    description: 'The cache per value of the property named in $property, whole UTC days.',
    sql: cacheBy(['value'], 'sightline.cost_properties_daily', PROPERTY_FILTER),
    variables: PROPERTY_VARS,
  }),
  cache_over_time: panel('cache_over_time', 'Prompt-cache tokens and gateway hits', 'timeseries', 'short', {
    description: 'Input tokens read from the providers\' prompt cache, tokens written to it, and gateway cache hits, per interval (at least an hour).',
    sql: `SELECT ${bucketOf('hour', 3600)} AS time, sum(cache_read_tokens) AS cache_read_tokens, sum(cache_write_tokens) AS cache_write_tokens,
  sum(gateway_cache_hits) AS gateway_hits
FROM sightline.cost_hourly
${COST_HOURLY_FILTER}
GROUP BY time
ORDER BY time`,
    variables: COST_HOURLY_VARS,
  }),
  latency_over_time: panel('latency_over_time', 'Latency p50 / p95 / p99', 'timeseries', 'ms', {
    description: 'Whole-call latency quantiles per interval (at least 5 minutes, an hour beyond two days), t-digest merged across buckets.',
    sql: quantilesOverTime('latency_ms_q'),
    variables: HEALTH_VARS,
  }),
  ttft_over_time: panel('ttft_over_time', 'Time to first token p50 / p95 / p99', 'timeseries', 'ms', {
    description: 'TTFT quantiles per interval (at least 5 minutes, an hour beyond two days), over the calls that had a first token.',
    sql: quantilesOverTime('ttft_ms_q'),
    variables: HEALTH_VARS,
  }),
  provider_health: panel('provider_health', 'Providers, models and deployments', 'table', 'ms', {
    description: 'Per provider, model and deployment: latency and TTFT quantiles, stream output tokens per second, error and 429 rates, cut streams, retries and fallbacks.',
    sql: `SELECT provider, model, deployment,
  ${HEALTH_COLUMNS.replaceAll('\n', '\n  ')},
  lat[1] AS latency_p50_ms, lat[2] AS latency_p95_ms, lat[3] AS latency_p99_ms,
  ttft[1] AS ttft_p50_ms, ttft[2] AS ttft_p95_ms, ttft[3] AS ttft_p99_ms,
  if(sum(stream_generation_ms) = 0, 0, sum(stream_output_tokens) / (sum(stream_generation_ms) / 1000)) AS stream_tokens_per_s,
  quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_ms_q) AS lat,
  quantilesTDigestMerge(0.5, 0.95, 0.99)(ttft_ms_q) AS ttft
FROM ${HEALTH}
GROUP BY provider, model, deployment
ORDER BY calls DESC, provider, model, deployment`,
    variables: HEALTH_VARS,
  }),
  errors_over_time: panel('errors_over_time', 'Errors by status class', 'timeseries', 'percentunit', {
    description: 'Share of calls per interval (at least 5 minutes, an hour beyond two days) answered 4xx, 429 (also in 4xx), 5xx, not answered (-1) or cut mid-stream (-2).',
    sql: `SELECT ${bucketOf('bucket', HEALTH_GRAIN)} AS time,
  sum(status_4xx) / sum(calls) AS rate_4xx,
  sum(status_429) / sum(calls) AS rate_429,
  sum(status_5xx) / sum(calls) AS rate_5xx,
  sum(no_response) / sum(calls) AS rate_no_response,
  sum(stream_cut) / sum(calls) AS rate_cut_stream
FROM ${HEALTH}
GROUP BY time
ORDER BY time`,
    variables: HEALTH_VARS,
  }),
  tokens_per_second: panel('tokens_per_second', 'Stream output tokens per second', 'timeseries', 'short', {
    description: 'Completion tokens over the time from first token to end, for successful streams, per interval and provider.',
    sql: `SELECT ${bucketOf('bucket', HEALTH_GRAIN)} AS time, provider,
  if(sum(stream_generation_ms) = 0, 0, sum(stream_output_tokens) / (sum(stream_generation_ms) / 1000)) AS tokens_per_s
FROM ${HEALTH}
GROUP BY time, provider
ORDER BY time, provider`,
    variables: HEALTH_VARS,
  }),
  retries_over_time: panel('retries_over_time', 'Retries and fallbacks', 'timeseries', 'short', {
    description: 'Extra upstream attempts the gateway made per interval: retries (same deployment) and fallbacks (another one).',
    sql: `SELECT ${bucketOf('bucket', HEALTH_GRAIN)} AS time, sum(retries) AS retries, sum(fallbacks) AS fallbacks, sum(calls_fallen_back) AS calls_fallen_back
FROM ${HEALTH}
GROUP BY time
ORDER BY time`,
    variables: HEALTH_VARS,
  }),
  health_summary: panel('health_summary', 'Health', 'stat', 'percentunit', {
    description: 'Error rate, 429 rate, cut streams, retries and fallbacks over the range.',
    sql: `SELECT ${HEALTH_COLUMNS.replaceAll('\n', '\n  ')}
FROM ${HEALTH}`,
    variables: HEALTH_VARS,
  }),
  sessions: panel('sessions', 'Sessions', 'table', 'currencyUSD', {
    description: 'The 100 costliest sessions (Sightline-Session-Id) active on the range\'s UTC days: calls, cost, duration.',
    sql: `SELECT session_id, anyLast(session_name) AS name, anyLast(user_id) AS user, min(started_at) AS started,
  dateDiff('millisecond', min(started_at), max(ended_at)) / 1000 AS duration_s,
  sum(calls) AS calls, sum(errors) AS errors, sum(cost_usd) AS cost_usd, sum(prompt_tokens) AS input_tokens, sum(completion_tokens) AS output_tokens
FROM sightline.sessions_daily
${where(DAYS, ORG, TEAM, USER)}
GROUP BY session_id
ORDER BY cost_usd DESC, session_id
LIMIT 100`,
    variables: ['organisation', 'team', 'user'],
    link: { field: 'session_id', variable: 'session', dashboard: 'sessions' },
  }),
  sessions_summary: panel('sessions_summary', 'Sessions in range', 'stat', 'short', {
    description: 'Sessions active on the range\'s UTC days, their cost and mean duration.',
    sql: `SELECT count() AS sessions, sum(cost) AS cost_usd, avg(duration_s) AS mean_duration_s
FROM (
  SELECT session_id, sum(cost_usd) AS cost, dateDiff('millisecond', min(started_at), max(ended_at)) / 1000 AS duration_s
  FROM sightline.sessions_daily
  ${where(DAYS, ORG, TEAM)}
  GROUP BY session_id
)`,
    variables: ['organisation', 'team'],
  }),
  session_tree: panel('session_tree', 'Session path tree', 'table', 'currencyUSD', {
    description: 'One session\'s paths (Sightline-Session-Path) in order, indented by depth, with calls, cost and timing.',
    sql: `SELECT session_path AS path, length(splitByChar('/', trim(BOTH '/' FROM session_path))) AS depth,
  concat(repeat('  ', toUInt64(greatest(depth - 1, 0))), arrayElement(splitByChar('/', trim(BOTH '/' FROM session_path)), -1)) AS node,
  sum(calls) AS calls, sum(errors) AS errors, sum(cost_usd) AS cost_usd, min(started_at) AS started,
  dateDiff('millisecond', min(started_at), max(ended_at)) / 1000 AS duration_s
FROM sightline.session_paths_daily
${where(ORG, 'session_id = ${session:singlequote}')}
GROUP BY session_path
ORDER BY session_path`,
    variables: ['organisation', 'session'],
  }),
  audit_calls: panel('audit_calls', 'Calls', 'table', 'none', {
    source: 'raw',
    description: 'Every call in the range (newest 500), with its tokens, cost and the start of its redacted prompt and response; open one by its request_id.',
    sql: `SELECT created_at, request_id, organization_id, key_id, user_id, provider, model, status,
  prompt_tokens AS input_tokens, completion_tokens AS output_tokens, cache_read_tokens, reasoning_tokens, cost_usd, latency_ms,
  substring(prompt, 1, 200) AS prompt_start, substring(response, 1, 200) AS response_start
FROM sightline.audit_trail
${RAW_FILTER}
ORDER BY created_at DESC, request_id
LIMIT 500`,
    variables: RAW_VARS,
    link: { field: 'request_id', variable: 'request_id', dashboard: 'audit' },
  }),
  audit_call: panel('audit_call', 'Call', 'table', 'none', {
    source: 'raw',
    description: 'One call by request_id: attribution, tokens, cost, attempts, trace and the redacted bodies.',
    sql: `SELECT *
FROM sightline.audit_trail
${where(ORG, 'request_id = toUUIDOrZero(${request_id:singlequote})')}
LIMIT 1`,
    variables: ['organisation', 'request_id'],
    traceField: 'trace_id',
  }),
} as const satisfies Record<string, PanelDef>;

export type PanelId = keyof typeof PANELS;

// ---- variables ----------------------------------------------------------------------------------------------------

const distinct = (column: string, filters: string[]): string =>
  `SELECT DISTINCT ${column} FROM sightline.cost_hourly${filters.length ? ` ${where(...filters)}` : ''} ORDER BY ${column}`;

export const VARIABLES: Record<VariableName, VariableDef> = {
  organisation: { name: 'organisation', label: 'Organisation', kind: 'query', sql: distinct('organization_id', []), multi: true, includeAll: true, initial: ['$__all'], description: 'organization_id of the calling key' },
  team: { name: 'team', label: 'Team', kind: 'query', sql: distinct('team', [ORG]), multi: true, includeAll: true, initial: ['$__all'], description: 'the key\'s team' },
  key: { name: 'key', label: 'Key', kind: 'query', sql: distinct('key_id', [ORG, TEAM]), multi: true, includeAll: true, initial: ['$__all'], description: 'key_id of the Sightline key' },
  provider: { name: 'provider', label: 'Provider', kind: 'query', sql: distinct('provider', [ORG]), multi: true, includeAll: true, initial: ['$__all'], description: 'upstream provider' },
  model: { name: 'model', label: 'Model', kind: 'query', sql: distinct('model', [ORG, PROVIDER]), multi: true, includeAll: true, initial: ['$__all'], description: 'requested model' },
  user: { name: 'user', label: 'User', kind: 'textbox', multi: false, includeAll: false, initial: '', description: 'Sightline-User-Id (empty: everyone)' },
  property: { name: 'property', label: 'Property', kind: 'textbox', multi: false, includeAll: false, initial: 'feature', description: 'property name (Sightline-Property-<Name>) the property panels group by' },
  property_value: { name: 'property_value', label: 'Property value', kind: 'textbox', multi: false, includeAll: false, initial: '', description: 'only calls whose $property has this value (empty: all)' },
  session: { name: 'session', label: 'Session', kind: 'textbox', multi: false, includeAll: false, initial: '', description: 'Sightline-Session-Id whose path tree to show' },
  request_id: { name: 'request_id', label: 'Request id', kind: 'textbox', multi: false, includeAll: false, initial: '', description: 'the call to open in full' },
};

// ---- dashboards ---------------------------------------------------------------------------------------------------

export type DashboardId = 'cost' | 'cache' | 'providers' | 'sessions' | 'audit';
/** Grafana's 24-column grid: a quarter, a half, or the whole width. */
export type PanelWidth = 6 | 8 | 12 | 24;

export interface DashboardDef {
  id: DashboardId;
  uid: string;
  title: string;
  description: string;
  variables: readonly VariableName[];
  panels: readonly { panel: PanelId; width: PanelWidth; height: number }[];
}

const FILTER_VARS: readonly VariableName[] = ['organisation', 'team', 'key', 'provider', 'model', 'user', 'property', 'property_value'];

export const DASHBOARDS: readonly DashboardDef[] = [
  {
    id: 'cost', uid: 'sightline-cost', title: 'Sightline · Cost & attribution',
    description: 'Spend, calls and tokens by organisation, team, key, user, property, model, provider and endpoint.',
    variables: FILTER_VARS,
    panels: [
      { panel: 'spend_total', width: 6, height: 4 }, { panel: 'calls_total', width: 6, height: 4 }, { panel: 'tokens_total', width: 12, height: 4 },
      { panel: 'spend_over_time', width: 24, height: 8 },
      { panel: 'spend_by_team', width: 12, height: 8 }, { panel: 'spend_by_key', width: 12, height: 8 },
      { panel: 'spend_by_model', width: 12, height: 8 }, { panel: 'spend_by_month', width: 12, height: 8 },
      { panel: 'spend_by_user', width: 12, height: 8 }, { panel: 'spend_by_property', width: 12, height: 8 },
      { panel: 'audit_calls', width: 24, height: 10 },
    ],
  },
  {
    id: 'cache', uid: 'sightline-cache', title: 'Sightline · Cache',
    description: 'Gateway cache hits and the providers\' prompt caching: hit rate, tokens and dollars saved.',
    variables: ['organisation', 'team', 'key', 'provider', 'model', 'property', 'property_value'],
    panels: [
      { panel: 'cache_summary', width: 24, height: 4 },
      { panel: 'cache_over_time', width: 24, height: 8 },
      { panel: 'cache_by_model', width: 12, height: 8 }, { panel: 'cache_by_key', width: 12, height: 8 },
      { panel: 'cache_by_property', width: 24, height: 8 },
    ],
  },
  {
    id: 'providers', uid: 'sightline-providers', title: 'Sightline · Provider latency & errors',
    description: 'Latency and TTFT quantiles, stream throughput, errors by status class, 429s, cut streams, retries and fallbacks.',
    variables: ['organisation', 'provider', 'model'],
    panels: [
      { panel: 'health_summary', width: 24, height: 4 },
      { panel: 'latency_over_time', width: 12, height: 8 }, { panel: 'ttft_over_time', width: 12, height: 8 },
      { panel: 'errors_over_time', width: 12, height: 8 }, { panel: 'tokens_per_second', width: 12, height: 8 },
      { panel: 'retries_over_time', width: 24, height: 6 },
      { panel: 'provider_health', width: 24, height: 10 },
    ],
  },
  {
    id: 'sessions', uid: 'sightline-sessions', title: 'Sightline · Sessions',
    description: 'Agent runs: cost, duration, calls and the path tree of each session.',
    variables: ['organisation', 'team', 'user', 'session'],
    panels: [
      { panel: 'sessions_summary', width: 24, height: 4 },
      { panel: 'sessions', width: 24, height: 10 },
      { panel: 'session_tree', width: 24, height: 10 },
    ],
  },
  {
    id: 'audit', uid: 'sightline-audit', title: 'Sightline · Audit',
    description: 'Every call with its attribution, tokens, cost and redacted bodies; pick one to see it whole.',
    variables: [...FILTER_VARS, 'request_id'],
    panels: [
      { panel: 'audit_calls', width: 24, height: 12 },
      { panel: 'audit_call', width: 24, height: 10 },
    ],
  },
];
