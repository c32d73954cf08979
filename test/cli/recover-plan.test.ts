/**
 * The pure parts of `raftdcs recover` on hand-made logs: which log is recovered (the journal from
 * index 1, a dump continued by the journal, a dump the journal disagrees with), that the whole log
 * is applied — the tail after the commit hint included, and reported — with the KVStoreTTL rules
 * (indexes, `created`), the old membership from the dump and the membership entries, the new term,
 * the files to write, and the refusals (incomplete data with and without the override, nothing to
 * recover, a bad --members, a code version this build lacks). Also: the function table recover
 * applies REGULAR entries by is KVStoreTTL's.
 */
import { describe, expect, it } from 'vitest';
import { encodeMembership, encodeMethodCall, encodeVersion } from '../../src/raft/commands.js';
import { CommandType, type LogEntry } from '../../src/raft/core/types.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { INITIAL_ENTRY, type JournalOpened } from '../../src/raft/journal/types.js';
import type { Dump } from '../../src/raft/snapshot/dump.js';
import { RecoverRefusal } from '../../src/recover/errors.js';
import { KV_METHODS, KvReplay, kvFunctionTable } from '../../src/recover/kv-replay.js';
import { planRecovery } from '../../src/recover/plan.js';
import { judgeQuorum, type MemberProbe } from '../../src/recover/quorum-check.js';
import type { SurvivorFiles } from '../../src/recover/survivor-files.js';
import { dict, float, type PyValue } from '../../src/wire/value.js';

const SELF = '10.0.0.1:2222';
const B = '10.0.0.2:2222';
const C = '10.0.0.3:2222';
const SET = 2;
const DELETE = 0;

/** `_set` as Patroni proposes it: `created` is the old record's (or `updated` for a new key). */
function set(index: number, term: number, key: string, value: string, t: number, created = t): LogEntry {
  const record = dict({ value, updated: float(t), created: float(created) });
  return { index, term, command: encodeMethodCall({ funcId: SET, args: [key, record], kwargs: undefined }) };
}

function del(index: number, term: number, key: string): LogEntry {
  const kwargs = dict({ recursive: false, prevExist: true });
  return { index, term, command: encodeMethodCall({ funcId: DELETE, args: [key], kwargs }) };
}

function noop(index: number, term: number): LogEntry {
  return { index, term, command: Uint8Array.of(CommandType.NoOp) };
}

function member(index: number, term: number, op: 'add' | 'rem', node: string): LogEntry {
  return { index, term, command: encodeMembership({ op, node }) };
}

function journal(
  entries: readonly LogEntry[],
  o: { term?: number; commit?: number; existed?: boolean; empty?: boolean } = {},
): JournalOpened {
  return {
    hardState: { term: o.term ?? (entries[entries.length - 1] as LogEntry).term, votedFor: B },
    entries,
    commitIndex: o.commit ?? (entries[entries.length - 1] as LogEntry).index,
    file: { path: '/d/n.journal', existed: o.existed ?? true, empty: o.empty ?? false },
  };
}

function files(j: JournalOpened, dump: Dump | null = null): SurvivorFiles {
  return {
    paths: journalPaths('/d', SELF, { windows: false }),
    journal: j,
    journalFormat: j.file?.existed ? 'raftdcs' : 'none',
    journalNotes: [],
    dumpGz: null,
    dump,
    fingerprints: [],
  };
}

/** A dump of `entries` applied to an empty store, at the last of them. */
function dumpOf(entries: readonly LogEntry[], cluster: readonly string[]): Dump {
  const r = new KvReplay();
  for (const e of entries) r.apply(e);
  return {
    data: r.attributes(),
    lastEntry: entries[entries.length - 1] as LogEntry,
    prevEntry: entries[entries.length - 2] as LogEntry,
    cluster,
  };
}

const plan = (f: SurvivorFiles, o: { members?: string[]; partial?: boolean; partners?: string[] } = {}) =>
  planRecovery({
    selfAddr: SELF,
    partnerAddrs: o.partners ?? [B, C],
    files: f,
    members: o.members ?? null,
    allowPartialData: o.partial ?? false,
  });

function refusal(fn: () => unknown): RecoverRefusal {
  try {
    fn();
  } catch (e) {
    if (e instanceof RecoverRefusal) return e;
    throw e;
  }
  throw new Error('expected a RecoverRefusal');
}

describe('recover plan: the log and the state kept', () => {
  // (NO_OP,1,0), a leader's no-op, writes, a member added, a write of a later term
  const log = [
    INITIAL_ENTRY,
    noop(2, 1),
    set(3, 1, '/a', 'A', 100),
    set(4, 1, '/b', 'B', 101),
    set(5, 1, '/a', 'A2', 102, 100),
    del(6, 1, '/b'),
    member(7, 1, 'add', '10.0.0.4:2222'),
    noop(8, 2),
    set(9, 2, '/c', 'C', 103),
  ];

  it('a journal without a dump: everything applied, the tail after the commit hint too (reported)', () => {
    const p = plan(files(journal(log, { commit: 7, term: 2 })));
    expect([...p.keys.keys()]).toEqual(['/a', '/c']);
    expect(p.keys.get('/a')).toEqual({ value: 'A2', updated: 102, created: 100, index: 5 });
    expect(p.keys.get('/c')?.index).toBe(9);
    expect(p.lastEntry).toMatchObject({ index: 9, term: 2 });
    expect(p.prevEntry).toMatchObject({ index: 8, term: 2 });
    expect(p.committedKnown).toBe(7);
    expect(p.uncommitted).toEqual({ from: 8, to: 9 });
    // the starting membership of a log without a dump is the configuration's, then the log's changes
    expect(p.oldMembers).toEqual([B, C, '10.0.0.4:2222', SELF]);
    expect(p.highestTerm).toBe(2);
    expect(p.newTerm).toBe(3);
    expect(p.members).toEqual([SELF]);
    // the files to write: a dump at 9 with the new membership, a journal of its two entries
    expect(p.dump).toMatchObject({ lastEntry: { index: 9 }, prevEntry: { index: 8 }, cluster: [SELF] });
    expect(p.journal).toEqual({
      hardState: { term: 3, votedFor: null },
      entries: [p.prevEntry, p.lastEntry],
      commitIndex: 9,
    });
    // the dump's state is what was applied
    const again = new KvReplay();
    again.restore(p.dump.data);
    expect(again.sm.getPrefix('')).toEqual(p.keys);
  });

  it('the new term is above the journal’s persisted term even when the log’s terms are lower', () => {
    const p = plan(files(journal(log, { term: 7 })));
    expect([p.highestTerm, p.newTerm, p.journal.hardState.term]).toEqual([7, 8, 8]);
    expect(p.uncommitted).toBeNull();
  });

  it('a dump continued by the journal: the dump’s state, then the journal’s entries after it', () => {
    const dump = dumpOf(log.slice(0, 5), [SELF, B, C]);
    const j = journal(log.slice(3), { commit: 6 }); // compacted to the dump's previous entry (4)
    const p = plan(files(j, dump));
    expect(p.dumpIndex).toBe(5);
    expect([...p.keys.keys()]).toEqual(['/a', '/c']);
    expect(p.keys.get('/a')?.index).toBe(5);
    expect(p.oldMembers).toEqual([B, C, '10.0.0.4:2222', SELF]);
    expect(p.uncommitted).toEqual({ from: 7, to: 9 });
    expect(p.notes).toEqual([]);
  });

  it('a journal that disagrees with the dump (a snapshot install it had not caught up with): the dump alone', () => {
    const dump = dumpOf(
      [INITIAL_ENTRY, noop(2, 1), set(3, 1, '/a', 'A', 100), noop(4, 2), set(5, 2, '/b', 'B', 101)],
      [SELF, B],
    );
    const stale = [
      INITIAL_ENTRY,
      noop(2, 1),
      set(3, 1, '/a', 'A', 100),
      set(4, 1, '/x', 'X', 99),
      set(5, 1, '/y', 'Y', 99),
      set(6, 1, '/z', 'Z', 99),
    ];
    const p = plan(files(journal(stale, { commit: 3 }), dump));
    expect(p.lastEntry.index).toBe(5);
    expect([...p.keys.keys()]).toEqual(['/a', '/b']);
    expect(p.notes.join('\n')).toContain("the journal's entries up to 6 do not continue the dump");
    expect(p.oldMembers).toEqual([B, SELF]);
  });

  it('a node that had been removed; an explicit membership; an unknown REGULAR entry is skipped as a node would', () => {
    const bad: LogEntry = {
      index: 4,
      term: 1,
      command: encodeMethodCall({ funcId: 9, args: [], kwargs: undefined }),
    };
    const j = journal([INITIAL_ENTRY, noop(2, 1), member(3, 1, 'rem', SELF), bad, set(5, 1, '/k', 'v', 1)]);
    const p = plan(files(j), { members: [SELF, '10.0.0.9:2222'] });
    expect(p.selfRemoved).toBe(true);
    expect(p.oldMembers).toEqual([B, C]);
    expect(p.members).toEqual([SELF, '10.0.0.9:2222']);
    expect(p.dump.cluster).toEqual([SELF, '10.0.0.9:2222']);
    expect(p.applyFailures).toEqual([
      { index: 4, term: 1, error: 'no replicated method with function id 9' },
    ]);
    expect(p.keys.get('/k')?.index).toBe(5);
  });
});

describe('recover plan: refusals', () => {
  const dump = dumpOf(
    [INITIAL_ENTRY, noop(2, 1), set(3, 1, '/a', 'A', 1), set(4, 1, '/b', 'B', 2)],
    [SELF, B, C],
  );
  const fresh = (o: { existed: boolean; empty: boolean }) =>
    journal([INITIAL_ENTRY], { ...o, term: 0, commit: 1 });

  it('a dump without its journal: DATA_INCOMPLETE naming the way out; the override keeps the dump', () => {
    const f = files(fresh({ existed: false, empty: false }), dump);
    const r = refusal(() => plan(f));
    expect(r.code).toBe('DATA_INCOMPLETE');
    expect(r.message).toContain('(JOURNAL_MISSING)');
    expect(r.message).toContain('--unsafe-allow-partial-data');
    const p = plan(f, { partial: true });
    expect(p.partialData?.code).toBe('JOURNAL_MISSING');
    expect(p.lastEntry.index).toBe(4);
    expect([...p.keys.keys()]).toEqual(['/a', '/b']);
  });

  it('an empty journal beside a dump; a journal starting after the dump (override: a journal that continues it is used)', () => {
    expect(refusal(() => plan(files(fresh({ existed: true, empty: true }), dump))).message).toContain(
      'JOURNAL_EMPTY',
    );
    const after = journal([set(4, 1, '/b', 'B', 2), set(5, 1, '/c', 'C', 3)], { commit: 4 });
    expect(refusal(() => plan(files(after, dump))).message).toContain('JOURNAL_AFTER_DUMP');
    const p = plan(files(after, dump), { partial: true });
    expect(p.lastEntry.index).toBe(5);
    expect([...p.keys.keys()]).toEqual(['/a', '/b', '/c']);
  });

  it('a compacted journal without a dump is refused even with the override; no files, or only the initial entry: nothing to recover', () => {
    const compacted = journal([set(4, 1, '/b', 'B', 2), set(5, 1, '/c', 'C', 3)]);
    const r = refusal(() => plan(files(compacted), { partial: true }));
    expect(r.message).toContain('DUMP_MISSING');
    expect(r.message).toContain('restore the dump');
    expect(refusal(() => plan(files(fresh({ existed: false, empty: false })))).code).toBe(
      'NOTHING_TO_RECOVER',
    );
    expect(refusal(() => plan(files(fresh({ existed: true, empty: false })))).code).toBe(
      'NOTHING_TO_RECOVER',
    );
  });

  it('--members without self_addr; a code version this build does not have', () => {
    const j = journal([INITIAL_ENTRY, noop(2, 1), set(3, 1, '/a', 'A', 1)]);
    expect(refusal(() => plan(files(j), { members: [B, C] })).code).toBe('BAD_MEMBERS');
    const v = journal([INITIAL_ENTRY, noop(2, 1), { index: 3, term: 1, command: encodeVersion(3) }]);
    const r = refusal(() => plan(files(v)));
    expect(r.code).toBe('DATA_UNREADABLE');
    expect(r.message).toContain('code version 3');
  });
});

describe('recover: the function table and the quorum judgement', () => {
  it("applies REGULAR entries by KVStoreTTL's own function ids (_delete 0, _expire 1, _set 2)", () => {
    const table = kvFunctionTable();
    expect(table.aliases()).toEqual(['_delete_v0', '_expire_v0', '_set_v0']);
    for (const alias of table.aliases()) expect(KV_METHODS.has(alias), alias).toBe(true);
    const r = new KvReplay();
    const args: PyValue[] = [
      '/k',
      dict({ value: 'v', updated: float(5), created: float(5), expire: float(9) }),
    ];
    r.apply({ index: 2, term: 1, command: encodeMethodCall({ funcId: 2, args, kwargs: undefined }) });
    expect(r.sm.get('/k')).toEqual({ value: 'v', updated: 5, created: 5, expire: 9, index: 2 });
    r.apply({ index: 3, term: 1, command: encodeMethodCall({ funcId: 1, args, kwargs: undefined }) });
    expect(r.sm.get('/k')).toBeNull();
  });

  it('a majority counts this node (when it is a member) and members that took the connection', () => {
    const probe = (addr: string, outcome: MemberProbe['outcome']): MemberProbe => ({
      addr,
      outcome,
      detail: '',
    });
    expect(judgeQuorum([SELF, B, C], SELF, [probe(B, 'unreachable'), probe(C, 'unreachable')])).toEqual({
      members: 3,
      majority: 2,
      alive: 1,
      majorityAlive: false,
    });
    expect(
      judgeQuorum([SELF, B, C], SELF, [probe(B, 'unreadable'), probe(C, 'unreachable')]).majorityAlive,
    ).toBe(true);
    // five members, two gone: this node and two others are a majority
    const five = [SELF, B, C, 'd:1', 'e:1'];
    const probes = [
      probe(B, 'alive'),
      probe(C, 'alive'),
      probe('d:1', 'unreachable'),
      probe('e:1', 'unreachable'),
    ];
    expect(judgeQuorum(five, SELF, probes)).toMatchObject({ majority: 3, alive: 3, majorityAlive: true });
    // a node that had been removed does not count itself
    expect(judgeQuorum([B, C], SELF, [probe(B, 'alive'), probe(C, 'unreachable')]).majorityAlive).toBe(false);
  });
});
