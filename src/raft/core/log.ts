/**
 * The in-memory Raft log of the core: a contiguous run of entries starting at `firstIndex`.
 * After a compaction (or a snapshot install) the log starts with the dump's *prev* and *last*
 * entries, as in pysyncobj (`log[0]` = prevEntry, `log[1]` = lastEntry). Pure data structure.
 */
import type { LogEntry } from './types.js';

export class RaftLog {
  private entries: LogEntry[];

  constructor(initial: readonly LogEntry[]) {
    if (initial.length === 0) throw new Error('RaftLog needs at least one entry');
    for (let i = 1; i < initial.length; i++) {
      if ((initial[i] as LogEntry).index !== (initial[i - 1] as LogEntry).index + 1) {
        throw new Error(
          `RaftLog: entries must be consecutive (index ${(initial[i] as LogEntry).index} after ${(initial[i - 1] as LogEntry).index})`,
        );
      }
    }
    this.entries = initial.slice();
  }

  get firstIndex(): number {
    return (this.entries[0] as LogEntry).index;
  }

  get lastIndex(): number {
    return (this.entries[this.entries.length - 1] as LogEntry).index;
  }

  get lastTerm(): number {
    return (this.entries[this.entries.length - 1] as LogEntry).term;
  }

  get length(): number {
    return this.entries.length;
  }

  /** The entry at `index`, or undefined when compacted away or beyond the end. */
  get(index: number): LogEntry | undefined {
    const i = index - this.firstIndex;
    return i >= 0 && i < this.entries.length ? this.entries[i] : undefined;
  }

  termAt(index: number): number | undefined {
    return this.get(index)?.term;
  }

  /** Entries from `from` (inclusive) to `to` (inclusive), clamped to what the log holds. */
  slice(from: number, to: number = this.lastIndex): LogEntry[] {
    const a = Math.max(from, this.firstIndex) - this.firstIndex;
    const b = Math.min(to, this.lastIndex) - this.firstIndex + 1;
    return a < b ? this.entries.slice(a, b) : [];
  }

  /**
   * Entries from `from`, stopping once their summed command sizes reach `maxBytes` (the entry that
   * crosses the limit is included, so the batch holds ≥ 1 entry when any exists) — pysyncobj's rule.
   */
  batch(from: number, maxBytes: number): LogEntry[] {
    const out: LogEntry[] = [];
    let size = 0;
    for (let i = Math.max(from, this.firstIndex) - this.firstIndex; i < this.entries.length; i++) {
      const e = this.entries[i] as LogEntry;
      out.push(e);
      size += e.command.length;
      if (size >= maxBytes) break;
    }
    return out;
  }

  append(entry: LogEntry): void {
    if (entry.index !== this.lastIndex + 1) {
      throw new Error(`RaftLog.append: index ${entry.index} does not follow ${this.lastIndex}`);
    }
    this.entries.push(entry);
  }

  /** Delete every entry with index ≥ `from`; returns the deleted entries (in log order). */
  truncateFrom(from: number): LogEntry[] {
    const i = from - this.firstIndex;
    if (i <= 0)
      throw new Error(`RaftLog.truncateFrom(${from}) would empty the log (first ${this.firstIndex})`);
    if (i >= this.entries.length) return [];
    return this.entries.splice(i);
  }

  /** Drop every entry with index < `index` (compaction). */
  dropBefore(index: number): void {
    const i = index - this.firstIndex;
    if (i <= 0) return;
    if (i >= this.entries.length) throw new Error(`RaftLog.dropBefore(${index}) would empty the log`);
    this.entries = this.entries.slice(i);
  }

  /** Replace the whole log (snapshot install). */
  reset(entries: readonly LogEntry[]): void {
    const fresh = new RaftLog(entries);
    this.entries = fresh.entries;
  }
}
