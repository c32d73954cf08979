/**
 * Snapshot installs are asynchronous (decode, durable write, then load): these scripted runs of one
 * real SyncObj hold a decode or a dump write open while the cluster moves on, and check what the
 * node then acknowledges and applies. Each scenario also runs with the test-only fault flag that
 * brings the old behaviour back, to show the scenario catches it.
 */
import { describe, expect, it } from 'vitest';
import type { UnsafeTestFaults } from '../../src/raft/core/options.js';
import { type LogEntry, NO_OP_COMMAND } from '../../src/raft/core/types.js';
import { realDumpCodec } from '../../src/raft/runtime/dump-codec.js';
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
 * Finding 1 — five voters l, m, f, x, y. f holds 1..6 of term 1 from l; 5 and 6 are not committed.
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
 * Finding 2 — a second snapshot transfer arrives while the first is being installed. The first
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
    await until(() => f.raftLastApplied >= 8);
    await turns(5);
    return { value: f.value, decodes: codec.decodes.length, lastApplied: f.raftLastApplied };
  } finally {
    store.open = true;
    for (const w of store.writes) w.release();
    await f.destroy();
  }
}

describe('snapshot installs racing the cluster', () => {
  it('after an install that kept the log, acknowledges only the snapshot to a new leader (finding 1)', async () => {
    const { acks } = await keptLogInstall();
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) expect(a.nextNodeIdx).toBeLessThanOrEqual(5);
  });

  it('test-only flag ackKeptLogAfterInstall brings the over-claiming ack back', async () => {
    const { acks } = await keptLogInstall({ ackKeptLogAfterInstall: true });
    expect(acks.some((a) => a.nextNodeIdx === 7)).toBe(true);
  });

  it('ignores a second transfer during an install and applies every entry once (finding 2)', async () => {
    const r = await secondTransferDuringInstall();
    expect(r.decodes).toBe(1);
    expect(r.lastApplied).toBe(8);
    expect(r.value).toBe(34);
  });

  it('test-only flag acceptSnapshotDuringInstall brings the double apply back', async () => {
    const r = await secondTransferDuringInstall({ acceptSnapshotDuringInstall: true });
    expect(r.decodes).toBe(2);
    expect(r.value).not.toBe(34);
  });
});
