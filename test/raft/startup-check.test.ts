/**
 * A restart on partial data is refused. The decision (src/raft/journal/startup-check.ts)
 * case by case, then the SyncObj runtime on real files (FileJournal + FileDumpStore in a temporary
 * directory): each loss is refused with an error naming both files and the override, without
 * creating or changing a journal file; `unsafeAllowPartialData` starts the node; and the states the
 * runtime itself leaves behind (fresh node, compacted journal + dump, installed snapshot + dump,
 * the crash window of an install, restart after a clean stop) still start.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import type { LogEntry } from '../../src/raft/core/types.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import {
  checkStartupFiles,
  type EntryId,
  type PartialDataCode,
  PartialDataError,
} from '../../src/raft/journal/startup-check.js';
import type { JournalFileInfo, JournalOpened } from '../../src/raft/journal/types.js';
import { type ReplicatedCall, replicated } from '../../src/raft/replicated.js';
import { decodeDump, encodeDumpChunks } from '../../src/raft/snapshot/dump.js';
import { FileDumpStore, gzipChunks } from '../../src/raft/snapshot/dump-store.js';
import { SyncObj } from '../../src/raft/syncobj.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import type { PyDict, PyDictKey, PyValue } from '../../src/wire/value.js';
import { waitFor } from '../helpers/wait.js';
import { makeTempDirs, recordingLogger } from './journal-helpers.js';

// ------------------------------------------------------------------------------------------------
// the decision

const NOOP = Uint8Array.of(1);
const id = (index: number, term: number): LogEntry => ({ index, term, command: NOOP });
function run(from: number, to: number, term: number): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push(id(i, term));
  return out;
}
const FILE: JournalFileInfo = { path: '/d/n.journal', existed: true, empty: false };

function opened(entries: LogEntry[], file: JournalFileInfo | undefined = FILE): JournalOpened {
  return { hardState: { term: 3, votedFor: null }, entries, commitIndex: 1, ...(file ? { file } : {}) };
}
function dumpAt(prev: EntryId, last: EntryId) {
  return { prevEntry: prev, lastEntry: last };
}
function check(journal: JournalOpened, dump: ReturnType<typeof dumpAt> | null) {
  return checkStartupFiles({ journal, dump, dumpFile: '/d/n.dump' });
}

describe('the start-up check decides', () => {
  const dump = dumpAt(id(10, 2), id(11, 2));

  it('refuses each partial-data state with its code, both file names and the way out (recover where a dump is left)', () => {
    const missing = { path: '/d/n.journal', existed: false, empty: false };
    const empty = { path: '/d/n.journal', existed: true, empty: true };
    const cases: [string, JournalOpened, ReturnType<typeof dumpAt> | null, PartialDataCode, string][] = [
      ['dump, no journal file', opened(run(1, 1, 0), missing), dump, 'JOURNAL_MISSING', 'does not'],
      ['0-byte journal, no dump', opened(run(1, 1, 0), empty), null, 'JOURNAL_EMPTY', 'and there is no dump'],
      ['0-byte journal beside a dump', opened(run(1, 1, 0), empty), dump, 'JOURNAL_EMPTY', 'beside the dump'],
      ['journal after the dump (gap)', opened(run(20, 25, 3)), dump, 'JOURNAL_AFTER_DUMP', '12..19'],
      ['journal starts at the dump end', opened(run(11, 15, 2)), dump, 'JOURNAL_AFTER_DUMP', 'newer dump'],
      ['journal starts right after it', opened(run(12, 15, 2)), dump, 'JOURNAL_AFTER_DUMP', 'newer dump'],
      ['first entry conflicts', opened(run(10, 15, 3)), dump, 'JOURNAL_DUMP_MISMATCH', 'one history'],
      ['compacted journal, no dump', opened(run(10, 15, 3)), null, 'DUMP_MISSING', 'no dump'],
    ];
    for (const [what, journal, d, code, text] of cases) {
      const e = check(journal, d);
      expect(e, what).toBeInstanceOf(PartialDataError);
      expect(e?.code, what).toBe(code);
      expect(e?.message, what).toContain(text);
      expect(e?.message, what).toContain('/d/n.journal');
      expect(e?.message, what).toContain('/d/n.dump');
      expect(e?.message, what).toContain('--unsafe-allow-partial-data');
      // the override helps wherever there is state to start from
      expect(e?.overridable, what).toBe(code !== 'DUMP_MISSING');
      // a dump to rebuild a new cluster from, after losing quorum: raftdcs recover
      const recoverable = d !== null && code !== 'JOURNAL_DUMP_MISMATCH';
      expect(
        e?.message.includes('raftdcs recover --force-new-cluster --unsafe-allow-partial-data'),
        what,
      ).toBe(recoverable);
    }
  });

  it('accepts what the runtime leaves behind', () => {
    const missing = { path: '/d/n.journal', existed: false, empty: false };
    const ok: [string, JournalOpened, ReturnType<typeof dumpAt> | null][] = [
      ['fresh node: no journal file, no dump', opened(run(1, 1, 0), missing), null],
      ['a journal never compacted, no dump', opened(run(1, 30, 2)), null],
      ['compacted to the dump: [prev, last, …]', opened(run(10, 30, 2)), dump],
      ['an older compaction point, holding the pair', opened(run(4, 30, 2)), dump],
      ['installed snapshot: reset to [prev, last]', opened(run(10, 11, 2)), dump],
      ['install crash window: journal ends before the dump', opened([id(1, 0), ...run(2, 6, 1)]), dump],
      ['install crash window: a fresh journal', opened(run(1, 1, 0)), dump],
      ['install crash window: other terms over the dump', opened(run(5, 14, 1)), dump],
      ['the journal ends at the dump prev', opened(run(3, 10, 2)), dump],
      ['an in-memory journal holding the pair', opened(run(10, 12, 2), undefined), dump],
    ];
    for (const [what, journal, d] of ok) expect(check(journal, d), what).toBeNull();
  });
});

// ------------------------------------------------------------------------------------------------
// the runtime on real files

const tmp = makeTempDirs('startup-check');
const SELF = '127.0.0.1:3101';
const FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.08,
  raftMaxTimeout: 0.16,
  connectionTimeout: 0.5,
  autoTickPeriod: 0.01,
  appendEntriesUseBatch: false,
  commandsWaitLeader: false,
};

class Counter extends SyncObj {
  value = 0;

  @replicated({ name: 'incr' })
  incr(call: ReplicatedCall): number {
    this.value += call.args[0] as number;
    return this.value;
  }

  protected override serializeAttributes(): Map<PyDictKey, PyValue> {
    const m = super.serializeAttributes();
    m.set('value', this.value);
    return m;
  }

  protected override restoreAttributes(data: PyDict): void {
    super.restoreAttributes(data);
    this.value = Number(data.get('value') ?? 0);
  }
}

let nodes: SyncObj[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.destroy()));
  nodes = [];
  tmp.cleanup();
});

function files(dir: string, self = SELF) {
  return journalPaths(dir, self, { windows: false });
}

function start(
  dir: string,
  conf: SyncObjConfOptions = {},
  opts: { self?: string; partners?: string[]; net?: MemoryNetwork } = {},
): { node: Counter; journal: FileJournal } {
  const self = opts.self ?? SELF;
  const p = files(dir, self);
  const journal = new FileJournal(p.journal);
  const node = new Counter(
    self,
    opts.partners ?? [],
    { ...FAST, ...conf },
    {
      deps: {
        transport: (opts.net ?? new MemoryNetwork()).factory,
        journal,
        dumpStore: new FileDumpStore(p.dump),
      },
    },
  );
  nodes.push(node);
  return { node, journal };
}

/** A dump as the runtime writes it: state `value`, entries prev/last, cluster = this node. */
async function writeDump(path: string, prev: LogEntry, last: LogEntry, value: number): Promise<void> {
  const data = new Map<PyDictKey, PyValue>([
    ['_SyncObj__enabledCodeVersion', 0],
    ['value', value],
  ]);
  const gz = await gzipChunks(encodeDumpChunks({ data, prevEntry: prev, lastEntry: last, cluster: [SELF] }));
  await new FileDumpStore(path).writeGz(gz);
}

async function writeJournal(path: string, entries: LogEntry[], term: number, commitIndex: number) {
  const j = new FileJournal(path);
  await j.open();
  j.writeHardState({ term, votedFor: SELF });
  j.reset(entries);
  j.setCommitIndex(commitIndex);
  await j.sync();
  await j.close();
}

async function expectRefused(node: SyncObj, code: PartialDataCode, dir: string): Promise<PartialDataError> {
  const p = files(dir);
  const err = await node.waitBinded().then(
    () => {
      throw new Error('the node started');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PartialDataError);
  const e = err as PartialDataError;
  expect(e.code).toBe(code);
  expect(e.journalFile).toBe(p.journal);
  expect(e.dumpFile).toBe(p.dump);
  expect(e.message).toContain(p.journal);
  expect(e.message).toContain(p.dump);
  return e;
}

async function leader(node: SyncObj): Promise<void> {
  await node.waitBinded();
  await waitFor(() => node.isLeader(), 5000, 'the node to lead');
}

describe('FileJournal.open({ verify })', () => {
  it('shows verify what was on disk, before it creates a fresh file; a throw creates nothing', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    const seen: JournalOpened[] = [];
    const refuse = (o: JournalOpened) => {
      seen.push(o);
      throw new Error('no');
    };
    await expect(new FileJournal(p.journal).open({ verify: refuse })).rejects.toThrow('no');
    expect(existsSync(p.journal)).toBe(false);
    writeFileSync(p.journal, '');
    await expect(new FileJournal(p.journal).open({ verify: refuse })).rejects.toThrow('no');
    expect(statSync(p.journal).size).toBe(0);
    expect(seen.map((o) => o.file)).toEqual([
      { path: p.journal, existed: false, empty: false },
      { path: p.journal, existed: true, empty: true },
    ]);
    // accepted: the fresh file is created, and an existing file is shown after its recovery
    const j = new FileJournal(p.journal);
    await j.open({ verify: (o) => seen.push(o) });
    j.append(run(2, 4, 1));
    await j.close();
    const k = new FileJournal(p.journal);
    const state = await k.open({ verify: (o) => seen.push(o) });
    await k.close();
    expect(seen.slice(2).map((o) => o.file)).toEqual([
      { path: p.journal, existed: true, empty: true },
      { path: p.journal, existed: true, empty: false },
    ]);
    expect(seen[3]?.entries).toEqual(state.entries);
    expect(state.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
  });
});

describe('SyncObj refuses to start on partial data (real files)', () => {
  it('(a) a dump without a journal file: refused, no journal created; the override starts from the dump', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    await writeDump(p.dump, id(10, 2), id(11, 2), 7);
    const e = await expectRefused(start(dir).node, 'JOURNAL_MISSING', dir);
    expect(e.message).toContain('vote twice');
    expect(existsSync(p.journal)).toBe(false);

    const log = recordingLogger();
    const { node, journal } = start(dir, { unsafeAllowPartialData: true, logger: log });
    await leader(node);
    expect(node.value).toBe(7);
    expect(await node.call(node.incr, [1])).toBe(8);
    expect(journal.snapshot().entries[0]).toMatchObject({ index: 10, term: 2 });
    const warned = log.lines.find((l) => l.level === 'warn' && l.obj.code === 'JOURNAL_MISSING');
    expect(warned?.msg).toContain('unsafeAllowPartialData');
    await node.destroy();

    // the journal now belongs with the dump: a normal start
    const again = start(dir).node;
    await leader(again);
    expect(again.value).toBe(8);
  });

  it('(b) a 0-byte journal and no dump: refused, the file left as it is; the override starts empty', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    writeFileSync(p.journal, '');
    const e = await expectRefused(start(dir).node, 'JOURNAL_EMPTY', dir);
    expect(e.message).toContain('never ran has no journal file');
    expect(statSync(p.journal).size).toBe(0);

    const { node } = start(dir, { unsafeAllowPartialData: true });
    await leader(node);
    expect(await node.call(node.incr, [5])).toBe(5);
    expect(statSync(p.journal).size).toBeGreaterThan(0);
  });

  it('(b) a 0-byte journal beside a dump: refused', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    await writeDump(p.dump, id(10, 2), id(11, 2), 7);
    writeFileSync(p.journal, '');
    await expectRefused(start(dir).node, 'JOURNAL_EMPTY', dir);
    expect(statSync(p.journal).size).toBe(0);
  });

  it('(c) a journal that starts after the dump (gap): refused, journal untouched; the override resets it to the dump', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    await writeDump(p.dump, id(10, 2), id(11, 2), 7);
    await writeJournal(p.journal, run(20, 25, 3), 3, 25);
    const before = readFileSync(p.journal);
    const e = await expectRefused(start(dir).node, 'JOURNAL_AFTER_DUMP', dir);
    expect(e.message).toContain('entries 12..19 are in neither file');
    expect(readFileSync(p.journal).equals(before)).toBe(true);

    const { node, journal } = start(dir, { unsafeAllowPartialData: true });
    await leader(node);
    expect(node.value).toBe(7);
    // the term and vote were kept: the node campaigned after term 3
    expect(node.raftCurrentTerm).toBeGreaterThan(3);
    expect(journal.snapshot().entries[0]).toMatchObject({ index: 10, term: 2 });
  });

  it('(c) a journal compacted past an older dump (no gap): refused', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    await writeDump(p.dump, id(10, 2), id(11, 2), 7);
    await writeJournal(p.journal, run(11, 15, 2), 2, 15);
    const e = await expectRefused(start(dir).node, 'JOURNAL_AFTER_DUMP', dir);
    expect(e.message).toContain('compacted after a newer dump');
  });

  it('(c) a journal whose first (committed) entry conflicts with the dump: refused', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    await writeDump(p.dump, id(10, 2), id(11, 2), 7);
    await writeJournal(p.journal, run(10, 15, 3), 3, 15);
    await expectRefused(start(dir).node, 'JOURNAL_DUMP_MISMATCH', dir);
  });

  it('a compacted journal without a dump: refused even with the override', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    await writeJournal(p.journal, run(10, 15, 3), 3, 15);
    const e = await expectRefused(start(dir, { unsafeAllowPartialData: true }).node, 'DUMP_MISSING', dir);
    expect(e.overridable).toBe(false);
    expect(e.message).toContain('does not help here');
  });
});

describe('SyncObj still starts on the states it leaves behind (real files)', () => {
  it('a fresh node (no files); then a restart after a clean stop', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    const { node } = start(dir);
    await leader(node);
    expect(existsSync(p.journal)).toBe(true);
    expect(await node.call(node.incr, [2])).toBe(2);
    await node.destroy();
    const again = start(dir).node;
    await leader(again);
    expect(again.value).toBe(2);
  });

  it('a compacted journal beside its dump, with entries after the dump', async () => {
    const dir = tmp.dir();
    const p = files(dir);
    const { node, journal } = start(dir);
    await leader(node);
    for (let i = 1; i <= 10; i++) await node.call(node.incr, [1]);
    node.forceLogCompaction();
    await waitFor(() => (journal.snapshot().entries[0] as LogEntry).index > 1, 5000, 'compaction');
    for (let i = 1; i <= 3; i++) await node.call(node.incr, [10]);
    await node.destroy();
    // the files: a dump and a journal compacted to its previous entry, holding more after it
    const dump = await decodeDump(readFileSync(p.dump));
    const kept = new FileJournal(p.journal);
    const state = await kept.open();
    await kept.close();
    expect(state.entries[0]).toMatchObject({ index: dump.prevEntry.index, term: dump.prevEntry.term });
    expect((state.entries.at(-1) as LogEntry).index).toBeGreaterThan(dump.lastEntry.index);

    const again = start(dir).node;
    await leader(again);
    expect(again.value).toBe(40);
  });

  it('a snapshot installed from the leader; the follower restarts on its dump and journal', async () => {
    const dirs = [tmp.dir(), tmp.dir(), tmp.dir()];
    const addrs = ['127.0.0.1:3111', '127.0.0.1:3112', '127.0.0.1:3113'];
    const net = new MemoryNetwork();
    const peers = (a: string) => addrs.filter((b) => b !== a);
    const conf: SyncObjConfOptions = { dynamicMembershipChange: false };
    const ab = [0, 1].map((i) =>
      start(dirs[i] as string, conf, { self: addrs[i], partners: peers(addrs[i] as string), net }),
    );
    await waitFor(() => ab.some((x) => x.node.isLeader()), 5000, 'a leader of two');
    const lead = ab.find((x) => x.node.isLeader()) as { node: Counter; journal: FileJournal };
    for (let i = 1; i <= 10; i++) await lead.node.call(lead.node.incr, [1]);
    lead.node.forceLogCompaction();
    await waitFor(() => (lead.journal.snapshot().entries[0] as LogEntry).index > 2, 5000, 'compaction');

    // the third node joins late: behind the leader's log start, it gets the dump
    const c = start(dirs[2] as string, conf, { self: addrs[2], partners: peers(addrs[2] as string), net });
    await waitFor(() => c.node.value === 10, 5000, 'the snapshot installed');
    const cFiles = files(dirs[2] as string, addrs[2]);
    expect(existsSync(cFiles.dump)).toBe(true);
    await lead.node.call(lead.node.incr, [5]);
    await waitFor(() => c.node.value === 15, 5000, 'an entry after the snapshot');
    await c.node.destroy();

    const c2 = start(dirs[2] as string, conf, { self: addrs[2], partners: peers(addrs[2] as string), net });
    await c2.node.waitBinded();
    await waitFor(() => c2.node.value === 15, 5000, 'the restarted follower');
    expect(c2.node.failure ?? null).toBeNull();
  });

  it('the crash window of an install: the dump stored, the journal not yet reset', async () => {
    // ends before the dump; and overlaps it with other (uncommitted) terms
    for (const entries of [[id(1, 0), ...run(2, 6, 1)], run(5, 14, 1)]) {
      const dir = tmp.dir();
      const p = files(dir);
      await writeJournal(p.journal, entries, 2, 6);
      await writeDump(p.dump, id(10, 2), id(11, 2), 7);
      const { node, journal } = start(dir);
      await leader(node);
      expect(node.value).toBe(7);
      expect(journal.snapshot().entries[0]).toMatchObject({ index: 10, term: 2 });
      await node.destroy();
    }
  });
});
