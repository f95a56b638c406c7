// `npm run bench` runs every bench below in turn; `npm run bench -- <name> [args…]` runs one, passing the
// args on (e.g. `npm run bench -- proxy --quick`). Each bench is a standalone script run in its own process,
// so one bench's warm JIT, heap or open handles never colour the next one's numbers.
// To add a bench: write bench/<name>.ts as a script and add one line here.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const benches: Record<string, { file: string; about: string }> = {
  proxy: { file: 'bench/proxy.ts', about: 'issue #14 targets vs a raw pass-through: cells, streams, npm start as a whole, long streams, soak; tracing cost (#18: --modes tracing)' },
  spool: { file: 'bench/spool.ts', about: 'spool append rate per fsync policy and replay rate' },
  redaction: { file: 'bench/redaction.ts', about: 'PII redaction precision/recall and throughput' },
  'ingest-write': { file: 'bench/ingest-write.ts', about: 'ClickHouse insert throughput of the ingest writer' },
  analytics: { file: 'bench/analytics.ts', about: 'issue #17: 10M synthetic calls seeded in-engine, every dashboard panel timed, bytes on disk per row' },
  'ingest-views': { file: 'bench/ingest-views.ts', about: 'engine CPU per inserted row with each analytics view (0009–0014) dropped or alone, inserts and merges' },
  ingest: { file: 'bench/ingest.ts', about: 'whole ingest worker: decode + redact + insert, events/s with redaction on and off (issue #4)' },
  reprice: { file: 'bench/reprice.ts', about: 'issue #19: sightline reprice over 100k stored calls on chDB, rows/s changing and unchanged' },
  kafka: { file: 'bench/kafka.ts', about: 'produce and consume rate through a real local Kafka broker (needs Java 17)' },
};

const root = fileURLToPath(new URL('../', import.meta.url));
const [name, ...rest] = process.argv.slice(2);
if (name === '--help' || name === '-h' || (name !== undefined && !(name in benches))) {
  console.error(`usage: npm run bench [-- <name> [args…]]\n${Object.entries(benches).map(([n, b]) => `  ${n.padEnd(13)} ${b.about}`).join('\n')}`);
  process.exit(name === '--help' || name === '-h' ? 0 : 2);
}

const selected = name === undefined ? Object.keys(benches) : [name];
let failed = 0;
for (const n of selected) {
  console.log(`\n=== bench ${n} (${benches[n]!.file}) ===`);
  const r = spawnSync(process.execPath, ['bin/run-ts.mjs', benches[n]!.file, ...(name === undefined ? [] : rest)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`bench ${n} failed (exit ${r.status ?? r.signal})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
