/**
 * Fault injection on journal files: torn tails (every cut inside the last record, every damaged
 * byte of it, trailing zeros, a hole inside the last write batch) are cut off and logged; damage
 * that earlier-synced records follow is a JournalCorruptError naming the offset; leftovers
 * (`.tmp`, empty file) are coped with.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JournalCorruptError } from '../../src/raft/journal/errors.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import {
  encodeFileHeader,
  encodeRecords,
  FILE_HEADER_BYTES,
  parseRecordAt,
} from '../../src/raft/journal/format.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import type { JournalState } from '../../src/raft/journal/types.js';
import { entries, entry, makeTempDirs, recordingLogger } from './journal-helpers.js';

const tmp = makeTempDirs('journal-recovery');
afterAll(() => tmp.cleanup());

/** Record offsets of a journal file (all records must be valid). */
function recordOffsets(bytes: Buffer): number[] {
  const out: number[] = [];
  let at = FILE_HEADER_BYTES;
  while (at < bytes.length) {
    const r = parseRecordAt(bytes, at, bytes.length);
    if (!r.ok) throw new Error(`bad record at ${at}: ${r.reason}`);
    out.push(at);
    at = r.end;
  }
  return out;
}

async function openAt(
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

async function expectCorrupt(path: string, offset: number, code = 'JOURNAL_CORRUPT_RECORD'): Promise<void> {
  const j = new FileJournal(path);
  const e = await j.open().then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(JournalCorruptError);
  const c = e as JournalCorruptError;
  expect(c.code).toBe(code);
  expect(c.offset).toBe(offset);
  expect(c.file).toBe(path);
  expect(c.message).toContain(`offset ${offset}`);
  expect(c.message).toContain(path);
}

/**
 * A journal of single-record write batches (each op synced on its own), and the expected state
 * after each record: states[i] = state with records 0..i.
 */
let base: { bytes: Buffer; offsets: number[]; states: JournalState[] };

beforeAll(async () => {
  const path = `${tmp.dir()}/base.journal`;
  const j = new FileJournal(path);
  const m = new MemoryJournal();
  await j.open();
  const states: JournalState[] = [];
  const ops: ((x: FileJournal | MemoryJournal) => void)[] = [
    (x) => x.writeHardState({ term: 1, votedFor: 'a:1' }), // the fresh file's own hard-state record comes first
    (x) => x.append(entries(2, 4, 1, 20)),
    (x) => x.setCommitIndex(3),
    (x) => x.append([entry(5, 2, 50)]),
    (x) => x.truncateFrom(5),
    (x) => x.append(entries(5, 6, 3, 30)),
    (x) => x.writeHardState({ term: 3, votedFor: null }),
    (x) => x.append([entry(7, 3, 64)]),
  ];
  states.push(m.snapshot()); // the fresh file's hard-state record
  for (const op of ops) {
    op(j);
    op(m);
    await j.sync();
    states.push(m.snapshot());
  }
  await j.close();
  const bytes = readFileSync(path);
  const offsets = recordOffsets(bytes);
  expect(offsets).toHaveLength(states.length);
  base = { bytes, offsets, states };
});

function place(bytes: Buffer): string {
  const path = `${tmp.dir()}/127.0.0.1:2222.journal`;
  writeFileSync(path, bytes);
  return path;
}

describe('torn tail', () => {
  it('a cut at every byte offset inside the last record recovers the previous state, cuts the file and logs it', async () => {
    const { bytes, offsets, states } = base;
    const last = offsets[offsets.length - 1] as number;
    const dir = tmp.dir();
    for (let cut = last + 1; cut < bytes.length; cut++) {
      const path = `${dir}/cut-${cut}.journal`;
      writeFileSync(path, bytes.subarray(0, cut));
      const { state, log } = await openAt(path);
      expect(state, `cut at ${cut}`).toEqual(states[states.length - 2]);
      const warn = log.lines.find((l) => l.level === 'warn');
      expect(warn?.obj).toMatchObject({ offset: last, droppedBytes: cut - last, tail: 'torn', file: path });
      expect(statSync(path).size).toBe(last);
    }
  });

  it('a cut exactly between records is a clean file', async () => {
    const { bytes, offsets, states } = base;
    const path = place(bytes.subarray(0, offsets[3] as number));
    const { state, log } = await openAt(path);
    expect(state).toEqual(states[2]);
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('a flipped bit anywhere in the last record: cut off and logged', async () => {
    const { bytes, offsets, states } = base;
    const last = offsets[offsets.length - 1] as number;
    const dir = tmp.dir();
    for (let at = last; at < bytes.length; at++) {
      const b = Buffer.from(bytes);
      b[at] = (b[at] as number) ^ (1 << (at % 8));
      const path = `${dir}/flip-${at}.journal`;
      writeFileSync(path, b);
      const { state, log } = await openAt(path);
      expect(state, `flip at ${at}`).toEqual(states[states.length - 2]);
      const warn = log.lines.find((l) => l.level === 'warn');
      expect(warn?.obj).toMatchObject({ offset: last, droppedBytes: bytes.length - last });
    }
  });

  it('trailing zeros (preallocated space) are fine: same state, file cut back, logged at info', async () => {
    const { bytes, states } = base;
    const path = place(Buffer.concat([bytes, Buffer.alloc(10_000)]));
    const { state, log } = await openAt(path);
    expect(state).toEqual(states[states.length - 1]);
    expect(log.lines.find((l) => l.level === 'info' && l.obj.tail === 'zeros')?.obj).toMatchObject({
      offset: bytes.length,
      droppedBytes: 10_000,
    });
    expect(statSync(path).size).toBe(bytes.length);
    // and it keeps working after the cut
    const j = new FileJournal(path);
    await j.open();
    j.append([entry(8, 3)]);
    await j.close();
    expect((await openAt(path)).state.entries.at(-1)?.index).toBe(8);
  });

  it('garbage after a torn record with no valid record in it is a torn tail', async () => {
    const { bytes, offsets, states } = base;
    const last = offsets[offsets.length - 1] as number;
    const garbage = Buffer.alloc(3000);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
    const path = place(Buffer.concat([bytes.subarray(0, last + 9), garbage]));
    const { state } = await openAt(path);
    expect(state).toEqual(states[states.length - 2]);
  });
});

describe('damage before the tail', () => {
  it('a flipped bit in every byte of a middle record is a JournalCorruptError naming its offset', async () => {
    const { bytes, offsets } = base;
    const dir = tmp.dir();
    for (const k of [1, 3]) {
      const start = offsets[k] as number;
      const end = offsets[k + 1] as number;
      for (let at = start; at < end; at++) {
        const b = Buffer.from(bytes);
        b[at] = (b[at] as number) ^ (1 << (at % 8));
        const path = `${dir}/mid-${k}-${at}.journal`;
        writeFileSync(path, b);
        await expectCorrupt(path, start);
      }
    }
  });

  it('bytes cut out of a middle record (the rest shifted) is a JournalCorruptError', async () => {
    const { bytes, offsets } = base;
    const start = offsets[2] as number;
    for (const [from, len] of [
      [start, 1],
      [start + 3, 5],
      [start + 17, 4],
    ] as const) {
      const b = Buffer.concat([bytes.subarray(0, from), bytes.subarray(from + len)]);
      await expectCorrupt(place(b), start);
    }
  });

  it('a middle record overwritten by zeros is a JournalCorruptError', async () => {
    const { bytes, offsets } = base;
    const b = Buffer.from(bytes);
    b.fill(0, offsets[4] as number, offsets[5] as number);
    await expectCorrupt(place(b), offsets[4] as number);
  });

  it('a damaged header is refused', async () => {
    const b = Buffer.from(base.bytes);
    b[9] = (b[9] as number) ^ 1; // the version field: the header checksum catches it
    await expectCorrupt(place(b), 12, 'JOURNAL_BAD_HEADER');
    await expectCorrupt(place(base.bytes.subarray(0, 10)), 0, 'JOURNAL_BAD_HEADER');
    await expectCorrupt(place(Buffer.from('not a journal at all, no no no')), 0, 'JOURNAL_BAD_MAGIC');
  });

  it('an intact record this build cannot apply is refused, even at the tail', async () => {
    // a valid checksum over an append that leaves a gap after the first entry
    const gap = Buffer.concat([
      encodeFileHeader(),
      encodeRecords([{ kind: 'append', entries: [entry(5, 1)] }]),
    ]);
    await expectCorrupt(place(gap), FILE_HEADER_BYTES, 'JOURNAL_BAD_RECORD');
    // an unknown record kind with a valid checksum (a newer writer): not a torn write
    const rec = encodeRecords([{ kind: 'commitIndex', index: 9 }]);
    rec[8] = 42;
    const { crc32 } = await import('node:zlib');
    rec.writeUInt32LE(crc32(rec.subarray(4)), 0);
    await expectCorrupt(
      place(Buffer.concat([encodeFileHeader(), rec])),
      FILE_HEADER_BYTES,
      'JOURNAL_BAD_RECORD',
    );
  });
});

describe('a torn last write batch (pages written out of order before the fsync)', () => {
  /** base + one more batch of several records (one sync) */
  async function withFinalBatch(): Promise<{ bytes: Buffer; batchStart: number; before: JournalState }> {
    const path = place(base.bytes);
    const j = new FileJournal(path);
    const before = await j.open();
    j.append([entry(8, 3, 40)]);
    j.writeHardState({ term: 4, votedFor: 'b:2' });
    j.append([entry(9, 4, 40)]);
    j.truncateFrom(9);
    j.append([entry(9, 4, 50)]);
    await j.close();
    return { bytes: readFileSync(path), batchStart: base.bytes.length, before };
  }

  it('a hole inside the last batch with valid records of that batch after it: dropped with the batch, logged', async () => {
    const { bytes, batchStart, before } = await withFinalBatch();
    const offsets = recordOffsets(bytes).filter((o) => o >= batchStart);
    expect(offsets.length).toBeGreaterThanOrEqual(4);
    for (const k of [0, 1, 2]) {
      const b = Buffer.from(bytes);
      b.fill(0, offsets[k] as number, (offsets[k] as number) + 20);
      const path = place(b);
      const { state, log } = await openAt(path);
      // everything before the hole is kept (records of the batch before it are fine)
      const m = new MemoryJournal(before);
      const replay: (() => void)[] = [
        () => m.append([entry(8, 3, 40)]),
        () => m.writeHardState({ term: 4, votedFor: 'b:2' }),
        () => m.append([entry(9, 4, 40)]),
      ];
      for (let i = 0; i < k; i++) replay[i]?.();
      expect(state, `hole in record ${k}`).toEqual(m.snapshot());
      expect(log.lines.find((l) => l.level === 'warn')?.obj).toMatchObject({
        offset: offsets[k],
        tail: 'torn-batch',
        droppedBytes: bytes.length - (offsets[k] as number),
      });
    }
  });

  it('the same hole is corruption once a later batch follows', async () => {
    const { bytes, batchStart } = await withFinalBatch();
    const path = place(bytes);
    const j = new FileJournal(path);
    await j.open();
    j.append([entry(10, 4)]);
    await j.close(); // a later, synced batch
    const b = readFileSync(path);
    const hole = (recordOffsets(b).find((o) => o > batchStart) as number) + 0;
    b.fill(0, hole, hole + 20);
    await expectCorrupt(place(b), hole);
  });
});

describe('leftovers', () => {
  it('a leftover .tmp next to the journal is ignored and removed', async () => {
    const path = place(base.bytes);
    writeFileSync(`${path}.tmp`, Buffer.concat([encodeFileHeader(), Buffer.from('half a rewrite')]));
    const { state, log } = await openAt(path);
    expect(state).toEqual(base.states[base.states.length - 1]);
    expect(() => statSync(`${path}.tmp`)).toThrow();
    expect(log.lines.some((l) => l.obj.file === `${path}.tmp`)).toBe(true);
  });

  it('a leftover .tmp without a journal: fresh start', async () => {
    const path = `${tmp.dir()}/x.journal`;
    writeFileSync(`${path}.tmp`, 'junk');
    const { state } = await openAt(path);
    expect(state).toEqual(new MemoryJournal().snapshot());
    expect(() => statSync(`${path}.tmp`)).toThrow();
  });

  it('an empty journal file: fresh start, with a warning', async () => {
    const path = place(Buffer.alloc(0));
    const { state, log } = await openAt(path);
    expect(state).toEqual(new MemoryJournal().snapshot());
    expect(log.lines.some((l) => l.level === 'warn')).toBe(true);
    expect(statSync(path).size).toBeGreaterThan(FILE_HEADER_BYTES);
  });
});
