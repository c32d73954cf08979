import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // not here: the end-to-end tests (`npm run test:e2e`, vitest.e2e.config.ts) and the samples
    // only mutation testing runs (`npm run mutation:core`)
    exclude: ['**/node_modules/**', 'test/**/*.e2e.test.ts', 'test/**/*.mutation.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest's default (one worker fewer than the cores) is a single worker on a two-core machine:
    // most of the suite waits on timers, real processes and the network, so two files at a time
    // halve the wall time there (19 min → 11 min) without starving them
    maxWorkers: Math.max(2, availableParallelism() - 1),
    reporters: ['default'],
  },
});
