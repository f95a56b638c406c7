import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{test,proxy,bus,ingest,analytics,config,contracts,providers,ledger,cli,dashboards,otel}/**/*.test.ts'],
    // chDB allows one data directory per process: each test file gets its own process.
    pool: 'forks',
    // redis-server and chromium, installed with apt-get when missing (test/setup/system-packages.ts).
    globalSetup: ['test/setup/system-packages.ts'],
    env: { TZ: 'UTC' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
