/**
 * The steps `raftdcs recover` shares between its two ways (./recover.ts: a stopped survivor's data
 * dir rewritten; ./recover-snapshot.ts: a new data dir built from a snapshot file): the options, the
 * node's configuration, `--members`, the operator's confirmation, and the switch of the files under
 * the node's own lock.
 *
 * This module writes only to the streams it is given and, in switchFiles, the node's data dir.
 */
import { controllerSettings } from '../config/controller-config.js';
import { type EnvSource, loadPatroniConfig } from '../config/patroni-config.js';
import { ConfigError } from '../raft/config.js';
import { journalPaths } from '../raft/journal/paths.js';
import { splitHostPort } from '../raft/transport/address.js';
import { RecoverRefusal, RecoverRefusalCode } from '../recover/errors.js';
import type { RecoveryPlan } from '../recover/plan.js';
import { probePort } from '../recover/running-check.js';
import type { SurvivorFiles } from '../recover/survivor-files.js';
import { backupStamp, type WriteMode, writeRecoveredFiles } from '../recover/write-files.js';
import { Aborted, Terminal } from './ctl/prompt.js';
import { ExitCode } from './exit-codes.js';
import { acquireNodeLock, NodeLockError } from './node-lock.js';

/** Key names listed at most. */
export const KEY_LIST_LIMIT = 30;
/** How long a TCP probe of this node's own address may take. */
export const SELF_PROBE_MS = 1000;

export interface RecoverOptions {
  /** a YAML file or a directory of them (null: PATRONI_CONFIGURATION, else the environment) */
  readonly configPath: string | null;
  readonly forceNewCluster: boolean;
  /** `--members a,b,…` as given (null: this node alone) */
  readonly members: string | null;
  /** `--yes`: do not ask */
  readonly yes: boolean;
  /** `--dry-run`: stop after printing the plan */
  readonly dryRun: boolean;
  /** `--unsafe-allow-partial-data`: rebuild from what an incomplete data dir holds */
  readonly allowPartialData: boolean;
  /** `--for-pysyncobj`: the node runs pysyncobj (Patroni, patroni_raft_controller): write the dump only */
  readonly forPysyncobj?: boolean;
  /** `--from-snapshot FILE`: build a new, empty data dir from a snapshot file (./recover-snapshot.ts) */
  readonly fromSnapshot?: string | null;
  /** how long each old member gets to answer `status` */
  readonly checkTimeoutMs: number;
  /** default process.env (only read) */
  readonly env?: EnvSource;
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  /** the wall clock in ms (default Date.now) */
  readonly now?: () => number;
}

export interface Target {
  readonly selfAddr: string;
  readonly partnerAddrs: readonly string[];
  readonly password: string | null;
  readonly dataDir: string;
  readonly paths: ReturnType<typeof journalPaths>;
}

export function loadTarget(o: RecoverOptions): Target {
  const loaded = loadPatroniConfig({ path: o.configPath, env: o.env, consumeEnv: false });
  const settings = controllerSettings(loaded.config);
  const node = settings.node;
  return {
    selfAddr: node.selfAddr,
    partnerAddrs: node.partnerAddrs,
    password: settings.password,
    dataDir: node.dataDir === '' ? '.' : node.dataDir,
    paths: journalPaths(node.dataDir, node.selfAddr),
  };
}

/** The target from the configuration, or null after saying why on stderr (a configuration error). */
export function loadTargetOrReport(o: RecoverOptions): Target | null {
  try {
    return loadTarget(o);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    o.stderr.write(`${e.message}\n(see raftdcs recover --help and docs/recover.md)\n`);
    return null;
  }
}

/** A refusal said on stderr, with its exit code; null for any other error. */
export function reportRefusal(o: RecoverOptions, e: unknown): ExitCode | null {
  if (!(e instanceof RecoverRefusal)) return null;
  o.stderr.write(`raftdcs recover: refusing: ${e.message}\nNothing was changed.\n`);
  return ExitCode.Refused;
}

/** `--members` as a list of addresses; RecoverRefusal(BAD_MEMBERS) when it is not one. */
export function parseMembers(text: string | null, selfAddr: string): string[] | null {
  if (text === null) return null;
  const list = [
    ...new Set(
      text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
  for (const a of list) {
    try {
      splitHostPort(a);
    } catch (e) {
      throw new RecoverRefusal(RecoverRefusalCode.BadMembers, `--members: ${(e as Error).message}`);
    }
  }
  if (!list.includes(selfAddr)) {
    throw new RecoverRefusal(
      RecoverRefusalCode.BadMembers,
      `--members must include this node's self_addr ${selfAddr} (got ${list.join(', ') || 'nothing'})`,
    );
  }
  return list;
}

/** Writing the files failed part way (the message of the cause). */
export class WriteFailed extends Error {
  override readonly name = 'WriteFailed';
}

/** Step 7: replace the files under the node's own lock (a controller starting meanwhile refuses). */
export async function switchFiles(
  target: Target,
  files: SurvivorFiles,
  plan: RecoveryPlan,
  nowMs: number,
  mode: WriteMode,
) {
  const lock = await acquireNodeLock(target.paths.lock, {
    selfAddr: target.selfAddr,
    program: 'recover',
    takeOverForeign: false,
  }).catch((e: unknown) => {
    if (e instanceof NodeLockError) {
      throw new RecoverRefusal(RecoverRefusalCode.NodeRunning, `the node started meanwhile: ${e.message}`);
    }
    throw new WriteFailed(`cannot take the lock ${target.paths.lock}: ${(e as Error).message}`, { cause: e });
  });
  try {
    // the lock is ours now; a node that takes none (Patroni, pysyncobj) may still have started
    if ((await probePort(target.selfAddr, SELF_PROBE_MS)) === 'listening') {
      throw new RecoverRefusal(
        RecoverRefusalCode.NodeRunning,
        `something started listening on self_addr ${target.selfAddr} meanwhile`,
      );
    }
    return await writeRecoveredFiles(files, plan, backupStamp(nowMs), mode).catch((e: unknown) => {
      if (e instanceof RecoverRefusal) throw e;
      throw new WriteFailed((e as Error).message, { cause: e });
    });
  } finally {
    await lock.release();
  }
}

/** The operator's yes to `question` (click's confirm, default no; the end of stdin is a no). */
export async function confirmed(o: RecoverOptions, question: string): Promise<boolean> {
  if (o.yes) return true;
  const terminal = new Terminal({ input: o.stdin, write: (s) => o.stdout.write(s) });
  try {
    return await terminal.confirm(question);
  } catch (e) {
    if (!(e instanceof Aborted)) throw e;
    return false;
  }
}
