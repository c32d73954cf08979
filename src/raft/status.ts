/**
 * The status dict of a SyncObj node: pysyncobj's `getStatus()` keys and values (docs/protocol.md
 * §6.3), answered to the `status` utility command and read by `SyncObj.getStatus()`.
 *
 * What it is for: building that dict from what the node knows (its core's status, the transport's
 * connections, the driver's applied index and uptime, the code versions).
 *
 * What it must never do: change any state, or depend on anything but what `StatusSource` gives it
 * (it is read on every `status` request, from any peer or admin tool).
 */
import { type PyDict, type PyDictKey, type PyValue, tcpNode } from '../wire/value.js';
import type { RaftCore } from './core/core.js';

/** The pysyncobj release whose `status` keys and `version` value a node reports. */
export const PYSYNCOBJ_COMPAT_VERSION = '0.3.11';

/** What the status dict is made of. */
export interface StatusSource {
  /** this node's address (null: a read-only node) */
  readonly selfAddress: string | null;
  /** the configured partners (reported while the core is not running yet) */
  readonly partners: readonly string[];
  /** the running core, if any */
  readonly core: Pick<RaftCore, 'status' | 'hasQuorum'> | null;
  isNodeConnected(node: string): boolean;
  /** the index of the last entry applied to the state machine here */
  readonly lastApplied: number;
  readonly uptimeMs: number;
  /** the code version of this node's replicated methods (0 before the function table exists) */
  readonly selfCodeVersion: number;
  /** the code version the cluster switched to */
  readonly enabledCodeVersion: number;
}

/** pysyncobj's status dict, keys in pysyncobj's order. */
export function statusDict(src: StatusSource): PyDict {
  const core = src.core;
  const st = core?.status();
  const m = new Map<PyDictKey, PyValue>();
  const self = src.selfAddress === null ? null : tcpNode(src.selfAddress);
  m.set('version', PYSYNCOBJ_COMPAT_VERSION);
  m.set('revision', 'deprecated'); // pysyncobj's value; our version is in the HTTP status
  m.set('self', self);
  m.set('state', st?.state ?? 0);
  m.set('leader', st?.leader ? (st.leader === src.selfAddress ? self : tcpNode(st.leader)) : null);
  m.set('has_quorum', core?.hasQuorum() ?? false);
  const members = st?.members ?? src.partners;
  m.set('partner_nodes_count', members.length);
  for (const p of members) m.set(`partner_node_status_server_${p}`, src.isNodeConnected(p) ? 2 : 0);
  const ro = st?.readonlyPeers ?? [];
  m.set('readonly_nodes_count', ro.length);
  for (const p of ro) m.set(`readonly_node_status_server_${p}`, 2);
  m.set('log_len', st?.logLength ?? 0);
  m.set('last_applied', src.lastApplied);
  m.set('commit_idx', st?.commitIndex ?? 0);
  m.set('raft_term', st?.term ?? 0);
  m.set('next_node_idx_count', st?.nextIndex.size ?? 0);
  for (const [p, i] of st?.nextIndex ?? []) m.set(`next_node_idx_server_${p}`, i);
  m.set('match_idx_count', st?.matchIndex.size ?? 0);
  for (const [p, i] of st?.matchIndex ?? []) m.set(`match_idx_server_${p}`, i);
  m.set('leader_commit_idx', st?.leaderCommitIndex ?? null);
  m.set('uptime', Math.floor(src.uptimeMs / 1000));
  m.set('self_code_version', src.selfCodeVersion);
  m.set('enabled_code_version', src.enabledCodeVersion);
  return m;
}

/** The status dict as a plain object with the same keys (`SyncObj.getStatus()`). */
export function statusRecord(dict: PyDict): Record<string, PyValue> {
  const out: Record<string, PyValue> = {};
  for (const [k, v] of dict) out[String(k)] = v;
  return out;
}
