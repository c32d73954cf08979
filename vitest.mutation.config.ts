import { defineConfig } from 'vitest/config';

/**
 * The unit tests StrykerJS runs against each mutant (`npm run mutation`): no global setup (nothing
 * here starts the built binary), no Python, network-namespace, interop, chaos or simulator suites.
 */
export default defineConfig({
  test: {
    include: ['test/wire/**/*.test.ts', 'test/kv/**/*.test.ts', 'test/raft/**/*.test.ts'],
    exclude: [
      'test/raft/transport*.test.ts',
      'test/raft/journal-crash.test.ts',
      'test/raft/deposed-leader.test.ts',
      '**/*python*.test.ts',
      'test/kv/mixed-cluster.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
