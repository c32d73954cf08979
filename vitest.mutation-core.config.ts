import { defineConfig } from 'vitest/config';

/**
 * The tests StrykerJS runs against each mutant of the Raft core (`npm run mutation:core`): the
 * core's own unit tests (driven through RaftCore or a SyncObj on the in-memory transport, no
 * timers worth waiting for) and a 24-seed sample of the simulator. The KV acceptance suites, which
 * also reach the core but spend seconds in real retry timers, are left to `npm run mutation`.
 */
export default defineConfig({
  test: {
    include: [
      'test/raft/{core,core-purity,invariants,install-races,snapshot-install,catch-up,compaction,ack-durability}.test.ts',
      'test/raft/{leader-stickiness,non-member-peers,raftdcs-follower-counting,readonly-partners,transfer}.test.ts',
      'test/raft/{restart-election,unknown-outcome,membership-addresses,config,dump-membership}.test.ts',
      'test/mutation/*.mutation.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
