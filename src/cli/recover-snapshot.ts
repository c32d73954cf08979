/**
 * `raftdcs recover -c <config> --from-snapshot <file> [--members a,b…] [--yes] [--dry-run]
 * [--for-pysyncobj]` — restore a backup (docs/recover.md, "From a snapshot"): the node's data dir,
 * which must be empty or absent, gets the snapshot's state as a new cluster of this node alone (or
 * `--members`), a term above the snapshot's, and nothing of any old log.
 *
 * The steps, each of which refuses (exit 5, nothing written) when it finds a reason to:
 *  1. the node's configuration (self_addr, data_dir), `--members`;
 *  2. the data dir is empty or absent (DATA_DIR_NOT_EMPTY), and the node is not running;
 *  3. the snapshot file is read and checked completely (SNAPSHOT_UNREADABLE: unreadable, truncated,
 *     damaged, or not a Patroni DCS state), and the files are planned
 *     (../recover/snapshot-plan.ts);
 *  4. what is kept is printed; `--dry-run` stops here; the operator confirms (unless `--yes`);
 *  5. the data dir is created if absent, and under the node's own lock the dump and journal are
 *     written (../recover/write-files.ts: temporary names, fsync, rename) — with `--for-pysyncobj`
 *     the dump only, which pysyncobj starts from.
 *
 * The old members are not asked anything: the snapshot starts a new cluster, whatever the old one
 * is doing. This module writes only to the streams it is given and the data dir.
 */
import { promises as fsp } from 'node:fs';
import { SnapshotFileError } from '../backup/format.js';
import { readSnapshotFile, type SnapshotFileContents } from '../backup/snapshot-file.js';
import { RecoverRefusal, RecoverRefusalCode } from '../recover/errors.js';
import { formatDone, formatIntent, formatSnapshotPlan } from '../recover/report.js';
import { ensureStopped } from '../recover/running-check.js';
import { planFromSnapshot } from '../recover/snapshot-plan.js';
import { readSurvivorFiles } from '../recover/survivor-files.js';
import type { WriteMode } from '../recover/write-files.js';
import { ExitCode } from './exit-codes.js';
import {
  confirmed,
  KEY_LIST_LIMIT,
  loadTargetOrReport,
  parseMembers,
  type RecoverOptions,
  reportRefusal,
  SELF_PROBE_MS,
  switchFiles,
  type Target,
  WriteFailed,
} from './recover-steps.js';

/** Names shown of what a non-empty data dir holds. */
const LISTED_ENTRIES = 5;

/** RecoverRefusal(DATA_DIR_NOT_EMPTY) unless the data dir is absent or empty; whether it exists. */
async function ensureEmptyDataDir(target: Target): Promise<boolean> {
  let entries: string[];
  try {
    entries = await fsp.readdir(target.dataDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'ENOTDIR') {
      throw new RecoverRefusal(
        RecoverRefusalCode.DataDirNotEmpty,
        `the data dir ${target.dataDir} is a file, not a directory`,
      );
    }
    throw e;
  }
  if (entries.length === 0) return true;
  const shown = entries.sort().slice(0, LISTED_ENTRIES).join(', ');
  const more = entries.length > LISTED_ENTRIES ? ` and ${entries.length - LISTED_ENTRIES} more` : '';
  throw new RecoverRefusal(
    RecoverRefusalCode.DataDirNotEmpty,
    `the data dir ${target.dataDir} is not empty (${shown}${more}): --from-snapshot only builds a new data ` +
      'dir. Point raft.data_dir at an empty or absent directory, or empty this one if its contents are ' +
      'not needed (to rebuild a stopped member from its own files, use --force-new-cluster instead).',
  );
}

async function readSnapshot(file: string): Promise<SnapshotFileContents> {
  try {
    return await readSnapshotFile(file);
  } catch (e) {
    if (!(e instanceof SnapshotFileError)) throw e;
    throw new RecoverRefusal(RecoverRefusalCode.SnapshotUnreadable, e.message, { cause: e });
  }
}

/** Run `raftdcs recover --from-snapshot <file>`; resolves to the exit code. */
export async function runRecoverFromSnapshot(o: RecoverOptions, file: string): Promise<ExitCode> {
  const err = (s: string) => o.stderr.write(s);
  if (o.allowPartialData) {
    err(
      'raftdcs recover: --unsafe-allow-partial-data does not apply to --from-snapshot (no data dir is read)\n',
    );
    return ExitCode.Config;
  }
  const target = loadTargetOrReport(o);
  if (target === null) return ExitCode.Config;
  const nowMs = (o.now ?? Date.now)();
  const mode: WriteMode = o.forPysyncobj === true ? 'pysyncobj' : 'raftdcs';
  try {
    const members = parseMembers(o.members, target.selfAddr);
    const exists = await ensureEmptyDataDir(target);
    await ensureStopped(target.selfAddr, target.paths.lock, SELF_PROBE_MS);
    const snapshot = await readSnapshot(file);
    const plan = planFromSnapshot({ selfAddr: target.selfAddr, snapshot, members });
    o.stdout.write(
      formatSnapshotPlan(snapshot, plan, { nowSeconds: nowMs / 1000, keyLimit: KEY_LIST_LIMIT }),
    );
    o.stdout.write(formatIntent(plan, mode));
    if (o.dryRun) {
      o.stdout.write('Dry run: nothing was changed.\n');
      return ExitCode.Ok;
    }
    if (
      !(await confirmed(o, `Write this state into ${target.dataDir} as a new cluster of ${target.selfAddr}?`))
    ) {
      err('Aborted: nothing was changed.\n');
      return ExitCode.Config;
    }
    if (!exists) await fsp.mkdir(target.dataDir, { recursive: true, mode: 0o700 });
    await ensureEmptyDataDir(target); // (nobody put anything there meanwhile)
    const empty = await readSurvivorFiles(target.paths); // the fingerprints of files that are absent
    const result = await switchFiles(target, empty, plan, nowMs, mode);
    o.stdout.write(formatDone(plan, result, o.configPath === null ? '' : `-c ${o.configPath}`, true));
    return ExitCode.Ok;
  } catch (e) {
    const refused = reportRefusal(o, e);
    if (refused !== null) return refused;
    if (e instanceof WriteFailed) {
      err(
        `raftdcs recover: writing the data dir failed: ${e.message}\n` +
          `Remove what was written to ${target.dataDir} and run recover again once the cause is fixed.\n`,
      );
      return ExitCode.Fatal;
    }
    throw e;
  }
}
