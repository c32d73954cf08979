/**
 * `raftdcs ctl pause` / `resume`: maintenance mode on or off through a member's REST API, as
 * patronictl 3.0.2's `toggle_pause` does it:
 *
 * - `Error: Cluster is already paused` / `Error: Cluster is not paused` when there is nothing to do;
 * - `PATCH /config` with `{"pause": true}` (resume: `{"pause": null}`, which removes the key) to
 *   the leader first, then to each other member with an `api_url`; a member that cannot be reached
 *   is logged (`WARNING - <why>`, `WARNING - Member pg1 is not accessible`) and the next one asked;
 *   the first reply decides: 200 is `Success: cluster management is paused`, anything else
 *   `Failed: pause cluster management status code=503, (<body>)` (exit 0, as patronictl);
 *   nobody reachable is `Error: Can not find accessible cluster member`;
 * - `--wait`: `'pause' request sent, waiting until it is recognized by all nodes`, then the member
 *   keys are read once a second for `loop_wait + 1` seconds until every member that had an
 *   `api_url` shows `"pause": true` (resume: no truthy `pause`). When time runs out, only members
 *   whose key changed meanwhile but still show the old state are named (`pg2 members didn't
 *   recognized pause state after 10 seconds`); if none did, patronictl — and so we — print
 *   Success anyway.
 */
import type { Cluster } from '../../dcs/model/cluster.js';
import { type JsonValue, type PyJson, pyStr } from '../../dcs/model/json.js';
import type { RaftDcs } from '../../dcs/raft-dcs.js';
import { clusterTarget, readCluster } from './cluster.js';
import { CtlError, resolveScope } from './config.js';
import { membersLeaderFirst } from './member-select.js';
import { isPaused } from './members.js';
import { callMember } from './rest-call.js';
import { RestRequestError } from './rest-errors.js';
import type { CtlSession } from './session.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Python's `value == paused` for a member's `pause` field (True == 1, False == 0). */
function sameState(value: JsonValue | undefined, paused: boolean): boolean {
  const v = value === undefined ? false : value;
  if (typeof v === 'boolean') return v === paused;
  if (typeof v === 'number') return v === (paused ? 1 : 0);
  if (typeof v === 'bigint') return v === (paused ? 1n : 0n);
  return false;
}

export async function togglePause(
  session: CtlSession,
  name: string | undefined,
  group: number | null | undefined,
  paused: boolean,
  wait: boolean,
): Promise<number> {
  const scope = resolveScope(session.config, name, session.configPath);
  const dcs = await session.dcs(clusterTarget(session, scope, group, 'configured'));
  const cluster = await readCluster(dcs, scope, session.namespace);
  if (isPaused(cluster) === paused) throw new CtlError(`Cluster is ${paused ? 'already' : 'not'} paused`);

  const word = paused ? 'paused' : 'resumed';
  for (const member of membersLeaderFirst(cluster)) {
    let reply: Awaited<ReturnType<typeof callMember>>;
    try {
      reply = await callMember(
        session,
        member,
        'PATCH',
        'config',
        new Map([['pause', paused ? true : null]]),
      );
    } catch (e) {
      if (!(e instanceof RestRequestError)) throw e;
      session.log.warn({}, e.message);
      session.log.warn({}, `Member ${member.name} is not accessible`);
      continue;
    }
    if (reply.status === 200) {
      if (wait) await waitUntilApplied(session, dcs, scope, paused, cluster);
      else session.echo(`Success: cluster management is ${word}`);
    } else {
      session.echo(
        `Failed: ${paused ? 'pause' : 'resume'} cluster management status code=${reply.status}, (${reply.body})`,
      );
    }
    return 0;
  }
  throw new CtlError('Can not find accessible cluster member');
}

/** patronictl's `wait_until_pause_is_applied`. */
async function waitUntilApplied(
  session: CtlSession,
  dcs: RaftDcs,
  scope: string,
  paused: boolean,
  before: Cluster,
): Promise<void> {
  session.echo(`'${paused ? 'pause' : 'resume'}' request sent, waiting until it is recognized by all nodes`);
  const old = new Map(before.members.filter((m) => m.apiUrl).map((m) => [m.name, m.version]));
  const configured = before.config?.data['loop_wait'];
  const loopWait: PyJson = typeof configured === 'number' ? configured : dcs.loopWait;
  const end = Date.now() + (Number(loopWait) + 1) * 1000;
  let cluster = before;
  let applied = false;
  while (Date.now() < end) {
    cluster = await readCluster(dcs, scope, session.namespace);
    if (cluster.members.filter((m) => old.has(m.name)).every((m) => sameState(m.data['pause'], paused))) {
      applied = true;
      break;
    }
    await sleep(1000);
  }
  if (!applied) {
    const remaining = cluster.members
      .filter((m) => !sameState(m.data['pause'], paused) && old.has(m.name) && old.get(m.name) !== m.version)
      .map((m) => m.name);
    if (remaining.length > 0) {
      session.echo(
        `${remaining.join(', ')} members didn't recognized pause state after ${pyStr(loopWait)} seconds`,
      );
      return;
    }
  }
  session.echo(`Success: cluster management is ${paused ? 'paused' : 'resumed'}`);
}
