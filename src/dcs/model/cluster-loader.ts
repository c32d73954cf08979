/**
 * Building `Cluster`s from KV keys, as Patroni's Raft DCS does (`docs/dcs.md` §7.11, §7.12):
 *
 * - `buildCluster(nodes)`: the keys under one cluster path, relative to it (`leader`,
 *   `members/pg1`, …), in KV iteration order. Members are the `members/<x>` keys with exactly one
 *   `/`, in that order. No key at all → `Cluster.empty()`.
 * - `buildMppGroups(nodes)`: the keys under `<base path>/`, relative to it (`0/leader`,
 *   `1/members/w1`, …), grouped by a valid group name (`^(0|[1-9][0-9]*)$`); anything else is
 *   ignored. `buildMppClusters` returns the coordinator's view: group 0 (or an empty cluster) with
 *   every other group in `workers`.
 * - `entriesUnder(entries, prefix)`: the entries whose key starts with `prefix` (plain string
 *   prefix), relative to it — to feed the builders from a KV prefix read.
 *
 * Pure: the caller reads the KV store; nothing here does I/O or touches the network.
 */
import { ClusterKey, parseMppGroupName } from '../paths.js';
import { Cluster } from './cluster.js';
import { ClusterConfig } from './config.js';
import { Failover } from './failover.js';
import { TimelineHistory } from './history.js';
import { tryParsePyJson } from './json.js';
import type { KvEntries, KvRecordView } from './kv-view.js';
import { Leader, Member } from './member.js';
import { Status } from './status.js';
import { SyncState } from './sync-state.js';

export interface BuildOptions {
  /** the absolute path the relative keys were read under; only used to name keys in errors */
  readonly keyPrefix?: string;
}

/** Entries whose key starts with `prefix`, with the prefix removed (order kept). */
export function* entriesUnder(entries: KvEntries, prefix: string): Generator<[string, KvRecordView]> {
  for (const [key, record] of entries) {
    if (key.startsWith(prefix)) yield [key.slice(prefix.length), record];
  }
}

function memberName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/**
 * Build one cluster from the keys under its cluster path (relative keys, KV order).
 * @throws ClusterParseError for a `failover` whose `scheduled_at` is not a date-time
 */
export function buildCluster(nodes: KvEntries, options: BuildOptions = {}): Cluster {
  const byKey = new Map<string, KvRecordView>();
  for (const [key, record] of nodes) byKey.set(key, record);
  if (byKey.size === 0) return Cluster.empty();

  const members: Member[] = [];
  for (const [key, record] of byKey) {
    if (key.startsWith(ClusterKey.members) && key.indexOf('/') === key.lastIndexOf('/')) {
      members.push(Member.fromNode(record.index, memberName(key), record.value));
    }
  }

  const leaderRec = byKey.get(ClusterKey.leader);
  let leader: Leader | null = null;
  if (leaderRec) {
    const name = leaderRec.value;
    leader = new Leader(leaderRec.index, members.find((m) => m.name === name) ?? Member.synthetic(name));
  }

  const configRec = byKey.get(ClusterKey.config);
  const historyRec = byKey.get(ClusterKey.history);
  const statusRec = byKey.get(ClusterKey.status) ?? byKey.get(ClusterKey.leaderOptime);
  const failoverRec = byKey.get(ClusterKey.failover);
  const syncRec = byKey.get(ClusterKey.sync);
  const failsafeRec = byKey.get(ClusterKey.failsafe);
  const initializeRec = byKey.get(ClusterKey.initialize);

  return new Cluster({
    initialize: initializeRec ? initializeRec.value : null,
    config: configRec ? ClusterConfig.fromNode(configRec.index, configRec.value) : null,
    leader,
    status: Status.fromNode(statusRec ? statusRec.value : null),
    members,
    failover: failoverRec
      ? Failover.fromNode(
          failoverRec.index,
          failoverRec.value,
          `${options.keyPrefix ?? ''}${ClusterKey.failover}`,
        )
      : null,
    sync: syncRec ? SyncState.fromNode(syncRec.index, syncRec.value) : SyncState.empty(),
    history: historyRec ? TimelineHistory.fromNode(historyRec.index, historyRec.value) : null,
    failsafe: failsafeRec ? (tryParsePyJson(failsafeRec.value) ?? null) : null,
  });
}

/**
 * Build every MPP group's cluster from the keys under `<base path>/` (relative keys, KV order).
 * Groups come in order of their first key.
 * @throws ClusterParseError for a group's `failover` whose `scheduled_at` is not a date-time
 */
export function buildMppGroups(nodes: KvEntries, options: BuildOptions = {}): Map<number, Cluster> {
  const groups = new Map<number, Map<string, KvRecordView>>();
  for (const [key, record] of nodes) {
    const slash = key.indexOf('/');
    if (slash < 0) continue;
    const group = parseMppGroupName(key.slice(0, slash));
    if (group === null) continue;
    let g = groups.get(group);
    if (!g) {
      g = new Map();
      groups.set(group, g);
    }
    g.set(key.slice(slash + 1), record);
  }
  const out = new Map<number, Cluster>();
  for (const [group, g] of groups) {
    out.set(group, buildCluster(g, { keyPrefix: `${options.keyPrefix ?? ''}${group}/` }));
  }
  return out;
}

/** The MPP coordinator's view: group 0 (or an empty cluster) with all other groups as `workers`. */
export function buildMppClusters(nodes: KvEntries, options: BuildOptions = {}): Cluster {
  const groups = buildMppGroups(nodes, options);
  const coordinator = groups.get(0) ?? Cluster.empty();
  groups.delete(0);
  return groups.size > 0 ? coordinator.withWorkers(groups) : coordinator;
}
