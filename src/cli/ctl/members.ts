/**
 * The member list patronictl prints (`list`, `topology`, and the tables shown by `switchover`,
 * `failover`, `remove`), from a `Cluster` read from the DCS — patronictl 3.0.x's
 * `cluster_as_json` + `output_members`:
 *
 * - one row per member key, sorted by name (code point order); MPP: per group, groups in order;
 * - Role: `Leader` for the leader key's holder (`Standby Leader` when the dynamic configuration
 *   describes a standby cluster), `Sync Standby` for the names in the `sync` key, else `Replica`;
 * - Host: the host of `conn_url` (or `conn_kwargs`), with `:port` added for everybody as soon as
 *   one member runs on a port other than 5432 or two members share a host;
 * - State and TL: the member's `state` and `timeline` as written; Lag in MB: the leader's optime
 *   (the `status` key) minus the member's `xlog_location`, rounded (half to even), `unknown` without
 *   an `xlog_location`, empty for the leader;
 * - `Pending restart` (`*`), `Scheduled restart` and `Tags` columns only when a member has one (or
 *   with `--extended`);
 * - topology: replicas under the member named by their `replicatefrom` tag, `+ ` per level;
 * - title: `Cluster: <name> (<system id>)` — the system id (or `uninitialized`/`initializing`) as
 *   patronictl ≥ 3.0.3 prints it (Debian's 3.0.2 lost it from the title; see docs/ctl.md);
 *   MPP: `Citus cluster: <name>`, with `(group: N, <id>)` when one group is shown;
 * - after pretty tables: `Maintenance mode: on` and a scheduled switchover.
 *
 * Pure: a Cluster in, text out.
 */
import { parseBool } from '../../dcs/abstract-dcs.js';
import type { Cluster } from '../../dcs/model/cluster.js';
import {
  isJsonObject,
  type JsonObject,
  type JsonValue,
  type PyJson,
  pyStr,
  pyTruthy,
} from '../../dcs/model/json.js';
import type { Member } from '../../dcs/model/member.js';
import { patroniParseInt, pyInt } from '../../dcs/model/pyint.js';
import { pyStrCompare } from '../../py/compare.js';
import { pyRoundHalfEven } from '../../py/numbers.js';
import { type OutputFormat, printOutput } from './output.js';

/** Python's `urlsplit` parts we need: netloc and path. */
function splitUrl(url: string): { netloc: string; path: string } {
  let start = 0;
  while (start < url.length && url.charCodeAt(start) <= 0x20) start++;
  let rest = url.slice(start).replace(/[\t\r\n]/g, '');
  const colon = rest.indexOf(':');
  if (colon > 0 && /^[A-Za-z][A-Za-z0-9+\-.]*$/.test(rest.slice(0, colon))) rest = rest.slice(colon + 1);
  let netloc = '';
  if (rest.startsWith('//')) {
    let end = rest.length;
    for (const c of '/?#') {
      const at = rest.indexOf(c, 2);
      if (at >= 0) end = Math.min(end, at);
    }
    netloc = rest.slice(2, end);
    rest = rest.slice(end);
  }
  const cut = rest.search(/[?#]/);
  return { netloc, path: cut >= 0 ? rest.slice(0, cut) : rest };
}

/** `urlparse(url).hostname` and `.port` (an unusable port reads as none). */
export function urlHostPort(url: string): { host: string | null; port: number | null; path: string } {
  const { netloc, path } = splitUrl(url);
  const hostinfo = netloc.slice(netloc.lastIndexOf('@') + 1);
  let host: string;
  let port: string;
  const open = hostinfo.indexOf('[');
  if (open >= 0) {
    const bracketed = hostinfo.slice(open + 1);
    const close = bracketed.indexOf(']');
    host = close >= 0 ? bracketed.slice(0, close) : bracketed;
    const after = close >= 0 ? bracketed.slice(close + 1) : '';
    port = after.includes(':') ? after.slice(after.indexOf(':') + 1) : '';
  } else {
    const c = hostinfo.indexOf(':');
    host = c >= 0 ? hostinfo.slice(0, c) : hostinfo;
    port = c >= 0 ? hostinfo.slice(c + 1) : '';
  }
  let portNumber: number | null = null;
  if (/^[0-9]+$/.test(port) && Number(port) <= 65535) portNumber = Number(port);
  if (host === '') return { host: null, port: portNumber, path };
  const pct = host.indexOf('%');
  const lowered = pct >= 0 ? host.slice(0, pct).toLowerCase() + host.slice(pct) : host.toLowerCase();
  return { host: lowered, port: portNumber, path };
}

/** Patroni's `Member.conn_kwargs()`: host, port (and dbname) of the member's PostgreSQL. */
export function connKwargs(m: Member): { host?: JsonValue; port?: JsonValue } {
  const kw = m.data['conn_kwargs'];
  if (pyTruthy(kw)) {
    const o = isJsonObject(kw) ? kw : ({} as JsonObject);
    return { host: o['host'] ?? null, port: o['port'] ?? null };
  }
  const url = m.connUrl;
  if (!url) return {};
  const u = urlHostPort(url);
  return { host: u.host, port: u.port ?? 5432 };
}

/** Python `int()` of a port value, or null. */
function portNumber(v: JsonValue | undefined): number | null {
  const n = pyInt(v);
  return n === null ? null : Number(n);
}

/** Patroni's `is_standby_cluster(config)`. */
export function isStandbyCluster(standby: JsonValue | undefined): boolean {
  if (!isJsonObject(standby)) return false;
  return pyTruthy(standby['host']) || pyTruthy(standby['port']) || pyTruthy(standby['restore_command']);
}

/** `cluster.is_paused()`. */
export function isPaused(cluster: Cluster): boolean {
  return cluster.config !== null && parseBool(cluster.config.data['pause']) === true;
}

/** A member as `cluster_as_json` describes it. */
export interface MemberInfo {
  name: string;
  role: 'leader' | 'standby_leader' | 'sync_standby' | 'replica';
  state: PyJson;
  apiUrl: string | null;
  host?: PyJson;
  port?: number;
  timeline?: PyJson;
  pendingRestart?: PyJson;
  scheduledRestart?: PyJson;
  tags?: PyJson;
  /** bytes behind the leader, or 'unknown'; absent for the leader */
  lag?: bigint | 'unknown';
}

export interface ClusterInfo {
  readonly members: MemberInfo[];
  readonly pause: boolean;
  readonly scheduledSwitchover: { at: string; from?: string; to?: string } | null;
}

/** patronictl's `cluster_as_json` (3.0.x). */
export function clusterAsJson(cluster: Cluster): ClusterInfo {
  const leaderName = cluster.leader ? cluster.leader.name : null;
  const clusterLsn = cluster.status.lastLsn;
  const config = cluster.config?.modifyVersion ? cluster.config.data : null;
  const syncNames = cluster.sync.voters;
  const members: MemberInfo[] = [];
  for (const m of cluster.members) {
    let role: MemberInfo['role'];
    if (m.name === leaderName)
      role = isStandbyCluster(config?.['standby_cluster']) ? 'standby_leader' : 'leader';
    else if (syncNames.includes(m.name)) role = 'sync_standby';
    else role = 'replica';
    const state = m.data['state'];
    const info: MemberInfo = {
      name: m.name,
      role,
      state: state === undefined ? '' : state,
      apiUrl: m.apiUrl,
    };
    const kw = connKwargs(m);
    if (pyTruthy(kw.host)) {
      info.host = kw.host as PyJson;
      const port = pyTruthy(kw.port) ? portNumber(kw.port) : null;
      if (port !== null) info.port = port;
    }
    // a parsed JSON object holds no undefined: undefined is a key it lacks
    const { timeline, pending_restart, scheduled_restart, tags } = m.data;
    if (timeline !== undefined) info.timeline = timeline;
    if (pending_restart !== undefined) info.pendingRestart = pending_restart;
    if (scheduled_restart !== undefined) info.scheduledRestart = scheduled_restart;
    if (tags !== undefined) info.tags = tags;
    if (m.name !== leaderName) {
      const raw = m.data['xlog_location'];
      const lsn = raw === undefined || raw === null ? null : patroniParseInt(raw);
      if (lsn === null) info.lag = 'unknown';
      else info.lag = clusterLsn >= lsn ? clusterLsn - lsn : 0n;
    }
    members.push(info);
  }
  members.sort((a, b) => pyStrCompare(a.name, b.name));
  const f = cluster.failover;
  let scheduledSwitchover: ClusterInfo['scheduledSwitchover'] = null;
  if (f?.isTruthy && f.scheduledAt) {
    scheduledSwitchover = { at: f.scheduledAt.isoformat() };
    if (f.leader) scheduledSwitchover.from = f.leader;
    if (f.candidate) scheduledSwitchover.to = f.candidate;
  }
  return { members, pause: isPaused(cluster), scheduledSwitchover };
}

/** The replicas under their `replicatefrom` upstream (patronictl's `topology_sort`), names prefixed. */
function topologyOrder(members: readonly MemberInfo[]): { member: MemberInfo; shownName: string }[] {
  const isLeaderRole = (m: MemberInfo) => m.role.endsWith('leader');
  const leader = members.find(isLeaderRole) ?? null;
  const replicas = new Set(members.filter((m) => !isLeaderRole(m)).map((m) => m.name));
  const children = new Map<string | null, MemberInfo[]>();
  for (const m of members) {
    if (isLeaderRole(m)) continue;
    const tags = m.tags;
    const wanted =
      tags !== undefined && isJsonObject(tags as JsonValue) ? (tags as JsonObject)['replicatefrom'] : null;
    const parent =
      typeof wanted === 'string' && wanted !== '' && wanted !== m.name && replicas.has(wanted)
        ? wanted
        : (leader?.name ?? null);
    const list = children.get(parent) ?? [];
    list.push(m);
    children.set(parent, list);
  }
  const out: { member: MemberInfo; shownName: string }[] = [];
  const walk = (level: number, m: MemberInfo | null, name: string | null) => {
    const kids = children.get(name) ?? [];
    if (m !== null) {
      const shown = level > 0 ? `${' '.repeat((level - 1) * 2)}+ ${m.name}` : m.name;
      if (shown) out.push({ member: m, shownName: shown });
    }
    for (const k of kids) walk(level + 1, k, k.name);
  };
  walk(0, leader, leader?.name ?? null);
  return out;
}

export interface MembersOutputOptions {
  readonly fmt: OutputFormat;
  readonly extended?: boolean;
  /** the MPP group asked for (`--group`), or null */
  readonly group?: number | null;
  /** a `citus` section is configured (or `--group` was given) */
  readonly citus?: boolean;
}

const EXTRA_COLUMNS = [
  ['Pending restart', 'pendingRestart'],
  ['Scheduled restart', 'scheduledRestart'],
  ['Tags', 'tags'],
] as const;

/** the columns of the member table */
type Column =
  | 'Cluster'
  | 'Group'
  | 'Member'
  | 'Host'
  | 'Role'
  | 'State'
  | 'TL'
  | 'Lag in MB'
  | (typeof EXTRA_COLUMNS)[number][0];

/** patronictl's `output_members` as text. */
export function formatMembers(cluster: Cluster, name: string, o: MembersOutputOptions): string {
  const group = o.group ?? null;
  const citus = Boolean(o.citus);
  const init = cluster.initialize;
  const initialize = init === null ? 'uninitialized' : init === '' ? 'initializing' : init;
  const clusters = new Map<number, ClusterInfo>([[group ?? 0, clusterAsJson(cluster)]]);
  if (citus && group === null) for (const [g, c] of cluster.workers) clusters.set(g, clusterAsJson(c));
  const all = [...clusters.values()].flatMap((c) => c.members).filter((m) => m.host !== undefined);
  const columns = memberColumns(all, citus, Boolean(o.extended));
  const appendPort =
    all.some((m) => m.port !== undefined && m.port !== 5432) ||
    new Set(all.map((m) => pyStr(m.host as PyJson))).size < all.length;

  const rows: PyJson[][] = [];
  const groups = [...clusters.keys()].sort((a, b) => a - b);
  for (const g of groups) {
    const info = clusters.get(g) as ClusterInfo;
    const ordered =
      o.fmt === 'topology'
        ? topologyOrder(info.members)
        : info.members.map((m) => ({ member: m, shownName: m.name }));
    for (const { member, shownName } of ordered) {
      const cells = memberCells(member, { cluster: name, group: g, shownName, appendPort });
      rows.push(columns.map((c) => cells[c]));
    }
  }

  const titleName = citus ? 'Citus cluster' : 'Cluster';
  const details = citus ? (group === null ? '' : ` (group: ${group}, ${initialize})`) : ` (${initialize})`;
  const title = ` ${titleName}: ${name}${details} `;
  const text = printOutput(columns, rows, { Group: 'r', 'Lag in MB': 'r', TL: 'r' }, o.fmt, title);
  if (o.fmt !== 'pretty' && o.fmt !== 'topology') return text;
  return text + serviceInfo(groups, clusters, citus && group === null);
}

/** The table's columns: Group for Citus, the extra ones when asked for or when some member has them. */
function memberColumns(all: readonly MemberInfo[], citus: boolean, extended: boolean): Column[] {
  const columns: Column[] = ['Cluster', 'Member', 'Host', 'Role', 'State', 'TL', 'Lag in MB'];
  if (citus) columns.splice(1, 0, 'Group');
  for (const [column, key] of EXTRA_COLUMNS) {
    if (extended || all.some((m) => pyTruthy(m[key]))) columns.push(column);
  }
  return columns;
}

/** One member's cells by column name. */
function memberCells(
  m: MemberInfo,
  at: {
    readonly cluster: string;
    readonly group: number;
    readonly shownName: string;
    readonly appendPort: boolean;
  },
): Record<Column, PyJson> {
  let host: PyJson = m.host ?? '';
  if (at.appendPort && pyTruthy(host) && m.port !== undefined) host = `${pyStr(host)}:${m.port}`;
  const lag = m.lag;
  return {
    Cluster: at.cluster,
    Group: at.group,
    Member: at.shownName,
    Host: host,
    Role: titleCase(m.role.replace(/_/g, ' ')),
    State: m.state,
    TL: m.timeline === undefined ? '' : m.timeline,
    'Lag in MB': lag === undefined ? '' : lag === 'unknown' ? 'unknown' : bigintMb(lag),
    'Pending restart': pyTruthy(m.pendingRestart) ? '*' : '',
    'Scheduled restart': scheduledRestartText(m),
    Tags: m.tags === undefined ? '' : m.tags,
  };
}

/** The Scheduled restart cell: its time, and `if version < V` when it has a condition. */
function scheduledRestartText(m: MemberInfo): PyJson {
  if (m.scheduledRestart === undefined) return '';
  const s = m.scheduledRestart;
  if (!isJsonObject(s as JsonValue)) return s;
  const so = s as JsonObject;
  let scheduled = pyStr((so['schedule'] ?? null) as PyJson);
  const version = so['postgres_version'];
  if (version !== undefined) scheduled += ` if version < ${pyStr(version)}`;
  return scheduled;
}

/** The lines under the table: maintenance mode and a scheduled switchover, per group. */
function serviceInfo(
  groups: readonly number[],
  clusters: ReadonlyMap<number, ClusterInfo>,
  perGroup: boolean,
): string {
  let text = '';
  for (const g of groups) {
    const info = clusters.get(g) as ClusterInfo;
    const service: string[] = [];
    if (info.pause) service.push('Maintenance mode: on');
    if (info.scheduledSwitchover) {
      const s = info.scheduledSwitchover;
      let line = `Switchover scheduled at: ${s.at}`;
      if (s.from !== undefined) line += `\n${'from'.padStart(24)}: ${s.from}`;
      if (s.to !== undefined) line += `\n${'to'.padStart(24)}: ${s.to}`;
      service.push(line);
    }
    if (service.length > 0) {
      if (perGroup) text += `Citus group: ${g}\n`;
      text += ` ${service.join('\n ')}\n`;
    }
  }
  return text;
}

/** `round(lag / 1024 / 1024)` as Python computes it (float division, ties to even). */
function bigintMb(lag: bigint): number {
  return Number(pyRoundHalfEven(Number(lag) / 1024 / 1024) ?? 0n);
}

/** Python's `str.title()` for the ASCII role names. */
function titleCase(s: string): string {
  return s.replace(/[A-Za-z]+/g, (w) => w[0]?.toUpperCase() + w.slice(1).toLowerCase());
}
