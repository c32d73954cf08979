/**
 * Simulation profiles. By default every seed draws its own (swarm testing): cluster size, read-only
 * nodes, latencies of the network, fsync, dump writes and dump codec, fault rates and kinds,
 * compaction threshold, membership churn, timeouts — so rare interleavings (Figure 8, installs
 * racing elections) are reached by search rather than by a fixed list of mixes. The named profiles
 * stay for targeted runs (`--profile lossy`).
 */
import { BASE_PROFILE, type SimProfile } from './cluster.js';
import { Rng } from './rng.js';

export const PROFILES: Record<string, SimProfile> = {
  base: BASE_PROFILE,
  five: { ...BASE_PROFILE, name: 'five', voters: 5, chaosMs: 10_000 },
  tcp: { ...BASE_PROFILE, name: 'tcp', fifo: true, dropRate: 0, dupRate: 0 },
  readonly: { ...BASE_PROFILE, name: 'readonly', readonlyNodes: 1 },
  lossy: { ...BASE_PROFILE, name: 'lossy', dropRate: 0.25, dupRate: 0.1, maxDelayMs: 120, faultEveryMs: 800 },
  fsync: { ...BASE_PROFILE, name: 'fsync', fsyncMinMs: 0.5, fsyncMaxMs: 8, tornWrites: true },
  pauses: { ...BASE_PROFILE, name: 'pauses', pauses: true, fifo: true, dropRate: 0, dupRate: 0 },
  membership: { ...BASE_PROFILE, name: 'membership', membershipChanges: true, proposalsPerSecond: 60 },
  compaction: { ...BASE_PROFILE, name: 'compaction', compactAfterEntries: 40, proposalsPerSecond: 80 },
  /** an operator asks the leader to hand over every 0.7 s or so, among the usual faults */
  transfers: { ...BASE_PROFILE, name: 'transfers', transfersEveryMs: 700 },
  /** one of three voters is a modelled pysyncobj follower */
  python: {
    ...BASE_PROFILE,
    name: 'python',
    fifo: true,
    dropRate: 0,
    dupRate: 0,
    pysyncobjFollowers: 1,
    compactAfterEntries: 30,
  },
  /** snapshots sent often and installed slowly, while leaders change */
  installs: {
    ...BASE_PROFILE,
    name: 'installs',
    voters: 5,
    compactAfterEntries: 12,
    dumpWriteMaxMs: 400,
    codecMaxMs: 400,
    faultEveryMs: 700,
    proposalsPerSecond: 60,
  },
  /** installs racing leader changes, with leaders that rewind like pysyncobj's and busy event loops */
  installRaces: {
    ...BASE_PROFILE,
    name: 'installRaces',
    voters: 5,
    compactAfterEntries: 10,
    dumpWriteMaxMs: 400,
    codecMaxMs: 400,
    faultEveryMs: 700,
    proposalsPerSecond: 80,
    pysyncobjLikeLeaders: true,
    loopRestMaxMs: 20,
    appendBatchBytes: 64,
    leaderVictimRate: 0.7,
  },
};

/** The profile a swarm seed draws: every dimension from its own seeded stream. */
export function swarmProfile(seed: number): SimProfile {
  const r = new Rng(seed ^ 0x5a4d5eed);
  const fifo = r.chance(0.4);
  const maxDelayMs = r.pick([5, 20, 20, 60, 150]);
  const fsyncSlow = r.chance(0.5);
  const electionMinMs = r.int(300, 600);
  const membershipChanges = r.chance(0.25);
  // a modelled Python follower: pysyncobj runs over TCP only (in-order links), and the model
  // applies no membership change (not with membership churn)
  const pysyncobjFollowers = fifo && !membershipChanges && r.chance(0.4) ? 1 : 0;
  return {
    name: 'swarm',
    voters: r.pick([3, 3, 4, 5, 5]),
    readonlyNodes: r.chance(0.25) ? 1 : 0,
    chaosMs: r.int(4_000, 10_000),
    healMs: 30_000,
    tickMs: r.pick([25, 50, 100]),
    minDelayMs: r.range(0.2, Math.min(5, maxDelayMs)),
    maxDelayMs,
    fifo,
    dropRate: fifo ? 0 : r.pick([0, 0.02, 0.05, 0.15, 0.3]),
    dupRate: fifo ? 0 : r.pick([0, 0.02, 0.1]),
    connectMinMs: 1,
    connectMaxMs: r.pick([5, 30, 200]),
    connectionTimeoutMs: r.pick([1000, 3500]),
    faultEveryMs: r.pick([500, 800, 1500, 2500]),
    partitions: r.chance(0.85),
    oneWayPartitions: r.chance(0.6),
    crashes: r.chance(0.85),
    pauses: r.chance(0.4),
    fsyncMinMs: fsyncSlow ? r.range(0, 2) : 0,
    fsyncMaxMs: fsyncSlow ? r.pick([2, 8, 30]) : 0,
    dumpWriteMaxMs: r.pick([0, 5, 50, 400]),
    codecMaxMs: r.pick([0, 5, 50, 400]),
    tornWrites: r.chance(0.4),
    proposalsPerSecond: r.pick([15, 40, 80]),
    membershipChanges,
    compactAfterEntries: r.pick([0, 0, 10, 25, 60]),
    electionMinMs,
    electionMaxMs: electionMinMs + r.int(300, 1000),
    // SyncObjConf requires raftMinTimeout > 3 × appendEntriesPeriod
    heartbeatMs: r.pick([50, 100, 150].filter((h) => 3 * h < electionMinMs)),
    leaderFallbackMs: r.pick([1500, 3000, 5000]),
    pysyncobjFollowers,
    // leaders rewinding like pysyncobj's (never with a modelled pysyncobj follower)
    pysyncobjLikeLeaders: pysyncobjFollowers === 0 && r.chance(0.3),
    // small batches: a follower can hold an earlier term's entries without the leader's newer ones
    appendBatchBytes: r.pick([1, 64, 256, 256, 65536]),
    // I/O that arrives while a node is busy is handled before what it deferred
    loopRestMaxMs: r.pick([0, 0, 1, 5, 20]),
    // a slow link: one follower holds far more of a leader's entries than another
    slowLinkMaxMs: r.pick([0, 0, 50, 300]),
    // a nemesis aimed at leaders: elections while followers hold the old leader's entries
    leaderVictimRate: r.pick([0, 0, 0.5, 0.9]),
    // an operator handing leadership over, now and then or often
    transfersEveryMs: r.pick([0, 0, 400, 1500, 4000]),
  };
}

/** A seed's profile: the named one when given, else the seed's own swarm draw. */
export function profileFor(seed: number, name?: string): SimProfile {
  if (name === undefined || name === 'swarm') return swarmProfile(seed);
  const p = PROFILES[name];
  if (!p) {
    throw new Error(
      `unknown simulation profile '${name}' (known: swarm, ${Object.keys(PROFILES).join(', ')})`,
    );
  }
  return p;
}
