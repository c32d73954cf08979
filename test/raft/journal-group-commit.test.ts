/**
 * Group commit, observed through an instrumented file handle: many concurrent append + sync calls
 * cost few fdatasyncs; every sync() resolves only after an fdatasync that covers its write; fsyncs
 * never overlap and no write runs during one; a failed fsync fails the journal for good.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { JournalStateError } from '../../src/raft/journal/errors.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { scanJournal } from '../../src/raft/journal/format.js';
import { JournalModel } from '../../src/raft/journal/log-state.js';
import { entry, type FsEvent, instrumentedFs, makeTempDirs } from './journal-helpers.js';

const tmp = makeTempDirs('journal-group');
afterAll(() => tmp.cleanup());

/** The last entry index in the first `size` bytes of the journal file. */
function lastIndexIn(path: string, size: number): number {
  const model = new JournalModel();
  scanJournal(readFileSync(path).subarray(0, size), path, (op) => {
    model.apply(op);
  });
  return model.lastIndex;
}

/** No journal write while a datasync of the journal runs, and never two datasyncs at once. */
function checkNoOverlap(events: readonly FsEvent[], path: string): void {
  let syncing = false;
  for (const e of events) {
    if (e.path !== path) continue;
    if (e.op === 'datasync') {
      expect(syncing && !e.done, 'two datasyncs at once').toBe(false);
      syncing = !e.done;
    } else if (e.op === 'write') {
      expect(syncing, 'a write during a datasync').toBe(false);
    }
  }
}

describe('group commit', () => {
  it('1000 concurrent writers: far fewer fsyncs than syncs, each sync resolved after an fsync covering its entry', async () => {
    const path = `${tmp.dir()}/g.journal`;
    const fs = instrumentedFs();
    fs.datasyncDelayMs = 2; // a disk that takes a little while
    const j = new FileJournal(path, { fs });
    await j.open();
    const setupSyncs = fs.counts.datasyncs;

    // what the file holds durably: measured when each datasync starts, valid once it is done
    let sizeAtStart = 0;
    let durableLastIndex = 1;
    fs.onDatasyncStart = (p) => {
      if (p === path) sizeAtStart = j.stats().fileBytes;
    };
    fs.onDatasyncDone = (p) => {
      if (p === path) durableLastIndex = lastIndexIn(path, sizeAtStart);
    };

    const writers = 1000;
    let nextIndex = 2;
    const violations: string[] = [];
    const done: Promise<void>[] = [];
    for (let w = 0; w < writers; w++) {
      done.push(
        (async () => {
          // writers arrive spread over ~20 ms, like proposals from many clients
          if (w % 3 === 1) await new Promise((r) => setImmediate(r));
          if (w % 3 === 2) await new Promise((r) => setTimeout(r, w % 20));
          const index = nextIndex++;
          j.append([entry(index, 1, 100)]);
          await j.sync();
          if (durableLastIndex < index)
            violations.push(`sync for ${index} resolved with only ${durableLastIndex} durable`);
        })(),
      );
    }
    await Promise.all(done);
    const fsyncs = fs.counts.datasyncs - setupSyncs;
    console.log(
      `group commit: ${writers} append+sync calls → ${fsyncs} fdatasyncs, ${j.stats().rounds} rounds`,
    );
    expect(violations).toEqual([]);
    expect(fsyncs).toBeGreaterThan(0);
    expect(fsyncs).toBeLessThan(writers / 20);
    expect(j.stats().fsyncs).toBe(fsyncs);
    expect(fs.counts.maxInFlight).toBe(1);
    checkNoOverlap(fs.events, path);
    await j.close();
    const k = new FileJournal(path);
    const state = await k.open();
    expect(state.entries.length).toBe(writers + 1);
    await k.close();
  });

  it('a sync() called while an fsync runs waits for the next fsync, which covers it', async () => {
    const path = `${tmp.dir()}/g.journal`;
    const fs = instrumentedFs();
    const j = new FileJournal(path, { fs });
    await j.open();
    const before = fs.counts.datasyncs;
    fs.datasyncDelayMs = 40;
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => {
      started = r;
    });
    fs.onDatasyncStart = () => started();
    const order: string[] = [];
    j.append([entry(2, 1)]);
    const p1 = j.sync().then(() => order.push('p1'));
    await firstStarted;
    expect(fs.counts.inFlight).toBe(1);
    // arrives during the first fsync: that fsync does not cover entry 3
    j.append([entry(3, 1)]);
    const p2 = j.sync().then(() => order.push('p2'));
    // a third caller with nothing new to write is covered by… the next fsync too (entry 3 is queued)
    const p3 = j.sync().then(() => order.push('p3'));
    await p1;
    expect(order).toEqual(['p1']);
    expect(fs.counts.datasyncs - before).toBe(1);
    await Promise.all([p2, p3]);
    expect(order).toEqual(['p1', 'p2', 'p3']);
    expect(fs.counts.datasyncs - before).toBe(2);
    expect(fs.counts.maxInFlight).toBe(1);
    // nothing queued: resolves without an fsync
    await j.sync();
    expect(fs.counts.datasyncs - before).toBe(2);
    await j.close();
  });

  it('the commit hint rides along with the next write and costs no fsync of its own', async () => {
    const path = `${tmp.dir()}/g.journal`;
    const fs = instrumentedFs();
    const j = new FileJournal(path, { fs });
    await j.open();
    const before = fs.counts.datasyncs;
    j.append([entry(2, 1), entry(3, 1)]);
    for (let c = 1; c <= 3; c++) j.setCommitIndex(c);
    await j.sync();
    expect(fs.counts.datasyncs - before).toBe(1);
    await j.close();
    const k = new FileJournal(path);
    expect((await k.open()).commitIndex).toBe(3);
    await k.close();
  });

  it("fsync: 'never' writes without fdatasync, and the data is there after reopen", async () => {
    const path = `${tmp.dir()}/g.journal`;
    const fs = instrumentedFs();
    const j = new FileJournal(path, { fs, fsync: 'never' });
    await j.open();
    const before = fs.counts.datasyncs;
    const all: Promise<void>[] = [];
    for (let i = 2; i < 100; i++) {
      j.append([entry(i, 1)]);
      all.push(j.sync());
    }
    await Promise.all(all);
    await j.close();
    expect(fs.counts.datasyncs - before).toBe(0);
    expect(fs.events.some((e) => e.op === 'write' && e.path === path)).toBe(true);
    const k = new FileJournal(path);
    expect((await k.open()).entries.length).toBe(99);
    await k.close();
  });

  it('a failed fsync fails the journal: waiters rejected, no retry, later calls refused, close does not hang', async () => {
    const path = `${tmp.dir()}/g.journal`;
    const fs = instrumentedFs();
    const errors: unknown[] = [];
    const j = new FileJournal(path, {
      fs,
      logger: { debug() {}, info() {}, warn() {}, error: (o) => errors.push(o) },
    });
    await j.open();
    fs.failNextDatasync = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    j.append([entry(2, 1)]);
    const p1 = j.sync();
    const p2 = j.sync();
    await expect(p1).rejects.toBeInstanceOf(JournalStateError);
    await expect(p2).rejects.toThrow(/JOURNAL_FAILED.*EIO/);
    const syncsAfterFailure = fs.counts.datasyncs;
    expect(() => j.append([entry(3, 1)])).toThrow(/JOURNAL_FAILED/);
    await expect(j.sync()).rejects.toThrow(/JOURNAL_FAILED/);
    await j.close();
    expect(fs.counts.datasyncs).toBe(syncsAfterFailure);
    expect(errors).toHaveLength(1);
  });
  it('a throwing fsync listener is logged and ignored: the journal keeps working', async () => {
    const path = `${tmp.dir()}/g.journal`;
    const warnings: unknown[] = [];
    let calls = 0;
    const j = new FileJournal(path, {
      logger: { debug() {}, info() {}, warn: (o) => warnings.push(o), error() {} },
      onFsync: () => {
        calls++;
        throw new Error('metrics broke');
      },
    });
    await j.open();
    j.append([entry(2, 1)]);
    await j.sync();
    j.append([entry(3, 1)]);
    await j.sync();
    await j.close();
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(warnings.length).toBe(calls);
    const k = new FileJournal(path);
    expect((await k.open()).entries.length).toBe(3); // the fresh journal's first entry, 2 and 3
    await k.close();
  });
});
