/**
 * Membership taken from a pysyncobj dump.
 *
 * pysyncobj writes `cluster = otherNodes | {selfNode}` into its dump (SyncObj.__tryLogCompaction):
 * its membership at the moment it dumps, while the dump's entries are those at lastApplied.
 * Membership changes take effect on append (onMessageReceived 'append_entries', _checkCommandsToApply),
 * so a change appended after lastApplied and not committed yet is in the dump's cluster. A
 * pysyncobj follower that installs the dump takes that cluster (__loadDumpFile →
 * __updateClusterConfiguration) and keeps it when the change is truncated — it never had its entry.
 *
 * raftdcs: its own dumps carry `membersAt(lastIndex)`. A dump it receives or loads is kept on disk
 * and sent on to followers; when its cluster differs from what the log says about the dump's index
 * (the change's entry is in the log), the runtime writes a dump with the log's membership, so a
 * truncated change cannot come back through a restart or a forwarded dump.
 *
 * What no receiver can do: when the change's entry never reaches its log, the dump is the same
 * byte for byte as one from a cluster where the change was committed before the dump's index (last
 * test): raftdcs takes the dump's cluster, as pysyncobj does.
 */
import { describe, expect, it } from 'vitest';
import { encodeMembership } from '../../src/raft/commands.js';
import { type LogEntry, NO_OP_COMMAND } from '../../src/raft/core/types.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import { realDumpCodec } from '../../src/raft/runtime/dump-codec.js';
import { describePython, runPython } from '../helpers/python.js';
import { drain, node } from './core-helpers.js';
import {
  ae,
  Counter,
  FAST,
  GatedDumpStore,
  ScriptedTransport,
  snapshotChunks,
  turns,
  until,
} from './runtime-helpers.js';

// five voters: L (leading term 1), N, P, Q and G (the raftdcs node under test); D is being added
const L = '127.0.0.1:1';
const N = '127.0.0.1:2';
const P = '127.0.0.1:3';
const Q = '127.0.0.1:4';
const G = '127.0.0.1:5';
const D = '127.0.0.1:6';
const VOTERS = [L, N, P, Q, G];

const noop = (index: number, term: number): LogEntry => ({ command: NO_OP_COMMAND, index, term });

/**
 * What L (a pysyncobj leader in term 1) holds and dumps: 1 (term 0), its no-op 2 (committed), then
 * `add D` at 3, appended and effective but not committed. L's dump is at 2 and says D is a member.
 */
interface LeaderStory {
  readonly dump: Uint8Array;
  readonly addD: LogEntry;
}

async function encodedStory(): Promise<LeaderStory> {
  const dump = await realDumpCodec.encode({
    data: new Map([['_SyncObj__enabledCodeVersion', 0]]),
    lastEntry: noop(2, 1),
    prevEntry: noop(1, 0),
    cluster: [...VOTERS, D],
  });
  return { dump, addD: { command: encodeMembership({ op: 'add', node: D }), index: 3, term: 1 } };
}

/** The cluster of the dump G keeps (loaded on a restart, sent to followers behind its log). */
async function storedCluster(store: GatedDumpStore): Promise<string[]> {
  if (store.gz === null) return [];
  return [...(await realDumpCodec.decode(store.gz)).cluster].sort();
}

async function startG(journal: MemoryJournal, store: GatedDumpStore) {
  const t = new ScriptedTransport();
  const g = new Counter(G, [L, N, P, Q], FAST, { deps: { transport: t.factory, journal, dumpStore: store } });
  await g.waitBinded();
  for (const p of [L, N, P, Q]) t.connect(p);
  return { g, t };
}

/**
 * L crashes before `add D` commits; N (log 1..2) wins term 2 with P and Q and sends its no-op at 3,
 * which replaces `add D` on G. Then G restarts from its journal and dump: D must not be back.
 */
async function truncateThenRestart(
  journal: MemoryJournal,
  store: GatedDumpStore,
  running: { g: Counter; t: ScriptedTransport },
) {
  const { g, t } = running;
  t.deliver(N, ae(2, 2, 1, [noop(3, 2)], 2));
  await until(() => !g.otherNodes.includes(D) && journal.snapshot().entries.at(-1)?.term === 2);
  await g.destroy();
  const again = await startG(journal, store);
  try {
    await turns(10);
    return {
      membersAfterRestart: [...again.g.otherNodes].sort(),
      dumpAfterRestart: await storedCluster(store),
    };
  } finally {
    await again.g.destroy();
  }
}

const withoutD = [...VOTERS].sort();

/** G is behind L's log start: it installs L's dump (replacing its log), then receives `add D`. */
async function replaceInstall(story: LeaderStory) {
  const journal = new MemoryJournal();
  const store = new GatedDumpStore();
  const running = await startG(journal, store);
  const { g, t } = running;
  try {
    for (const m of snapshotChunks(1, 1, story.dump)) t.deliver(L, m);
    await until(() => g.otherNodes.includes(D));
    const afterInstall = await storedCluster(store);
    t.deliver(L, ae(1, 2, 1, [story.addD], 2));
    // the log now says D came with entry 3: the dump at 2 must not say D is a member
    await until(async () => !(await storedCluster(store)).includes(D));
    const membersWithAddD = [...g.otherNodes].sort();
    return { afterInstall, membersWithAddD, ...(await truncateThenRestart(journal, store, running)) };
  } finally {
    await g.destroy();
  }
}

describe('a dump whose cluster includes a change not committed when it was written', () => {
  it('replace-the-log install, then the change arrives and is truncated: it does not come back', async () => {
    const r = await replaceInstall(await encodedStory());
    expect(r.afterInstall).toEqual([...VOTERS, D].sort()); // L's dump as received
    expect(r.membersWithAddD).toContain(D); // effective on append, until truncated
    expect(r.membersAfterRestart).toEqual([L, N, P, Q]);
    expect(r.dumpAfterRestart).toEqual(withoutD);
  });

  it('kept-log install: the log holds the change, the stored dump gets the log membership at once', async () => {
    const story = await encodedStory();
    const journal = new MemoryJournal();
    const store = new GatedDumpStore();
    const running = await startG(journal, store);
    const { g, t } = running;
    try {
      // G has L's 2 and `add D` (not committed); L's snapshot, decided when G was behind, arrives
      t.deliver(L, ae(1, 1, 0, [noop(2, 1), story.addD], 1));
      await until(() => g.otherNodes.includes(D));
      for (const m of snapshotChunks(1, 1, story.dump)) t.deliver(L, m);
      await until(async () => store.gz !== null && !(await storedCluster(store)).includes(D));
      expect(g.otherNodes).toContain(D);
      const r = await truncateThenRestart(journal, store, running);
      expect(r.membersAfterRestart).toEqual([L, N, P, Q]);
      expect(r.dumpAfterRestart).toEqual(withoutD);
    } finally {
      await g.destroy();
    }
  });

  it('a restart from such a dump with a journal holding the change (a pysyncobj data dir)', async () => {
    const story = await encodedStory();
    const journal = new MemoryJournal({
      hardState: { term: 1, votedFor: null },
      entries: [noop(1, 0), noop(2, 1), story.addD],
      commitIndex: 2,
    });
    const store = new GatedDumpStore();
    store.gz = story.dump;
    const running = await startG(journal, store);
    try {
      await until(async () => !(await storedCluster(store)).includes(D));
      expect(running.g.otherNodes).toContain(D); // from the journal's entry 3
      const r = await truncateThenRestart(journal, store, running);
      expect(r.membersAfterRestart).toEqual([L, N, P, Q]);
      expect(r.dumpAfterRestart).toEqual(withoutD);
    } finally {
      await running.g.destroy();
    }
  });

  it('our own dump at 2 while `add D` (3) is in flight says D is not a member', async () => {
    const store = new GatedDumpStore();
    const running = await startG(new MemoryJournal(), store);
    const { g, t } = running;
    try {
      t.deliver(L, ae(1, 1, 0, [noop(2, 1), (await encodedStory()).addD], 2));
      await until(() => g.otherNodes.includes(D) && g.raftLastApplied === 2);
      g.forceLogCompaction();
      g.doTick();
      await until(() => store.gz !== null);
      const dump = await realDumpCodec.decode(store.gz as Uint8Array);
      expect(dump.lastEntry.index).toBe(2);
      expect([...dump.cluster].sort()).toEqual(withoutD);
    } finally {
      await g.destroy();
    }
  });

  /**
   * The limit. G is behind and installs a dump at 5 (entries 4 and 5 are no-ops) whose cluster has
   * D; the leader of term 2 then sends its no-op at 6. Two clusters send exactly these bytes: in
   * one, `add D` was entry 3 and is committed (D is a member); in the other it was a pysyncobj
   * dumper's uncommitted entry 6, since replaced (D is not). Nothing G receives tells them apart,
   * so no rule on G can be right for both; dropping D would be wrong in the common case (a node that
   * was down while D joined), so G takes the dump's cluster — what pysyncobj's followers do too.
   */
  it('when the change never reaches the log, the dump is all there is: its cluster is taken', () => {
    const g = node(G, [L, N, P, Q]);
    const r = g.installSnapshot(
      { lastEntry: noop(5, 1), prevEntry: noop(4, 1), cluster: [...VOTERS, D], data: new Uint8Array(1) },
      0,
    );
    expect(r).toBe('replaced-log');
    g.step(N, ae(2, 5, 1, [noop(6, 2)], 6), 1);
    drain(g);
    expect(g.status().lastIndex).toBe(6);
    expect([...g.votingMembers].sort()).toEqual([L, N, P, Q, D].sort());
  });
});

// ------------------------------------------------------------------------------------------------
// the same with Debian's pysyncobj: what its dumps hold and what its followers do with them

const PY_DRIVER = `
import sys, json, gzip, logging
logging.disable(logging.CRITICAL)
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.node import TCPNode
from pysyncobj.transport import Transport
from pysyncobj import pickle

NOOP = b'\\x01'
def member(op, n): return b'\\x02' + pickle.dumps([op, n, TCPNode(n)])

class Recorder(Transport):
    # no sockets: the test calls the message handler itself
    def send(self, node, message): return True

def make(self_, peers):
    conf = SyncObjConf(autoTick=False, dynamicMembershipChange=True, commandsWaitLeader=False)
    return SyncObj(self_, peers, conf, transportClass=Recorder)  # in-memory dump, written at once
def members(o): return sorted(n.id for n in o._SyncObj__otherNodes)
def log(o): return [[e[1], e[2], bytes(e[0]).hex()] for e in o._SyncObj__raftLog]
def dump(o):
    o._SyncObj__forceLogCompaction = True
    o._SyncObj__tryLogCompaction()
    gz = o._SyncObj__serializer._Serializer__inMemorySerializedData
    d = pickle.loads(gzip.decompress(gz))
    return gz, {'last': list(d[1][1:]), 'prev': list(d[2][1:]), 'cluster': sorted(n.id for n in d[3])}
def receive(o, frm, m): o._SyncObj__onMessageReceived(TCPNode(frm), m)

L, N, P, Q, G, D = ['127.0.0.1:%d' % i for i in range(1, 7)]
out = {}

# a follower F (L's place) gets 2, 3 and 'add D' at 4 from leader N; the commit index says 3
F = make(L, [N, P, Q, G])
receive(F, N, {'type': 'append_entries', 'term': 1, 'commit_index': 3, 'prevLogIdx': 1, 'prevLogTerm': 0,
               'entries': [(NOOP, 2, 1), (NOOP, 3, 1), (member('add', D), 4, 1)]})
F._SyncObj__applyLogEntries()
fgz, fdump = dump(F)
out['follower'] = {'log': log(F), 'commit': F._SyncObj__raftCommitIndex,
                   'applied': F._SyncObj__raftLastApplied, 'dump': fdump}
# P leads term 2 without entry 4: its no-op replaces it on F
receive(F, P, {'type': 'append_entries', 'term': 2, 'commit_index': 3, 'prevLogIdx': 3, 'prevLogTerm': 1,
               'entries': [(NOOP, 4, 2)]})
out['follower']['membersAfterTruncation'] = members(F)

# a pysyncobj follower H (G's place) gets F's dump from F, leading term 3, then F's entries after it
H = make(G, [L, N, P, Q])
receive(H, L, {'type': 'append_entries', 'term': 3, 'commit_index': 3, 'serialized': (fgz, True, True)})
out['pyFollower'] = {'membersAfterInstall': members(H)}
receive(H, L, {'type': 'append_entries', 'term': 3, 'commit_index': 5, 'prevLogIdx': 3, 'prevLogTerm': 1,
               'entries': [(NOOP, 4, 2), (NOOP, 5, 3)]})
H._SyncObj__applyLogEntries()
out['pyFollower'].update({'log': log(H), 'commit': H._SyncObj__raftCommitIndex,
                          'members': members(H), 'leaderMembers': members(F)})
F._doDestroy(); H._doDestroy()

# a leader LL (L) adds D while its no-op is committed: it dumps with its own change in flight
LL = make(L, [N, P, Q, G])
LL._SyncObj__raftCurrentTerm = 1
LL._SyncObj__onBecomeLeader()
for peer in (N, P):
    receive(LL, peer, {'type': 'next_node_idx', 'next_node_idx': 3, 'reset': False, 'success': True})
LL._onTick(0)  # commits and applies the no-op at 2
LL.addNodeToCluster(D)
LL._checkCommandsToApply()
lgz, ldump = dump(LL)
out['leader'] = {'log': log(LL), 'commit': LL._SyncObj__raftCommitIndex,
                 'applied': LL._SyncObj__raftLastApplied, 'members': members(LL), 'dump': ldump,
                 'gz': bytes(lgz).hex()}
LL._doDestroy()
json.dump(out, sys.stdout)
`;

interface PyFacts {
  follower: {
    log: [number, number, string][];
    commit: number;
    applied: number;
    dump: { last: number[]; prev: number[]; cluster: string[] };
    membersAfterTruncation: string[];
  };
  pyFollower: {
    membersAfterInstall: string[];
    log: [number, number, string][];
    commit: number;
    members: string[];
    leaderMembers: string[];
  };
  leader: {
    log: [number, number, string][];
    commit: number;
    applied: number;
    members: string[];
    dump: { last: number[]; prev: number[]; cluster: string[] };
    gz: string;
  };
}

describePython('membership from a dump, against pysyncobj 0.3.11', () => {
  const facts = (): PyFacts => JSON.parse(runPython(PY_DRIVER, '', 60_000)) as PyFacts;
  let cached: PyFacts | null = null;
  const py = () => {
    cached ??= facts();
    return cached;
  };

  it("a follower's dump at its commit index includes the membership change appended after it", () => {
    const f = py().follower;
    expect(f.log.map(([i, t]) => [i, t])).toEqual([
      [1, 0],
      [2, 1],
      [3, 1],
      [4, 1],
    ]);
    expect(f.log[3]?.[2].startsWith('02')).toBe(true); // entry 4 is the membership change
    expect([f.commit, f.applied]).toEqual([3, 3]);
    expect(f.dump).toEqual({ last: [3, 1], prev: [2, 1], cluster: [...VOTERS, D].sort() });
    // the change is rolled back when its entry is replaced; the dump keeps it
    expect(f.membersAfterTruncation).toEqual([N, P, Q, G]);
  });

  it("a leader's dump includes its own change in flight", () => {
    const l = py().leader;
    expect(l.log.map(([i, t]) => [i, t])).toEqual([
      [1, 0],
      [2, 1],
      [3, 1],
    ]);
    expect([l.commit, l.applied]).toEqual([2, 2]);
    expect(l.members).toContain(D);
    expect(l.dump).toEqual({ last: [2, 1], prev: [1, 0], cluster: [...VOTERS, D].sort() });
  });

  it('a pysyncobj follower that installs such a dump keeps the change its leader does not have', () => {
    const h = py().pyFollower;
    expect(h.membersAfterInstall).toContain(D);
    expect(h.log.map(([i, t]) => [i, t])).toEqual([
      [2, 1],
      [3, 1],
      [4, 2],
      [5, 3],
    ]);
    expect(h.commit).toBe(5);
    expect(h.members).toContain(D);
    expect(h.leaderMembers).not.toContain(D);
  });

  it("raftdcs with the pysyncobj leader's real dump and entry: the truncated change does not come back", async () => {
    const l = py().leader;
    const [index, term, hex] = l.log[2] as [number, number, string];
    const r = await replaceInstall({
      dump: Buffer.from(l.gz, 'hex'),
      addD: { command: Buffer.from(hex, 'hex'), index, term },
    });
    expect(r.afterInstall).toEqual([...VOTERS, D].sort());
    expect(r.membersWithAddD).toContain(D);
    expect(r.membersAfterRestart).toEqual([L, N, P, Q]);
    expect(r.dumpAfterRestart).toEqual(withoutD);
  });
});
