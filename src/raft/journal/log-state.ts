/**
 * The in-memory state a journal file describes — hard state, the log, the commit hint — with
 * exactly MemoryJournal's semantics, plus the byte count the live state would take in a freshly
 * written file (to decide when the file is worth rewriting). FileJournal applies every operation
 * here first (validation) and again, record by record, when it replays the file at open.
 *
 * It must never mutate on an operation it rejects (a rejected op is not written either), and never
 * do I/O.
 */
import { assert } from '../../assert.js';
import type { HardState, LogEntry } from '../core/types.js';
import { JournalStateError } from './errors.js';
import {
  entryEncodedBytes,
  FILE_HEADER_BYTES,
  type JournalOp,
  MAX_RECORD_PAYLOAD_BYTES,
  opRecordBytes,
  RECORD_HEADER_BYTES,
} from './format.js';
import { INITIAL_ENTRY, type JournalState } from './types.js';

function bad(message: string): never {
  throw new JournalStateError('JOURNAL_BAD_OP', message);
}

function checkIndexLike(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) bad(`${what} must be a non-negative safe integer, got ${n}`);
}

/** Entries must be well-formed and consecutive (their indexes are stored implicitly). */
function checkEntries(entries: readonly LogEntry[], op: string): void {
  let bytes = 12;
  let prev: LogEntry | undefined;
  for (const e of entries) {
    checkIndexLike(e.index, `${op}: entry index`);
    checkIndexLike(e.term, `${op}: term of entry ${e.index}`);
    if (!(e.command instanceof Uint8Array)) bad(`${op}: command of entry ${e.index} is not bytes`);
    if (prev !== undefined && e.index !== prev.index + 1) {
      bad(`${op}: entry ${e.index} follows entry ${prev.index} (indexes must be consecutive)`);
    }
    prev = e;
    bytes += entryEncodedBytes(e);
  }
  if (bytes > MAX_RECORD_PAYLOAD_BYTES)
    bad(`${op}: ${bytes} bytes in one call exceed ${MAX_RECORD_PAYLOAD_BYTES}`);
}

export class JournalModel {
  private hardState: HardState = { term: 0, votedFor: null };
  private entries: LogEntry[] = [INITIAL_ENTRY];
  private commitIndex = 1;
  /** Σ entryEncodedBytes over the log */
  private entryBytes = entryEncodedBytes(INITIAL_ENTRY);

  get firstIndex(): number {
    const head = this.entries[0];
    assert(head !== undefined, 'the journal model is empty');
    return head.index;
  }

  get lastIndex(): number {
    const last = this.entries.at(-1);
    assert(last !== undefined, 'the journal model is empty');
    return last.index;
  }

  get commit(): number {
    return this.commitIndex;
  }

  /** A copy of the current state (the entry objects are shared; they are immutable). */
  state(): JournalState {
    return { hardState: this.hardState, entries: this.entries.slice(), commitIndex: this.commitIndex };
  }

  /** The size of a file holding just this state (header, hard state, commit hint, one reset record). */
  liveFileBytes(): number {
    return (
      FILE_HEADER_BYTES +
      opRecordBytes({ kind: 'hardState', hardState: this.hardState }) +
      RECORD_HEADER_BYTES +
      8 +
      RECORD_HEADER_BYTES +
      12 +
      this.entryBytes
    );
  }

  /**
   * Apply `op`. Returns false when it changes nothing (nothing needs writing); throws
   * JournalStateError (JOURNAL_BAD_OP), leaving the state untouched, when it is not allowed.
   */
  apply(op: JournalOp): boolean {
    switch (op.kind) {
      case 'append':
        return this.append(op.entries);
      case 'reset':
        return this.reset(op.entries);
      case 'truncateFrom':
        return this.truncateFrom(op.index);
      case 'compact':
        return this.compact(op.index);
      case 'hardState': {
        const hs = op.hardState;
        checkIndexLike(hs.term, 'writeHardState: term');
        if (hs.votedFor !== null && typeof hs.votedFor !== 'string')
          bad('writeHardState: votedFor is not a string');
        if (hs.votedFor !== null && Buffer.from(hs.votedFor, 'utf8').toString('utf8') !== hs.votedFor) {
          bad('writeHardState: votedFor is not valid Unicode');
        }
        this.hardState = { term: hs.term, votedFor: hs.votedFor };
        return true;
      }
      case 'commitIndex':
        checkIndexLike(op.index, 'setCommitIndex: index');
        if (op.index <= this.commitIndex) return false;
        this.commitIndex = op.index;
        return true;
    }
  }

  private dropTail(keep: number): void {
    for (const e of this.entries.splice(keep)) this.entryBytes -= entryEncodedBytes(e);
  }

  private truncateFrom(from: number): boolean {
    checkIndexLike(from, 'truncateFrom: index');
    const first = this.firstIndex;
    if (from <= first) bad(`truncateFrom(${from}) would empty the log (first entry ${first})`);
    if (from > this.lastIndex) return false;
    this.dropTail(from - first);
    return true;
  }

  private append(entries: readonly LogEntry[]): boolean {
    const head = entries[0];
    if (head === undefined) return false;
    checkEntries(entries, 'append');
    const first = this.firstIndex;
    const start = head.index;
    if (start <= first) bad(`append at ${start} would replace the first entry ${first}`);
    const keep = Math.min(this.entries.length, start - first);
    if (first + keep !== start) bad(`append at ${start} leaves a gap after ${this.lastIndex}`);
    this.dropTail(keep);
    for (const e of entries) {
      this.entries.push(e);
      this.entryBytes += entryEncodedBytes(e);
    }
    return true;
  }

  private reset(entries: readonly LogEntry[]): boolean {
    if (entries.length === 0) bad('reset needs entries');
    checkEntries(entries, 'reset');
    this.entries = entries.slice();
    this.entryBytes = 0;
    for (const e of entries) this.entryBytes += entryEncodedBytes(e);
    return true;
  }

  private compact(index: number): boolean {
    checkIndexLike(index, 'compact: index');
    const drop = index - this.firstIndex;
    if (!(drop > 0 && drop < this.entries.length)) return false;
    for (const e of this.entries.splice(0, drop)) this.entryBytes -= entryEncodedBytes(e);
    return true;
  }
}
