/**
 * The invariant checks: `assert` (src/assert.ts, InvariantError) and the core's `invariant`
 * (src/raft/core/invariant.ts, RaftInvariantError), and calls through the core's and the log's
 * public methods that would corrupt their state: each is refused with a RaftInvariantError and
 * leaves the state as it was. (The driver's apply-order assert is shown in install-races.test.ts,
 * with the fault flag that makes it fire.)
 */
import { describe, expect, it } from 'vitest';
import { assert, InvariantError } from '../../src/assert.js';
import { RaftdcsError } from '../../src/errors.js';
import { RaftCore } from '../../src/raft/core/core.js';
import { invariant, RaftInvariantError } from '../../src/raft/core/invariant.js';
import { RaftLog } from '../../src/raft/core/log.js';
import { NO_OP_COMMAND } from '../../src/raft/core/types.js';
import { drain, e, node, options } from './core-helpers.js';

describe('assert', () => {
  it('passes a true condition and narrows its type', () => {
    const x: number | undefined = [5][0];
    assert(x !== undefined, 'x is set');
    const y: number = x; // compiles only because assert narrowed x
    expect(y).toBe(5);
  });

  it('throws a coded InvariantError on a false condition', () => {
    let thrown: unknown;
    try {
      assert(false, 'applied 7 after 5');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvariantError);
    expect(thrown).toBeInstanceOf(RaftdcsError);
    const err = thrown as InvariantError;
    expect(err.code).toBe('INVARIANT_VIOLATED');
    expect(err.name).toBe('InvariantError');
    expect(err.message).toBe('INVARIANT_VIOLATED: applied 7 after 5');
  });

  it('builds a message given as a function only when the condition is false', () => {
    let built = 0;
    const message = () => {
      built++;
      return 'built';
    };
    assert(true, message);
    expect(built).toBe(0);
    expect(() => assert(0, message)).toThrow('INVARIANT_VIOLATED: built');
    expect(built).toBe(1);
  });
});

describe('invariant (the core)', () => {
  it('throws a RaftInvariantError, a plain Error, on a false condition', () => {
    expect(() => invariant(true, 'fine')).not.toThrow();
    let thrown: unknown;
    try {
      invariant(null, () => 'commit index would decrease from 5 to 4');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RaftInvariantError);
    expect(thrown).not.toBeInstanceOf(RaftdcsError);
    expect((thrown as Error).message).toBe('commit index would decrease from 5 to 4');
    expect((thrown as Error).name).toBe('RaftInvariantError');
  });
});

describe('RaftLog refuses what would break it', () => {
  const entry = (index: number, term = 1) => ({ command: NO_OP_COMMAND, index, term });
  const log123 = () => new RaftLog([entry(1), entry(2), entry(3)]);

  it('an empty log, or one with a gap', () => {
    expect(() => new RaftLog([])).toThrow(RaftInvariantError);
    expect(() => new RaftLog([entry(1), entry(3)])).toThrow(/consecutive \(index 3 after 1\)/);
  });

  it('an append that does not follow the last entry', () => {
    const log = log123();
    expect(() => log.append(entry(5))).toThrow(/index 5 does not follow 3/);
    expect(() => log.append(entry(3))).toThrow(RaftInvariantError);
    expect([log.firstIndex, log.lastIndex, log.length]).toEqual([1, 3, 3]);
    log.append(entry(4, 2));
    expect([log.lastIndex, log.lastTerm]).toEqual([4, 2]);
  });

  it('a truncation or a compaction that would empty it', () => {
    const log = log123();
    expect(() => log.truncateFrom(1)).toThrow(/would empty the log/);
    expect(() => log.dropBefore(4)).toThrow(/would empty the log/);
    expect([log.firstIndex, log.lastIndex]).toEqual([1, 3]);
    expect(log.truncateFrom(3).map((x) => x.index)).toEqual([3]);
    expect([log.lastIndex, log.length]).toEqual([2, 2]);
    log.dropBefore(2);
    expect([log.firstIndex, log.lastIndex]).toEqual([2, 2]);
  });
});

describe('RaftCore refuses calls that would corrupt its state', () => {
  it('starting with an applied index beyond its log', () => {
    const init = {
      hardState: { term: 1, votedFor: null },
      entries: [{ command: NO_OP_COMMAND, index: 1, term: 0 }, e(2, 1)],
      commitIndex: 2,
      peers: ['b:1'],
      nowMs: 0,
    };
    expect(() => new RaftCore(options('a:1'), { ...init, lastApplied: 3 })).toThrow(
      /initial lastApplied 3 beyond the log's last index 2/,
    );
    expect(new RaftCore(options('a:1'), { ...init, lastApplied: 2 }).brief().lastApplied).toBe(2);
  });

  it('a compaction beyond what was applied, or on an entry of another term', () => {
    const c = node('b:1', ['a:1'], [e(2, 1), e(3, 1)], 1);
    c.step(
      'a:1',
      { type: 'append_entries', term: 1, commitIndex: 2, prevLogIdx: 3, prevLogTerm: 1, entries: [] },
      1,
    );
    drain(c);
    expect(c.brief()).toMatchObject({ commitIndex: 2, lastApplied: 2, firstIndex: 1 });
    const dump = (lastIndex: number, lastTerm: number) => ({ data: new Uint8Array(1), lastIndex, lastTerm });
    expect(() => c.compact(dump(3, 1), 2)).toThrow(/compaction at 3 beyond lastApplied 2/);
    expect(() => c.compact(dump(2, 7), 2)).toThrow(/compaction at 2: term 7 does not match/);
    expect(c.brief()).toMatchObject({ firstIndex: 1, lastIndex: 3 });
    c.compact(dump(2, 1), 2);
    expect(c.brief().firstIndex).toBe(1); // the log keeps the dump's prev and last entries
  });

  it('a snapshot whose prev and last entries are not consecutive', () => {
    const c = node('b:1', ['a:1'], [e(2, 1)], 1);
    const install = () =>
      c.installSnapshot(
        { prevEntry: e(4, 1), lastEntry: e(6, 1), cluster: ['a:1', 'b:1'], data: new Uint8Array(1) },
        1,
      );
    expect(install).toThrow(/snapshot entries 4, 6 are not consecutive/);
    expect(c.brief()).toMatchObject({ firstIndex: 1, lastIndex: 2, commitIndex: 1, lastApplied: 1 });
  });
});
