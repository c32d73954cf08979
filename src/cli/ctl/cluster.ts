/**
 * Reading clusters for `raftdcs ctl`: which Patroni cluster (and MPP group) a command addresses,
 * and its `Cluster` from the read-only node's copy of the KV store — the node's own cluster through
 * `RaftDcs.getCluster()`, further cluster names of `list` through the same builders on their own
 * paths. Also the exact form of the dynamic configuration (key order and int/float kept, as
 * Python's `json.loads` keeps them) that `show-config` prints and `edit-config` edits.
 *
 * Reads are local (never the network); a value Patroni cannot load either (a bad
 * `failover.scheduled_at`) becomes a CtlError naming the key.
 */
import type { Cluster } from '../../dcs/model/cluster.js';
import { buildCluster, buildMppClusters, entriesUnder } from '../../dcs/model/cluster-loader.js';
import { ClusterParseError } from '../../dcs/model/errors.js';
import { type ExactJsonValue, JsonParseError, type PyJson, parsePyJson } from '../../dcs/model/json.js';
import { DcsPaths } from '../../dcs/paths.js';
import type { RaftDcs } from '../../dcs/raft-dcs.js';
import { type ClusterTarget, CtlError, configuredGroup } from './config.js';
import type { CtlSession } from './session.js';

/** How a command picks its MPP group when `--group` is not given. */
export type GroupDefault = 'none' | 'configured';

/** patronictl's `--group` handling: the target of a command. */
export function clusterTarget(
  session: CtlSession,
  scope: string,
  group: number | null | undefined,
  groupDefault: GroupDefault,
): ClusterTarget {
  const g = group ?? (groupDefault === 'configured' ? configuredGroup(session.config) : null);
  return { scope, group: g, coordinatorView: g === null && session.citus };
}

/** Output as an MPP (Citus) cluster: a citus section, or `--group` given. */
export function isCitusOutput(session: CtlSession, target: ClusterTarget): boolean {
  return session.citus || target.group !== null;
}

function wrapParse<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ClusterParseError) throw new CtlError(`cannot read the cluster: ${e.message}`, e.key);
    throw e;
  }
}

/**
 * The cluster as the node sees it now: the node's own cluster through `getCluster()`, or another
 * cluster name (`list a b`) on the same node, read the same way under its own path.
 */
export async function readCluster(dcs: RaftDcs, scope: string, namespace: string | null): Promise<Cluster> {
  const paths = new DcsPaths({ namespace: namespace ?? undefined, scope, name: scope, mpp: dcs.paths.mpp });
  if (paths.cluster === dcs.paths.cluster) {
    try {
      return await dcs.getCluster();
    } catch (e) {
      return wrapParse(() => {
        throw e;
      });
    }
  }
  return wrapParse(() => {
    if (paths.isMppCoordinator) {
      return buildMppClusters(entriesUnder(dcs.kv.getPrefix(paths.mppRoot), paths.mppRoot), {
        keyPrefix: paths.mppRoot,
      });
    }
    return buildCluster(entriesUnder(dcs.kv.getPrefix(paths.cluster), paths.cluster), {
      keyPrefix: paths.cluster,
    });
  });
}

/** The dynamic configuration as Python's `json.loads` reads it, with the key's index. */
export interface ExactConfig {
  readonly data: ReadonlyMap<string, PyJson>;
  /** the `config` key's index (the CAS version patronictl passes) */
  readonly version: number;
}

/** The `config` key of the node's cluster, or null without one. */
export function readConfig(dcs: RaftDcs): ExactConfig | null {
  const record = dcs.kv.get(dcs.paths.config);
  if (record === null) return null;
  let data: ReadonlyMap<string, PyJson> = new Map();
  try {
    const parsed = parsePyJson(record.value, { exact: true }) as ExactJsonValue;
    if (parsed instanceof Map) data = parsed as ReadonlyMap<string, PyJson>;
  } catch (e) {
    if (!(e instanceof JsonParseError)) throw e;
  }
  return { data, version: record.index };
}
