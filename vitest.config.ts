import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{test,proxy,bus,ingest,analytics,config,contracts,providers,ledger,cli,dashboards,otel}/**/*.test.ts'],
    // chDB allows one data directory per process: each test file gets its own process.
    pool: 'forks',
    env: { TZ: 'UTC' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
