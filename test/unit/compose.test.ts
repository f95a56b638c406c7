// The production stack cannot be started here (no Docker engine), so this checks what `docker compose up` would
// trip over: the compose file, the env it hands Sightline (against the real config loader), the files it mounts,
// and the wiring between nginx, Grafana, the collector and ClickHouse.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseConfig } from '../../config/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

type Vars = Record<string, string>;

/** KEY=VALUE lines of a dotenv file (the subset compose reads: no quotes, no export). */
function parseDotenv(text: string): Vars {
  const vars: Vars = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) vars[m[1]!] = m[2]!.trim();
  }
  return vars;
}

/** Compose interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}, ${VAR:+a}, ${VAR+a}. */
function interpolate(value: string, vars: Vars): string {
  return value.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (whole, braced: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
      if (whole === '$$') return '$';
      const name = (braced ?? bare)!;
      const v = vars[name];
      const unset = op?.startsWith(':') ? v === undefined || v === '' : v === undefined;
      switch (op?.replace(':', '')) {
        case '-': return unset ? arg! : v!;
        case '?': if (unset) throw new Error(`required variable ${name}: ${arg}`); return v!;
        case '+': return unset ? '' : arg!;
        default: return v ?? '';
      }
    });
}

function interpolateTree(node: unknown, vars: Vars): unknown {
  if (typeof node === 'string') return interpolate(node, vars);
  if (Array.isArray(node)) return node.map((n) => interpolateTree(n, vars));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateTree(v, vars)]));
  }
  return node;
}

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const Service = z.looseObject({
  image: z.string().optional(),
  build: z.union([z.string(), z.looseObject({ context: z.string() })]).optional(),
  command: z.array(z.string()).optional(),
  environment: z.union([z.record(z.string(), Scalar), z.array(z.string())]).optional(),
  ports: z.array(z.string()).optional(),
  expose: z.array(z.union([z.string(), z.number()])).optional(),
  volumes: z.array(z.string()).optional(),
  depends_on: z.union([z.array(z.string()), z.record(z.string(), z.looseObject({ condition: z.string() }))]).optional(),
  healthcheck: z.looseObject({ test: z.union([z.string(), z.array(z.string())]), disable: z.boolean().optional() }).optional(),
  deploy: z.looseObject({ replicas: z.number().optional() }).optional(),
});
type Service = z.infer<typeof Service>;
const ComposeFile = z.looseObject({
  services: z.record(z.string(), Service),
  volumes: z.record(z.string(), z.unknown().nullable()).optional(),
});

const COMPOSE_TEXT = read('docker-compose.yml');
const ENV_EXAMPLE = parseDotenv(read('.env.example'));
// Compose resolves YAML merge keys (`<<: *sightline`); the yaml package does only when asked.
const rawCompose: unknown = parseYaml(COMPOSE_TEXT, { merge: true });
const compose = ComposeFile.parse(interpolateTree(rawCompose, ENV_EXAMPLE));
const services = compose.services;

function service(name: string): Service {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
}

function envOf(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function dependsOn(s: Service): Record<string, string> {
  const d = s.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [n, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([n, v]) => [n, v.condition]));
}

interface Mount { source: string | undefined; target: string }
function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    const parts = v.split(':');
    return parts.length === 1 ? { source: undefined, target: parts[0]! } : { source: parts[0]!, target: parts[1]! };
  });
}
const isBind = (m: Mount): m is { source: string; target: string } => m.source !== undefined && /^[./~]/.test(m.source);

/** Host file behind a container path, through the service's bind mounts (a file or a file inside a mounted dir). */
function hostPathOf(s: Service, containerPath: string): string {
  for (const m of mounts(s).filter(isBind)) {
    if (containerPath === m.target) return path.join(ROOT, m.source);
    if (containerPath.startsWith(`${m.target}/`)) return path.join(ROOT, m.source, containerPath.slice(m.target.length + 1));
  }
  throw new Error(`${containerPath} is not bind-mounted`);
}

interface Published { host: string; container: string }
function published(s: Service): Published[] {
  return (s.ports ?? []).map((p) => {
    const parts = p.replace(/\/(tcp|udp)$/, '').split(':');
    return { host: parts.at(-2) ?? parts.at(-1)!, container: parts.at(-1)! };
  });
}

/** Every env name config/index.ts reads (and config/tracing.ts, whose OTEL_* it applies), taken from their source. */
function configLoaderEnvNames(): Set<string> {
  const src = read('config/index.ts');
  const names = new Set([...`${src}\n${read('config/tracing.ts')}`.matchAll(/set\('([A-Z0-9_]+)'/g)].map((m) => m[1]!));
  for (const m of src.matchAll(/\benv\.([A-Z0-9_]+)/g)) names.add(m[1]!);
  const providers = /const PROVIDER_ENV = \[([^\]]*)\]/.exec(src);
  const loop = /set\(`([A-Z0-9_]+)\$\{p\.toUpperCase\(\)\}`/.exec(src);
  if (!providers || !loop) throw new Error('config/index.ts: cannot find the SIGHTLINE_UPSTREAM_<PROVIDER> loop');
  for (const p of providers[1]!.matchAll(/'([a-z0-9_]+)'/g)) names.add(`${loop[1]!}${p[1]!.toUpperCase()}`);
  return names;
}

const SIGHTLINE_SERVICES = ['proxy', 'ingest'] as const;

describe('docker-compose.yml', () => {
  it('has the production services', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['clickhouse', 'gateway', 'grafana', 'ingest', 'jaeger', 'kafka', 'otel-collector', 'proxy', 'redis'],
    );
  });

  it('needs the .env secrets: without them interpolation fails on a required variable', () => {
    expect(() => interpolateTree(rawCompose, {})).toThrow(/required variable (CLICKHOUSE|REDIS)_PASSWORD/);
    for (const name of ['CLICKHOUSE_PASSWORD', 'CLICKHOUSE_GRAFANA_PASSWORD', 'GRAFANA_ADMIN_PASSWORD', 'REDIS_PASSWORD']) {
      expect(COMPOSE_TEXT).toContain(`\${${name}:?`);
      expect(ENV_EXAMPLE[name], `.env.example documents ${name}`).toMatch(/^change-me/);
    }
  });

  it('documents in .env.example every variable the compose file interpolates', () => {
    const used = new Set([...COMPOSE_TEXT.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    expect([...used].filter((v) => !(v in ENV_EXAMPLE))).toEqual([]);
  });

  it('gives every service a healthcheck, or makes it wait for healthy dependencies', () => {
    for (const [name, s] of Object.entries(services)) {
      const deps = dependsOn(s);
      for (const [dep, condition] of Object.entries(deps)) {
        expect(services[dep], `${name} depends on unknown service ${dep}`).toBeDefined();
        // compose refuses service_healthy on a service without a healthcheck
        if (condition === 'service_healthy') expect(services[dep]!.healthcheck, `${dep} (needed healthy by ${name})`).toBeDefined();
      }
      if (s.healthcheck && !s.healthcheck.disable) continue;
      expect(Object.keys(deps).length, `${name} has no healthcheck and no dependencies`).toBeGreaterThan(0);
      expect(Object.values(deps).every((c) => c === 'service_healthy'), `${name} waits only for healthy dependencies`).toBe(true);
    }
  });

  it('starts the data path in order: proxy after Kafka, ingest after Kafka and ClickHouse, nginx after the proxies', () => {
    expect(dependsOn(service('proxy'))).toMatchObject({ kafka: 'service_healthy' });
    expect(dependsOn(service('ingest'))).toMatchObject({ kafka: 'service_healthy', clickhouse: 'service_healthy' });
    expect(dependsOn(service('gateway'))).toMatchObject({ proxy: 'service_healthy' });
  });

  it('runs proxy and ingest from the same image built from the Dockerfile', () => {
    const proxy = service('proxy');
    const ingest = service('ingest');
    expect(proxy.build).toBe('.');
    expect(ingest.build).toEqual(proxy.build);
    expect(ingest.image).toEqual(proxy.image);
    expect(proxy.command).toEqual(['node', 'bin/sightline.mjs', 'start']);
    expect(ingest.command).toEqual(['node', 'bin/sightline.mjs', 'ingest']);
    expect(proxy.deploy?.replicas).toBe(2);
  });

  it('sets on Sightline services only env names the config loader reads', () => {
    const known = configLoaderEnvNames();
    // the extraction itself must see the loader's names, or this test would pass vacuously
    for (const n of ['SIGHTLINE_PORT', 'SIGHTLINE_HOST', 'SIGHTLINE_SINK', 'KAFKA_BROKERS', 'CLICKHOUSE_URL', 'KAFKA_SASL_USERNAME', 'SIGHTLINE_UPSTREAM_AZURE', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
      expect(known).toContain(n);
    }
    // the loader reads SIGHTLINE_CONFIG in loadConfig rather than applyEnv
    known.add('SIGHTLINE_CONFIG');
    for (const name of SIGHTLINE_SERVICES) {
      const ours = Object.keys(envOf(service(name))).filter((k) => /^(SIGHTLINE|KAFKA|CLICKHOUSE|OTEL)_/.test(k));
      expect(ours.length).toBeGreaterThan(0);
      expect(ours.filter((k) => !known.has(k)), `unknown env on ${name}`).toEqual([]);
    }
  });

  it('hands each Sightline service an env (and config file) the config loader accepts', () => {
    const configs = Object.fromEntries(SIGHTLINE_SERVICES.map((name) => {
      const s = service(name);
      const env = envOf(s);
      parseConfig(undefined, env);
      const file = hostPathOf(s, env.SIGHTLINE_CONFIG!);
      return [name, parseConfig(readFileSync(file, 'utf8'), env, file)];
    }));
    const proxy = configs.proxy!;
    expect(proxy.sink).toBe('kafka');
    expect(proxy.server).toMatchObject({ host: '0.0.0.0', port: 8787 });
    expect(proxy.server.require_auth).toBeUndefined(); // off loopback ⇒ required
    expect(proxy.kafka.brokers).toEqual(['kafka:9092']);
    const ingest = configs.ingest!;
    expect(ingest.clickhouse).toMatchObject({ url: 'http://clickhouse:8123', user: ENV_EXAMPLE.CLICKHOUSE_USER, password: ENV_EXAMPLE.CLICKHOUSE_PASSWORD });
    expect(ingest.kafka.brokers).toEqual(['kafka:9092']);
    expect(ingest.kafka.topic).toBe(proxy.kafka.topic);
    // the broker address is the kafka service's advertised listener
    expect(envOf(service('kafka')).KAFKA_ADVERTISED_LISTENERS).toBe(`PLAINTEXT://${proxy.kafka.brokers[0]!}`);
  });

  it('keeps each proxy replica\'s data dir on its own volume', () => {
    const proxy = service('proxy');
    const dataDir = envOf(proxy).SIGHTLINE_DATA_DIR!;
    // anonymous volume: one per replica container; a named one would be shared by both replicas
    expect(mounts(proxy)).toContainEqual({ source: undefined, target: dataDir });
    const ingestDir = envOf(service('ingest')).SIGHTLINE_DATA_DIR!;
    expect(mounts(service('ingest')).some((m) => m.target === ingestDir && m.source !== undefined)).toBe(true);
  });

  it('publishes the gateway on 8787 and ClickHouse on 8123, and no fixed host port on the replicated proxy', () => {
    expect(published(service('gateway'))).toContainEqual({ host: '8787', container: '8787' });
    expect(published(service('clickhouse'))).toContainEqual({ host: '8123', container: '8123' });
    expect(service('proxy').ports ?? []).toEqual([]);
    expect(service('clickhouse').ports).toContain('127.0.0.1:8123:8123');
  });

  it('routes nginx to the proxy service on the port the proxy listens on', () => {
    const gateway = service('gateway');
    const conf = readFileSync(hostPathOf(gateway, '/etc/nginx/conf.d/default.conf'), 'utf8');
    const upstream = /^\s*server\s+([a-z0-9-]+):(\d+)\s+resolve;/m.exec(conf);
    expect(upstream?.[1]).toBe('proxy');
    expect(upstream?.[2]).toBe(envOf(service('proxy')).SIGHTLINE_PORT);
    expect(conf).toMatch(/^\s*listen 8787;/m);
    expect(conf).toMatch(/proxy_buffering off;/);
    expect([gateway.healthcheck?.test ?? []].flat().join(' ')).toContain('127.0.0.1:8081');
    expect(conf).toMatch(/listen 127\.0\.0\.1:8081;/);
  });

  it('provisions a Grafana ClickHouse datasource pointing at the clickhouse service', () => {
    const grafana = service('grafana');
    expect(envOf(grafana).GF_INSTALL_PLUGINS).toContain('grafana-clickhouse-datasource');
    const dir = hostPathOf(grafana, '/etc/grafana/provisioning/datasources');
    const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
    const text = files.map((f) => readFileSync(path.join(dir, f), 'utf8')).find((t) => t.includes('grafana-clickhouse-datasource'));
    expect(text).toBeDefined();
    const Datasource = z.object({
      datasources: z.array(z.looseObject({
        type: z.string(),
        jsonData: z.looseObject({ host: z.string(), port: z.number(), protocol: z.enum(['http', 'native']), username: z.string() }),
        secureJsonData: z.looseObject({ password: z.string() }),
      })),
    });
    const ds = Datasource.parse(parseYaml(text!)).datasources.find((d) => d.type === 'grafana-clickhouse-datasource');
    expect(ds).toBeDefined();
    expect(ds!.jsonData.host).toBe('clickhouse');
    expect(services[ds!.jsonData.host]).toBeDefined();
    expect(ds!.jsonData.port).toBe(ds!.jsonData.protocol === 'http' ? 8123 : 9000);
    // Grafana expands ${VAR} from its own environment
    const passwordVar = /^\$\{([A-Z0-9_]+)\}$/.exec(ds!.secureJsonData.password)?.[1];
    expect(passwordVar).toBeDefined();
    expect(envOf(grafana)[passwordVar!]).toBeTruthy();
    // ...and the same password is the one ClickHouse gives that user
    const users = readFileSync(hostPathOf(service('clickhouse'), `/etc/clickhouse-server/users.d/${ds!.jsonData.username}.xml`), 'utf8');
    const fromEnv = new RegExp(`<${ds!.jsonData.username}>[\\s\\S]*<password from_env="([A-Z0-9_]+)"`).exec(users)?.[1];
    expect(fromEnv).toBe(passwordVar);
    expect(envOf(service('clickhouse'))[fromEnv!]).toBe(envOf(grafana)[passwordVar!]);
  });

  it('wires the OTel collector: OTLP/HTTP on a published 4318, exporting to the clickhouse service', () => {
    const otel = service('otel-collector');
    const text = readFileSync(hostPathOf(otel, '/etc/otelcol-contrib/config.yaml'), 'utf8');
    const Collector = z.object({
      receivers: z.record(z.string(), z.unknown()),
      processors: z.record(z.string(), z.unknown()),
      exporters: z.record(z.string(), z.unknown()),
      service: z.looseObject({
        pipelines: z.record(z.string(), z.object({ receivers: z.array(z.string()), processors: z.array(z.string()), exporters: z.array(z.string()) })),
      }),
    });
    const cfg = Collector.parse(parseYaml(text));
    const http = z.object({ otlp: z.object({ protocols: z.object({ http: z.object({ endpoint: z.string() }) }) }) }).parse(cfg.receivers);
    expect(http.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(published(otel)).toContainEqual({ host: '4318', container: '4318' });
    const ch = z.object({ clickhouse: z.looseObject({ endpoint: z.string() }) }).parse(cfg.exporters);
    expect(new URL(ch.clickhouse.endpoint).host).toBe('clickhouse:9000');
    expect(cfg.exporters).toHaveProperty('debug');
    for (const p of Object.values(cfg.service.pipelines)) {
      for (const r of p.receivers) expect(cfg.receivers).toHaveProperty(r);
      for (const r of p.processors) expect(cfg.processors).toHaveProperty(r);
      for (const e of p.exporters) expect(cfg.exporters).toHaveProperty(e);
    }
    for (const m of text.matchAll(/\$\{env:([A-Z0-9_]+)\}/g)) expect(envOf(otel)[m[1]!], m[1]).toBeTruthy();
  });

  it('wires tracing: proxy and ingest export OTLP to the collector, which sends traces to Jaeger, which Grafana reads', () => {
    const collector = service('otel-collector');
    for (const name of SIGHTLINE_SERVICES) {
      const env = envOf(service(name));
      const config = parseConfig(readFileSync(hostPathOf(service(name), env.SIGHTLINE_CONFIG!), 'utf8'), env);
      const endpoint = new URL(config.tracing.endpoint!);
      expect(endpoint.hostname, `${name} exports to the collector service`).toBe('otel-collector');
      expect(endpoint.port).toBe('4318');
      expect(config.tracing.service_name).toBe('sightline');
      // A row's trace_id links to Jaeger's UI on the port compose publishes.
      const link = new URL(config.tracing.trace_url_template!.replace('{trace_id}', 'abc'));
      expect(published(service('jaeger'))).toContainEqual({ host: link.port, container: '16686' });
    }
    const cfg = z.object({
      exporters: z.record(z.string(), z.unknown()),
      service: z.object({ pipelines: z.object({ traces: z.object({ exporters: z.array(z.string()) }) }) }),
    }).parse(parseYaml(readFileSync(hostPathOf(collector, '/etc/otelcol-contrib/config.yaml'), 'utf8')));
    const toJaeger = cfg.service.pipelines.traces.exporters.find((e) => e.startsWith('otlp/'));
    expect(toJaeger).toBeDefined();
    const jaegerExporter = z.object({ endpoint: z.string(), tls: z.object({ insecure: z.literal(true) }) }).parse(cfg.exporters[toJaeger!]);
    expect(jaegerExporter.endpoint).toBe('jaeger:4317');
    expect(dependsOn(collector)).toMatchObject({ jaeger: 'service_healthy' });
    const grafana = service('grafana');
    const dir = hostPathOf(grafana, '/etc/grafana/provisioning/datasources');
    const datasources = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))
      .flatMap((f) => z.object({ datasources: z.array(z.looseObject({ type: z.string(), url: z.string().optional() })) }).parse(parseYaml(readFileSync(path.join(dir, f), 'utf8'))).datasources);
    const jaeger = datasources.find((d) => d.type === 'jaeger');
    expect(new URL(jaeger!.url!).host).toBe('jaeger:16686');
  });

  it('mounts only files that exist and named volumes that are declared', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const m of mounts(s)) {
        if (isBind(m)) expect(existsSync(path.join(ROOT, m.source)), `${name}: ${m.source}`).toBe(true);
        else if (m.source !== undefined) expect(compose.volumes ?? {}, `${name}: volume ${m.source}`).toHaveProperty(m.source);
      }
    }
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = read('Dockerfile');

  it('builds on node:20-slim with npm ci and starts the gateway by default', () => {
    expect(dockerfile).toMatch(/^FROM node:20-slim\b/m);
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    expect(dockerfile).toMatch(/^CMD \["node", "bin\/sightline\.mjs", "start"\]$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it('sends every file the CLI imports at run time into the build context', () => {
    const allowed = new Set(read('.dockerignore').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).trim()));
    // walk relative imports from the CLI entry: a new top-level folder must be added to the allow-list
    const seen = new Set<string>();
    const queue = ['cli/main.ts'];
    while (queue.length > 0) {
      const rel = queue.pop()!;
      if (seen.has(rel) || !existsSync(path.join(ROOT, rel)) || !statSync(path.join(ROOT, rel)).isFile()) continue;
      seen.add(rel);
      for (const m of read(rel).matchAll(/(?:from|import\()\s*'(\.\.?\/[^']+)'/g)) {
        queue.push(path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, rel)), m[1]!)));
      }
    }
    expect(seen.size).toBeGreaterThan(5);
    const topLevel = new Set([...seen, 'bin/sightline.mjs'].map((f) => f.split('/')[0]!));
    expect([...topLevel].filter((d) => !allowed.has(d))).toEqual([]);
    expect(allowed).toContain('package-lock.json');
  });
});
