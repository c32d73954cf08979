/**
 * Can the old cluster still form a majority? `raftdcs recover` asks every other old member for its
 * `status` (the utility command pysyncobj and raftdcs nodes answer alike), all at once with a short
 * deadline. A member that answers is alive; one that accepts the connection but gives no readable
 * answer (another password?) is counted as alive too — forcing a new cluster beside a live one is
 * the mistake this check exists to prevent. This node counts as alive when it is an old member: it
 * is stopped, but could be started. A majority alive means: do not force, start this node (or fix
 * the network) and the cluster recovers by itself. And whoever answers that it has a leader and a
 * quorum — an old member, or a configured partner the log does not list (a member added after this
 * node's log ends, or a cluster recovered from another survivor) — shows a cluster that works.
 *
 * It only sends `status` (read-only on the members' side).
 */
import { TcpUtility, UtilityError, UtilityErrorCode } from '../raft/transport/utility-client.js';
import { isDict, type PyDict, type PyValue, pyStr } from '../wire/value.js';

export interface MemberProbe {
  readonly addr: string;
  /** alive: answered `status`; unreadable: took the connection, no readable answer; unreachable */
  readonly outcome: 'alive' | 'unreadable' | 'unreachable';
  /** what it said, or why it is counted that way */
  readonly detail: string;
  /** the leader it follows (or is) while it has a quorum: a working cluster; else null */
  readonly workingLeader?: string | null;
}

export interface QuorumJudgement {
  /** the old voting members (this node included when it is one) */
  readonly members: number;
  /** how many make a majority of them */
  readonly majority: number;
  /** old members counted alive (this node included when it is one) */
  readonly alive: number;
  readonly majorityAlive: boolean;
}

/** The part of a `status` reply worth showing. */
function statusSummary(reply: PyDict): string {
  const get = (k: string): PyValue => reply.get(k) ?? null;
  const state = get('state');
  const role = state === 2 ? 'leader' : state === 1 ? 'candidate' : state === 0 ? 'follower' : pyStr(state);
  return `answers: ${role}, term ${pyStr(get('raft_term'))}, leader ${pyStr(get('leader'))}, has_quorum ${pyStr(get('has_quorum'))}`;
}

/** Ask one member for `status`. */
async function probe(utility: Pick<TcpUtility, 'execute'>, addr: string): Promise<MemberProbe> {
  try {
    const reply = await utility.execute(addr, ['status']);
    if (isDict(reply)) {
      const leader = reply.get('leader') ?? null;
      const working = reply.get('has_quorum') === true && leader !== null ? pyStr(leader) : null;
      return { addr, outcome: 'alive', detail: statusSummary(reply), workingLeader: working };
    }
    return { addr, outcome: 'unreadable', detail: `answered ${pyStr(reply)}` };
  } catch (e) {
    if (
      e instanceof UtilityError &&
      (e.code === UtilityErrorCode.Closed || e.code === UtilityErrorCode.BadReply)
    ) {
      return {
        addr,
        outcome: 'unreadable',
        detail: `took the connection but gave no readable answer (${e.message})`,
      };
    }
    return { addr, outcome: 'unreachable', detail: (e as Error).message };
  }
}

export interface ProbeOptions {
  readonly password: string | null;
  readonly timeoutMs: number;
  /** injectable for tests */
  readonly utility?: Pick<TcpUtility, 'execute'>;
}

/** Ask every address (at once) for `status`. */
export function probeMembers(addrs: readonly string[], options: ProbeOptions): Promise<MemberProbe[]> {
  const utility =
    options.utility ?? new TcpUtility({ password: options.password, timeoutMs: options.timeoutMs });
  return Promise.all(addrs.map((a) => probe(utility, a)));
}

/** The probes that report a working cluster (a leader with a quorum). */
export function workingClusters(probes: readonly MemberProbe[]): MemberProbe[] {
  return probes.filter((p) => p.workingLeader !== undefined && p.workingLeader !== null);
}

/** Whether the old members alive form a majority of them. */
export function judgeQuorum(
  oldMembers: readonly string[],
  selfAddr: string,
  probes: readonly MemberProbe[],
): QuorumJudgement {
  const selfCounts = oldMembers.includes(selfAddr) ? 1 : 0;
  const others = probes.filter((p) => p.addr !== selfAddr && oldMembers.includes(p.addr));
  const alive = selfCounts + others.filter((p) => p.outcome !== 'unreachable').length;
  const majority = Math.floor(oldMembers.length / 2) + 1;
  return { members: oldMembers.length, majority, alive, majorityAlive: alive >= majority };
}
