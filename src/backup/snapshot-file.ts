/**
 * Reading and writing raftdcs snapshot files (./format.ts) as whole, checked units:
 *
 * - readSnapshotFile / checkSnapshotBytes: the container (magic, version, lengths, SHA-256), then
 *   the dump inside decoded with the runtime's codec and compared with the header (index, term,
 *   previous entry, membership), and the number of keys when the state is a Patroni DCS
 *   (KVStoreTTL) state. Any failure is a SnapshotFileError naming the file and the reason.
 * - writeSnapshotFile: atomically — a temporary file in the same directory, fsync'd, renamed over
 *   the target, the directory fsync'd — so the path holds the old file or the complete new one,
 *   never a part.
 *
 * It must never write anywhere but the temporary file and the target it is given.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { nodeJournalFs } from '../raft/journal/fs.js';
import { realDumpCodec } from '../raft/runtime/dump-codec.js';
import type { Dump } from '../raft/snapshot/dump.js';
import { splitObjectState } from '../raft/snapshot/object-state.js';
import type { PyValue } from '../wire/value.js';
import {
  decodeSnapshotFile,
  SnapshotFileCode,
  SnapshotFileError,
  type SnapshotFileHeader,
} from './format.js';

/** The attribute of a KVStoreTTL's dump that holds the keys (Patroni's name-mangled `__data`). */
const KV_DATA_ATTRIBUTE = '_KVStoreTTL__data';

export interface SnapshotFileContents {
  readonly file: string;
  readonly version: number;
  readonly header: SnapshotFileHeader;
  /** the dump as a node stores it (gzip) */
  readonly dumpGz: Uint8Array;
  readonly dump: Dump;
  /** the file's SHA-256 (hex), verified */
  readonly sha256: string;
  /** bytes of the file */
  readonly bytes: number;
  /** keys of the Patroni DCS state; null when the state is not a KVStoreTTL's */
  readonly keys: number | null;
}

/** The number of keys in a dump's state, when it is a KVStoreTTL's (else null). */
export function kvKeyCount(data: PyValue): number | null {
  const { own } = splitObjectState(data, 0);
  const kv = own?.get(KV_DATA_ATTRIBUTE);
  return kv instanceof Map ? kv.size : null;
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((n) => sb.has(n));
}

/** Where the header and the dump disagree (null: they agree). */
function disagreement(h: SnapshotFileHeader, d: Dump): string | null {
  if (d.lastEntry.index !== h.lastIndex || d.lastEntry.term !== h.lastTerm) {
    return `the header says index ${h.lastIndex} (term ${h.lastTerm}), the dump ends at ${d.lastEntry.index} (term ${d.lastEntry.term})`;
  }
  if (d.prevEntry.index !== h.prevIndex || d.prevEntry.term !== h.prevTerm) {
    return `the header's previous entry is ${h.prevIndex} (term ${h.prevTerm}), the dump's ${d.prevEntry.index} (term ${d.prevEntry.term})`;
  }
  if (!sameMembers(h.cluster, d.cluster)) {
    return `the header's membership is ${h.cluster.join(', ')}, the dump's ${d.cluster.join(', ')}`;
  }
  return null;
}

/** Check a snapshot file's bytes completely (see the module comment). */
export async function checkSnapshotBytes(bytes: Uint8Array, file: string): Promise<SnapshotFileContents> {
  const decoded = decodeSnapshotFile(bytes, file);
  let dump: Dump;
  try {
    dump = await realDumpCodec.decode(decoded.dumpGz);
  } catch (e) {
    throw new SnapshotFileError(
      SnapshotFileCode.BadDump,
      file,
      `the dump inside does not decode: ${(e as Error).message}`,
      undefined,
      { cause: e },
    );
  }
  const differs = disagreement(decoded.header, dump);
  if (differs !== null) throw new SnapshotFileError(SnapshotFileCode.BadDump, file, differs);
  return { file, ...decoded, dump, keys: kvKeyCount(dump.data) };
}

/** Read and check a snapshot file. */
export async function readSnapshotFile(file: string): Promise<SnapshotFileContents> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
    throw new SnapshotFileError(SnapshotFileCode.Unreadable, file, `cannot read it: ${why}`, undefined, {
      cause: e,
    });
  }
  return checkSnapshotBytes(bytes, file);
}

/** Write `bytes` to `file` atomically (temporary file, fsync, rename, directory fsync). */
export async function writeSnapshotFile(file: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const h = await fsp.open(tmp, 'wx', 0o600);
  let renamed = false;
  try {
    try {
      await h.writeFile(bytes);
      await h.sync();
    } finally {
      await h.close();
    }
    await fsp.rename(tmp, file);
    renamed = true;
    await nodeJournalFs.syncDir(dir);
  } finally {
    if (!renamed) await fsp.unlink(tmp).catch(() => undefined);
  }
}
