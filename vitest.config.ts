import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'proxy/**/*.test.ts', 'bus/**/*.test.ts', 'ingest/**/*.test.ts', 'analytics/**/*.test.ts', 'config/**/*.test.ts'],
    // chDB allows one data directory per process: each test file gets its own process.
    pool: 'forks',
    env: { TZ: 'UTC' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
