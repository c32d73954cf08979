/**
 * Snapshot installs are asynchronous (decode, durable write, then load): these scripted runs of one
 * real SyncObj hold a decode or a dump write open while the cluster moves on, and check what the
 * node then acknowledges and applies (and, after a restart, what it has kept). A scenario that has a
 * test-only fault flag bringing the old behaviour back also runs with it, to show the scenario
 * catches it.
 */
import { describe, expect, it } from 'vitest';
import { InvariantError } from '../../src/assert.js';
import type { UnsafeTestFaults } from '../../src/raft/core/options.js';
import { type LogEntry, NO_OP_COMMAND, type RaftMessage } from '../../src/raft/core/types.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import { realDumpCodec } from '../../src/raft/runtime/dump-codec.js';
import { type Dump, decodeDump, encodeDumpChunks } from '../../src/raft/snapshot/dump.js';
import { type DumpStore, gzipChunks, MemoryDumpStore } from '../../src/raft/snapshot/dump-store.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';
import {
  ae,
  Counter,
  FAST,
  GatedCodec,
  GatedDumpStore,
  incr,
  ScriptedTransport,
  snapshotChunks,
  turns,
  until,
} from './runtime-helpers.js';

const entry = (index: number, term: number, n = 1): LogEntry => ({ command: incr(n), index, term });

/** A leader's dump of a Counter whose value is `value` at `index` (all in term `term`). */
async function counterDump(
  index: number,
  term: number,
  value: number,
  cluster: string[],
): Promise<Uint8Array> {
  return realDumpCodec.encode({
    data: new Map([
      ['_SyncObj__enabledCodeVersion', 0],
      ['value', value],
    ]),
    lastEntry: entry(index, term),
    prevEntry: entry(index - 1, term),
    cluster,
  });
}

const successesTo = (t: ScriptedTransport, to: string) =>
  t.sent.flatMap((s) =>
    s.to === to && s.message.type === 'next_node_idx' && s.message.success ? [s.message] : [],
  );

/**
 * An install that keeps the log must not acknowledge an old leader's entries — five voters l, m, f, x, y. f holds 1..6 of term 1 from l; 5 and 6 are not committed.
 * l sends f a snapshot at 4. While f decodes it, m wins term 2 and sends its no-op (5, t2) after 4.
 * When the install finishes, f must not tell m it holds 5 and 6: it holds (5, t1) and (6, t1), and
 * m would count them as its own (5, t2) and whatever it appends at 6.
 */
async function keptLogInstall(faults?: UnsafeTestFaults) {
  const peers = ['l:1', 'm:1', 'x:1', 'y:1'];
  const t = new ScriptedTransport();
  const codec = new GatedCodec();
  const f = new Counter('f:1', peers, FAST, {
    deps: { transport: t.factory, dumpCodec: codec, unsafeTestFaults: faults },
  });
  await f.waitBinded();
  for (const p of peers) t.connect(p);
  try {
    t.deliver(
      'l:1',
      ae(
        1,
        1,
        0,
        [2, 3, 4, 5, 6].map((i) => entry(i, 1)),
        1,
      ),
    );
    await turns(5);
    const gz = await counterDump(4, 1, 3, [...peers, 'f:1']);
    for (const m of snapshotChunks(1, 1, gz)) t.deliver('l:1', m);
    await turns(5);
    expect(codec.decodes).toHaveLength(1);
    // m leads term 2 and sends its no-op while f is still decoding l's dump
    t.deliver('m:1', ae(2, 4, 1, [{ command: NO_OP_COMMAND, index: 5, term: 2 }], 1));
    await turns(5);
    codec.decodes[0]?.release();
    await until(() => successesTo(t, 'm:1').length > 0);
    return { f, t, acks: successesTo(t, 'm:1') };
  } finally {
    await f.destroy();
  }
}

/**
 * Two installs at once must not apply entries twice — a second snapshot transfer arrives while the first is being installed. The first
 * install finishes, entries 6..8 arrive and commit, and the second dump (at 7) finishes storing
 * before the deferred apply ran: it must not be loaded over entries the node is about to apply.
 * Entries 2..5 add 1 each, 6..8 add 10 each: the counter must end at 34.
 */
async function secondTransferDuringInstall(faults?: UnsafeTestFaults) {
  const cluster = ['l:1', 'x:1', 'f:1'];
  const t = new ScriptedTransport();
  const codec = new GatedCodec();
  const store = new GatedDumpStore();
  const f = new Counter('f:1', ['l:1', 'x:1'], FAST, {
    deps: { transport: t.factory, dumpCodec: codec, dumpStore: store, unsafeTestFaults: faults },
  });
  await f.waitBinded();
  t.connect('l:1');
  t.connect('x:1');
  try {
    for (const m of snapshotChunks(1, 5, await counterDump(5, 1, 4, cluster))) t.deliver('l:1', m);
    await turns(5);
    for (const m of snapshotChunks(1, 7, await counterDump(7, 1, 24, cluster))) t.deliver('l:1', m);
    await turns(5);
    codec.decodes[0]?.release();
    await until(() => f.raftLastApplied === 5);
    store.open = false;
    const second = codec.decodes[1];
    if (second) {
      second.release();
      await until(() => store.writes.length === 1);
    }
    t.deliver(
      'l:1',
      ae(
        1,
        5,
        1,
        [6, 7, 8].map((i) => entry(i, 1, 10)),
        5,
      ),
    );
    await turns(5);
    // 6..8 commit; the second dump's write completes before the deferred apply runs
    t.deliver('l:1', ae(1, 8, 1, [], 8));
    store.writes[0]?.release();
    await until(() => f.raftLastApplied >= 8 || f.failure !== null);
    await turns(5);
    return {
      value: f.value,
      decodes: codec.decodes.length,
      lastApplied: f.raftLastApplied,
      failure: f.failure,
    };
  } finally {
    store.open = true;
    for (const w of store.writes) w.release();
    await f.destroy();
  }
}

describe('snapshot installs racing the cluster', () => {
  it('after an install that kept the log, acknowledges only the snapshot to a new leader', async () => {
    const { acks } = await keptLogInstall();
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) expect(a.nextNodeIdx).toBeLessThanOrEqual(5);
  });

  it('test-only flag ackKeptLogAfterInstall brings the over-claiming ack back', async () => {
    const { acks } = await keptLogInstall({ ackKeptLogAfterInstall: true });
    expect(acks.some((a) => a.nextNodeIdx === 7)).toBe(true);
  });

  it('ignores a second transfer during an install and applies every entry once', async () => {
    const r = await secondTransferDuringInstall();
    expect(r.failure).toBeNull();
    expect(r.decodes).toBe(1);
    expect(r.lastApplied).toBe(8);
    expect(r.value).toBe(34);
  });

  it('test-only flag acceptSnapshotDuringInstall brings the double apply back (the apply-order assert stops it)', async () => {
    const r = await secondTransferDuringInstall({ acceptSnapshotDuringInstall: true });
    expect(r.decodes).toBe(2);
    // the second dump (at 7) was loaded over the deferred apply of 6..8: applying 6 again is refused
    expect(r.failure).toBeInstanceOf(InvariantError);
    expect(r.failure?.message).toMatch(/entry 6 applied after 7/);
    expect(r.value).not.toBe(34);
  });

  /*
   * SAFETY (durability). The bug: a dump written by the local compaction and one received from the
   * leader could be written concurrently: maybeCompact skips while `installing`, but
   * onSnapshotReceived did not wait for a running compaction. When the compaction's write (gzip of
   * the whole state, then tmp + fsync + rename — both used the same `<dump>.tmp`) finished after the
   * install, the older dump replaced the newer one on disk, while the journal was already reset to
   * the newer dump's pair. The completion handler saw `firstIndex > prev.index` and skipped the
   * compaction but did not repair the file. On restart alignJournalWithDump did not find the old
   * dump's pair in the journal and reset the journal to it: every entry after the old dump —
   * including entries acknowledged after the install — was gone, and the node could then vote for a
   * candidate lacking them. (With the file store, overlapping writes to the same `.tmp` could also
   * produce a corrupt dump and a node that cannot start.)
   *
   * The fix: the runtime serialises its dump-store writes and never stores a dump older than the
   * newest one stored; FileDumpStore writes to a unique temporary name each time.
   */
  it('a compaction finishing after a snapshot install does not roll the node back', async () => {
    const t = new ScriptedTransport();
    const journal = new MemoryJournal();
    const mem = new MemoryDumpStore();
    let gate: (() => void) | null = null;
    // the first store write (the local compaction's) is slow: it completes only when the test says
    const store: DumpStore = {
      description: 'gated',
      async writeGz(gz) {
        if (gate === null && !gated) {
          gated = true;
          await new Promise<void>((r) => {
            gate = r;
          });
        }
        await mem.writeGz(gz);
      },
      read: () => mem.read(),
    };
    let gated = false;
    const f = new Counter('f:1', ['l:1', 'x:1'], FAST, {
      deps: { transport: t.factory, journal, dumpStore: store },
    });
    let restarted: Counter | null = null;
    try {
      await f.waitBinded();
      t.connect('l:1');
      t.deliver(
        'l:1',
        ae(
          1,
          1,
          0,
          [
            { command: incr(1), index: 2, term: 1 },
            { command: incr(1), index: 3, term: 1 },
          ],
          3,
        ),
      );
      await turns(3);
      await until(() => f.value === 2);
      f.forceLogCompaction();
      await f.doTick();
      await until(() => gate !== null); // the local dump at 3 is being written

      // the leader's snapshot at 20 (value 42) arrives and is installed meanwhile
      const leaderDump: Dump = {
        data: new Map<PyDictKey, PyValue>([
          ['_SyncObj__enabledCodeVersion', 0],
          ['value', 42],
        ]),
        lastEntry: { command: NO_OP_COMMAND, index: 20, term: 1 },
        prevEntry: { command: NO_OP_COMMAND, index: 19, term: 1 },
        cluster: ['l:1', 'x:1', 'f:1'],
      };
      const gz = await gzipChunks(encodeDumpChunks(leaderDump));
      const snap = (data: Uint8Array, isFirst: boolean, isLast: boolean): RaftMessage => ({
        type: 'append_entries_snapshot',
        term: 1,
        commitIndex: 20,
        serialized: { data, isFirst, isLast },
      });
      t.deliver('l:1', snap(gz, true, false));
      t.deliver('l:1', snap(new Uint8Array(0), false, true));
      await turns(5);
      (gate as unknown as () => void)(); // the old compaction's write completes (before or after the install's)
      await until(() => f.raftLastApplied === 20);
      // a new write after the install, acknowledged by f
      t.deliver('l:1', ae(1, 20, 1, [{ command: incr(1), index: 21, term: 1 }], 21));
      await until(() => f.value === 43);
      expect(
        t.sent.some(
          (s) => s.message.type === 'next_node_idx' && s.message.success && s.message.nextNodeIdx === 22,
        ),
      ).toBe(true);
      await turns(5);
      expect((await decodeDump((await mem.read()) as Uint8Array)).lastEntry.index).toBe(20);
      await f.destroy();

      // restart from the same dump store and journal
      const t2 = new ScriptedTransport();
      restarted = new Counter('f:1', ['l:1', 'x:1'], FAST, {
        deps: { transport: t2.factory, journal: new MemoryJournal(journal.snapshot()), dumpStore: store },
      });
      await restarted.waitBinded();
      expect(restarted.raftLastApplied).toBeGreaterThanOrEqual(21); // before the fix: 3
      expect(restarted.value).toBe(43); // before the fix: 2
    } finally {
      await f.destroy();
      await restarted?.destroy();
    }
  });
});
