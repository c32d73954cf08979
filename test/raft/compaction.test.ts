/**
 * Log compaction in one real SyncObj driven through a scripted transport (messages injected one by
 * one, ticks by hand): what a dump holds. Compaction in a running cluster, and restarts from dump
 * and journal: snapshot.test.ts; a compaction racing a snapshot install: install-races.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { decodeDump } from '../../src/raft/snapshot/dump.js';
import { MemoryDumpStore } from '../../src/raft/snapshot/dump-store.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';
import { ae, Counter, FAST, incr, ScriptedTransport, turns, until } from './runtime-helpers.js';

describe('log compaction in the runtime', () => {
  /*
   * SAFETY (state-machine divergence, lost writes). The bug: maybeCompact() labelled the dump with
   * the core's lastApplied, but the core counts an entry as applied when it puts it into the output,
   * and the runtime applies it only in the next drain(). onMessage → core.step only *schedules* the
   * drain (setImmediate); a tick that runs before it (autoTick: the timer's setImmediate(tick) is
   * queued in the timers phase, before the poll phase queues the drain; or Patroni calling doTick)
   * serialised a state that lacked those entries under a lastEntry that included them. The journal
   * was then compacted to that point: after a restart the entries were never applied (and a
   * follower receiving this dump never applied them either) — the node's state silently diverged.
   * The simulator's runtime had the guard (cluster.ts maybeCompact: `st.lastApplied !==
   * n.appliedIndex`), SyncObj did not.
   *
   * The fix: maybeCompact labels the dump with `lastAppliedIndex` (what the state machine holds),
   * not `core.status().lastApplied`.
   */
  it('a dump holds exactly the state up to its last entry', async () => {
    const t = new ScriptedTransport();
    const store = new MemoryDumpStore();
    const f = new Counter('f:1', ['l:1', 'x:1'], FAST, { deps: { transport: t.factory, dumpStore: store } });
    try {
      await f.waitBinded();
      t.connect('l:1');
      t.deliver('l:1', ae(1, 1, 0, [{ command: incr(5), index: 2, term: 1 }], 1));
      await turns(3);
      t.deliver('l:1', ae(1, 2, 1, [], 2)); // commits 2: the core has it applied, SyncObj not yet
      f.forceLogCompaction();
      await f.doTick(); // the tick runs before the scheduled drain: no dump of a state it lacks
      await until(async () => {
        await f.doTick(); // later ticks make the dump once the entry is applied
        return (await store.read()) !== null;
      });
      expect(f.value).toBe(5);
      const dump = await decodeDump((await store.read()) as Uint8Array);
      expect(dump.lastEntry.index).toBe(2);
      expect((dump.data as Map<PyDictKey, PyValue>).get('value')).toBe(5); // before the fix: 0
    } finally {
      await f.destroy();
    }
  });
});
