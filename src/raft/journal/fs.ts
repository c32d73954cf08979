/**
 * The file-system seam of the file journal: the handful of async calls it makes, so tests can count
 * fsyncs, delay them, or make them fail. The default implementation is `node:fs/promises` as is.
 *
 * Everything here is asynchronous (nothing may block the event loop), and this module must never
 * add policy: no retries, no swallowed errors — except `syncDir` on platforms that cannot fsync a
 * directory (Windows), where it is a documented no-op.
 */
import { constants, promises as fsp } from 'node:fs';

/** The subset of `fs.promises.FileHandle` the journal uses. */
export interface JournalFileHandle {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ readonly bytesWritten: number }>;
  /** fdatasync(2): file data (and the size) durable */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface JournalFs {
  /** `flags` as for fs.open: the journal uses 'r+' (existing file) and 'wx' (new temporary) */
  open(path: string, flags: string): Promise<JournalFileHandle>;
  /** the whole file; rejects with ENOENT when it does not exist */
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  /** a hard link `to` → the file at `from` (no copy); may fail on file systems without links */
  link(from: string, to: string): Promise<void>;
  /** copy, failing if `to` exists */
  copyFileExclusive(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** true when something exists at `path` */
  exists(path: string): Promise<boolean>;
  /** make a directory's entries (creations, renames) durable */
  syncDir(dir: string): Promise<void>;
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

export const nodeJournalFs: JournalFs = {
  open: (path, flags) => fsp.open(path, flags, 0o600),
  readFile: (path) => fsp.readFile(path),
  rename: (from, to) => fsp.rename(from, to),
  link: (from, to) => fsp.link(from, to),
  copyFileExclusive: (from, to) => fsp.copyFile(from, to, constants.COPYFILE_EXCL),
  unlink: (path) => fsp.unlink(path),
  async exists(path) {
    try {
      await fsp.lstat(path);
      return true;
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return false;
      throw e;
    }
  },
  async syncDir(dir) {
    if (process.platform === 'win32') return; // directories cannot be opened for fsync there
    const h = await fsp.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  },
};

export function isNotFound(e: unknown): boolean {
  return errnoCode(e) === 'ENOENT';
}
