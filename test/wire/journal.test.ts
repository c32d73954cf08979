/**
 * pysyncobj journal files (vector kinds `journal`, `journal-meta`), the real Patroni node files of
 * capture/plain-files, and corrupt inputs.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  JournalErrorCode,
  JournalFormatError,
  type PysyncobjJournal,
  parsePysyncobjJournal,
  parsePysyncobjJournalMeta,
  readPysyncobjJournalFile,
  readPysyncobjJournalMetaFile,
} from '../../src/raft/journal/pysyncobj-journal.js';
import { encodePickle } from '../../src/wire/pickle/index.js';
import { dict, type PyValue, pyEquals, pyRepr, tuple } from '../../src/wire/value.js';
import { fromTypedJson, type TypedJson } from '../helpers/typed-json.js';
import { VECTORS_DIR, vectorBytes, vectorIndex } from '../helpers/vectors.js';

const index = vectorIndex();
const byKind = (kind: string) => index.vectors.filter((v) => v.kind === kind);

function asValue(j: PysyncobjJournal): PyValue {
  return j.entries.map((e) => tuple(e.command, e.idx, e.term));
}

function expectJournalError(fn: () => unknown, code: JournalErrorCode): JournalFormatError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof JournalFormatError))
      throw new Error(`expected JournalFormatError ${code}, got ${String(e)}`);
    expect(e.code, e.message).toBe(code);
    return e;
  }
  throw new Error(`expected JournalFormatError ${code}, nothing was thrown`);
}

/** Build a journal file the way FileJournal writes it. */
function buildJournal(entries: [Buffer, number, number][], fileBytes = 1024, version = '0.3.11'): Buffer {
  const records = entries.map(([cmd, idx, term]) => {
    const r = Buffer.alloc(4 + 16 + cmd.length + 4);
    r.writeUInt32LE(16 + cmd.length, 0);
    r.writeBigUInt64LE(BigInt(idx), 4);
    r.writeBigUInt64LE(BigInt(term), 12);
    cmd.copy(r, 20);
    r.writeUInt32LE(16 + cmd.length, 20 + cmd.length);
    return r;
  });
  const body = Buffer.concat(records);
  const file = Buffer.alloc(Math.max(fileBytes, 40 + body.length));
  file.write('PYSYNCOBJ', 0, 'latin1');
  file.write(version, 24, 'latin1');
  file.writeUInt32LE(1, 32);
  file.writeUInt32LE(40 + body.length, 36);
  body.copy(file, 40);
  return file;
}

describe('journal vectors', () => {
  for (const v of byKind('journal')) {
    it(v.name, () => {
      const j = parsePysyncobjJournal(vectorBytes(v.file));
      const expected = fromTypedJson(v.value as TypedJson);
      if (!pyEquals(asValue(j), expected)) throw new Error(`${pyRepr(asValue(j))} != ${pyRepr(expected)}`);
      expect(j.appName).toBe('PYSYNCOBJ');
      expect(j.formatVersion).toBe(1);
      expect(j.appVersion).toBe(v.app_version ?? '0.3.11');
      if (v.last_record_offset !== undefined) expect(j.lastRecordOffset).toBe(v.last_record_offset);
      if (v.file_size !== undefined) expect(j.fileBytes).toBe(v.file_size);
      expect(j.entries[0]?.recordOffset).toBe(40);
    });
  }
  for (const v of byKind('journal-meta')) {
    it(v.name, () => {
      const expected = fromTypedJson(v.value as TypedJson) as Map<string, PyValue>;
      const meta = parsePysyncobjJournalMeta(vectorBytes(v.file));
      expect(meta).toEqual({ raftCommitIndex: expected.get('raftCommitIndex'), present: true });
    });
  }
});

describe('the real Patroni node files (capture/plain-files)', () => {
  const dir = join(VECTORS_DIR, 'capture/plain-files');
  const names = readdirSync(dir);
  const journals = names.filter((n) => n.endsWith('.journal'));
  it('has the four nodes', () => {
    expect(journals).toHaveLength(4);
  });
  for (const name of journals) {
    it(name, async () => {
      const j = await readPysyncobjJournalFile(join(dir, name));
      expect(j.entries.length).toBeGreaterThan(0);
      expect(j.lastRecordOffset).toBeLessThanOrEqual(j.fileBytes);
      // every command is a type byte 0…3 (NO_OP alone)
      for (const e of j.entries) {
        expect([0, 1, 2, 3]).toContain(e.command[0]);
        if (e.command[0] === 1) expect(e.command.length).toBe(1);
      }
      const meta = await readPysyncobjJournalMetaFile(join(dir, `${name}.meta`));
      expect(meta.present).toBe(true);
      const last = j.entries[j.entries.length - 1]?.idx ?? 0;
      expect(meta.raftCommitIndex).toBeLessThanOrEqual(last);
      expect(meta.raftCommitIndex).toBeGreaterThanOrEqual(j.entries[0]?.idx ?? 0);
    });
  }
  it('the journal vector copied from node 21002 equals its file', () => {
    const a = parsePysyncobjJournal(vectorBytes('journal/kvstorettl_real.journal'));
    const b = parsePysyncobjJournal(vectorBytes('capture/plain-files/127.0.0.1_21002.journal'));
    expect(pyEquals(asValue(a), asValue(b))).toBe(true);
  });
});

describe('corrupt journals', () => {
  const good = buildJournal([
    [Buffer.from([1]), 1, 0],
    [Buffer.from('00800258', 'hex'), 2, 1],
    [Buffer.from([1]), 3, 1],
  ]);

  it('our builder matches the format (sanity)', () => {
    const j = parsePysyncobjJournal(good);
    expect(j.entries.map((e) => [e.idx, e.term, e.command.toString('hex')])).toEqual([
      [1, 0, '01'],
      [2, 1, '00800258'],
      [3, 1, '01'],
    ]);
    expect(j.lastRecordOffset).toBe(40 + 25 + 28 + 25);
    // an empty journal (fresh FileJournal) has no entries
    expect(parsePysyncobjJournal(buildJournal([])).entries).toEqual([]);
  });

  it('too short for a header', () => {
    for (const n of [0, 1, 39])
      expectJournalError(() => parsePysyncobjJournal(good.subarray(0, n)), JournalErrorCode.TooShort);
  });

  it('bad magic', () => {
    for (const mutate of [
      (b: Buffer) => b.write('PYSYNCOBX', 0, 'latin1'),
      (b: Buffer) => b.write('pysyncobj', 0, 'latin1'),
      (b: Buffer) => {
        b[20] = 0x41; // garbage after the NUL padding
      },
    ]) {
      const b = Buffer.from(good);
      mutate(b);
      expectJournalError(() => parsePysyncobjJournal(b), JournalErrorCode.BadMagic);
    }
  });

  it('unsupported format version', () => {
    const b = Buffer.from(good);
    b.writeUInt32LE(2, 32);
    expectJournalError(() => parsePysyncobjJournal(b), JournalErrorCode.UnsupportedFormat);
  });

  it('last-record offset outside the file', () => {
    for (const off of [0, 39, good.length + 1, 0xffffffff]) {
      const b = Buffer.from(good);
      b.writeUInt32LE(off, 36);
      expectJournalError(() => parsePysyncobjJournal(b), JournalErrorCode.BadLastRecordOffset);
    }
  });

  it('truncated: a record runs past the last-record offset or the file end', () => {
    const last = good.readUInt32LE(36);
    for (const cut of [last - 1, last - 4, last - 10, 41, 43]) {
      const b = Buffer.from(good);
      b.writeUInt32LE(cut, 36); // the header claims less than the records take
      expectJournalError(() => parsePysyncobjJournal(b), JournalErrorCode.RecordOverrun);
    }
    // the file itself cut short: the header now points past the end
    expectJournalError(
      () => parsePysyncobjJournal(good.subarray(0, last - 2)),
      JournalErrorCode.BadLastRecordOffset,
    );
    // a huge size field
    const h = Buffer.from(good);
    h.writeUInt32LE(0xfffffff0, 40);
    expectJournalError(() => parsePysyncobjJournal(h), JournalErrorCode.RecordOverrun);
  });

  it('size mismatch between leading and trailing size fields', () => {
    const b = Buffer.from(good);
    b.writeUInt32LE(17 + 1, 40 + 4 + 17); // trailing size of the first record (n = 17)
    expectJournalError(() => parsePysyncobjJournal(b), JournalErrorCode.SizeMismatch);
  });

  it('record smaller than idx + term', () => {
    const b = Buffer.from(good);
    b.writeUInt32LE(8, 40);
    expectJournalError(() => parsePysyncobjJournal(b), JournalErrorCode.RecordTooSmall);
  });

  it('log order (consecutive idx, non-decreasing term) unless disabled', () => {
    const gap = buildJournal([
      [Buffer.from([1]), 1, 0],
      [Buffer.from([1]), 3, 1],
    ]);
    expectJournalError(() => parsePysyncobjJournal(gap), JournalErrorCode.BadLogOrder);
    expect(parsePysyncobjJournal(gap, { checkLogInvariants: false }).entries).toHaveLength(2);
    const termDown = buildJournal([
      [Buffer.from([1]), 1, 2],
      [Buffer.from([1]), 2, 1],
    ]);
    expectJournalError(() => parsePysyncobjJournal(termDown), JournalErrorCode.BadLogOrder);
  });

  it('idx beyond 2^53 − 1', () => {
    const b = buildJournal([[Buffer.from([1]), 1, 0]]);
    b.writeBigUInt64LE(2n ** 60n, 44);
    expectJournalError(() => parsePysyncobjJournal(b), JournalErrorCode.ValueOutOfRange);
  });

  it('random corruption never throws anything but JournalFormatError', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const real = vectorBytes('journal/golden.journal');
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(rnd(2) ? real : good);
      for (let k = 1 + rnd(4); k > 0; k--) b[rnd(Math.min(b.length, 700))] = rnd(256);
      try {
        parsePysyncobjJournal(b.subarray(0, rnd(3) === 0 ? rnd(b.length) : b.length));
      } catch (e) {
        expect(e).toBeInstanceOf(JournalFormatError);
      }
    }
  });
});

describe('journal meta', () => {
  it('a dict without raftCommitIndex means 1 (as pysyncobj)', () => {
    expect(parsePysyncobjJournalMeta(encodePickle(dict({})))).toEqual({ raftCommitIndex: 1, present: false });
  });
  it('bad meta: not a pickle, not a dict, not an int', () => {
    for (const bytes of [
      Buffer.from('garbage'),
      Buffer.alloc(0),
      encodePickle([1, 2]),
      encodePickle(dict({ raftCommitIndex: 'x' })),
      encodePickle(dict({ raftCommitIndex: -1 })),
      encodePickle(dict({ raftCommitIndex: 2n ** 70n })),
    ]) {
      try {
        parsePysyncobjJournalMeta(bytes);
        throw new Error('accepted');
      } catch (e) {
        expect(e).toBeInstanceOf(JournalFormatError);
        expect((e as JournalFormatError).code).toBe(JournalErrorCode.BadMeta);
      }
    }
  });
  it('file reader: missing file → 1, not present', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-meta-'));
    expect(await readPysyncobjJournalMetaFile(join(dir, 'none.journal.meta'))).toEqual({
      raftCommitIndex: 1,
      present: false,
    });
    writeFileSync(join(dir, 'x.journal.meta'), encodePickle(dict({ raftCommitIndex: 42 })));
    expect(await readPysyncobjJournalMetaFile(join(dir, 'x.journal.meta'))).toEqual({
      raftCommitIndex: 42,
      present: true,
    });
  });
});
