/**
 * A proposal whose fate this node cannot know is reported as such: `UnknownOutcome` to a callback,
 * `SyncObjError('unknown_outcome')` to `call()` — never a success, never a plain failure. Scripted
 * runs of one real follower (the leader's messages are injected): its forwarded command is given an
 * index, and the leader's dump then covers that index before the entry reached the follower, so
 * the follower never sees which command the index holds.
 */
import { describe, expect, it } from 'vitest';
import { FailReason, type LogEntry } from '../../src/raft/core/types.js';
import { realDumpCodec } from '../../src/raft/runtime/dump-codec.js';
import { type ResultReason, RuntimeFailReason, resultReasonName } from '../../src/raft/runtime/outcome.js';
import { SyncObjError } from '../../src/raft/syncobj.js';
import type { PyValue } from '../../src/wire/value.js';
import {
  ae,
  Counter,
  FAST,
  incr,
  ScriptedTransport,
  snapshotChunks,
  turns,
  until,
} from './runtime-helpers.js';

const entry = (index: number, term: number, n = 1): LogEntry => ({ command: incr(n), index, term });
const PEERS = ['l:1', 'x:1'];

/** The leader's dump of a Counter whose value is `value` at `index` (term 1). */
function counterDump(index: number, value: number): Promise<Uint8Array> {
  return realDumpCodec.encode({
    data: new Map([
      ['_SyncObj__enabledCodeVersion', 0],
      ['value', value],
    ]),
    lastEntry: entry(index, 1),
    prevEntry: entry(index - 1, 1),
    cluster: [...PEERS, 'f:1'],
  });
}

/** A follower of l (term 1) that has applied 1..3. */
async function follower(): Promise<{ f: Counter; t: ScriptedTransport }> {
  const t = new ScriptedTransport();
  const f = new Counter('f:1', PEERS, FAST, { deps: { transport: t.factory } });
  await f.waitBinded();
  for (const p of PEERS) t.connect(p);
  t.deliver('l:1', ae(1, 1, 0, [entry(2, 1), entry(3, 1)], 3));
  await until(() => f.raftLastApplied === 3);
  return { f, t };
}

/** The request ids of the commands f forwarded to l, in order. */
async function forwarded(t: ScriptedTransport, count: number): Promise<number[]> {
  const ids = () =>
    t.sent.flatMap((s) =>
      s.to === 'l:1' && s.message.type === 'apply_command' && s.message.requestId !== undefined
        ? [s.message.requestId]
        : [],
    );
  await until(() => ids().length === count);
  return ids();
}

describe('unknown outcomes', () => {
  it('a waiting proposal whose index a received snapshot covers gets UnknownOutcome', async () => {
    const { f, t } = await follower();
    try {
      const viaCall = f.call(f.incr, [5]).then(
        (v) => ({ ok: true as const, v }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      const viaCallback = new Promise<[PyValue | undefined, ResultReason]>((resolve) =>
        f.callWithCallback(f.incr, [7], undefined, (r, reason) => resolve([r, reason])),
      );
      const [a, b] = await forwarded(t, 2);
      // l appends them at 4 and 5 and says so; f waits for the entries
      t.deliver('l:1', { type: 'apply_command_response', requestId: a as number, logIdx: 4, logTerm: 1 });
      t.deliver('l:1', { type: 'apply_command_response', requestId: b as number, logIdx: 5, logTerm: 1 });
      await turns(5);
      // f falls behind; l compacts its log and sends a dump at 6: whether 4 and 5 hold f's
      // commands is unknown here (the dump holds only the resulting state)
      for (const m of snapshotChunks(1, 6, await counterDump(6, 42))) t.deliver('l:1', m);
      const got = await viaCall;
      expect(got.ok).toBe(false);
      const err = (got as { e: unknown }).e;
      expect(err).toBeInstanceOf(SyncObjError);
      expect((err as SyncObjError).reason).toBe('unknown_outcome');
      expect((err as SyncObjError).code).toBe('UNKNOWN_OUTCOME');
      expect((err as SyncObjError).message).toBe(
        'command failed: unknown_outcome (a snapshot or a lost result hides whether the command was applied)',
      );
      const [result, reason] = await viaCallback;
      expect(result).toBeUndefined();
      expect(reason).toBe(RuntimeFailReason.UnknownOutcome);
      expect(resultReasonName(reason)).toBe('UNKNOWN_OUTCOME');
      expect(f.raftLastApplied).toBe(6);
      expect(f.value).toBe(42);
    } finally {
      await f.destroy();
    }
  });

  it('an index assigned after a snapshot already covered it gets UnknownOutcome (reordered messages)', async () => {
    // contrived: a pysyncobj leader answers apply_command before it can send the dump, so this
    // needs the answer to arrive late (e.g. held up behind a reconnect)
    const { f, t } = await follower();
    try {
      const late = new Promise<[PyValue | undefined, ResultReason]>((resolve) =>
        f.callWithCallback(f.incr, [5], undefined, (r, reason) => resolve([r, reason])),
      );
      const known = new Promise<[PyValue | undefined, ResultReason]>((resolve) =>
        f.callWithCallback(f.incr, [1], undefined, (r, reason) => resolve([r, reason])),
      );
      const [a, b] = await forwarded(t, 2);
      for (const m of snapshotChunks(1, 6, await counterDump(6, 42))) t.deliver('l:1', m);
      await until(() => f.raftLastApplied === 6);
      // 7 is applied here after the dump: its result is known
      t.deliver('l:1', ae(1, 6, 1, [entry(7, 1)], 7));
      await until(() => f.raftLastApplied === 7);
      t.deliver('l:1', { type: 'apply_command_response', requestId: a as number, logIdx: 4, logTerm: 1 });
      t.deliver('l:1', { type: 'apply_command_response', requestId: b as number, logIdx: 7, logTerm: 1 });
      expect(await late).toEqual([undefined, RuntimeFailReason.UnknownOutcome]);
      expect(await known).toEqual([43, FailReason.Success]);
    } finally {
      await f.destroy();
    }
  });
});
