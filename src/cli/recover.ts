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
 * `--from-snapshot FILE` restores a backup into a new data dir instead (./recover-snapshot.ts).
 *
 * This module writes only to the streams it is given and never calls process.exit.
 */
import { RecoverRefusal, RecoverRefusalCode } from '../recover/errors.js';
import { planRecovery, type RecoveryPlan } from '../recover/plan.js';
import { judgeQuorum, probeMembers, workingClusters } from '../recover/quorum-check.js';
import { formatDone, formatIntent, formatPlan, formatProbes } from '../recover/report.js';
import { ensureStopped } from '../recover/running-check.js';
import { readSurvivorFiles, type SurvivorFiles } from '../recover/survivor-files.js';
import type { WriteMode } from '../recover/write-files.js';
import { ExitCode } from './exit-codes.js';
import { runRecoverFromSnapshot } from './recover-snapshot.js';
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

export type { RecoverOptions } from './recover-steps.js';

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

/** Run `raftdcs recover`; resolves to the exit code. */
export async function runRecover(o: RecoverOptions): Promise<ExitCode> {
  const err = (s: string) => o.stderr.write(s);
  if (o.fromSnapshot !== undefined && o.fromSnapshot !== null)
    return runRecoverFromSnapshot(o, o.fromSnapshot);
  if (!o.forceNewCluster && !o.dryRun) {
    err(
      "raftdcs recover: give --force-new-cluster (rebuild a one-node cluster from this node's data), " +
        '--from-snapshot FILE (a new data dir from a backup), or --dry-run to see what it would do; see ' +
        'docs/recover.md\n',
    );
    return ExitCode.Config;
  }
  const target = loadTargetOrReport(o);
  if (target === null) return ExitCode.Config;
  const nowMs = (o.now ?? Date.now)();
  const mode: WriteMode = o.forPysyncobj === true ? 'pysyncobj' : 'raftdcs';
  try {
    const { files, plan } = await checkAndPlan(o, target, mode, nowMs);
    if (o.dryRun) {
      o.stdout.write('Dry run: nothing was changed.\n');
      return ExitCode.Ok;
    }
    const question =
      `Rewrite the files of ${target.selfAddr} in ${target.dataDir} as this new cluster? ` +
      'Only if the other members are gone for good';
    // step 6: the operator's yes
    if (!(await confirmed(o, question))) {
      err('Aborted: nothing was changed.\n');
      return ExitCode.Config;
    }
    const result = await switchFiles(target, files, plan, nowMs, mode);
    o.stdout.write(formatDone(plan, result, o.configPath === null ? '' : `-c ${o.configPath}`));
    return ExitCode.Ok;
  } catch (e) {
    const refused = reportRefusal(o, e);
    if (refused !== null) return refused;
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
