/**
 * Which members a REST command acts on, as patronictl 3.0.2 picks them (`get_all_members`,
 * `get_members`, `get_all_members_leader_first`, `confirm_members_action`):
 *
 * - by role (`-r/--role`): `leader`, `primary`/`master` (a leader that is not a standby leader),
 *   `standby-leader` (a leader that is not a primary), `replica`/`standby` (every member but the
 *   leader), `any`; in the members' DCS order (the order their keys were created); with MPP and no
 *   `--group`, the coordinator's members and then every worker group's;
 * - the member table is shown first; named members must have that role (`No replica among provided
 *   members`, `pg9 is not a member of cluster`); no names means all of them — except for reinit,
 *   which asks `Which member do you want to reinitialize [pg2, pg3]? []:`;
 * - then `Are you sure you want to restart members pg1, pg2? [y/N]:` (or `… schedule restart of
 *   members … at 2030-01-01 12:00:00+00:00?`) unless `--force`; no is `Aborted restart`.
 *
 * patronictl lists the candidates of that question from a Python set, in an order that changes
 * from run to run; ours lists them in DCS order.
 */
import type { Cluster } from '../../dcs/model/cluster.js';
import type { PyDateTime } from '../../dcs/model/datetime.js';
import type { Member } from '../../dcs/model/member.js';
import type { RaftDcs } from '../../dcs/raft-dcs.js';
import { clusterTarget, isCitusOutput, readCluster } from './cluster.js';
import { type ClusterTarget, CtlError } from './config.js';
import { formatMembers } from './members.js';
import type { CtlSession } from './session.js';

export const ROLE_CHOICES = [
  'leader',
  'primary',
  'standby-leader',
  'replica',
  'standby',
  'any',
  'master',
] as const;
export type RoleChoice = (typeof ROLE_CHOICES)[number];

/** The coordinator and, when every group is read, the workers (`{0: cluster, **workers}`). */
function clustersOf(cluster: Cluster, allGroups: boolean): Cluster[] {
  const out = [cluster];
  if (allGroups) for (const [g, w] of cluster.workers) if (g !== 0) out.push(w);
  return out;
}

/** patronictl's `get_all_members`. */
export function allMembers(cluster: Cluster, allGroups: boolean, role: RoleChoice): Member[] {
  const out: Member[] = [];
  if (role === 'leader' || role === 'master' || role === 'primary' || role === 'standby-leader') {
    for (const c of clustersOf(cluster, allGroups)) {
      const leader = c.leader;
      if (leader === null || !leader.name) continue;
      const written = leader.data['role'];
      if (
        role === 'leader' ||
        (role === 'standby-leader' && written !== 'master') ||
        ((role === 'master' || role === 'primary') && written !== 'standby_leader')
      ) {
        out.push(leader.member);
      }
    }
    return out;
  }
  for (const c of clustersOf(cluster, allGroups)) {
    const leaderName = c.leader ? c.leader.member.name : null;
    for (const m of c.members) if (role === 'any' || m.name !== leaderName) out.push(m);
  }
  return out;
}

/** patronictl's `get_all_members_leader_first`: members with an api_url, the leader first. */
export function membersLeaderFirst(cluster: Cluster): Member[] {
  const leader = cluster.leader?.member.apiUrl ? cluster.leader.member : null;
  const out: Member[] = leader ? [leader] : [];
  for (const m of cluster.members) if (m.apiUrl && m.name !== leader?.name) out.push(m);
  return out;
}

/** Python's `str(datetime)`: the ISO format with a space between date and time. */
export function pyDateTimeStr(dt: PyDateTime): string {
  const iso = dt.isoformat();
  return `${iso.slice(0, 10)} ${iso.slice(11)}`;
}

/** `Are you sure …?` unless forced; a no is `Aborted <action>` / `Aborted scheduled <action>`. */
export async function confirmMembersAction(
  session: CtlSession,
  members: readonly Member[],
  force: boolean,
  action: string,
  scheduledAt: PyDateTime | null = null,
): Promise<void> {
  if (force) return;
  const names = members.map((m) => m.name).join(', ');
  if (scheduledAt) {
    const question = `Are you sure you want to schedule ${action} of members ${names} at ${pyDateTimeStr(scheduledAt)}?`;
    if (!(await session.terminal.confirm(question))) throw new CtlError(`Aborted scheduled ${action}`);
  } else if (!(await session.terminal.confirm(`Are you sure you want to ${action} members ${names}?`))) {
    throw new CtlError(`Aborted ${action}`);
  }
}

export interface SelectOptions {
  readonly clusterName: string;
  readonly memberNames: readonly string[];
  readonly role: RoleChoice;
  readonly force: boolean;
  /** `restart`, `reload`, `reinitialize`, `flush` */
  readonly action: string;
  readonly askConfirmation: boolean;
  /** `--group`, or null */
  readonly group: number | null;
  /** MPP output (a citus section, or `--group`) */
  readonly citus: boolean;
}

/** The cluster a member command acts on, read once. */
export interface OpenedCluster {
  readonly clusterName: string;
  readonly target: ClusterTarget;
  readonly dcs: RaftDcs;
  readonly cluster: Cluster;
}

/** Read `clusterName` (its `--group`) for a member command (restart, reload, reinit, flush). */
export async function openCluster(
  session: CtlSession,
  clusterName: string,
  group: number | null,
): Promise<OpenedCluster> {
  const target = clusterTarget(session, clusterName, group, 'none');
  const dcs = await session.dcs(target);
  const cluster = await readCluster(dcs, clusterName, session.namespace);
  return { clusterName, target, dcs, cluster };
}

/** `selectMembers` on an opened cluster: its name, group and MPP output filled in. */
export function selectIn(
  session: CtlSession,
  opened: OpenedCluster,
  o: Omit<SelectOptions, 'clusterName' | 'group' | 'citus'>,
): Promise<Member[]> {
  return selectMembers(session, opened.cluster, {
    ...o,
    clusterName: opened.clusterName,
    group: opened.target.group,
    citus: isCitusOutput(session, opened.target),
  });
}

/** patronictl's `get_members`: show the cluster, pick the members, confirm. */
export async function selectMembers(
  session: CtlSession,
  cluster: Cluster,
  o: SelectOptions,
): Promise<Member[]> {
  const allGroups = session.citus && o.group === null;
  const members = allMembers(cluster, allGroups, o.role);
  const candidates = [...new Set(members.map((m) => m.name))];
  if (o.memberNames.length === 0 && candidates.length === 0) {
    throw new CtlError(`${o.clusterName} cluster doesn't have any members`);
  }
  session.out(formatMembers(cluster, o.clusterName, { fmt: 'pretty', group: o.group, citus: o.citus }));

  let names: string[] = [];
  if (o.memberNames.length > 0) {
    names = [...new Set(o.memberNames)].filter((n) => candidates.includes(n));
    if (names.length === 0) throw new CtlError(`No ${o.role} among provided members`);
  } else if (o.action !== 'reinitialize') {
    names = candidates;
  }
  if (names.length === 0 && !o.force) {
    names = [
      await session.terminal.prompt(`Which member do you want to ${o.action} [${candidates.join(', ')}]?`, {
        default: '',
      }),
    ];
  }
  for (const n of names) if (!candidates.includes(n)) throw new CtlError(`${n} is not a member of cluster`);
  const chosen = members.filter((m) => names.includes(m.name));
  if (o.askConfirmation) await confirmMembersAction(session, chosen, o.force, o.action);
  return chosen;
}
