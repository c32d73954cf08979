/**
 * An in-memory journal: everything is "durable" at once and lost with the process. For tests,
 * benchmarks of the Raft path without disks, and read-only nodes (which keep no files).
 */
import { assert } from '../../assert.js';
import type { HardState, LogEntry } from '../core/types.js';
import { INITIAL_ENTRY, type Journal, type JournalOpenOptions, type JournalState } from './types.js';

export class MemoryJournal implements Journal {
  readonly durableImmediately = true;
  private hardState: HardState = { term: 0, votedFor: null };
  private entries: LogEntry[] = [INITIAL_ENTRY];
  private commitIndex = 1;

  constructor(initial?: Partial<JournalState>) {
    if (initial?.hardState) this.hardState = initial.hardState;
    if (initial?.entries && initial.entries.length > 0) this.entries = [...initial.entries];
    if (initial?.commitIndex !== undefined) this.commitIndex = initial.commitIndex;
  }

  async open(options?: JournalOpenOptions): Promise<JournalState> {
    const state = this.snapshot();
    options?.verify?.(state);
    return state;
  }

  /** The current contents (for tests). */
  snapshot(): JournalState {
    return { hardState: this.hardState, entries: [...this.entries], commitIndex: this.commitIndex };
  }

  writeHardState(hardState: HardState): void {
    this.hardState = hardState;
  }

  /** the index of the first entry (the journal is never empty) */
  private get firstIndex(): number {
    const head = this.entries[0];
    assert(head !== undefined, 'MemoryJournal is empty');
    return head.index;
  }

  truncateFrom(from: number): void {
    const first = this.firstIndex;
    if (from <= first) throw new Error(`MemoryJournal.truncateFrom(${from}) would empty the log`);
    this.entries.length = Math.min(this.entries.length, from - first);
  }

  append(entries: readonly LogEntry[]): void {
    const head = entries[0];
    if (head === undefined) return;
    const first = this.firstIndex;
    const start = head.index;
    if (start <= first)
      throw new Error(`MemoryJournal.append at ${start} would replace the first entry ${first}`);
    this.entries.length = Math.min(this.entries.length, start - first);
    const last = this.entries.at(-1);
    assert(last !== undefined, 'MemoryJournal is empty');
    if (last.index + 1 !== start)
      throw new Error(`MemoryJournal.append at ${start} leaves a gap after ${last.index}`);
    for (const e of entries) this.entries.push(e);
  }

  reset(entries: readonly LogEntry[]): void {
    if (entries.length === 0) throw new Error('MemoryJournal.reset needs entries');
    this.entries = [...entries];
  }

  compact(index: number): void {
    const drop = index - this.firstIndex;
    if (drop > 0 && drop < this.entries.length) this.entries = this.entries.slice(drop);
  }

  setCommitIndex(index: number): void {
    if (index > this.commitIndex) this.commitIndex = index;
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {}
}
