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

/** What `open()` shows `verify`: the state, and for a file journal what was on disk. */
export interface JournalOpened extends JournalState {
  /** what a file journal found at its path (absent for in-memory journals) */
  readonly file?: JournalFileInfo;
}

/** What a file journal found on disk when it was opened, before it created or repaired anything. */
export interface JournalFileInfo {
  readonly path: string;
  /** false: there was no file (a fresh journal is created, after `verify` accepted that) */
  readonly existed: boolean;
  /** the file existed but held 0 bytes (raftdcs never leaves one: its files are created by rename) */
  readonly empty: boolean;
}

export interface JournalOpenOptions {
  /**
   * Called once with the state `open()` is about to return — for a missing or empty file before a
   * fresh one is created, for an existing file after recovery. When it throws, `open()` fails with
   * that error without creating a journal file (the runtime's start-up check refuses partial data here).
   */
  readonly verify?: (opened: JournalOpened) => void;
}

export interface Journal {
  /** true when writes are durable as soon as they are queued (no need to await `sync`) */
  readonly durableImmediately: boolean;
  /** Load the persisted state (recovering a torn tail); called once before any write. */
  open(options?: JournalOpenOptions): Promise<JournalState>;
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
