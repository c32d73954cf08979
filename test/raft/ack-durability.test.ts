/**
 * A follower's acknowledgement leaves only once the entries it acknowledges are durable: one real
 * SyncObj driven through a scripted transport (messages injected and recorded one by one) and a
 * journal whose fsync completes only when the test says so. The core's side (acknowledges after
 * persisting): core.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { NO_OP_COMMAND } from '../../src/raft/core/types.js';
import { ae, Counter, FAST, GatedJournal, lastIndexOf, ScriptedTransport, turns } from './runtime-helpers.js';

describe('acknowledgements wait for the fsync', () => {
  /*
   * SAFETY (durability). The bug: the runtime's handleOutput sent `sendAfterPersist` at once when
   * the output wrote nothing and persistQueue was empty — but persistQueue is also empty while a
   * sync is in flight (flushPersistQueue splices it before journal.sync()). A success for entries
   * that were still in that in-flight fsync then left before they were durable.
   *
   * The common trigger: the leader sends entries 2..3, then (Patroni: appendEntriesUseBatch false,
   * every commit advance re-sends to all peers; or the 100 ms heartbeat) an empty append_entries
   * with prevLogIdx 3 while the follower's fsync of 2..3 is still running. The follower answered the
   * heartbeat "success, next 4" immediately; the leader counted it, committed and acknowledged the
   * client; a power loss on the follower (plus one more failure in a 3-node cluster) lost the write.
   * It also reordered next_node_idx messages (the heartbeat's answer overtook the append's).
   *
   * The fix: messages that need the journal durable wait for the fsync covering everything written
   * so far — a new batch when the output wrote, else the last queued batch, else the one in flight.
   */
  it('never acknowledges entries whose fsync is still in flight', async () => {
    const t = new ScriptedTransport();
    const j = new GatedJournal();
    t.noteOnSend = () => lastIndexOf(j.durable);
    const f = new Counter('f:1', ['l:1', 'x:1'], FAST, { deps: { transport: t.factory, journal: j } });
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
            { command: NO_OP_COMMAND, index: 2, term: 1 },
            { command: NO_OP_COMMAND, index: 3, term: 1 },
          ],
          1,
        ),
      );
      await turns(3);
      expect(j.pendingSyncs).toBe(1); // 2..3 written, fsync running
      t.deliver('l:1', ae(1, 3, 1, [], 1)); // heartbeat meanwhile
      await turns(3);
      const early = t.sent.filter(
        (s) =>
          s.message.type === 'next_node_idx' &&
          s.message.success &&
          s.message.nextNodeIdx - 1 > (s.note as number),
      );
      expect(early).toEqual([]);
    } finally {
      j.autoRelease = true;
      j.release();
      await f.destroy();
    }
  });
});
