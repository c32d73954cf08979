/**
 * `raftdcs ctl version [CLUSTER [MEMBERS…]]`: our version line in patronictl's shape
 * (`raftdcs ctl version 0.1.0` where patronictl prints `patronictl version 3.0.2`); with a cluster
 * (named explicitly — `scope` is not used, as in patronictl) an empty line, then per member with an
 * `api_url` (every MPP group without `--group` when a citus section is configured; only the named
 * members when some are named) the reply of `GET <api_url>`:
 *
 *   pg1: Patroni 3.0.2 PostgreSQL 15.3
 *
 * (`server_version` 90624 prints as 9.6.24, 150003 as 15.3; no PostgreSQL part without one), or
 * `pg1: failed to get version: <why>` when the member cannot be reached or its reply is not the
 * JSON object Patroni sends. The reply's status is not looked at, as in patronictl.
 */
import {
  isJsonObject,
  type JsonObject,
  JsonParseError,
  type JsonValue,
  parsePyJson,
  pyFloatRepr,
  pyStr,
  pyTruthy,
} from '../../dcs/model/json.js';
import type { Member } from '../../dcs/model/member.js';
import { RAFTDCS_VERSION } from '../../version.js';
import { clusterTarget, readCluster } from './cluster.js';
import { allMembers } from './member-select.js';
import { callMember } from './rest-call.js';
import { RestRequestError } from './rest-errors.js';
import type { CtlSession } from './session.js';

/** Python's type name, for `'list' object has no attribute 'get'`. */
function pyTypeName(v: JsonValue): string {
  if (v === null) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))) return 'int';
  if (typeof v === 'number') return 'float';
  return Array.isArray(v) ? 'list' : 'dict';
}

class VersionReadError extends Error {}

function asDict(v: JsonValue): JsonObject {
  if (!isJsonObject(v)) throw new VersionReadError(`'${pyTypeName(v)}' object has no attribute 'get'`);
  return v;
}

/** patronictl's `format_pg_version` (ints; floats as Python computes them). */
export function formatPgVersion(v: JsonValue): string {
  if (typeof v === 'boolean') return formatPgVersion(v ? 1 : 0);
  if (typeof v === 'bigint') v = Number(v);
  if (typeof v !== 'number') {
    throw new VersionReadError(`'<' not supported between instances of '${pyTypeName(v)}' and 'int'`);
  }
  const show = (x: number) => (Number.isSafeInteger(v) ? String(x) : pyFloatRepr(x));
  const floorDiv = (a: number, b: number) => Math.floor(a / b);
  const mod = (a: number, b: number) => a - b * Math.floor(a / b);
  if (v < 100000)
    return `${show(floorDiv(v, 10000))}.${show(mod(floorDiv(v, 100), 100))}.${show(mod(v, 100))}`;
  return `${show(floorDiv(v, 10000))}.${show(mod(v, 100))}`;
}

/** One member's line. */
async function versionLine(session: CtlSession, m: Member): Promise<string> {
  try {
    const r = await callMember(session, m, 'GET', null);
    const data = asDict(parsePyJson(r.body));
    const patroni = asDict(data['patroni'] ?? {});
    const version = patroni['version'];
    const pg = data['server_version'];
    const pgText = pg !== undefined && pyTruthy(pg) ? ` PostgreSQL ${formatPgVersion(pg)}` : '';
    return `${m.name}: Patroni ${version === undefined ? 'None' : pyStr(version)}${pgText}`;
  } catch (e) {
    if (e instanceof RestRequestError || e instanceof VersionReadError || e instanceof JsonParseError) {
      return `${m.name}: failed to get version: ${(e as Error).message}`;
    }
    throw e;
  }
}

export async function showVersion(
  session: CtlSession,
  clusterName: string | undefined,
  memberNames: readonly string[],
  group: number | null,
): Promise<number> {
  session.echo(`raftdcs ctl version ${RAFTDCS_VERSION}`);
  if (!clusterName) return 0;
  session.echo('');
  const target = clusterTarget(session, clusterName, group, 'none');
  const dcs = await session.dcs(target);
  const cluster = await readCluster(dcs, clusterName, session.namespace);
  for (const m of allMembers(cluster, session.citus && group === null, 'any')) {
    if (!m.apiUrl) continue;
    if (memberNames.length > 0 && !memberNames.includes(m.name)) continue;
    session.echo(await versionLine(session, m));
  }
  return 0;
}
