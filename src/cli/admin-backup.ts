/**
 * `raftdcs admin -conn <member> -snapshot <file>` and `-compact` (docs/admin.md, "Backups"):
 *
 * - `-snapshot FILE`: a consistent copy of the member's state — its dump at its applied index, with
 *   index, term and membership — downloaded (../backup/client.ts), checked (the dump decodes and
 *   agrees with what the node stated) and written to FILE atomically as a raftdcs snapshot file
 *   (../backup/format.ts); then the file's summary, as `raftdcs snapshot status` prints it;
 * - `-compact`: the member compacts its log now; its reply (`last_index`, `log_len`, …) printed as
 *   `status` is.
 *
 * Unlike syncobj_admin's commands, these exit 1 when they fail (a backup script must be able to
 * tell), with the reason on stderr, or in the JSON with `--json`.
 *
 * This module writes only to the streams it is given and the snapshot file, and never calls
 * process.exit.
 */
import { BackupClient, BackupClientError } from '../backup/client.js';
import { encodeSnapshotFile, SnapshotFileError } from '../backup/format.js';
import { checkSnapshotBytes, writeSnapshotFile } from '../backup/snapshot-file.js';
import { compactionToPy } from '../raft/snapshot/utility-protocol.js';
import { RAFTDCS_VERSION } from '../version.js';
import type { AdminIo } from './admin.js';
import { type Json, pyToJson } from './py-json.js';
import { formatSnapshotSummary, snapshotSummaryJson } from './snapshot.js';

export interface BackupCommandArgs {
  readonly connection: string;
  readonly password: string | null;
  readonly timeoutSeconds: number;
  readonly json: boolean;
}

type Outcome =
  | { ok: true; text: string; json: { [key: string]: Json } }
  | { ok: false; error: string; detail: string };

function report(io: AdminIo, args: BackupCommandArgs, command: Json[], outcome: Outcome): number {
  if (args.json) {
    const body: { [key: string]: Json } = outcome.ok
      ? { node: args.connection, command, ok: true, ...outcome.json }
      : { node: args.connection, command, ok: false, error: outcome.error, detail: outcome.detail };
    io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else if (outcome.ok) {
    io.stdout.write(outcome.text);
  } else {
    io.stderr.write(`raftdcs admin: ${command[0]}: ${outcome.detail}\n`);
  }
  return outcome.ok ? 0 : 1;
}

function failure(e: unknown): Outcome {
  if (e instanceof BackupClientError || e instanceof SnapshotFileError) {
    return { ok: false, error: e.code, detail: e.message };
  }
  throw e;
}

function client(args: BackupCommandArgs): BackupClient {
  return new BackupClient(args.connection, {
    password: args.password,
    timeoutMs: args.timeoutSeconds * 1000,
  });
}

/** `-snapshot FILE`; resolves to the exit code. */
export async function runSnapshotCommand(
  args: BackupCommandArgs,
  file: string,
  io: AdminIo,
): Promise<number> {
  const command: Json[] = ['snapshot', file];
  let outcome: Outcome;
  try {
    const { offer, dumpGz } = await client(args).takeSnapshot();
    const bytes = encodeSnapshotFile(
      {
        node: offer.node,
        created: new Date().toISOString(),
        raftdcsVersion: RAFTDCS_VERSION,
        lastIndex: offer.lastIndex,
        lastTerm: offer.lastTerm,
        prevIndex: offer.prevIndex,
        prevTerm: offer.prevTerm,
        cluster: offer.cluster,
        raftTerm: offer.raftTerm,
        commitIndex: offer.commitIndex,
      },
      dumpGz,
    );
    // decoded before it is written: a file that is written is one that restores
    const contents = await checkSnapshotBytes(bytes, file);
    try {
      await writeSnapshotFile(file, bytes);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'its directory does not exist' : err.message;
      return report(io, args, command, {
        ok: false,
        error: 'WRITE_FAILED',
        detail: `cannot write ${file}: ${why} (nothing was written there)`,
      });
    }
    outcome = {
      ok: true,
      text: `Saved a snapshot of ${offer.node} to ${file}\n${formatSnapshotSummary(contents)}`,
      json: { snapshot: snapshotSummaryJson(contents) },
    };
  } catch (e) {
    outcome = failure(e);
  }
  return report(io, args, command, outcome);
}

/** `-compact`; resolves to the exit code. */
export async function runCompactCommand(
  args: BackupCommandArgs,
  io: AdminIo,
  formatReply: (reply: ReturnType<typeof compactionToPy>) => string,
): Promise<number> {
  let outcome: Outcome;
  try {
    const r = await client(args).compact();
    const reply = compactionToPy(r);
    outcome = { ok: true, text: `${formatReply(reply)}\n`, json: { reply: pyToJson(reply) } };
  } catch (e) {
    outcome = failure(e);
  }
  return report(io, args, ['compact'], outcome);
}
