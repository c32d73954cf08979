/**
 * pysyncobj 0.3.11's `getStatus()` keys that do not name a node (`docs/protocol.md` §6.3), in its order — what
 * `syncobj_admin -status`, our `/status` and our `getStatus()` must all carry.
 */
export const PYSYNCOBJ_STATUS_KEYS: readonly string[] = [
  'version',
  'revision',
  'self',
  'state',
  'leader',
  'has_quorum',
  'partner_nodes_count',
  'readonly_nodes_count',
  'log_len',
  'last_applied',
  'commit_idx',
  'raft_term',
  'next_node_idx_count',
  'match_idx_count',
  'leader_commit_idx',
  'uptime',
  'self_code_version',
  'enabled_code_version',
];
