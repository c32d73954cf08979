/**
 * `raftdcs ctl flush CLUSTER [MEMBERS…] restart|switchover`: discard scheduled events, as
 * patronictl 3.0.2 does it.
 *
 * `restart`: the member table, the members by name and `-r/--role` (default `any`), `Are you sure
 * you want to flush members pg1, pg2? [y/N]:` unless `--force`; then per member with a
 * `scheduled_restart` in its member key `DELETE /restart` (`Success: flush scheduled restart for
 * member pg2` / `Failed: flush scheduled restart for member pg2, status code=404, (no restarts are
 * scheduled)`), and `No scheduled restart for member pg1` for the others.
 *
 * `switchover`: without a scheduled switchover in the failover key, `No pending scheduled
 * switchover`. Else `DELETE /switchover` to the leader first, then to the other members with an
 * `api_url`: 200 prints `Success: <body>`, 404 `Failed: <body>`, and either ends the command;
 * another status prints `Failed: member=pg1, status_code=503, (<body>)` and the next member is
 * asked; one that cannot be reached is logged (`WARNING - <why>`, `WARNING - Member pg1 is not
 * accessible`). When nobody answered 200/404: `WARNING - Failing over to DCS`, `<timestamp> Could
 * not find any accessible member of cluster batman`, and the failover key is cleared in the DCS
 * (`{}`, with the key's index as CAS).
 *
 * Deliberate difference: after an unreachable member patronictl prints a `Failed: member=…` line
 * with the previous member's reply — or, when there was none, dies with a traceback; we print no
 * such line and go on to the next member.
 */
import { pyTruthy } from '../../dcs/model/json.js';
import { membersLeaderFirst, openCluster, type RoleChoice, selectIn } from './member-select.js';
import { callMember, checkResponse } from './rest-call.js';
import { RestRequestError } from './rest-errors.js';
import { type CtlSession, timestamp } from './session.js';

export type FlushTarget = 'restart' | 'switchover';
export const FLUSH_TARGETS: readonly FlushTarget[] = ['restart', 'switchover'];

export async function flushScheduled(
  session: CtlSession,
  clusterName: string,
  memberNames: readonly string[],
  what: FlushTarget,
  o: { readonly group: number | null; readonly role: RoleChoice; readonly force: boolean },
): Promise<number> {
  const opened = await openCluster(session, clusterName, o.group);
  const { cluster, dcs } = opened;

  if (what === 'restart') {
    const members = await selectIn(session, opened, {
      memberNames,
      role: o.role,
      force: o.force,
      action: 'flush',
      askConfirmation: true,
    });
    for (const member of members) {
      if (pyTruthy(member.data['scheduled_restart'])) {
        const r = await callMember(session, member, 'DELETE', 'restart');
        checkResponse(session, r, member.name, 'flush scheduled restart');
      } else {
        session.echo(`No scheduled restart for member ${member.name}`);
      }
    }
    return 0;
  }

  const failover = cluster.failover;
  if (failover === null || !failover.isTruthy || !failover.scheduledAt) {
    session.echo('No pending scheduled switchover');
    return 0;
  }
  for (const member of membersLeaderFirst(cluster)) {
    try {
      const r = await callMember(session, member, 'DELETE', 'switchover');
      if (r.status === 200 || r.status === 404) {
        session.echo(`${r.status === 200 ? 'Success' : 'Failed'}: ${r.body}`);
        return 0;
      }
      session.echo(`Failed: member=${member.name}, status_code=${r.status}, (${r.body})`);
    } catch (e) {
      if (!(e instanceof RestRequestError)) throw e;
      session.log.warn({}, e.message);
      session.log.warn({}, `Member ${member.name} is not accessible`);
    }
  }
  session.log.warn({}, 'Failing over to DCS');
  session.echo(`${timestamp()} Could not find any accessible member of cluster ${clusterName}`);
  await dcs.manualFailover('', '', null, failover.version);
  return 0;
}
