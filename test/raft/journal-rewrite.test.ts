/**
 * Rewriting the journal file when dead records dominate it: the state survives, the file shrinks,
 * writes made during the rewrite are carried over and keep being acknowledged meanwhile, the rename
 * is made durable before anything else is acknowledged, and a failed rewrite leaves the old file in
 * charge.
 */
import { existsSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import { entries, instrumentedFs, makeTempDirs, recordingLogger } from './journal-helpers.js';

const tmp = makeTempDirs('journal-rewrite');
afterAll(() => tmp.cleanup());

/** Churn: append 20 entries of 1 KiB, truncate them away again, keep 1 of them; repeated. */
async function churn(
  j: FileJournal,
  m: MemoryJournal,
  rounds: number,
  concurrentSyncs = false,
): Promise<void> {
  const pending: Promise<void>[] = [];
  for (let r = 0; r < rounds; r++) {
    const last = m.snapshot().entries.at(-1)?.index ?? 1;
    const es = entries(last + 1, last + 20, 1 + r, 1024);
    j.append(es);
    m.append(es);
    j.truncateFrom(last + 2);
    m.truncateFrom(last + 2);
    j.setCommitIndex(last);
    m.setCommitIndex(last);
    const p = j.sync();
    if (concurrentSyncs) pending.push(p);
    else await p;
  }
  await Promise.all(pending);
}

describe('file rewrite', () => {
  it('a file of mostly dead records is rewritten: same state after reopen, smaller file, no .tmp left', async () => {
    const path = `${tmp.dir()}/r.journal`;
    const log = recordingLogger();
    const fs = instrumentedFs();
    const opts = { fs, logger: log, rewriteMinDeadBytes: 256 * 1024, rewriteDeadRatio: 2 };
    const j = new FileJournal(path, opts);
    const m = new MemoryJournal();
    await j.open();
    await churn(j, m, 60);
    await j.close();
    expect(j.stats().rewrites).toBeGreaterThanOrEqual(1);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    // 60 × 20 KiB were written; the file keeps far less
    expect(statSync(path).size).toBeLessThan(600 * 1024);
    expect(log.lines.some((l) => l.msg === 'journal rewritten')).toBe(true);
    // the rename was made durable (directory fsync) before any later fsync of the journal
    const renameAt = fs.events.findIndex((e) => e.op === 'rename' && e.path === `${path}.tmp`);
    expect(renameAt).toBeGreaterThan(0);
    const after = fs.events.slice(renameAt + 1);
    const firstDirSync = after.findIndex((e) => e.op === 'syncDir');
    const firstDatasync = after.findIndex((e) => e.op === 'datasync');
    expect(firstDirSync).toBeGreaterThanOrEqual(0);
    if (firstDatasync >= 0) expect(firstDirSync).toBeLessThan(firstDatasync);

    const k = new FileJournal(path);
    expect(await k.open()).toEqual(m.snapshot());
    await k.close();
  });

  it('writes queued during a slow rewrite are acknowledged meanwhile and carried into the new file', async () => {
    const path = `${tmp.dir()}/r.journal`;
    const log = recordingLogger();
    const fs = instrumentedFs();
    // the temporary's fsync is slow; the journal's are not
    fs.datasyncDelayMs = (p) => (p.endsWith('.tmp') ? 150 : 0);
    const j = new FileJournal(path, {
      fs,
      logger: log,
      rewriteMinDeadBytes: 128 * 1024,
      rewriteDeadRatio: 1,
    });
    const m = new MemoryJournal();
    await j.open();
    let acknowledgedDuringRewrite = 0;
    const rewriting = () =>
      log.lines.some((l) => l.msg.startsWith('journal: rewriting')) &&
      !log.lines.some((l) => l.msg === 'journal rewritten');
    for (let r = 0; r < 40; r++) {
      await churn(j, m, 1);
      if (rewriting()) acknowledgedDuringRewrite++;
    }
    await j.close();
    expect(j.stats().rewrites).toBeGreaterThanOrEqual(1);
    expect(acknowledgedDuringRewrite).toBeGreaterThan(0);
    const k = new FileJournal(path);
    expect(await k.open()).toEqual(m.snapshot());
    await k.close();
  });

  it('many concurrent syncs across rewrites lose nothing', async () => {
    const path = `${tmp.dir()}/r.journal`;
    const j = new FileJournal(path, { rewriteMinDeadBytes: 64 * 1024, rewriteDeadRatio: 1 });
    const m = new MemoryJournal();
    await j.open();
    await churn(j, m, 80, true);
    await j.close();
    expect(j.stats().rewrites).toBeGreaterThanOrEqual(1);
    const k = new FileJournal(path);
    expect(await k.open()).toEqual(m.snapshot());
    await k.close();
  });

  it('a failed rewrite keeps the old file, logs, and the journal carries on', async () => {
    const path = `${tmp.dir()}/r.journal`;
    const log = recordingLogger();
    const base = instrumentedFs();
    let failTmp = true;
    const fs = {
      ...base,
      open: async (p: string, flags: string) => {
        if (failTmp && p.endsWith('.tmp') && flags === 'w' && (await base.exists(path))) {
          throw Object.assign(new Error(`ENOSPC: no space left on device, open '${p}'`), { code: 'ENOSPC' });
        }
        return base.open(p, flags);
      },
    };
    const j = new FileJournal(path, { fs, logger: log, rewriteMinDeadBytes: 64 * 1024, rewriteDeadRatio: 1 });
    const m = new MemoryJournal();
    await j.open();
    await churn(j, m, 20);
    expect(log.lines.some((l) => l.level === 'error' && l.msg.includes('rewrite failed'))).toBe(true);
    expect(j.stats().rewrites).toBe(0);
    failTmp = false;
    await churn(j, m, 40); // a later attempt (after the backoff) succeeds
    await j.close();
    expect(j.stats().rewrites).toBeGreaterThanOrEqual(1);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    const k = new FileJournal(path);
    expect(await k.open()).toEqual(m.snapshot());
    await k.close();
  });

  it('the default thresholds leave a small file alone', async () => {
    const path = `${tmp.dir()}/r.journal`;
    const j = new FileJournal(path);
    const m = new MemoryJournal();
    await j.open();
    await churn(j, m, 30); // ~600 KiB, mostly dead, but under 4 MiB
    await j.close();
    expect(j.stats().rewrites).toBe(0);
  });
});
