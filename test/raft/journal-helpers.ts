/**
 * Shared pieces of the journal tests: temporary directories (removed afterwards), a logger that
 * records what it is told, and an instrumented file-system seam that counts and can delay fsyncs.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/logger.js';
import type { LogEntry } from '../../src/raft/core/types.js';
import { type JournalFileHandle, type JournalFs, nodeJournalFs } from '../../src/raft/journal/fs.js';

export function makeTempDirs(prefix: string): { dir(): string; cleanup(): void } {
  const made: string[] = [];
  return {
    dir() {
      const d = mkdtempSync(join(tmpdir(), `raftdcs-${prefix}-`));
      made.push(d);
      return d;
    },
    cleanup() {
      for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** One event on an instrumented handle, in the order they happened. */
export type FsEvent =
  | {
      readonly op: 'write';
      readonly path: string;
      readonly position: number;
      readonly bytes: number;
      readonly done: boolean;
    }
  | { readonly op: 'datasync'; readonly path: string; readonly done: boolean; readonly startedAt: number }
  | { readonly op: 'rename'; readonly path: string; readonly to: string }
  | { readonly op: 'syncDir'; readonly path: string };

export interface InstrumentedFs extends JournalFs {
  readonly events: FsEvent[];
  /** datasyncs started / currently running / the most that ran at once */
  readonly counts: { datasyncs: number; inFlight: number; maxInFlight: number; syncDirs: number };
  /** extra delay of every datasync, ms (makes batching visible); or per file */
  datasyncDelayMs: number | ((path: string) => number);
  /** called when a datasync starts */
  onDatasyncStart: ((path: string) => void) | null;
  /** called at the end of every datasync (before it resolves) */
  onDatasyncDone: ((path: string) => void) | null;
  /** make the next datasync fail */
  failNextDatasync: Error | null;
}

export function instrumentedFs(base: JournalFs = nodeJournalFs): InstrumentedFs {
  const fs: InstrumentedFs = {
    ...base,
    events: [],
    counts: { datasyncs: 0, inFlight: 0, maxInFlight: 0, syncDirs: 0 },
    datasyncDelayMs: 0,
    onDatasyncStart: null,
    onDatasyncDone: null,
    failNextDatasync: null,
    async open(path, flags) {
      const h = await base.open(path, flags);
      const wrapped: JournalFileHandle = {
        async write(buffer, offset, length, position) {
          fs.events.push({ op: 'write', path, position, bytes: length, done: false });
          const r = await h.write(buffer, offset, length, position);
          fs.events.push({ op: 'write', path, position, bytes: r.bytesWritten, done: true });
          return r;
        },
        async datasync() {
          fs.counts.datasyncs++;
          fs.counts.inFlight++;
          fs.counts.maxInFlight = Math.max(fs.counts.maxInFlight, fs.counts.inFlight);
          const startedAt = fs.events.length;
          fs.events.push({ op: 'datasync', path, done: false, startedAt });
          fs.onDatasyncStart?.(path);
          try {
            if (fs.failNextDatasync) {
              const e = fs.failNextDatasync;
              fs.failNextDatasync = null;
              throw e;
            }
            const delay =
              typeof fs.datasyncDelayMs === 'number' ? fs.datasyncDelayMs : fs.datasyncDelayMs(path);
            if (delay > 0) await new Promise((r) => setTimeout(r, delay));
            await h.datasync();
            fs.events.push({ op: 'datasync', path, done: true, startedAt });
            fs.onDatasyncDone?.(path);
          } finally {
            fs.counts.inFlight--;
          }
        },
        truncate: (n) => h.truncate(n),
        close: () => h.close(),
      };
      return wrapped;
    },
    async syncDir(dir) {
      fs.counts.syncDirs++;
      await base.syncDir(dir);
      fs.events.push({ op: 'syncDir', path: dir });
    },
    async rename(from, to) {
      await base.rename(from, to);
      fs.events.push({ op: 'rename', path: from, to });
    },
  };
  return fs;
}

export function entry(index: number, term: number, size = 8, fill = index & 0xff): LogEntry {
  return { index, term, command: new Uint8Array(size).fill(fill) };
}

export function entries(from: number, to: number, term: number, size = 8): LogEntry[] {
  const out: LogEntry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, size));
  return out;
}
