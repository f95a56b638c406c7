// panels/: the expansion is the ClickHouse plugin's (expected strings are what its macros.go / CHDatasource.ts
// produce for the same input), and the catalogue is consistent: each panel declares the variables its SQL reads,
// every panel is scoped by $organisation, every dashboard offers the variables of its panels.
import { describe, expect, it } from 'vitest';
import { DASHBOARDS, PANELS, VARIABLES, VARIABLE_NAMES, expandPanelSql, grafanaIntervalMs, intervalText, PanelSqlError, type ExpandContext } from '../../panels/index.ts';

const FROM = new Date('2026-03-01T10:00:00.250Z'); // 1772359200 s
const TO = new Date('2026-03-01T11:00:00.999Z');
const ctx = (variables: ExpandContext['variables'] = {}, intervalMs = 60_000): ExpandContext => ({ from: FROM, to: TO, intervalMs, variables });
const expand = (sql: string, variables?: ExpandContext['variables'], intervalMs?: number) => expandPanelSql(sql, ctx(variables, intervalMs));

describe('$__conditionalAll', () => {
  const sql = 'WHERE $__conditionalAll(model IN (${model:singlequote}), $model) AND $__conditionalAll(team = ${team:singlequote}, ${team})';
  it('drops the phrase for All or an empty value, keeps it otherwise', () => {
    expect(expand(sql, { model: ['$__all'], team: '' })).toBe('WHERE 1=1 AND 1=1');
    expect(expand(sql, { model: [], team: 'ops' })).toBe("WHERE 1=1 AND team = 'ops'");
    expect(expand(sql, { model: ['a', 'b'], team: 'ops' })).toBe("WHERE model IN ('a','b') AND team = 'ops'");
  });
  it('keeps the phrase when the variable is unknown or named as the plugin cannot read it', () => {
    expect(expand('$__conditionalAll(x = 1, $nope)')).toBe('x = 1');
    expect(expand("$__conditionalAll(m = ${model:singlequote}, ${model:singlequote})", { model: '' })).toBe("m = ''");
  });
  it('leaves the query alone when an argument list does not split in two (as the plugin does)', () => {
    expect(expand('$__conditionalAll(a, b, $model)', { model: '' })).toBe('$__conditionalAll(a, b, )');
  });
});

describe('template variables', () => {
  it('formats as the plugin: arrays quoted and joined, single values bare, named formats', () => {
    expect(expand('IN ($m)', { m: ['a', 'b'] })).toBe("IN ('a','b')");
    expect(expand('= $m', { m: 'a' })).toBe('= a');
    expect(expand('${m} [[m]] ${m:csv} ${m:pipe} ${m:raw}', { m: ['a', 'b'] })).toBe("'a','b' 'a','b' a,b a|b a,b");
    expect(expand('${m:singlequote} ${m:doublequote} ${m:sqlstring}', { m: "o'b" })).toBe(`'o\\'b' "o'b" 'o''b'`);
  });
  it('escapes a backslash too, so no value leaves its literal', () => {
    expect(expand('${m:singlequote}', { m: "\\' OR 1=1 --" })).toBe("'\\\\\\' OR 1=1 --'");
  });
  it('fills Grafana\'s own $__from, $__to, $__interval, $__interval_ms and leaves unknown names', () => {
    expect(expand('$__from $__to $__interval $__interval_ms $other ${other}')).toBe('1772359200250 1772362800999 1m 60000 $other ${other}');
    expect([intervalText(500), intervalText(90_000), intervalText(3_600_000), intervalText(86_400_000 * 2)]).toEqual(['500ms', '1m', '1h', '2d']);
  });
  it('refuses All where the values would be used', () => {
    expect(() => expand('IN ($m)', { m: ['$__all'] })).toThrow(PanelSqlError);
    expect(() => expand('${m:json}', { m: 'a' })).toThrow(/unsupported variable format json/);
  });
});

describe('macros', () => {
  it('time filters, bounds and dates', () => {
    expect(expand('$__timeFilter(created_at)')).toBe('created_at >= toDateTime(1772359200) AND created_at <= toDateTime(1772362800)');
    expect(expand('$__timeFilter_ms(created_at)')).toBe('created_at >= fromUnixTimestamp64Milli(1772359200250) AND created_at <= fromUnixTimestamp64Milli(1772362800999)');
    expect(expand('$__fromTime $__toTime $__fromTime_ms $__toTime_ms')).toBe('toDateTime(1772359200) toDateTime(1772362800) fromUnixTimestamp64Milli(1772359200250) fromUnixTimestamp64Milli(1772362800999)');
    expect(expand('$__dateFilter(day)')).toBe("day >= toDate('2026-03-01') AND day <= toDate('2026-03-01')");
    expect(expand('$__dt(d, t)')).toBe("(d >= toDate('2026-03-01') AND d <= toDate('2026-03-01')) AND (t >= toDateTime(1772359200) AND t <= toDateTime(1772362800))");
    expect(expand('$__dateTimeFilter(d,t)')).toBe(expand('$__dt(d, t)'));
  });
  it('intervals: whole seconds (at least 1) or milliseconds', () => {
    expect(expand('$__timeInterval(ts)', {}, 90_000)).toBe('toStartOfInterval(toDateTime(ts), INTERVAL 90 second)');
    expect(expand('$__timeInterval(ts) $__interval_s', {}, 500)).toBe('toStartOfInterval(toDateTime(ts), INTERVAL 1 second) 1');
    expect(expand('$__timeInterval_ms(ts)', {}, 1500)).toBe('toStartOfInterval(toDateTime64(ts, 3), INTERVAL 1500 millisecond)');
  });
  it('splits arguments at top-level commas only, and says what is wrong', () => {
    expect(expand("$__timeFilter(toDateTime(ts, 'UTC'))")).toBe("toDateTime(ts, 'UTC') >= toDateTime(1772359200) AND toDateTime(ts, 'UTC') <= toDateTime(1772362800)");
    expect(() => expand('$__timeFilter(a, b)')).toThrow(/expected 1 argument, received 2/);
    expect(() => expand('$__timeFilter(a')).toThrow(/missing close bracket/);
    expect(() => expandPanelSql('SELECT 1', { ...ctx(), to: new Date(FROM.getTime() - 1) })).toThrow(/ends before it starts/);
  });
});

describe('grafanaIntervalMs', () => {
  it('rounds range / data points as Grafana does, never below the minimum', () => {
    const day = new Date(FROM.getTime() + 86_400_000);
    expect(grafanaIntervalMs(FROM, day, 1000)).toBe(60_000); // 86.4 s → 1m
    expect(grafanaIntervalMs(FROM, new Date(FROM.getTime() + 7 * 86_400_000), 1000)).toBe(600_000); // 604.8 s → 10m
    expect(grafanaIntervalMs(FROM, day, 1000, 300_000)).toBe(300_000);
    expect(grafanaIntervalMs(FROM, new Date(FROM.getTime() + 10 * 365 * 86_400_000), 10)).toBe(31_536_000_000);
  });
});

describe('the catalogue', () => {
  const referenced = (sql: string) => new Set([...sql.matchAll(/\$\{?(\w+)/g)].map((m) => m[1]!).filter((n) => !n.startsWith('__')));
  it('each panel declares exactly the variables its SQL reads', () => {
    for (const [id, p] of Object.entries(PANELS)) {
      expect(p.id, id).toBe(id);
      expect([...referenced(p.sql)].sort(), id).toEqual([...p.variables].sort());
    }
    for (const v of Object.values(VARIABLES)) if (v.sql) for (const n of referenced(v.sql)) expect(VARIABLE_NAMES).toContain(n);
  });
  it('every panel is scoped by $organisation, so a one-organisation caller can pin it', () => {
    for (const p of Object.values(PANELS)) expect(p.variables, p.id).toContain('organisation');
    for (const p of Object.values(PANELS)) expect(expandPanelSql(p.sql, ctx({ organisation: ['org_x'], session: 's', request_id: 'r', property: 'feature' })), p.id).toContain("organization_id IN ('org_x')");
  });
  it('every dashboard offers the variables of its panels, and each panel fits the grid', () => {
    for (const d of DASHBOARDS) {
      for (const { panel } of d.panels) for (const v of PANELS[panel].variables) expect(d.variables, `${d.id}: ${panel} needs $${v}`).toContain(v);
    }
    expect(DASHBOARDS.map((d) => d.id)).toEqual(['cost', 'cache', 'providers', 'sessions', 'audit']);
  });
});
