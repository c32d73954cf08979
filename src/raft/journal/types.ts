/**
 * The journal seam: where the runtime persists the Raft log, term and vote, and the commit-index
 * hint. Writes are queued in order; `sync()` resolves once every write queued before the call is
 * durable (according to the journal's fsync policy). Implementations: in memory (tests, read-only
 * nodes) and the crash-safe file journal.
 */
import type { HardState, LogEntry } from '../core/types.js';

export interface JournalState {
  readonly hardState: HardState;
  /** the persisted log, never empty (a fresh journal holds `[(NO_OP, 1, 0)]`) */
  readonly entries: readonly LogEntry[];
  /** the last commit index written (a hint: entries up to it are known committed) */
  readonly commitIndex: number;
}

export interface Journal {
  /** true when writes are durable as soon as they are queued (no need to await `sync`) */
  readonly durableImmediately: boolean;
  /** Load the persisted state (recovering a torn tail); called once before any write. */
  open(): Promise<JournalState>;
  writeHardState(hardState: HardState): void;
  /** delete entries with index ≥ `from` */
  truncateFrom(from: number): void;
  /** append consecutive entries; an overlap with the tail replaces it */
  append(entries: readonly LogEntry[]): void;
  /** replace the whole log (snapshot install) */
  reset(entries: readonly LogEntry[]): void;
  /** drop entries before `index` (log compaction after a durable dump) */
  compact(index: number): void;
  /** record the commit index (persisted lazily, it is only a hint) */
  setCommitIndex(index: number): void;
  /** resolves when every write queued so far is durable */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export const INITIAL_ENTRY: LogEntry = Object.freeze({ command: Uint8Array.of(1), index: 1, term: 0 });
