/**
 * `raftdcs ctl reinit CLUSTER [MEMBERS…]`: rebuild replicas from the leader through
 * `POST /reinitialize`, as patronictl 3.0.2 does it:
 *
 * - the member table; only replicas can be named (`No replica among provided members`); without
 *   names (and without `--force`) `Which member do you want to reinitialize [pg2, pg3]? []:`;
 *   `Are you sure you want to reinitialize members pg2? [y/N]:` unless `--force`;
 * - per member the body `{"force": false}` (`true` with `--force`), the reply read as
 *   `Success: reinitialize for member pg2` / `Failed: reinitialize for member pg2, status code=503,
 *   (<body>)`; a reply ending in ` already in progress` asks `Do you want to cancel it and
 *   reinitialize anyway? [y/N]:` (not with `--force`), and yes sends it again with `"force": true`;
 * - `--wait`: `Waiting for reinitialize to complete on: pg2, pg3`, then every 2 s `GET /patroni` of
 *   each member still waited for until its `state` is no longer `creating replica`
 *   (`Reinitialize is completed on: pg2`); the line is printed again when the list changed.
 *   patronictl drops members from the list while walking it, which skips the next one until the
 *   following round; we do the same, so the lines come in the same order. The wait has no limit
 *   (a rebuild can take hours), each request has its time-out.
 */
import { isJsonObject, type JsonValue, parsePyJson } from '../../dcs/model/json.js';
import type { Member } from '../../dcs/model/member.js';
import { CtlError } from './config.js';
import { openCluster, selectIn } from './member-select.js';
import { callMember, checkResponse } from './rest-call.js';
import type { CtlSession } from './session.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function reinitMembers(
  session: CtlSession,
  clusterName: string,
  memberNames: readonly string[],
  o: { readonly group: number | null; readonly force: boolean; readonly wait: boolean },
): Promise<number> {
  const opened = await openCluster(session, clusterName, o.group);
  const members = await selectIn(session, opened, {
    memberNames,
    role: 'replica',
    force: o.force,
    action: 'reinitialize',
    askConfirmation: true,
  });

  const waiting: Member[] = [];
  for (const member of members) {
    let force = o.force;
    for (;;) {
      const r = await callMember(session, member, 'POST', 'reinitialize', new Map([['force', force]]));
      const started = checkResponse(session, r, member.name, 'reinitialize');
      if (
        !started &&
        r.body.endsWith(' already in progress') &&
        !o.force &&
        (await session.terminal.confirm('Do you want to cancel it and reinitialize anyway?'))
      ) {
        force = true;
        continue;
      }
      if (started && o.wait) waiting.push(member);
      break;
    }
  }
  await waitForReinit(session, waiting);
  return 0;
}

/** The member's `state` from `GET /patroni` (patronictl crashes on a reply that is not a JSON object). */
async function memberState(session: CtlSession, member: Member): Promise<JsonValue | undefined> {
  const r = await callMember(session, member, 'GET', 'patroni');
  let data: JsonValue;
  try {
    data = parsePyJson(r.body);
  } catch (e) {
    throw new CtlError(`${member.name}: GET /patroni: ${(e as Error).message}`);
  }
  if (!isJsonObject(data)) throw new CtlError(`${member.name}: GET /patroni did not return a JSON object`);
  return data['state'];
}

async function waitForReinit(session: CtlSession, waiting: Member[]): Promise<void> {
  let shown: string[] = [];
  while (waiting.length > 0) {
    const names = waiting.map((m) => m.name);
    if (names.join('\0') !== shown.join('\0')) {
      session.echo(`Waiting for reinitialize to complete on: ${names.join(', ')}`);
      shown = names;
    }
    await sleep(2000);
    // Python's list iterator: removing the current element skips the next one
    for (let i = 0; i < waiting.length; i++) {
      const member = waiting[i];
      if (member === undefined) break;
      if ((await memberState(session, member)) !== 'creating replica') {
        session.echo(`Reinitialize is completed on: ${member.name}`);
        waiting.splice(i, 1);
      }
    }
  }
}
