/**
 * The crash-safe file journal: the Raft log, term and vote, and the commit hint in one append-only
 * file of checksummed records (format: ./format.ts, docs/journal-format.md).
 *
 * - Every operation is applied to an in-memory model at once (same semantics as MemoryJournal) and
 *   queued as a record. `sync()` makes everything queued before it durable: group commit — one
 *   write of all queued records, then one fdatasync; callers arriving meanwhile wait for the next
 *   round, so at most one write/fsync is in flight and a thousand concurrent `sync()` calls cost a
 *   few fsyncs.
 * - `open()` replays the file. A torn tail (partial or damaged last write, trailing zeros) is cut
 *   off, fsync'd and logged; damage followed by earlier-synced records is a JournalCorruptError.
 *   A missing (or 0-byte) file starts fresh — after `verify` (JournalOpenOptions) accepted it, so
 *   a refusal creates nothing; a pysyncobj journal at the path is imported (./migrate.ts).
 * - When dead records (truncated, compacted, superseded) dominate the file, it is rewritten in the
 *   background to `<file>.tmp`; records written meanwhile are carried over, then the temporary is
 *   fsync'd, renamed over the journal and the directory fsync'd.
 *
 * It must never acknowledge (resolve `sync()`) before the fdatasync covering the write (with
 * `fsync: 'always'`), never run two journal fsyncs at once, never retry a failed write or fsync
 * (the page cache may have dropped the data: the journal fails and the node must stop), never
 * silently skip damaged records, and never block the event loop (async FileHandle I/O only).
 */
import { type Logger, silentLogger } from '../../logger.js';
import type { HardState, LogEntry } from '../core/types.js';
import { JournalCorruptCode, JournalCorruptError, JournalStateError } from './errors.js';
import { checkFileHeader, encodeRecords, hasJournalMagic, type JournalOp, scanJournal } from './format.js';
import { isNotFound, type JournalFileHandle, type JournalFs, nodeJournalFs } from './fs.js';
import { JournalModel } from './log-state.js';
import { migratePysyncobjJournal, moveMetaAside } from './migrate.js';
import { journalSidePaths } from './paths.js';
import { JOURNAL_APP_NAME } from './pysyncobj-journal.js';
import type { Journal, JournalFileInfo, JournalOpenOptions, JournalState } from './types.js';
import { writeAll, writeStateFile } from './write-file.js';

export type JournalFsyncPolicy = 'always' | 'never';

export interface FileJournalOptions {
  /**
   * `always` (default): `sync()` resolves after an fdatasync covering every write queued before it
   * — acknowledged entries and votes survive a power loss. `never`: `sync()` resolves once the
   * bytes are written to the OS (they survive a process crash, but a power loss or kernel crash can
   * lose acknowledged entries and votes, i.e. break Raft's safety; tests and benchmarks only).
   * File creation, import and rewrite are fsync'd either way.
   */
  readonly fsync?: JournalFsyncPolicy;
  /** pino-compatible; default silent */
  readonly logger?: Logger;
  /** the file-system seam (tests count or fail fsyncs through it); default node:fs/promises */
  readonly fs?: JournalFs;
  /** rewrite the file when its dead bytes exceed this… (default 4 MiB) */
  readonly rewriteMinDeadBytes?: number;
  /** …and this many times the live bytes (default 2) */
  readonly rewriteDeadRatio?: number;
  /** import a pysyncobj journal found at the path (default true; false: refuse it) */
  readonly migratePysyncobj?: boolean;
  /** told the duration (seconds) of every group-commit fdatasync (for a latency histogram) */
  readonly onFsync?: (seconds: number) => void;
}

export interface FileJournalStats {
  /** group-commit rounds (one write + one fdatasync each) */
  readonly rounds: number;
  /** fdatasync calls on the journal file by rounds */
  readonly fsyncs: number;
  /** write calls by rounds */
  readonly writes: number;
  readonly bytesWritten: number;
  /** completed file rewrites */
  readonly rewrites: number;
  /** the journal file's size as written */
  readonly fileBytes: number;
  /** what a freshly written file would take */
  readonly liveBytes: number;
}

type Phase = 'new' | 'opening' | 'open' | 'closing' | 'closed' | 'failed';

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

interface RewriteJob {
  /** records queued after the snapshot; written to the new file before the switch */
  readonly carry: JournalOp[];
  /** settles when the snapshot is written and synced (never rejects) */
  done: Promise<void>;
  handle: JournalFileHandle | null;
  size: number;
  ready: boolean;
}

const MiB = 1024 * 1024;

export class FileJournal implements Journal {
  readonly durableImmediately = false;
  readonly path: string;
  readonly fsyncPolicy: JournalFsyncPolicy;
  private readonly paths: ReturnType<typeof journalSidePaths>;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly fs: JournalFs;
  private readonly rewriteMinDeadBytes: number;
  private readonly rewriteDeadRatio: number;
  private readonly migrate: boolean;

  private phase: Phase = 'new';
  private failure: Error | null = null;
  private model = new JournalModel();
  private handle: JournalFileHandle | null = null;
  /** the journal file's size: where the next record goes */
  private writeOffset = 0;
  private pending: JournalOp[] = [];
  private commitDirty = false;
  /** operations queued so far / covered by the last completed round */
  private queuedSeq = 0;
  private durableSeq = 0;
  private waiters: Waiter[] = [];
  private loop: Promise<void> | null = null;
  private opening: Promise<JournalState> | null = null;
  private closing: Promise<void> | null = null;
  private rewrite: RewriteJob | null = null;
  /** no rewrite attempt before the file reaches this size (backoff after a failed one) */
  private rewriteNotBefore = 0;
  private counters = { rounds: 0, fsyncs: 0, writes: 0, bytesWritten: 0, rewrites: 0 };
  private readonly onFsync: ((seconds: number) => void) | undefined;

  constructor(path: string, options: FileJournalOptions = {}) {
    this.onFsync = options.onFsync;
    if (path === '') throw new Error('FileJournal: empty path');
    this.path = path;
    this.paths = journalSidePaths(path);
    const slash = Math.max(path.lastIndexOf('/'), process.platform === 'win32' ? path.lastIndexOf('\\') : -1);
    this.dir = slash < 0 ? '.' : slash === 0 ? '/' : path.slice(0, slash);
    this.fsyncPolicy = options.fsync ?? 'always';
    if (this.fsyncPolicy !== 'always' && this.fsyncPolicy !== 'never') {
      throw new Error(`FileJournal: fsync must be 'always' or 'never', got ${String(this.fsyncPolicy)}`);
    }
    this.log = options.logger ?? silentLogger;
    this.fs = options.fs ?? nodeJournalFs;
    this.rewriteMinDeadBytes = options.rewriteMinDeadBytes ?? 4 * MiB;
    this.rewriteDeadRatio = options.rewriteDeadRatio ?? 2;
    this.migrate = options.migratePysyncobj ?? true;
  }

  /** The current contents, including writes not yet synced (for tests and diagnostics). */
  snapshot(): JournalState {
    return this.model.state();
  }

  stats(): FileJournalStats {
    return { ...this.counters, fileBytes: this.writeOffset, liveBytes: this.model.liveFileBytes() };
  }

  // --------------------------------------------------------------------------------------------
  // open and recovery

  async open(options: JournalOpenOptions = {}): Promise<JournalState> {
    if (this.phase !== 'new')
      throw new JournalStateError('JOURNAL_BAD_OP', `open() called twice on ${this.path}`);
    this.phase = 'opening';
    try {
      await this.removeLeftoverTmp();
      let bytes = await this.readJournal();
      const file: JournalFileInfo = {
        path: this.path,
        existed: bytes !== null,
        empty: bytes !== null && bytes.length === 0,
      };
      if (file.empty) bytes = null;
      if (bytes !== null && !hasJournalMagic(bytes) && isPysyncobjJournal(bytes)) {
        if (!this.migrate) {
          throw new JournalCorruptError(
            JournalCorruptCode.BadMagic,
            this.path,
            0,
            'this is a pysyncobj journal and importing it is disabled (migratePysyncobj: false)',
          );
        }
        await migratePysyncobjJournal(this.fs, this.paths, bytes, this.log);
        bytes = await this.readJournal();
        if (bytes === null) throw new Error(`the imported journal ${this.path} vanished`);
      }
      if (bytes === null) {
        // nothing is created before the caller accepted starting without a journal
        options.verify?.({ ...this.model.state(), file });
        if (file.empty) {
          this.log.warn(
            { file: this.path },
            'journal file is empty (not written by raftdcs); starting a fresh journal',
          );
        }
        this.writeOffset = await this.createFresh();
        this.handle = await this.fs.open(this.path, 'r+');
      } else {
        await this.recover(bytes);
        await this.moveLeftoverPythonMeta();
        options.verify?.({ ...this.model.state(), file });
      }
      this.phase = 'open';
      return this.model.state();
    } catch (e) {
      this.phase = 'failed';
      this.failure = e instanceof Error ? e : new Error(String(e));
      await this.handle?.close().catch(() => undefined);
      this.handle = null;
      throw e;
    }
  }

  private async readJournal(): Promise<Buffer | null> {
    try {
      return await this.fs.readFile(this.path);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  /** A `.tmp` is never needed: the rename that would have made it the journal did not happen. */
  private async removeLeftoverTmp(): Promise<void> {
    try {
      await this.fs.unlink(this.paths.journalTmp);
      this.log.info(
        { file: this.paths.journalTmp },
        'removed a leftover journal temporary (interrupted rewrite)',
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Write a header-only-plus-hard-state file under the temporary name and rename it into place. */
  private async createFresh(): Promise<number> {
    const fresh = new JournalModel().state();
    // no entry records: a file without any means the fresh log [(NO_OP, 1, 0)]
    const { handle, size } = await writeStateFile(this.fs, this.paths.journalTmp, { ...fresh, entries: [] });
    await handle.close();
    await this.fs.rename(this.paths.journalTmp, this.path);
    await this.fs.syncDir(this.dir);
    this.log.info({ file: this.path }, 'created a fresh journal');
    return size;
  }

  private async recover(bytes: Buffer): Promise<void> {
    checkFileHeader(bytes, this.path);
    const model = new JournalModel();
    const scan = scanJournal(bytes, this.path, (op) => {
      model.apply(op);
    });
    this.model = model;
    this.handle = await this.fs.open(this.path, 'r+');
    this.writeOffset = scan.goodEnd;
    if (scan.tail !== null) {
      const t = scan.tail;
      await this.handle.truncate(scan.goodEnd);
      await this.handle.datasync();
      const info = {
        file: this.path,
        offset: t.offset,
        droppedBytes: t.droppedBytes,
        droppedRecords: t.droppedRecords,
        tail: t.kind,
        reason: t.reason,
      };
      if (t.kind === 'zeros') this.log.info(info, 'journal: dropped trailing zero bytes');
      else this.log.warn(info, 'journal: dropped a torn tail (a write that was never acknowledged)');
    }
    this.log.debug(
      {
        file: this.path,
        records: scan.records,
        fileBytes: this.writeOffset,
        firstIndex: this.model.firstIndex,
        lastIndex: this.model.lastIndex,
        commitIndex: this.model.commit,
      },
      'journal recovered',
    );
  }

  /** A migration interrupted after the switch may have left the Python meta in place. */
  private async moveLeftoverPythonMeta(): Promise<void> {
    if (!(await this.fs.exists(this.paths.meta))) return;
    const to = await moveMetaAside(this.fs, this.paths);
    await this.fs.syncDir(this.dir);
    this.log.info(
      { file: this.paths.meta, to },
      'moved a leftover pysyncobj meta file aside (kept as a backup)',
    );
  }

  // --------------------------------------------------------------------------------------------
  // writes (queued; durable after sync)

  private checkWritable(): void {
    if (this.phase === 'open') return;
    if (this.phase === 'failed') {
      throw new JournalStateError(
        'JOURNAL_FAILED',
        `journal ${this.path} failed earlier: ${this.failure?.message}`,
        {
          cause: this.failure,
        },
      );
    }
    if (this.phase === 'new' || this.phase === 'opening') {
      throw new JournalStateError('JOURNAL_NOT_OPEN', `journal ${this.path} is not open`);
    }
    throw new JournalStateError('JOURNAL_CLOSED', `journal ${this.path} is closed`);
  }

  private enqueue(op: JournalOp): void {
    this.checkWritable();
    if (!this.model.apply(op)) return;
    this.pending.push(op);
    this.queuedSeq++;
  }

  writeHardState(hardState: HardState): void {
    this.enqueue({ kind: 'hardState', hardState: { term: hardState.term, votedFor: hardState.votedFor } });
  }

  truncateFrom(from: number): void {
    this.enqueue({ kind: 'truncateFrom', index: from });
  }

  append(entries: readonly LogEntry[]): void {
    this.enqueue({ kind: 'append', entries: entries.slice() });
  }

  reset(entries: readonly LogEntry[]): void {
    this.enqueue({ kind: 'reset', entries: entries.slice() });
  }

  compact(index: number): void {
    this.enqueue({ kind: 'compact', index });
  }

  /** A hint: written with the next round (one record however often it moved), never on its own. */
  setCommitIndex(index: number): void {
    this.checkWritable();
    if (!this.model.apply({ kind: 'commitIndex', index })) return;
    this.commitDirty = true;
    this.queuedSeq++;
  }

  sync(): Promise<void> {
    if (this.phase === 'failed') {
      return Promise.reject(
        new JournalStateError('JOURNAL_FAILED', `journal ${this.path} failed: ${this.failure?.message}`, {
          cause: this.failure,
        }),
      );
    }
    if (this.phase !== 'open' && this.phase !== 'closing') {
      return Promise.reject(new JournalStateError('JOURNAL_NOT_OPEN', `journal ${this.path} is not open`));
    }
    if (this.durableSeq === this.queuedSeq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ seq: this.queuedSeq, resolve, reject });
      this.kick();
    });
  }

  /**
   * Flush everything queued (one last round), finish or abandon a rewrite, close the file. Rejects
   * when that last flush fails; the file is closed either way.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.phase === 'opening') await this.opening?.catch(() => undefined);
    if (this.phase === 'closed') return;
    let error: unknown = null;
    if (this.phase === 'open') {
      this.phase = 'closing';
      try {
        await this.sync();
        if (this.rewrite) {
          await this.rewrite.done;
          this.kick(); // switch to the rewritten file if it is ready
          await this.loop;
        }
      } catch (e) {
        error = e;
      }
    }
    await this.loop?.catch(() => undefined);
    this.phase = 'closed';
    await this.abandonRewrite();
    const h = this.handle;
    this.handle = null;
    await h?.close().catch((e: unknown) => {
      error ??= e;
    });
    if (error !== null) throw error;
  }

  // --------------------------------------------------------------------------------------------
  // the group-commit loop: one round at a time

  private hasWork(): boolean {
    if (this.phase === 'failed') return false;
    return this.waiters.length > 0 || this.rewrite?.ready === true;
  }

  private kick(): void {
    if (this.loop !== null || !this.hasWork()) return;
    this.loop = this.runLoop().finally(() => {
      this.loop = null;
      this.kick();
    });
  }

  private async runLoop(): Promise<void> {
    try {
      while (this.hasWork()) {
        if (this.rewrite?.ready) await this.switchToRewritten(this.rewrite);
        else await this.round();
      }
    } catch (e) {
      this.fail(e);
    }
  }

  /** A metrics hook must never fail the journal: what it throws is logged and dropped. */
  private reportFsync(seconds: number): void {
    if (!this.onFsync) return;
    try {
      this.onFsync(seconds);
    } catch (err) {
      this.log.warn({ err }, 'the fsync listener threw; ignored');
    }
  }

  private async round(): Promise<void> {
    const handle = this.handle as JournalFileHandle;
    const target = this.queuedSeq;
    const ops = this.pending;
    this.pending = [];
    if (this.commitDirty) {
      ops.push({ kind: 'commitIndex', index: this.model.commit });
      this.commitDirty = false;
    }
    const buf = ops.length > 0 ? encodeRecords(coalesceAppends(ops)) : null;
    // the model now equals what the file will hold after this round: the moment to snapshot
    if (this.rewrite !== null) this.rewrite.carry.push(...ops);
    else if (this.phase === 'open' && this.rewriteDue(this.writeOffset + (buf?.length ?? 0)))
      this.startRewrite();
    if (buf !== null) {
      this.counters.rounds++;
      this.counters.writes += await writeAll(handle, buf, this.writeOffset);
      this.writeOffset += buf.length;
      this.counters.bytesWritten += buf.length;
      if (this.fsyncPolicy === 'always') {
        this.counters.fsyncs++;
        const t0 = performance.now();
        await handle.datasync();
        this.reportFsync((performance.now() - t0) / 1000);
      }
    }
    this.durableSeq = target;
    const pending = this.waiters.findIndex((w) => w.seq > target);
    for (const w of this.waiters.splice(0, pending === -1 ? this.waiters.length : pending)) w.resolve();
  }

  private fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    if (this.phase !== 'failed') {
      this.log.error(
        { file: this.path, err },
        'journal write or fsync failed; the journal is unusable (the node must stop: data may not be durable)',
      );
    }
    this.phase = 'failed';
    this.failure = err;
    const wrapped = new JournalStateError('JOURNAL_FAILED', `journal ${this.path} failed: ${err.message}`, {
      cause: err,
    });
    for (const w of this.waiters.splice(0)) w.reject(wrapped);
  }

  // --------------------------------------------------------------------------------------------
  // rewriting the file when it is mostly dead records

  /** Is a file of `fileBytes` holding the model's state mostly dead records? */
  private rewriteDue(fileBytes: number): boolean {
    if (fileBytes < this.rewriteNotBefore) return false;
    const live = this.model.liveFileBytes();
    const dead = fileBytes - live;
    return dead > this.rewriteMinDeadBytes && dead > this.rewriteDeadRatio * live;
  }

  private startRewrite(): void {
    const snapshot = this.model.state();
    const job: RewriteJob = { carry: [], done: Promise.resolve(), handle: null, size: 0, ready: false };
    this.rewrite = job;
    const fileBytes = this.writeOffset;
    this.log.info(
      { file: this.path, fileBytes, liveBytes: this.model.liveFileBytes() },
      'journal: rewriting the file without its dead records',
    );
    job.done = writeStateFile(this.fs, this.paths.journalTmp, snapshot).then(
      ({ handle, size }) => {
        job.handle = handle;
        job.size = size;
        job.ready = true;
        this.kick();
      },
      async (e: unknown) => {
        this.log.error(
          { file: this.paths.journalTmp, err: e },
          'journal rewrite failed; keeping the old file',
        );
        this.rewrite = null;
        this.rewriteNotBefore = fileBytes + Math.max(this.rewriteMinDeadBytes, fileBytes);
        await this.fs.unlink(this.paths.journalTmp).catch(() => undefined);
      },
    );
  }

  /** Runs inside the loop, between rounds: nothing else writes or fsyncs the journal meanwhile. */
  private async switchToRewritten(job: RewriteJob): Promise<void> {
    const handle = job.handle as JournalFileHandle;
    let size = job.size;
    try {
      if (job.carry.length > 0) {
        const buf = encodeRecords(job.carry);
        await writeAll(handle, buf, size);
        size += buf.length;
        await handle.datasync();
      }
      await this.fs.rename(this.paths.journalTmp, this.path);
    } catch (e) {
      // the old file still holds everything: carry on with it
      this.log.error({ file: this.paths.journalTmp, err: e }, 'journal rewrite failed; keeping the old file');
      this.rewrite = null;
      this.rewriteNotBefore = this.writeOffset + Math.max(this.rewriteMinDeadBytes, this.writeOffset);
      await handle.close().catch(() => undefined);
      await this.fs.unlink(this.paths.journalTmp).catch(() => undefined);
      return;
    }
    const old = this.handle;
    const oldBytes = this.writeOffset;
    this.handle = handle;
    this.writeOffset = size;
    this.rewrite = null;
    this.counters.rewrites++;
    // until the directory is synced the rename may not survive a crash: no round may acknowledge
    // a write to the new file before this (a failure here fails the journal)
    await this.fs.syncDir(this.dir);
    await old?.close().catch(() => undefined);
    this.log.info({ file: this.path, oldBytes, newBytes: size }, 'journal rewritten');
  }

  private async abandonRewrite(): Promise<void> {
    const job = this.rewrite;
    if (job === null) return;
    this.rewrite = null;
    await job.done;
    if (job.handle !== null) {
      await job.handle.close().catch(() => undefined);
      await this.fs.unlink(this.paths.journalTmp).catch(() => undefined);
    }
  }
}

/**
 * Merge runs of appends that continue each other (the common case: one entry per proposal) into
 * one record each: replaying the merged append is the same as replaying them in turn.
 */
export function coalesceAppends(ops: readonly JournalOp[]): JournalOp[] {
  const out: JournalOp[] = [];
  let run: LogEntry[] | null = null;
  for (const op of ops) {
    const prev = out[out.length - 1];
    const prevLast = prev?.kind === 'append' ? prev.entries.at(-1) : undefined;
    if (
      op.kind === 'append' &&
      prev?.kind === 'append' &&
      prevLast !== undefined &&
      op.entries[0]?.index === prevLast.index + 1
    ) {
      if (run === null) {
        run = prev.entries.slice();
        out[out.length - 1] = { kind: 'append', entries: run };
      }
      for (const e of op.entries) run.push(e);
      continue;
    }
    run = null;
    out.push(op);
  }
  return out;
}

/** True when the bytes start with pysyncobj's `PYSYNCOBJ` app name. */
export function isPysyncobjJournal(bytes: Uint8Array): boolean {
  const name = Buffer.from(JOURNAL_APP_NAME, 'latin1');
  if (bytes.length < name.length) return false;
  for (let i = 0; i < name.length; i++) if (bytes[i] !== name[i]) return false;
  return true;
}
