/**
 * Writing a whole journal file from a state — used to create a fresh journal, to import a pysyncobj
 * journal, and to rewrite (compact) a journal whose file is mostly dead records — and the one
 * helper that writes a buffer completely.
 *
 * It writes only to the temporary path it is given and always fdatasyncs it before returning: the
 * caller renames it into place. It must never write to a live journal path, and never rename.
 */
import type { LogEntry } from '../core/types.js';
import {
  encodeFileHeader,
  encodeRecords,
  entryEncodedBytes,
  FILE_HEADER_BYTES,
  type JournalOp,
  RECORD_HEADER_BYTES,
} from './format.js';
import type { JournalFileHandle, JournalFs } from './fs.js';
import type { JournalState } from './types.js';

/** Entries per record when a whole log is written (records stay around this size). */
const CHUNK_PAYLOAD_BYTES = 1 << 20;
/** Bytes per write call when a whole log is written (bounds the memory a rewrite takes). */
const WRITE_BUFFER_BYTES = 8 << 20;

/** Write `buf` at `position` completely (a write may be short). */
export async function writeAll(
  handle: JournalFileHandle,
  buf: Uint8Array,
  position: number,
): Promise<number> {
  let done = 0;
  let calls = 0;
  while (done < buf.length) {
    const { bytesWritten } = await handle.write(buf, done, buf.length - done, position + done);
    calls++;
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} at offset ${position + done}`);
    done += bytesWritten;
  }
  return calls;
}

/** The operations that rebuild `state` from an empty file: hard state, commit hint, the log in chunks. */
export function* stateOps(state: JournalState): Generator<JournalOp> {
  yield { kind: 'hardState', hardState: state.hardState };
  if (state.commitIndex !== 1) yield { kind: 'commitIndex', index: state.commitIndex };
  let chunk: LogEntry[] = [];
  let bytes = 12;
  let first = true;
  for (const e of state.entries) {
    const n = entryEncodedBytes(e);
    if (chunk.length > 0 && bytes + n > CHUNK_PAYLOAD_BYTES) {
      yield first ? { kind: 'reset', entries: chunk } : { kind: 'append', entries: chunk };
      first = false;
      chunk = [];
      bytes = 12;
    }
    chunk.push(e);
    bytes += n;
  }
  if (chunk.length > 0) yield first ? { kind: 'reset', entries: chunk } : { kind: 'append', entries: chunk };
}

export interface WrittenFile {
  /** still open for writing at `size` */
  readonly handle: JournalFileHandle;
  readonly size: number;
}

/**
 * Create `tmpPath` (replacing a leftover), write the header and `state`, fdatasync. The records
 * form one write batch starting after the header. Returns the open handle; on failure the handle is
 * closed and the error rethrown (the caller removes the file).
 */
export async function writeStateFile(
  fs: JournalFs,
  tmpPath: string,
  state: JournalState,
): Promise<WrittenFile> {
  const handle = await fs.open(tmpPath, 'w');
  try {
    await writeAll(handle, encodeFileHeader(), 0);
    let size = FILE_HEADER_BYTES;
    let ops: JournalOp[] = [];
    let opsBytes = 0;
    const flush = async (): Promise<void> => {
      if (ops.length === 0) return;
      const buf = encodeRecords(ops, size - FILE_HEADER_BYTES);
      await writeAll(handle, buf, size);
      size += buf.length;
      ops = [];
      opsBytes = 0;
    };
    for (const op of stateOps(state)) {
      ops.push(op);
      opsBytes +=
        RECORD_HEADER_BYTES + (op.kind === 'reset' || op.kind === 'append' ? CHUNK_PAYLOAD_BYTES : 32);
      if (opsBytes >= WRITE_BUFFER_BYTES) await flush();
    }
    await flush();
    await handle.datasync();
    return { handle, size };
  } catch (e) {
    await handle.close().catch(() => undefined);
    throw e;
  }
}
