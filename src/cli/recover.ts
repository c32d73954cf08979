/**
 * `raftdcs recover -c patroni.yml --force-new-cluster [--members a,b…] [--yes]` — rebuild a cluster
 * that lost its quorum for good from one surviving member's stopped data dir (docs/recover.md).
 *
 * The steps, each of which refuses (exit 5, nothing changed) when it finds a reason to:
 *  1. the controller's configuration (the same YAML: raft.self_addr, data_dir, password…);
 *  2. the node is stopped: no live process in its lock, nothing listening on self_addr
 *     (../recover/running-check.ts);
 *  3. its files are read without changing them and the recovery is planned
 *     (../recover/survivor-files.ts, ../recover/plan.ts): the start-up check's refusals apply;
 *  4. the old members are asked for `status`: a majority alive (this node counted) is a refusal
 *     (../recover/quorum-check.ts);
 *  5. what is kept and what may be lost is printed; `--dry-run` stops here;
 *  6. the operator confirms (unless `--yes`);
 *  7. under the node's own lock, the files are replaced and the old ones kept as backups
 *     (../recover/write-files.ts) — with `--for-pysyncobj`, for a node Patroni or
 *     patroni_raft_controller runs, the dump only.
 *
 * This module writes only to the streams it is given and never calls process.exit.
 */
import { controllerSettings } from '../config/controller-config.js';
import { type EnvSource, loadPatroniConfig } from '../config/patroni-config.js';
import { ConfigError } from '../raft/config.js';
import { journalPaths } from '../raft/journal/paths.js';
import { splitHostPort } from '../raft/transport/address.js';
import { RecoverRefusal, RecoverRefusalCode } from '../recover/errors.js';
import { planRecovery, type RecoveryPlan } from '../recover/plan.js';
import { judgeQuorum, probeMembers, workingClusters } from '../recover/quorum-check.js';
import { formatDone, formatIntent, formatPlan, formatProbes } from '../recover/report.js';
import { ensureStopped, probePort } from '../recover/running-check.js';
import { readSurvivorFiles, type SurvivorFiles } from '../recover/survivor-files.js';
import { backupStamp, type WriteMode, writeRecoveredFiles } from '../recover/write-files.js';
import { Aborted, Terminal } from './ctl/prompt.js';
import { ExitCode } from './exit-codes.js';
import { acquireNodeLock, NodeLockError } from './node-lock.js';

/** Key names listed at most. */
const KEY_LIST_LIMIT = 30;
/** How long a TCP probe of this node's own address may take. */
const SELF_PROBE_MS = 1000;

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

interface Target {
  readonly selfAddr: string;
  readonly partnerAddrs: readonly string[];
  readonly password: string | null;
  readonly dataDir: string;
  readonly paths: ReturnType<typeof journalPaths>;
}

function loadTarget(o: RecoverOptions): Target {
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

/** `--members` as a list of addresses; RecoverRefusal(BAD_MEMBERS) when it is not one. */
function parseMembers(text: string | null, selfAddr: string): string[] | null {
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

async function readFiles(target: Target): Promise<SurvivorFiles> {
  try {
    return await readSurvivorFiles(target.paths);
  } catch (e) {
    throw new RecoverRefusal(
      RecoverRefusalCode.DataUnreadable,
      `cannot read the data files of ${target.selfAddr}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/**
 * Ask the other old members (and the configured partners the log does not list); refuse when a
 * majority of the old cluster is alive, or when anyone answering has a leader with a quorum.
 */
async function checkQuorumLost(target: Target, plan: RecoveryPlan, o: RecoverOptions): Promise<string> {
  const others = [...new Set([...plan.oldMembers, ...target.partnerAddrs])].filter(
    (m) => m !== target.selfAddr,
  );
  const probes = await probeMembers(others, { password: target.password, timeoutMs: o.checkTimeoutMs });
  const judgement = judgeQuorum(plan.oldMembers, target.selfAddr, probes);
  const text = formatProbes(plan, probes, judgement);
  if (judgement.majorityAlive) {
    throw new RecoverRefusal(
      RecoverRefusalCode.MajorityReachable,
      `${judgement.alive} of the ${judgement.members} old members are alive or can be started (this node ` +
        'counted): the cluster has not lost its quorum. Start this node (and fix the network if members ' +
        `cannot reach each other) instead of forcing a new cluster.\n${text}`,
    );
  }
  const working = workingClusters(probes);
  if (working.length > 0) {
    const who = working.map((p) => `${p.addr} (leader ${p.workingLeader})`).join(', ');
    throw new RecoverRefusal(
      RecoverRefusalCode.ClusterWorking,
      `a cluster with a leader and a quorum answers: ${who}. Do not force a second cluster beside it: ` +
        `if ${target.selfAddr} belongs to it, empty this node's data_dir and add it ` +
        `(raftdcs admin -conn <leader> -add ${target.selfAddr}).\n${text}`,
    );
  }
  return text;
}

/** Writing the files failed part way (the message of the cause). */
class WriteFailed extends Error {
  override readonly name = 'WriteFailed';
}

/** Step 7: replace the files under the node's own lock (a controller starting meanwhile refuses). */
async function switchFiles(
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

/** Steps 2–5: every check, then what is kept and lost printed; RecoverRefusal on the way. */
async function checkAndPlan(
  o: RecoverOptions,
  target: Target,
  mode: WriteMode,
  nowMs: number,
): Promise<{ files: SurvivorFiles; plan: RecoveryPlan }> {
  const members = parseMembers(o.members, target.selfAddr);
  await ensureStopped(target.selfAddr, target.paths.lock, SELF_PROBE_MS);
  const files = await readFiles(target);
  const plan = planRecovery({
    selfAddr: target.selfAddr,
    partnerAddrs: target.partnerAddrs,
    files,
    members,
    allowPartialData: o.allowPartialData,
  });
  if (mode === 'pysyncobj' && files.journalFormat === 'raftdcs') {
    throw new RecoverRefusal(
      RecoverRefusalCode.NotPysyncobj,
      `--for-pysyncobj: ${files.paths.journal} is a raftdcs journal, which pysyncobj cannot read; this ` +
        'node runs raftdcs: recover it without --for-pysyncobj',
    );
  }
  const probes = await checkQuorumLost(target, plan, o);
  o.stdout.write(formatPlan(files, plan, { nowSeconds: nowMs / 1000, keyLimit: KEY_LIST_LIMIT }));
  o.stdout.write(`\n${probes}`);
  o.stdout.write(formatIntent(plan, mode));
  return { files, plan };
}

/** Step 6: the operator's yes (click's confirm, default no; the end of stdin is a no). */
async function confirmed(o: RecoverOptions, target: Target): Promise<boolean> {
  if (o.yes) return true;
  const terminal = new Terminal({ input: o.stdin, write: (s) => o.stdout.write(s) });
  try {
    return await terminal.confirm(
      `Rewrite the files of ${target.selfAddr} in ${target.dataDir} as this new cluster? ` +
        'Only if the other members are gone for good',
    );
  } catch (e) {
    if (!(e instanceof Aborted)) throw e;
    return false;
  }
}

/** Run `raftdcs recover`; resolves to the exit code. */
export async function runRecover(o: RecoverOptions): Promise<ExitCode> {
  const err = (s: string) => o.stderr.write(s);
  if (!o.forceNewCluster && !o.dryRun) {
    err(
      "raftdcs recover: give --force-new-cluster (rebuild a one-node cluster from this node's data), or " +
        '--dry-run to see what it would do; see docs/recover.md\n',
    );
    return ExitCode.Config;
  }
  let target: Target;
  try {
    target = loadTarget(o);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`${e.message}\n(see raftdcs recover --help and docs/recover.md)\n`);
    return ExitCode.Config;
  }
  const nowMs = (o.now ?? Date.now)();
  const mode: WriteMode = o.forPysyncobj === true ? 'pysyncobj' : 'raftdcs';
  try {
    const { files, plan } = await checkAndPlan(o, target, mode, nowMs);
    if (o.dryRun) {
      o.stdout.write('Dry run: nothing was changed.\n');
      return ExitCode.Ok;
    }
    if (!(await confirmed(o, target))) {
      err('Aborted: nothing was changed.\n');
      return ExitCode.Config;
    }
    const result = await switchFiles(target, files, plan, nowMs, mode);
    o.stdout.write(formatDone(plan, result, o.configPath === null ? '' : `-c ${o.configPath}`));
    return ExitCode.Ok;
  } catch (e) {
    if (e instanceof RecoverRefusal) {
      err(`raftdcs recover: refusing: ${e.message}\nNothing was changed.\n`);
      return ExitCode.Refused;
    }
    if (e instanceof WriteFailed) {
      err(
        `raftdcs recover: writing the recovered files failed: ${e.message}\n` +
          'The data dir holds the old files, or the new dump beside the old journal (both start); backups ' +
          'are named *.before-recover-*. Run recover again once the cause is fixed.\n',
      );
      return ExitCode.Fatal;
    }
    throw e;
  }
}
