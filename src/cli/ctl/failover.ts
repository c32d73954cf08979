/**
 * `raftdcs ctl switchover`, `failover` and `remove`: patronictl's validations, prompts and
 * messages, acting through the DCS only.
 *
 * Switchover/failover: the current topology is shown; the leader (`--leader`, asked for, or the
 * current one) must hold the leader key; candidates are the other members without a truthy
 * `nofailover` tag, sorted; a failover needs a candidate; a switchover may be scheduled
 * (`--scheduled`, ISO 8601, local time when no offset is given; not while paused); then
 * `Are you sure you want to … ?` unless `--force`. patronictl would now POST to the leader's REST
 * API and write the `failover` key only when the API cannot be reached; we always write the key
 * (`manual_failover(leader, candidate, scheduled_at)`: `{"leader":…,"member":…,"scheduled_at":…}`,
 * without a CAS), which Patroni's HA loop on the leader executes and then clears. We watch the key
 * for `--wait` seconds (default 5) and say whether a member acted on it — without a running Patroni
 * nothing does, and the key stays. A scheduled switchover is not waited for.
 *
 * Remove: the cluster is shown, then `Please confirm the cluster name to remove`, then
 * `You are about to remove all information in DCS for <scope>, please type: "Yes I am aware"`,
 * then — while a leader holds the lock — `This cluster currently is healthy. Please specify the
 * leader name to continue`; only then every key under the cluster path is deleted (recursively,
 * one Raft entry). With a citus section `--group` is required.
 */

import type { Cluster } from '../../dcs/model/cluster.js';
import type { PyDateTime } from '../../dcs/model/datetime.js';
import { pyTruthy } from '../../dcs/model/json.js';
import type { RaftDcs } from '../../dcs/raft-dcs.js';
import { pyStrCompare } from '../../py/compare.js';
import { pyStrRepr } from '../../py/repr.js';
import { clusterTarget, isCitusOutput, readCluster } from './cluster.js';
import { type ClusterTarget, CtlError, resolveScope } from './config.js';
import { formatMembers, isPaused, isStandbyCluster } from './members.js';
import type { OutputFormat } from './output.js';
import { nextHour, parseScheduled } from './schedule.js';
import { type CtlSession, timestamp } from './session.js';

export interface FailoverOptions {
  readonly group?: number | null;
  readonly leader?: string | null;
  readonly candidate?: string | null;
  readonly scheduled?: string | null;
  readonly force?: boolean;
  /** seconds to watch the failover key after writing it (default 5) */
  readonly wait?: number | null;
}

export const DEFAULT_FAILOVER_WAIT_SECONDS = 5;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function titleWord(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Python's `str(list_of_names)`. */
function pyListRepr(names: readonly string[]): string {
  return `[${names.map(pyStrRepr).join(', ')}]`;
}

/** `switchover` (action 'switchover') and `failover` (action 'failover', or 'switchover' with --leader). */
export async function failoverOrSwitchover(
  session: CtlSession,
  action: 'switchover' | 'failover',
  name: string | undefined,
  o: FailoverOptions,
): Promise<number> {
  const scope = resolveScope(session.config, name, session.configPath);
  const { target, dcs, cluster, citus } = await showAndPickGroup(session, scope, o);
  if (action === 'switchover' && !cluster.leader?.name) throw new CtlError('This cluster has no leader');
  const leader = await chooseLeader(session, action, cluster, scope, o);
  const candidate = await chooseCandidate(session, action, cluster, scope, leader, o);
  const scheduledAt = action === 'switchover' ? await chooseSchedule(session, cluster, o) : null;
  if (!o.force) await confirmFailover(session, action, scope, leader, scheduledAt);
  const writtenIndex = await requestFailover(session, action, dcs, leader, candidate, scheduledAt);
  if (!scheduledAt) {
    await waitForPickup(session, dcs.paths.failover, writtenIndex, cluster, o.wait, action, async () =>
      readCluster(dcs, scope, session.namespace),
    );
  }
  const after = await readCluster(dcs, scope, session.namespace);
  session.out(formatMembers(after, scope, { fmt: 'pretty', group: target.group, citus }));
  return 0;
}

/** Show the current topology; for Citus without `--group`, ask for the group and read it. */
async function showAndPickGroup(
  session: CtlSession,
  scope: string,
  o: FailoverOptions,
): Promise<{ target: ClusterTarget; dcs: RaftDcs; cluster: Cluster; citus: boolean }> {
  let target: ClusterTarget = clusterTarget(session, scope, o.group, 'none');
  let dcs = await session.dcs(target);
  let cluster = await readCluster(dcs, scope, session.namespace);
  const citus = isCitusOutput(session, target);
  session.echo('Current cluster topology');
  session.out(formatMembers(cluster, scope, { fmt: 'pretty', group: target.group, citus }));

  if (session.citus && target.group === null) {
    if (o.force) throw new CtlError('For Citus clusters the --group must be specified');
    const group = await session.terminal.promptInt('Citus group');
    // the node reads every group; writes go to the chosen group's path
    await session.close();
    target = clusterTarget(session, scope, group, 'none');
    dcs = await session.dcs(target);
    cluster = await readCluster(dcs, scope, session.namespace);
  }
  return { target, dcs, cluster, citus };
}

/** The leader to demote: `--leader`, the current one (forced or failover), or asked for; must hold the lock. */
async function chooseLeader(
  session: CtlSession,
  action: 'switchover' | 'failover',
  cluster: Cluster,
  scope: string,
  o: FailoverOptions,
): Promise<string | null> {
  let leader = o.leader ?? null;
  if (leader === null) {
    if (o.force || action === 'failover') {
      leader = cluster.leader ? cluster.leader.name : null;
    } else {
      const standby = isStandbyCluster(cluster.config?.data['standby_cluster']);
      leader = await session.terminal.prompt(standby ? 'Standby Leader' : 'Primary', {
        default: cluster.leader?.member.name ?? '',
      });
    }
  }
  if (leader !== null && cluster.leader && cluster.leader.member.name !== leader) {
    throw new CtlError(`Member ${leader} is not the leader of cluster ${scope}`);
  }
  return leader;
}

/** The candidate: `--candidate` or asked for, among the other members without `nofailover`. */
async function chooseCandidate(
  session: CtlSession,
  action: 'switchover' | 'failover',
  cluster: Cluster,
  scope: string,
  leader: string | null,
  o: FailoverOptions,
): Promise<string | null> {
  const candidates = cluster.members
    .filter((m) => m.name !== leader && !pyTruthy(m.tags['nofailover']))
    .map((m) => m.name)
    .sort(pyStrCompare);
  if (candidates.length === 0) throw new CtlError(`No candidates found to ${action} to`);

  let candidate = o.candidate ?? null;
  if (candidate === null && !o.force) {
    candidate = await session.terminal.prompt(`Candidate ${pyListRepr(candidates)}`, { default: '' });
  }
  if (action === 'failover' && !candidate) {
    throw new CtlError('Failover could be performed only to a specific candidate');
  }
  if (candidate === leader) throw new CtlError(`${titleWord(action)} target and source are the same.`);
  if (candidate && !candidates.includes(candidate)) {
    throw new CtlError(`Member ${candidate} does not exist in cluster ${scope}`);
  }
  return candidate;
}

/** A switchover's time: `--scheduled` or asked for; null for now (not schedulable while paused). */
async function chooseSchedule(
  session: CtlSession,
  cluster: Cluster,
  o: FailoverOptions,
): Promise<PyDateTime | null> {
  let scheduled = o.scheduled ?? null;
  if (scheduled === null && !o.force) {
    scheduled = await session.terminal.prompt(
      `When should the switchover take place (e.g. ${nextHour()} ) `,
      {
        default: 'now',
      },
    );
  }
  const scheduledAt = parseScheduled(scheduled);
  if (scheduledAt && isPaused(cluster)) throw new CtlError("Can't schedule switchover in the paused state");
  return scheduledAt;
}

/** `Are you sure you want to … ?`; a no aborts. */
async function confirmFailover(
  session: CtlSession,
  action: 'switchover' | 'failover',
  scope: string,
  leader: string | null,
  scheduledAt: PyDateTime | null,
): Promise<void> {
  const demote = leader ? `, demoting current leader ${leader}` : '';
  const question = scheduledAt
    ? `Are you sure you want to schedule ${action} of cluster ${scope} at ${scheduledAt.isoformat()}${demote}?`
    : `Are you sure you want to ${action} cluster ${scope}${demote}?`;
  if (!(await session.terminal.confirm(question))) {
    throw new CtlError(scheduledAt ? `Aborting scheduled ${action}` : `Aborting ${action}`);
  }
}

/**
 * Write the failover key and say what was written (and, when scheduled, who executes it); resolves
 * with the Raft index of the key as read back (null if it is already gone).
 */
async function requestFailover(
  session: CtlSession,
  action: 'switchover' | 'failover',
  dcs: RaftDcs,
  leader: string | null,
  candidate: string | null,
  scheduledAt: PyDateTime | null,
): Promise<number | null> {
  if (!(await dcs.manualFailover(leader || null, candidate || null, scheduledAt))) {
    throw new CtlError(
      `could not write the failover key ${dcs.paths.failover} (the Raft cluster did not confirm it)`,
    );
  }
  const written = dcs.kv.get(dcs.paths.failover);
  session.echo(
    `${timestamp()} ${titleWord(action)} requested through the DCS: ${dcs.paths.failover} = ${written?.value ?? '?'}`,
  );
  if (scheduledAt) {
    session.echo(
      `${timestamp()} The failover key waits in the DCS for the leader's Patroni to execute it at ${scheduledAt.isoformat()} (without a running Patroni nothing executes it)`,
    );
  }
  return written?.index ?? null;
}

/** Watch the failover key: taken up (cleared or replaced) or the leader changed → say so. */
async function waitForPickup(
  session: CtlSession,
  key: string,
  index: number | null,
  before: Cluster,
  waitSeconds: number | null | undefined,
  action: string,
  read: () => Promise<Cluster>,
): Promise<void> {
  const wait = waitSeconds ?? DEFAULT_FAILOVER_WAIT_SECONDS;
  const deadline = Date.now() + wait * 1000;
  const oldLeader = before.leader?.name ?? null;
  for (;;) {
    const c = await read();
    const f = c.failover;
    const taken = f === null || f.version !== index || !f.isTruthy;
    const leaderNow = c.leader?.name ?? null;
    if (taken || leaderNow !== oldLeader) {
      session.echo(
        `${timestamp()} A member acted on the ${action}: the failover key is ${taken ? 'cleared' : 'still set'}, the leader is ${leaderNow ?? 'not set'}`,
      );
      return;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(200, Math.max(0, deadline - Date.now())));
  }
  session.echo(
    `${timestamp()} No member acted on the ${action} within ${wait} s: the failover key ${key} stays in the DCS until ` +
      "the leader's Patroni HA loop executes it (raftdcs ctl does not call Patroni's REST API; without a running Patroni nothing executes it)",
  );
}

/** `remove <cluster>`: delete every key of the cluster after patronictl's three confirmations. */
export async function removeCluster(
  session: CtlSession,
  name: string,
  group: number | null | undefined,
  format: OutputFormat,
): Promise<number> {
  const target = clusterTarget(session, name, group, 'none');
  const dcs = await session.dcs(target);
  const cluster = await readCluster(dcs, name, session.namespace);
  if (session.citus && target.group === null)
    throw new CtlError('For Citus clusters the --group must be specified');
  session.out(
    formatMembers(cluster, name, { fmt: format, group: target.group, citus: isCitusOutput(session, target) }),
  );

  const confirmName = await session.terminal.prompt('Please confirm the cluster name to remove');
  if (confirmName !== name) throw new CtlError('Cluster names specified do not match');
  const phrase = 'Yes I am aware';
  const typed = await session.terminal.prompt(
    `You are about to remove all information in DCS for ${name}, please type: "${phrase}"`,
  );
  if (typed !== phrase) throw new CtlError(`You did not exactly type "${phrase}"`);
  if (cluster.leader?.name) {
    const leader = await session.terminal.prompt(
      'This cluster currently is healthy. Please specify the leader name to continue',
    );
    if (leader !== cluster.leader.name)
      throw new CtlError('You did not specify the current leader of the cluster');
  }
  if (!(await dcs.deleteCluster())) {
    throw new CtlError(`could not remove ${dcs.paths.cluster} (the Raft cluster did not confirm the delete)`);
  }
  return 0;
}
