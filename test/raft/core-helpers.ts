/**
 * Building and draining single RaftCores for tests that drive the pure core message by message
 * (core.test.ts and the other core tests of test/raft/): test timing, the simulator's command
 * encoding, a fixed random() and an initial log holding pysyncobj's index-1 entry.
 */
import { type CoreOutput, RaftCore } from '../../src/raft/core/core.js';
import type { CoreOptions } from '../../src/raft/core/options.js';
import { type LogEntry, NO_OP_COMMAND, type OutgoingMessage } from '../../src/raft/core/types.js';
import { decodeSimMembership, simCommand } from '../sim/toy-commands.js';

export function options(self: string | null, over: Partial<CoreOptions> = {}): CoreOptions {
  return {
    selfId: self,
    electionTimeoutMinMs: 400,
    electionTimeoutMaxMs: 1400,
    appendEntriesPeriodMs: 100,
    leaderFallbackTimeoutMs: 30_000,
    appendEntriesBatchSizeBytes: 65536,
    snapshotChunkBytes: 4,
    appendEntriesUseBatch: false,
    commandsWaitLeader: false,
    commandsQueueSize: 100,
    dynamicMembershipChange: true,
    maxSendBytesPerRound: 1 << 20,
    random: () => 0.5,
    decodeMembership: decodeSimMembership,
    // transmitted (big) entries in these tests: 0xee, index, term, then the command
    decodeTransmittedEntry: (data) => {
      if (data[0] !== 0xee) throw new Error('bad');
      return { command: data.subarray(3), index: data[1] as number, term: data[2] as number };
    },
    ...over,
  };
}

/** An entry carrying the simulator command `id`. */
export const e = (index: number, term: number, id = index): LogEntry => ({
  command: simCommand(id),
  index,
  term,
});

/** A core starting at `term` with `entries` after the index-1 entry, both committed up to 1. */
export function node(
  self: string | null,
  peers: string[],
  entries: LogEntry[] = [],
  term = 0,
  over: Partial<CoreOptions> = {},
): RaftCore {
  return new RaftCore(options(self, over), {
    hardState: { term, votedFor: null },
    entries: [{ command: NO_OP_COMMAND, index: 1, term: 0 }, ...entries],
    commitIndex: 1,
    lastApplied: 1,
    peers,
    nowMs: 0,
  });
}

/** Every output the core has queued. */
export function drain(c: RaftCore): CoreOutput[] {
  const outs: CoreOutput[] = [];
  for (let o = c.takeOutput(); o !== null; o = c.takeOutput()) outs.push(o);
  return outs;
}

/** Hand over the core's output; the core counts its own entries as durable at once. */
export function flush(c: RaftCore, now: number): OutgoingMessage[] {
  const msgs: OutgoingMessage[] = [];
  for (let i = 0; i < 10; i++) {
    const outs = drain(c);
    if (outs.length === 0) break;
    for (const o of outs) msgs.push(...o.send, ...o.sendAfterPersist);
    const st = c.status();
    if (st.persistedIndex < st.lastIndex) c.onPersisted(st.lastIndex, st.lastTerm, now);
  }
  return msgs;
}
