/**
 * `npm run test:e2e`: every end-to-end test under test/e2e (the topologies in `npm test` as well as
 * the `*.e2e.test.ts` files only run here), one file at a time — they run real Patroni and
 * PostgreSQL clusters and measure failover times — with a table of the measured times at the end.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    reporters: ['default'],
  },
});
