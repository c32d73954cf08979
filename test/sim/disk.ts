/**
 * A simulated disk for one node: writes land in a volatile cache and become durable on fsync.
 * A crash keeps only the durable state — plus, when `tornWrites` is on, a random prefix of the
 * writes issued after the last fsync (what a torn journal tail recovers to).
 */
import type { HardState, LogEntry } from '../../src/raft/core/types.js';
import type { Rng } from './rng.js';

type Op =
  | { readonly kind: 'hardState'; readonly hs: HardState }
  | { readonly kind: 'truncate'; readonly from: number }
  | { readonly kind: 'append'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'reset'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'compact'; readonly index: number }
  | { readonly kind: 'commit'; readonly index: number };

export interface DiskState {
  hardState: HardState;
  entries: LogEntry[];
  commitHint: number;
}

function applyOp(s: DiskState, op: Op): void {
  switch (op.kind) {
    case 'hardState':
      s.hardState = op.hs;
      return;
    case 'truncate': {
      const first = (s.entries[0] as LogEntry).index;
      if (op.from > first) s.entries.length = Math.min(s.entries.length, op.from - first);
      return;
    }
    case 'append': {
      if (op.entries.length === 0) return;
      const first = (s.entries[0] as LogEntry).index;
      const start = (op.entries[0] as LogEntry).index;
      s.entries.length = Math.min(s.entries.length, start - first);
      if ((s.entries[s.entries.length - 1] as LogEntry).index + 1 !== start) {
        throw new Error(`sim disk: append at ${start} leaves a gap`);
      }
      s.entries.push(...op.entries);
      return;
    }
    case 'reset':
      s.entries = [...op.entries];
      return;
    case 'compact': {
      const first = (s.entries[0] as LogEntry).index;
      if (op.index > first) s.entries = s.entries.slice(op.index - first);
      return;
    }
    case 'commit':
      if (op.index > s.commitHint) s.commitHint = op.index;
      return;
  }
}

function cloneState(s: DiskState): DiskState {
  return { hardState: s.hardState, entries: [...s.entries], commitHint: s.commitHint };
}

export class SimDisk {
  private durable: DiskState;
  private pending: Op[] = [];
  /** sequence number of the first pending write (writes are numbered from 0 in issue order) */
  private pendingFrom = 0;
  /** writes and fsyncs issued, for reporting */
  fsyncs = 0;

  constructor() {
    this.durable = {
      hardState: { term: 0, votedFor: null },
      entries: [{ command: Uint8Array.of(1), index: 1, term: 0 }],
      commitHint: 1,
    };
  }

  writeHardState(hs: HardState): void {
    this.pending.push({ kind: 'hardState', hs });
  }
  truncate(from: number): void {
    this.pending.push({ kind: 'truncate', from });
  }
  append(entries: readonly LogEntry[]): void {
    if (entries.length > 0) this.pending.push({ kind: 'append', entries: [...entries] });
  }
  reset(entries: readonly LogEntry[]): void {
    this.pending.push({ kind: 'reset', entries: [...entries] });
  }
  compact(index: number): void {
    this.pending.push({ kind: 'compact', index });
  }
  writeCommitHint(index: number): void {
    this.pending.push({ kind: 'commit', index });
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** The sequence number the next write gets: `syncUpTo(mark)` makes the writes before it durable. */
  get mark(): number {
    return this.pendingFrom + this.pending.length;
  }

  /** Make every write issued so far durable. */
  sync(): void {
    this.syncUpTo(this.mark);
  }

  /** Make the writes issued before `mark` durable (an fsync started when that was the mark). */
  syncUpTo(mark: number): void {
    const n = Math.min(this.pending.length, mark - this.pendingFrom);
    if (n <= 0) return;
    for (const op of this.pending.slice(0, n)) applyOp(this.durable, op);
    this.pending = this.pending.slice(n);
    this.pendingFrom += n;
    this.fsyncs++;
  }

  /** What a process sees after a crash: durable state, plus maybe a prefix of unsynced writes. */
  crash(rng: Rng, tornWrites: boolean): void {
    if (tornWrites && this.pending.length > 0) {
      const keep = rng.int(0, this.pending.length);
      for (const op of this.pending.slice(0, keep)) applyOp(this.durable, op);
    }
    this.pendingFrom += this.pending.length;
    this.pending = [];
  }

  /** The state a restarting node loads (only valid right after crash() or sync()). */
  load(): DiskState {
    if (this.pending.length > 0) {
      const s = cloneState(this.durable);
      for (const op of this.pending) applyOp(s, op);
      return s;
    }
    return cloneState(this.durable);
  }
}
