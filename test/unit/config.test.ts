// The config loader: zod over an optional YAML file with environment overrides on top.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ingestBatchMaxBytes, loadConfig, parseConfig } from '../../config/index.ts';

/** The issues of the ConfigError fn throws; fails the test if it does not throw one. */
function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const SHA = 'a'.repeat(64);

describe('parseConfig defaults', () => {
  const cfg = parseConfig(undefined, {});

  it('listens on loopback 8787, spools, keeps the embedded store', () => {
    expect(cfg.server).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(cfg.sink).toBe('spool');
    expect(cfg.clickhouse.url).toBeUndefined();
    expect(cfg.clickhouse).toMatchObject({ user: 'default', password: '', http_port: 8123, body_retention_days: 90, retention_days: 365 });
    expect(cfg.kafka).toMatchObject({ brokers: [], topic: 'sightline.requests', dlq_topic: 'sightline.requests.dlq', group_id: 'sightline-ingest', ssl: false });
    expect(cfg.kafka.sasl).toBeUndefined();
    expect(cfg.limits).toEqual({ max_body_bytes: 32 * 1024 * 1024, upstream_timeout_ms: 600_000, upstream_connect_timeout_ms: 10_000, max_logged_body_bytes: 1024 * 1024 });
    expect(cfg.logging).toEqual({ durability: 'written', on_failure: 'serve' });
    expect(cfg.upstreams.openai).toBe('https://api.openai.com');
    expect(cfg.stream_usage.inject).toBe(true);
    expect(cfg.redaction.enabled).toBe(true);
    expect(cfg.keys).toEqual([]);
  });

  it('batches of 16 MiB for the embedded store, 8 MiB for a ClickHouse server, as set when set', () => {
    expect(cfg.ingest.batch_max_bytes).toBeUndefined();
    expect(ingestBatchMaxBytes(cfg)).toBe(16 * 1024 * 1024);
    expect(ingestBatchMaxBytes(parseConfig(undefined, { CLICKHOUSE_URL: 'http://localhost:8123' }))).toBe(8 * 1024 * 1024);
    expect(ingestBatchMaxBytes(parseConfig('ingest:\n  batch_max_bytes: 1048576\n', {}))).toBe(1024 * 1024);
  });

  it('resolves data_dir to an absolute path', () => {
    expect(cfg.data_dir).toBe(path.resolve('./data'));
  });

  it('treats an empty or whitespace file like no file', () => {
    expect(parseConfig('  \n', {})).toEqual(cfg);
  });
});

describe('environment overrides', () => {
  it('maps every documented variable onto its field', () => {
    const cfg = parseConfig(undefined, {
      SIGHTLINE_PORT: '9999',
      SIGHTLINE_HOST: '0.0.0.0',
      SIGHTLINE_REQUIRE_AUTH: 'false',
      SIGHTLINE_DATA_DIR: '/var/lib/sightline',
      SIGHTLINE_SINK: 'jsonl:-',
      SIGHTLINE_MAX_BODY_BYTES: '1024',
      SIGHTLINE_UPSTREAM_TIMEOUT_MS: '5000',
      SIGHTLINE_ALLOWED_TARGETS: ' localhost:8080 , *.internal.example.com ,',
      SIGHTLINE_STREAM_USAGE_INJECT: '0',
      SIGHTLINE_UPSTREAM_OPENAI: 'http://127.0.0.1:1234',
      SIGHTLINE_UPSTREAM_AZURE: 'https://{resource}.example.com',
      KAFKA_TOPIC: 't1',
      KAFKA_SSL: 'true',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
      CLICKHOUSE_URL: 'http://clickhouse:8123',
      CLICKHOUSE_USER: 'writer',
      CLICKHOUSE_PASSWORD: 'secret',
      SIGHTLINE_CLICKHOUSE_HTTP_PORT: '0',
    });
    expect(cfg.server).toEqual({ host: '0.0.0.0', port: 9999, require_auth: false });
    expect(cfg.data_dir).toBe('/var/lib/sightline');
    expect(cfg.sink).toBe('jsonl:-');
    expect(cfg.limits).toMatchObject({ max_body_bytes: 1024, upstream_timeout_ms: 5000 });
    expect(cfg.allowed_targets).toEqual(['localhost:8080', '*.internal.example.com']);
    expect(cfg.stream_usage.inject).toBe(false);
    expect(cfg.upstreams).toMatchObject({ openai: 'http://127.0.0.1:1234', azure: 'https://{resource}.example.com', anthropic: 'https://api.anthropic.com' });
    expect(cfg.kafka).toMatchObject({ topic: 't1', ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } });
    expect(cfg.clickhouse).toMatchObject({ url: 'http://clickhouse:8123', user: 'writer', password: 'secret', http_port: 0 });
  });

  it('overrides the file, field by field, leaving the rest of the file intact', () => {
    const file = 'server:\n  port: 1000\n  host: 10.0.0.1\nclickhouse:\n  user: fromfile\n  password: filepw\n';
    const cfg = parseConfig(file, { SIGHTLINE_PORT: '2000', CLICKHOUSE_PASSWORD: 'envpw' });
    expect(cfg.server).toMatchObject({ port: 2000, host: '10.0.0.1' });
    expect(cfg.clickhouse).toMatchObject({ user: 'fromfile', password: 'envpw' });
  });

  it('ignores empty variables (compose passes unset ones as "")', () => {
    const cfg = parseConfig('server:\n  port: 1000\n', { SIGHTLINE_PORT: '', SIGHTLINE_REQUIRE_AUTH: '', SIGHTLINE_SINK: '' });
    expect(cfg.server.port).toBe(1000);
    expect(cfg.server.require_auth).toBeUndefined();
    expect(cfg.sink).toBe('spool');
  });

  it('reads booleans: only "true" and "1" are true', () => {
    for (const [v, want] of [['true', true], ['1', true], ['false', false], ['yes', false], ['0', false]] as const) {
      expect(parseConfig(undefined, { SIGHTLINE_REQUIRE_AUTH: v }).server.require_auth).toBe(want);
    }
  });

  it('rejects an env value of the wrong shape and names the field', () => {
    expect(issuesOf(() => parseConfig(undefined, { SIGHTLINE_PORT: 'eighty' }))).toEqual([expect.stringMatching(/^server\.port: /)]);
    expect(issuesOf(() => parseConfig(undefined, { SIGHTLINE_PORT: '70000' }))).toEqual([expect.stringMatching(/^server\.port: /)]);
    expect(issuesOf(() => parseConfig(undefined, { CLICKHOUSE_URL: 'not a url' }))).toEqual([expect.stringMatching(/^clickhouse\.url: /)]);
    expect(issuesOf(() => parseConfig(undefined, { KAFKA_SASL_MECHANISM: 'kerberos' }))).toEqual([expect.stringMatching(/^kafka\.sasl\.mechanism: /)]);
    expect(issuesOf(() => parseConfig(undefined, { SIGHTLINE_SINK: 'stdout' }))).toEqual(['sink: expected jsonl:<path>, spool, kafka or none']);
  });
});

describe('KAFKA_BROKERS', () => {
  it('splits a comma list and implies sink kafka', () => {
    const cfg = parseConfig(undefined, { KAFKA_BROKERS: 'k1:9092, k2:9092,' });
    expect(cfg.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(cfg.sink).toBe('kafka');
  });

  it('leaves an explicit SIGHTLINE_SINK alone', () => {
    expect(parseConfig(undefined, { KAFKA_BROKERS: 'k1:9092', SIGHTLINE_SINK: 'spool' }).sink).toBe('spool');
  });

  it('leaves a sink set in the file alone', () => {
    expect(parseConfig('sink: none\n', { KAFKA_BROKERS: 'k1:9092' }).sink).toBe('none');
  });

  it('brokers listed in the file also imply kafka', () => {
    expect(parseConfig('kafka:\n  brokers: [k1:9092]\n', {}).sink).toBe('kafka');
  });

  it('an empty list does not', () => {
    expect(parseConfig(undefined, { KAFKA_BROKERS: ' , ' }).sink).toBe('spool');
  });
});

describe('YAML errors', () => {
  it('names the file when the YAML does not parse', () => {
    const issues = issuesOf(() => parseConfig('server: [unclosed\n', {}, '/etc/s.yaml'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^\/etc\/s\.yaml: not valid YAML: /);
  });

  it('wants a mapping at the top level', () => {
    expect(issuesOf(() => parseConfig('- a\n- b\n', {}))).toEqual(['sightline.yaml: expected a mapping at the top level']);
    expect(issuesOf(() => parseConfig('# only a comment\n', {}))).toEqual(['sightline.yaml: expected a mapping at the top level']);
    expect(issuesOf(() => parseConfig('just text', {}))).toEqual(['sightline.yaml: expected a mapping at the top level']);
  });

  it('names the path of each bad field, and lists all of them', () => {
    const file = [
      'server:',
      '  port: -1',
      'keys:',
      '  - id: k1',
      `    hash: ${SHA}`,
      '    organization_id: acme',
      '  - id: k2',
      '    hash: not-hex',
      '    organization_id: acme',
      'prices:',
      '  my-model:',
      '    input_per_mtok: -3',
      '    output_per_mtok: 1',
      'allowed_targets: ["bad host!"]',
    ].join('\n');
    const issues = issuesOf(() => parseConfig(file, {}));
    expect(issues.map((i) => i.slice(0, i.indexOf(':')))).toEqual(
      expect.arrayContaining(['server.port', 'keys.1.hash', 'prices.my-model.input_per_mtok', 'allowed_targets.0']),
    );
    expect(issues).toHaveLength(4);
    expect(issues.find((i) => i.startsWith('keys.1.hash'))).toContain('npx sightline keys hash');
  });

  it('rejects unknown keys at every level (a typo must not be silently ignored)', () => {
    expect(issuesOf(() => parseConfig('sever:\n  port: 1\n', {}))).toEqual([expect.stringMatching(/^\(root\): .*sever/)]);
    expect(issuesOf(() => parseConfig('server:\n  prot: 1\n', {}))).toEqual([expect.stringMatching(/^server: .*prot/)]);
    expect(issuesOf(() => parseConfig('kafka:\n  sasl:\n    mechanism: plain\n    username: u\n    password: p\n    realm: x\n', {})))
      .toEqual([expect.stringMatching(/^kafka\.sasl: .*realm/)]);
    expect(issuesOf(() => parseConfig(`keys:\n  - id: k\n    hash: ${SHA}\n    organization_id: o\n    org: o\n`, {})))
      .toEqual([expect.stringMatching(/^keys\.0: .*org/)]);
  });

  it('reports a ConfigError whose message lists every issue', () => {
    let err: unknown;
    try {
      parseConfig('server:\n  port: x\nsink: bogus\n', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^invalid configuration:\n {2}.*\n {2}/);
    expect((err as ConfigError).issues).toHaveLength(2);
  });
});

describe('the parsed config', () => {
  const cfg = parseConfig(`keys:\n  - id: k1\n    hash: ${SHA}\n    organization_id: acme\n`, {});

  it('is frozen all the way down', () => {
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.server)).toBe(true);
    expect(Object.isFrozen(cfg.keys)).toBe(true);
    expect(Object.isFrozen(cfg.keys[0])).toBe(true);
    expect(Object.isFrozen(cfg.redaction.organizations)).toBe(true);
    expect(() => { (cfg.server as { port: number }).port = 1; }).toThrow(TypeError);
    expect(() => { (cfg.keys as unknown[]).push({}); }).toThrow(TypeError);
  });

  it('fills key defaults', () => {
    expect(cfg.keys[0]).toEqual({ id: 'k1', hash: SHA, organization_id: 'acme', team: '', models: [], metadata: {}, revoked: false });
  });

  it('does not mutate the env or share state between calls', () => {
    const env = { KAFKA_BROKERS: 'k:1' };
    const a = parseConfig(undefined, env);
    const b = parseConfig(undefined, {});
    expect(env).toEqual({ KAFKA_BROKERS: 'k:1' });
    expect(a.sink).toBe('kafka');
    expect(b.sink).toBe('spool');
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sl-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the file named by SIGHTLINE_CONFIG, with env on top', () => {
    const file = path.join(dir, 'sightline.yaml');
    writeFileSync(file, 'server:\n  port: 1234\nsink: none\n');
    const cfg = loadConfig({ SIGHTLINE_CONFIG: file, SIGHTLINE_HOST: '::1' });
    expect(cfg.server).toMatchObject({ port: 1234, host: '::1' });
    expect(cfg.sink).toBe('none');
  });

  it('names the file in its errors', () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'server:\n  port: nope\n');
    expect(issuesOf(() => loadConfig({ SIGHTLINE_CONFIG: file }))).toEqual([expect.stringMatching(/^server\.port: /)]);
    writeFileSync(file, 'server: [\n');
    expect(issuesOf(() => loadConfig({ SIGHTLINE_CONFIG: file }))[0]).toContain(`${file}: not valid YAML`);
  });

  it('fails with the error code when SIGHTLINE_CONFIG cannot be read', () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(issuesOf(() => loadConfig({ SIGHTLINE_CONFIG: missing }))).toEqual([`SIGHTLINE_CONFIG=${missing}: cannot read: ENOENT`]);
  });
});
