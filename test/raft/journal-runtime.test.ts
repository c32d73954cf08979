/**
 * FileJournal driven by the real SyncObj runtime (in-process network): a 3-node cluster replicates
 * calls, is stopped, and restarts on the same files — the log, the state machine (re-applied from
 * the journal) and the term survive (pysyncobj restarted at term 0, `docs/protocol.md` §12.1).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { type ReplicatedCall, replicated } from '../../src/raft/replicated.js';
import { SyncObj } from '../../src/raft/syncobj.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { waitFor } from '../helpers/wait.js';
import { makeTempDirs } from './journal-helpers.js';

const tmp = makeTempDirs('journal-runtime');

const FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.08,
  raftMaxTimeout: 0.16,
  connectionTimeout: 0.5,
  autoTickPeriod: 0.01,
  appendEntriesUseBatch: false,
  dynamicMembershipChange: true,
  commandsWaitLeader: false,
};

class Counter extends SyncObj {
  value = 0;

  @replicated({ name: 'incr' })
  incr(call: ReplicatedCall): number {
    this.value += call.args[0] as number;
    return this.value;
  }
}

let nodes: SyncObj[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.destroy()));
  nodes = [];
  tmp.cleanup();
});

function start(
  net: MemoryNetwork,
  dir: string,
  addrs: string[],
): { nodes: Counter[]; journals: FileJournal[] } {
  const journals = addrs.map((a) => new FileJournal(journalPaths(dir, a, { windows: false }).journal));
  const cs = addrs.map(
    (a, i) =>
      new Counter(
        a,
        addrs.filter((b) => b !== a),
        FAST,
        { deps: { transport: net.factory, journal: journals[i] as FileJournal } },
      ),
  );
  nodes.push(...cs);
  return { nodes: cs, journals };
}

async function leaderOf(cs: SyncObj[]): Promise<SyncObj> {
  await waitFor(() => cs.filter((c) => c.isLeader()).length === 1, 5000, 'a leader');
  return cs.find((c) => c.isLeader()) as SyncObj;
}

describe('FileJournal under the SyncObj runtime', () => {
  it('a cluster restarted on its journal files keeps its log, state and term', async () => {
    const dir = tmp.dir();
    const addrs = ['127.0.0.1:3001', '127.0.0.1:3002', '127.0.0.1:3003'];
    const first = start(new MemoryNetwork(), dir, addrs);
    const leader = (await leaderOf(first.nodes)) as Counter;
    const results = await Promise.all([1, 2, 3, 4, 5].map((k) => leader.call(leader.incr, [k])));
    expect(results.sort((a, b) => Number(a) - Number(b)).at(-1)).toBe(15);
    await waitFor(() => first.nodes.every((n) => n.value === 15), 5000, 'all applied');
    const term = leader.raftCurrentTerm;
    const commit = leader.raftCommitIndex;
    expect(term).toBeGreaterThan(0);
    // the journals hold the votes and the log; fsyncs were batched
    for (const j of first.journals) {
      const s = j.snapshot();
      expect(s.hardState.term).toBe(term);
      expect(s.entries.at(-1)?.index).toBeGreaterThanOrEqual(commit);
      expect(j.stats().fsyncs).toBeGreaterThan(0);
    }
    await Promise.all(first.nodes.map((n) => n.destroy()));
    nodes = [];

    const second = start(new MemoryNetwork(), dir, addrs);
    const leader2 = (await leaderOf(second.nodes)) as Counter;
    // the persisted term survives: the new election is in a later term than the old one
    expect(leader2.raftCurrentTerm).toBeGreaterThan(term);
    await leader2.call(leader2.incr, [100]);
    await waitFor(() => second.nodes.every((n) => n.value === 115), 5000, 're-applied from the journal');
  });
});
