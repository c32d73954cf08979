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
    reporters: ['default'],
  },
});
