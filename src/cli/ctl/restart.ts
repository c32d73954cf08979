/**
 * `raftdcs ctl restart CLUSTER [MEMBERS…]`: restart PostgreSQL on members through `POST /restart`,
 * as patronictl 3.0.2 does it, in its order:
 *
 * 1. the member table, and the members by name and `-r/--role` (default `any`; ./member-select.ts);
 * 2. unless `--scheduled` or `--force`: `When should the restart take place (e.g. <now+1h>)  [now]:`;
 *    the answer (ISO 8601, local time without an offset, or `now`) is parsed;
 * 3. unless `--force`: `Are you sure you want to restart members pg1, pg2? [y/N]:` (scheduled:
 *    `… schedule restart of members … at 2030-01-01 12:00:00+00:00?`); no is `Aborted restart`;
 * 4. `--any`: one of them at random;
 * 5. unless `--pg-version` or `--force`: `Restart if the PostgreSQL version is less than provided
 *    (e.g. 9.5.2)  []:`; the version must read as X.Y.Z (or X.Y from 10 on);
 * 6. the body: `restart_pending` (`--pending`), `postgres_version`, `schedule` (not while paused:
 *    `Can't schedule restart in the paused state`), `timeout` (`--timeout`, passed as the text
 *    given; Patroni reads units like `30s`, `5min`);
 * 7. per member: a scheduled restart with `--force` on a member that already has one first
 *    deletes it (`DELETE /restart`, its failure reported, its success silent); then the POST:
 *    200 `Success: restart on member pg1`, 202 `Success: restart scheduled on member pg1`, 409
 *    `Failed: another restart is already scheduled on member pg1`, else `Failed: restart for member
 *    pg1, status code=503, (<body>)`. Exit 0 whatever the replies.
 *
 * A member that cannot be reached ends the command (`Error: <urllib3's text>`, exit 1) — where
 * patronictl dies with a traceback ending in the same text.
 */
import { pyTruthy } from '../../dcs/model/json.js';
import type { Member } from '../../dcs/model/member.js';
import { pyIntFromString } from '../../py/numbers.js';
import { CtlError } from './config.js';
import { confirmMembersAction, openCluster, type RoleChoice, selectIn } from './member-select.js';
import { isPaused } from './members.js';
import { callMember, checkResponse } from './rest-call.js';
import { restartReplySeconds } from './rest-settings.js';
import { nextHour, parseScheduled } from './schedule.js';
import type { CtlSession } from './session.js';

export interface RestartOptions {
  readonly group: number | null;
  readonly role: RoleChoice;
  readonly any: boolean;
  readonly scheduled: string | null;
  readonly pgVersion: string | null;
  readonly pending: boolean;
  readonly timeout: string | null;
  readonly force: boolean;
}

/** Patroni's `postgres_version_to_int` check: the error text, or null for a usable version. */
export function postgresVersionError(version: string): string | null {
  const parts = version.split('.').map((p) => pyIntFromString(p));
  if (parts.some((p) => p === null)) return `Invalid PostgreSQL version: ${version}`;
  const major = parts[0] ?? 0n;
  if (parts.length < 2 || (parts.length === 2 && major < 10n) || parts.length > 3) {
    return `Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: ${version}`;
  }
  return null;
}

export async function restartMembers(
  session: CtlSession,
  clusterName: string,
  memberNames: readonly string[],
  o: RestartOptions,
): Promise<number> {
  const opened = await openCluster(session, clusterName, o.group);
  const { cluster } = opened;
  let members = await selectIn(session, opened, {
    memberNames,
    role: o.role,
    force: o.force,
    action: 'restart',
    askConfirmation: false,
  });

  let scheduled = o.scheduled;
  if (scheduled === null && !o.force) {
    scheduled = await session.terminal.prompt(`When should the restart take place (e.g. ${nextHour()}) `, {
      default: 'now',
    });
  }
  const scheduledAt = parseScheduled(scheduled);
  await confirmMembersAction(session, members, o.force, 'restart', scheduledAt);

  if (o.any) members = [members[Math.floor(Math.random() * members.length)]].filter((m) => m !== undefined);

  let version = o.pgVersion;
  if (version === null && !o.force) {
    version = await session.terminal.prompt(
      'Restart if the PostgreSQL version is less than provided (e.g. 9.5.2) ',
      { default: '' },
    );
  }

  const content = new Map<string, string | boolean>();
  if (o.pending) content.set('restart_pending', true);
  if (version) {
    const error = postgresVersionError(version);
    if (error !== null) throw new CtlError(error);
    content.set('postgres_version', version);
  }
  if (scheduledAt) {
    if (isPaused(cluster)) throw new CtlError("Can't schedule restart in the paused state");
    content.set('schedule', scheduledAt.isoformat());
  }
  if (o.timeout !== null) content.set('timeout', o.timeout);

  for (const member of members) await restartOne(session, member, content, o.force);
  return 0;
}

async function restartOne(
  session: CtlSession,
  member: Member,
  content: ReadonlyMap<string, string | boolean>,
  force: boolean,
): Promise<void> {
  const scheduled = content.has('schedule');
  if (scheduled && force && pyTruthy(member.data['scheduled_restart'])) {
    const r = await callMember(session, member, 'DELETE', 'restart');
    checkResponse(session, r, member.name, 'flush scheduled restart', true);
  }
  // an immediate restart holds the request until PostgreSQL is up again
  const timeout = content.get('timeout');
  const replySeconds = scheduled
    ? undefined
    : restartReplySeconds(typeof timeout === 'string' ? timeout : null, 0);
  const r = await callMember(session, member, 'POST', 'restart', content, replySeconds);
  if (r.status === 200) session.echo(`Success: restart on member ${member.name}`);
  else if (r.status === 202) session.echo(`Success: restart scheduled on member ${member.name}`);
  else if (r.status === 409)
    session.echo(`Failed: another restart is already scheduled on member ${member.name}`);
  else session.echo(`Failed: restart for member ${member.name}, status code=${r.status}, (${r.body})`);
}
