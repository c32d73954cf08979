/**
 * `raftdcs ctl reload CLUSTER [MEMBERS…]`: make members re-read their configuration through
 * `POST /reload` (no body), as patronictl 3.0.2 does: the member table, the members by name and
 * `-r/--role` (default `any`), `Are you sure you want to reload members pg1, pg2? [y/N]:` unless
 * `--force`; then per member 200 `No changes to apply on member pg1`, 202 `Reload request received
 * for member pg1 and will be processed within 10 seconds` (the dynamic configuration's
 * `loop_wait`, `None` without one), else `Failed: reload for member pg1, status code=503, (<body>)`.
 * Exit 0 whatever the replies; a member that cannot be reached ends the command (exit 1).
 */
import { pyStr } from '../../dcs/model/json.js';
import { openCluster, type RoleChoice, selectIn } from './member-select.js';
import { callMember } from './rest-call.js';
import type { CtlSession } from './session.js';

export async function reloadMembers(
  session: CtlSession,
  clusterName: string,
  memberNames: readonly string[],
  o: { readonly group: number | null; readonly role: RoleChoice; readonly force: boolean },
): Promise<number> {
  const opened = await openCluster(session, clusterName, o.group);
  const { cluster } = opened;
  const members = await selectIn(session, opened, {
    memberNames,
    role: o.role,
    force: o.force,
    action: 'reload',
    askConfirmation: true,
  });
  for (const member of members) {
    const r = await callMember(session, member, 'POST', 'reload');
    if (r.status === 200) session.echo(`No changes to apply on member ${member.name}`);
    else if (r.status === 202) {
      const loopWait = cluster.config?.data['loop_wait'];
      session.echo(
        `Reload request received for member ${member.name} and will be processed within ${loopWait === undefined ? 'None' : pyStr(loopWait)} seconds`,
      );
    } else session.echo(`Failed: reload for member ${member.name}, status code=${r.status}, (${r.body})`);
  }
  return 0;
}
