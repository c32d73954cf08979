/**
 * `raftdcs snapshot status <file> [--json]` — what a snapshot file (`raftdcs admin -snapshot`) holds,
 * after checking all of it: the container's checksum, the dump inside decoded and compared with the
 * header (../backup/snapshot-file.ts). Also the summary `raftdcs admin -snapshot` prints for the
 * file it wrote.
 *
 * Exit 0 when the file is intact; ExitCode.Damaged, with the file and the reason on stderr (or in
 * the JSON), when it cannot be read, is truncated, damaged or not a snapshot file.
 *
 * This module writes only to the streams it is given and never calls process.exit.
 */
import { headerFields, SnapshotFileError } from '../backup/format.js';
import { readSnapshotFile, type SnapshotFileContents } from '../backup/snapshot-file.js';
import { ExitCode } from './exit-codes.js';
import type { Json } from './py-json.js';

export interface SnapshotStatusOptions {
  readonly file: string;
  readonly json: boolean;
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** The summary as `label: value` lines. */
export function formatSnapshotSummary(c: SnapshotFileContents): string {
  const h = c.header;
  const rows: [string, string][] = [
    ['file', c.file],
    ['format', `raftdcs snapshot file, version ${c.version}`],
    ['node', h.node],
    ['created', `${h.created} (raftdcs ${h.raftdcsVersion})`],
    ['index', `${h.lastIndex} (term ${h.lastTerm})`],
    ['previous', `${h.prevIndex} (term ${h.prevTerm})`],
    ['membership', h.cluster.join(', ')],
    ['raft term', String(h.raftTerm)],
    ['commit index', String(h.commitIndex)],
    ['keys', c.keys === null ? '- (not a Patroni DCS state)' : String(c.keys)],
    ['dump', `${c.dumpGz.length} bytes (gzip)`],
    ['size', `${c.bytes} bytes`],
    ['checksum', `ok (sha256 ${c.sha256})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return `${rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n')}\n`;
}

/** The summary as one JSON object. */
export function snapshotSummaryJson(c: SnapshotFileContents): { [key: string]: Json } {
  return {
    file: c.file,
    ok: true,
    format_version: c.version,
    ...headerFields(c.header),
    keys: c.keys,
    dump_bytes: c.dumpGz.length,
    bytes: c.bytes,
    sha256: c.sha256,
    checksum_ok: true,
  };
}

/** Run `raftdcs snapshot status`; resolves to the exit code. */
export async function runSnapshotStatus(o: SnapshotStatusOptions): Promise<ExitCode> {
  let contents: SnapshotFileContents;
  try {
    contents = await readSnapshotFile(o.file);
  } catch (e) {
    if (!(e instanceof SnapshotFileError)) throw e;
    if (o.json) {
      o.stdout.write(
        `${JSON.stringify({ file: o.file, ok: false, error: e.code, detail: e.message }, null, 2)}\n`,
      );
    } else {
      o.stderr.write(`raftdcs snapshot status: ${e.message}\n`);
    }
    return ExitCode.Damaged;
  }
  o.stdout.write(
    o.json ? `${JSON.stringify(snapshotSummaryJson(contents), null, 2)}\n` : formatSnapshotSummary(contents),
  );
  return ExitCode.Ok;
}
