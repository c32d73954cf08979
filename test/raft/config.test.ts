import { describe, expect, it } from 'vitest';
import { ConfigError, SyncObjConf } from '../../src/raft/config.js';

function err(opts: ConstructorParameters<typeof SyncObjConf>[0]): ConfigError {
  try {
    new SyncObjConf(opts);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('SyncObjConf', () => {
  it("keeps pysyncobj's names and defaults", () => {
    const c = new SyncObjConf().values;
    expect(c).toMatchObject({
      raftMinTimeout: 0.4,
      raftMaxTimeout: 1.4,
      appendEntriesPeriod: 0.1,
      connectionTimeout: 3.5,
      connectionRetryTime: 5.0,
      leaderFallbackTimeout: 30.0,
      appendEntriesUseBatch: true,
      appendEntriesBatchSizeBytes: 65536,
      commandsQueueSize: 100000,
      commandsWaitLeader: true,
      dynamicMembershipChange: false,
      logCompactionMinEntries: 5000,
      logCompactionMinTime: 300,
      autoTickPeriod: 0.05,
      dnsCacheTime: 600,
      dnsFailCacheTime: 30,
      bindRetryTime: 1,
      maxBindRetries: 0,
      fsync: 'always',
    });
  });

  it('checks the four timeout ordering rules in order, with Patroni-shaped messages', () => {
    expect(err({ raftMinTimeout: 10.0, raftMaxTimeout: 5.0 }).message).toBe(
      'raftMaxTimeout: raftMaxTimeout (5.0) must be > raftMinTimeout (10.0)',
    );
    expect(err({ appendEntriesPeriod: 0.5, raftMinTimeout: 1.0 }).message).toBe(
      'raftMinTimeout: raftMinTimeout (1.0) must be > 3 * appendEntriesPeriod (0.5)',
    );
    expect(err({ raftMinTimeout: 1.4 }).message).toBe(
      'raftMaxTimeout: raftMaxTimeout (1.4 (default)) must be > raftMinTimeout (1.4)',
    );
    expect(err({ raftMaxTimeout: 10.0, connectionTimeout: 5.0 }).message).toBe(
      'connectionTimeout: connectionTimeout (5.0) must be >= raftMaxTimeout (10.0)',
    );
    expect(
      err({
        appendEntriesPeriod: 50,
        raftMinTimeout: 200,
        raftMaxTimeout: 300,
        connectionTimeout: 400,
        leaderFallbackTimeout: 30,
      }).key,
    ).toBe('leaderFallbackTimeout');
    // double arithmetic: 0.1 * 3 = 0.30000000000000004, so 0.3 is rejected
    expect(err({ raftMinTimeout: 0.3 }).key).toBe('raftMinTimeout');
  });

  it('names the option and the reason for bad values', () => {
    expect(err({ raftMinTimeout: 'abc' as unknown as number }).message).toMatch(
      /^raftMinTimeout: must be a finite number/,
    );
    expect(err({ autoTick: 'yes' as unknown as boolean }).key).toBe('autoTick');
    expect(err({ fsync: 'sometimes' as 'always' }).key).toBe('fsync');
    expect(err({ logCompactionMinEntries: 1 }).key).toBe('logCompactionMinEntries');
    expect(err({ noSuchOption: 1 } as never).message).toBe('noSuchOption: unknown option');
    expect(err({ preferredAddrType: 'ipx' as 'ipv4' }).key).toBe('preferredAddrType');
  });
});
