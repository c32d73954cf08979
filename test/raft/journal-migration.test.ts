/**
 * Importing pysyncobj journals: the committed vectors (golden journals, the Patroni nodes' files
 * from the plain capture) and files written right now by the real Debian pysyncobj (its
 * FileJournal class, and a single-node SyncObj) open as the same entries, commit index and term;
 * the Python files are kept as backups; a journal that cannot be parsed is refused, untouched.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/raft/core/types.js';
import { JournalMigrationError } from '../../src/raft/journal/errors.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { hasJournalMagic } from '../../src/raft/journal/format.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import type { JournalState } from '../../src/raft/journal/types.js';
import { describePython, PYTHON, runPython } from '../helpers/python.js';
import type { TypedJson } from '../helpers/typed-json.js';
import { VECTORS_DIR, vectorIndex } from '../helpers/vectors.js';
import { makeTempDirs, recordingLogger } from './journal-helpers.js';

const tmp = makeTempDirs('journal-migration');
afterAll(() => tmp.cleanup());

interface Placed {
  readonly dir: string;
  readonly paths: ReturnType<typeof journalPaths>;
  readonly journalBytes: Buffer;
  readonly metaBytes: Buffer | null;
}

/** Copy a Python journal (and its meta when there is one) into a fresh data_dir under Patroni's names. */
function placePython(journalFile: string, selfAddr = '127.0.0.1:21001', withMeta = true): Placed {
  const dir = tmp.dir();
  const paths = journalPaths(dir, selfAddr, { windows: false });
  copyFileSync(journalFile, paths.journal);
  let metaBytes: Buffer | null = null;
  if (withMeta && existsSync(`${journalFile}.meta`)) {
    copyFileSync(`${journalFile}.meta`, paths.meta);
    metaBytes = readFileSync(paths.meta);
  }
  return { dir, paths, journalBytes: readFileSync(paths.journal), metaBytes };
}

async function openJournal(
  path: string,
): Promise<{ state: JournalState; log: ReturnType<typeof recordingLogger> }> {
  const log = recordingLogger();
  const j = new FileJournal(path, { logger: log });
  try {
    return { state: await j.open(), log };
  } finally {
    await j.close().catch(() => undefined);
  }
}

function summary(state: JournalState) {
  const last = state.entries.at(-1) as LogEntry;
  return {
    count: state.entries.length,
    first: state.entries[0]?.index,
    last: last.index,
    term: state.hardState.term,
    votedFor: state.hardState.votedFor,
    commitIndex: state.commitIndex,
  };
}

/** After an import: ours at the journal path, the Python files under their backup names, byte for byte. */
function expectImported(p: Placed): void {
  expect(hasJournalMagic(readFileSync(p.paths.journal))).toBe(true);
  expect(readFileSync(p.paths.journalBackup).equals(p.journalBytes)).toBe(true);
  if (p.metaBytes !== null) {
    expect(existsSync(p.paths.meta)).toBe(false);
    expect(readFileSync(p.paths.metaBackup).equals(p.metaBytes)).toBe(true);
  }
  expect(existsSync(p.paths.journalTmp)).toBe(false);
}

describe('migration of the committed pysyncobj journals', () => {
  const vectors = vectorIndex().vectors;

  for (const name of ['journal_file', 'journal_file_truncated', 'journal_kvstorettl_real']) {
    it(`${name}: the vector's entries, the meta's commit index, the last entry's term, no vote`, async () => {
      const v = vectors.find((x) => x.name === name);
      if (!v) throw new Error(`vector ${name} missing`);
      const expected = ((v.value as TypedJson).list as TypedJson[]).map((t) => {
        const [cmd, idx, term] = t.tuple as TypedJson[];
        return {
          command: new Uint8Array(Buffer.from((cmd as TypedJson).bytes as string, 'hex')),
          index: Number((idx as TypedJson).int),
          term: Number((term as TypedJson).int),
        };
      });
      const metaVector = vectors.find((x) => x.kind === 'journal-meta' && x.file === `${v.file}.meta`);
      const expectedCommit = metaVector
        ? Number((((metaVector.value as TypedJson).dict as TypedJson[][])[0] as TypedJson[])[1]?.int)
        : 1;
      const p = placePython(join(VECTORS_DIR, v.file));
      const { state, log } = await openJournal(p.paths.journal);
      expect(state.entries).toEqual(expected);
      expect(state.commitIndex).toBe(expectedCommit);
      expect(state.hardState).toEqual({ term: expected.at(-1)?.term, votedFor: null });
      expectImported(p);
      const info = log.lines.find((l) => l.msg.startsWith('imported the pysyncobj journal'));
      expect(info?.obj).toMatchObject({ entries: expected.length, commitIndex: expectedCommit });
      // opening again reads our journal: same state, no second import
      const again = await openJournal(p.paths.journal);
      expect(again.state).toEqual(state);
      expect(again.log.lines.some((l) => l.msg.startsWith('imported'))).toBe(false);
    });
  }

  // the Patroni nodes' files at the end of the plain capture (`:` was replaced by `_` in the names)
  const plain: Record<
    string,
    { count: number; first: number; last: number; term: number; commitIndex: number }
  > = {
    '127.0.0.1_21001': { count: 20, first: 1, last: 20, term: 3, commitIndex: 18 },
    '127.0.0.1_21002': { count: 4, first: 14, last: 17, term: 1, commitIndex: 17 },
    '127.0.0.1_21003': { count: 20, first: 1, last: 20, term: 3, commitIndex: 18 },
    '127.0.0.1_21004': { count: 7, first: 14, last: 20, term: 3, commitIndex: 20 },
  };
  for (const [node, want] of Object.entries(plain)) {
    it(`capture/plain-files ${node}: ${want.count} entries ${want.first}…${want.last}, commit ${want.commitIndex}, term ${want.term}`, async () => {
      const file = join(VECTORS_DIR, 'capture/plain-files', `${node}.journal`);
      const p = placePython(file, node.replace('_', ':'));
      expect(p.paths.journal.endsWith(`${node.replace('_', ':')}.journal`)).toBe(true);
      const { state } = await openJournal(p.paths.journal);
      expect(summary(state)).toEqual({ ...want, votedFor: null });
      expectImported(p);
      // the dump next to it is not ours to touch
      expect(readdirSync(p.dir).filter((f) => f.endsWith('.dump'))).toEqual([]);
    });
  }
});

describe('migration edge cases', () => {
  const golden = join(VECTORS_DIR, 'journal/golden.journal');

  it('an unparseable pysyncobj journal is refused with a clear error; nothing is touched', async () => {
    const good = readFileSync(golden);
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      [
        'last-record offset past the file',
        (b) => b.writeUInt32LE(b.length + 100, 36),
        /JOURNAL_BAD_LAST_RECORD_OFFSET/,
      ],
      ['format version 2', (b) => b.writeUInt32LE(2, 32), /JOURNAL_UNSUPPORTED_FORMAT/],
      ['record size fields differ', (b) => b.writeUInt32LE(b.readUInt32LE(40) + 1, 40), /JOURNAL_/],
      ['entries out of order', (b) => b.writeUInt32LE(9, 44 + 17 + 4 + 4), /JOURNAL_BAD_LOG_ORDER/],
    ];
    for (const [what, damage, pattern] of cases) {
      const p = placePython(golden);
      const b = Buffer.from(good);
      damage(b);
      writeFileSync(p.paths.journal, b);
      const before = readdirSync(p.dir).sort();
      const j = new FileJournal(p.paths.journal);
      const e = await j.open().then(
        () => null,
        (err: unknown) => err,
      );
      expect(e, what).toBeInstanceOf(JournalMigrationError);
      expect((e as Error).message).toMatch(pattern);
      expect((e as Error).message).toContain(p.paths.journal);
      expect((e as Error).message).toMatch(/Refusing to start/);
      expect(readdirSync(p.dir).sort(), what).toEqual(before);
      expect(readFileSync(p.paths.journal).equals(b)).toBe(true);
      await expect(j.sync()).rejects.toThrow(/JOURNAL_FAILED/);
    }
  });

  it('a missing meta gives commit index 1; an unreadable one too, with a warning, and is kept', async () => {
    const a = placePython(golden, '127.0.0.1:1', false);
    expect((await openJournal(a.paths.journal)).state.commitIndex).toBe(1);
    expectImported(a);

    const b = placePython(golden);
    writeFileSync(b.paths.meta, 'not a pickle');
    const { state, log } = await openJournal(b.paths.journal);
    expect(state.commitIndex).toBe(1);
    expect(log.lines.some((l) => l.level === 'warn' && l.obj.file === b.paths.meta)).toBe(true);
    expect(readFileSync(b.paths.metaBackup, 'utf8')).toBe('not a pickle');
  });

  it('an existing, different backup is never overwritten', async () => {
    const p = placePython(golden);
    writeFileSync(p.paths.journalBackup, 'an older backup');
    writeFileSync(p.paths.metaBackup, 'an older meta backup');
    await openJournal(p.paths.journal);
    expect(readFileSync(p.paths.journalBackup, 'utf8')).toBe('an older backup');
    expect(readFileSync(`${p.paths.journalBackup}.1`).equals(p.journalBytes)).toBe(true);
    expect(readFileSync(p.paths.metaBackup, 'utf8')).toBe('an older meta backup');
    expect(readFileSync(`${p.paths.metaBackup}.1`).equals(p.metaBytes as Buffer)).toBe(true);
  });

  it('an import interrupted before the switch is redone, reusing the backup it made', async () => {
    const p = placePython(golden);
    copyFileSync(p.paths.journal, p.paths.journalBackup); // step 3 done, crash before the rename
    writeFileSync(p.paths.journalTmp, 'half-written journal');
    const { state } = await openJournal(p.paths.journal);
    expect(summary(state)).toMatchObject({ count: 5, commitIndex: 4 });
    expect(existsSync(`${p.paths.journalBackup}.1`)).toBe(false);
    expectImported(p);
  });

  it('an import interrupted after the switch: the leftover Python meta is moved aside at the next open', async () => {
    const p = placePython(golden);
    await openJournal(p.paths.journal);
    copyFileSync(p.paths.metaBackup, p.paths.meta); // as if the meta rename had not happened
    const { state, log } = await openJournal(p.paths.journal);
    expect(state.commitIndex).toBe(4);
    expect(existsSync(p.paths.meta)).toBe(false);
    expect(existsSync(`${p.paths.metaBackup}.1`)).toBe(true);
    expect(log.lines.some((l) => l.msg.includes('leftover pysyncobj meta'))).toBe(true);
  });

  it('migratePysyncobj: false refuses the Python journal', async () => {
    const p = placePython(golden);
    const j = new FileJournal(p.paths.journal, { migratePysyncobj: false });
    await expect(j.open()).rejects.toThrow(/pysyncobj journal and importing it is disabled/);
    expect(readFileSync(p.paths.journal).equals(p.journalBytes)).toBe(true);
  });
});

describe('journalPaths', () => {
  it("Patroni's names, with the colon kept (and `_` on Windows)", () => {
    expect(journalPaths('/var/lib/raft', '10.0.0.1:2222', { windows: false })).toEqual({
      journal: '/var/lib/raft/10.0.0.1:2222.journal',
      meta: '/var/lib/raft/10.0.0.1:2222.journal.meta',
      metaTmp: '/var/lib/raft/10.0.0.1:2222.journal.meta.tmp',
      journalTmp: '/var/lib/raft/10.0.0.1:2222.journal.tmp',
      journalBackup: '/var/lib/raft/10.0.0.1:2222.journal.pysyncobj-backup',
      metaBackup: '/var/lib/raft/10.0.0.1:2222.journal.meta.pysyncobj-backup',
      dump: '/var/lib/raft/10.0.0.1:2222.dump',
      dumpTmp: '/var/lib/raft/10.0.0.1:2222.dump.tmp',
      dumpRecvTmp: '/var/lib/raft/10.0.0.1:2222.dump.1.tmp',
      lock: '/var/lib/raft/10.0.0.1:2222.lock',
    });
    expect(journalPaths('/var/lib/raft/', 'h:1', { windows: false }).journal).toBe(
      '/var/lib/raft/h:1.journal',
    );
    expect(journalPaths('', 'h:1', { windows: false }).dump).toBe('h:1.dump');
    expect(journalPaths('C:\\raft', '10.0.0.1:2222', { windows: true }).journal).toBe(
      'C:\\raft\\10.0.0.1_2222.journal',
    );
    expect(() => journalPaths('/x', '')).toThrow(/self_addr/);
  });

  it("matches Patroni's own file_template (os.path.join) for a few data_dirs", () => {
    if (!existsSync(PYTHON)) return;
    for (const dir of ['/var/lib/raft', './data/', 'rel']) {
      const py = spawnSync(
        PYTHON,
        ['-c', `import os,sys; print(os.path.join(sys.argv[1], sys.argv[2]) + '.journal')`, dir, 'h:7'],
        {
          encoding: 'utf8',
        },
      ).stdout.trim();
      expect(journalPaths(dir, 'h:7', { windows: false }).journal).toBe(py);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// files written by the real pysyncobj, now

/** Entries as the Python side reports them: [idx, term, hex command]. */
type PyEntries = [number, number, string][];

function fromPy(entries: PyEntries): LogEntry[] {
  return entries.map(([index, term, hex]) => ({
    index,
    term,
    command: new Uint8Array(Buffer.from(hex, 'hex')),
  }));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

describePython('migration of journals written by the real pysyncobj', () => {
  it('pysyncobj.journal.FileJournal: adds, a compaction, a truncation, the meta; then FileJournal imports it', async () => {
    const dir = tmp.dir();
    const paths = journalPaths(dir, '127.0.0.1:5555', { windows: false });
    const out = runPython(
      `
import json
from pysyncobj.journal import FileJournal
j = FileJournal(${JSON.stringify(paths.journal)})
j.add(b'\\x01', 1, 0)
for i in range(2, 40):
    j.add(b'\\x00' + bytes([i % 256]) * (i * 7), i, 1 + i // 10)
j.deleteEntriesTo(5)          # compaction: keep idx 6..39 (list positions from 5)
j.deleteEntriesFrom(30)       # truncation: drop list positions 30.. (idx 36..39)
j.add(b'\\x00tail', 36, 5)
j.setRaftCommitIndex(33)
j.onOneSecondTimer()          # writes the .meta (tmp + rename)
print(json.dumps([[e[1], e[2], bytes(e[0]).hex()] for e in j]))
j._destroy()
`,
    );
    const pyEntries = JSON.parse(out) as PyEntries;
    expect(pyEntries[0]?.[0]).toBe(6);
    const journalBytes = readFileSync(paths.journal);
    const metaBytes = readFileSync(paths.meta);
    const { state } = await openJournal(paths.journal);
    expect(state.entries).toEqual(fromPy(pyEntries));
    expect(state.commitIndex).toBe(33);
    expect(state.hardState).toEqual({ term: 5, votedFor: null });
    expectImported({ dir, paths, journalBytes, metaBytes });
  });

  it('a single-node SyncObj with journalFile: its log (NO_OP, then replicated calls) and commit index', async () => {
    const dir = tmp.dir();
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const paths = journalPaths(dir, addr, { windows: false });
    const out = runPython(
      `
import json, time
from pysyncobj import SyncObj, SyncObjConf, replicated
class Counter(SyncObj):
    def __init__(self, conf):
        super().__init__(${JSON.stringify(addr)}, [], conf)
        self.v = 0
    @replicated
    def inc(self, n):
        self.v += n
        return self.v
o = Counter(SyncObjConf(journalFile=${JSON.stringify(paths.journal)}, autoTick=False, appendEntriesUseBatch=False))
deadline = time.time() + 20
while not o._isLeader() and time.time() < deadline:
    o.doTick(0.01)
done = []
for i in range(6):
    o.inc(i + 1, callback=lambda r, e: done.append((r, e)))
while len(done) < 6 and time.time() < deadline:
    o.doTick(0.01)
t = time.time()
while time.time() - t < 1.2:   # the meta is written by the one-second timer
    o.doTick(0.05)
status = o.getStatus()
log = o._SyncObj__raftLog
print(json.dumps({'v': o.v, 'commit': status['commit_idx'], 'entries': [[e[1], e[2], bytes(e[0]).hex()] for e in log]}))
o.destroy()
`,
    );
    const py = JSON.parse(out) as { v: number; commit: number; entries: PyEntries };
    expect(py.v).toBe(21);
    const journalBytes = readFileSync(paths.journal);
    const metaBytes = readFileSync(paths.meta);
    const { state } = await openJournal(paths.journal);
    expect(state.entries).toEqual(fromPy(py.entries));
    expect(state.entries.length).toBe(8); // NO_OP (1, 0), the leader's NO_OP, six calls
    expect(state.commitIndex).toBe(py.commit);
    expect(state.hardState).toEqual({ term: py.entries.at(-1)?.[1], votedFor: null });
    expectImported({ dir, paths, journalBytes, metaBytes });
  });
});
