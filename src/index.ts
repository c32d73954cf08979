/**
 * raftdcs's public API: what `import … from 'raftdcs'` gives a library user.
 *
 * - The Raft engine with pysyncobj's model: `SyncObj` (a state object whose `@replicated` methods
 *   are applied on every node in the same order), `SyncObjConsumer`, `SyncObjConf` and its options.
 * - `KVStoreTTL`: Patroni's replicated key-value store with TTLs and compare-and-set.
 * - The DCS layer: `RaftDcs` (Patroni's Raft DCS), `AbstractDcs`, the key layout (`DcsPaths`) and
 *   the data model read from the keys (`Cluster`, `Member`, `Leader`, …).
 * - The errors each layer throws: each is a `RaftdcsError` with a stable `name` and a string `code`
 *   (`InvariantError` when raftdcs finds a bug in itself; except `RaftInvariantError`, a bug in
 *   the Raft core).
 * - In-memory twins of the stores and the network, for tests and examples: `MemoryJournal`,
 *   `MemoryDumpStore`, `MemoryNetwork`.
 *
 * Everything else in `src/` is internal and may change without notice. Test-only switches (the
 * simulator's observer and fault flags on `SyncObjDeps`) are documented as such where declared.
 */

// ── a broken invariant outside the Raft core (a bug in raftdcs) ─────────────────────────────────
export { InvariantError } from './assert.js';
// ── the DCS ─────────────────────────────────────────────────────────────────────────────────────
export {
  AbstractDcs,
  type AbstractDcsOptions,
  DcsEvent,
  type Lsn,
  type StatusValue,
} from './dcs/abstract-dcs.js';
export {
  Cluster,
  ClusterConfig,
  type ClusterFields,
  ClusterParseError,
  ClusterParseErrorCode,
  Failover,
  JsonParseError,
  JsonParseErrorCode,
  type KvEntries,
  type KvRecordView,
  Leader,
  Member,
  Status,
  SyncState,
  TimelineHistory,
} from './dcs/model/index.js';
export { ClusterKey, DcsPaths, type DcsPathsOptions, type MppConfig } from './dcs/paths.js';
export { RaftConfigError, type RaftDcsConfig, type RaftSection } from './dcs/raft-config.js';
export { RaftDcs, type RaftDcsOptions } from './dcs/raft-dcs.js';
// ── the base of the coded errors ────────────────────────────────────────────────────────────────
export { RaftdcsError } from './errors.js';
// ── the key-value store ─────────────────────────────────────────────────────────────────────────
export { DCSError, DcsErrorCode, RaftError } from './kv/errors.js';
export {
  type DeleteOptions,
  KVStoreTTL,
  type KVStoreTTLOptions,
  type OpenKVStoreTTLOptions,
  PATRONI_SYNCOBJ_DEFAULTS,
  type SetOptions,
} from './kv/kvstore-ttl.js';
export type { CasConditions, KvRecord } from './kv/record.js';
export { type Logger, silentLogger } from './logger.js';
// ── the Raft engine ─────────────────────────────────────────────────────────────────────────────
export {
  ConfigError,
  type FsyncPolicy,
  SyncObjConf,
  type SyncObjConfOptions,
} from './raft/config.js';
export { RaftInvariantError } from './raft/core/core.js';
export { FailReason, RaftState } from './raft/core/types.js';
export {
  JournalCorruptCode,
  JournalCorruptError,
  JournalMigrationError,
  type JournalStateCode,
  JournalStateError,
} from './raft/journal/errors.js';
export { FileJournal, type FileJournalOptions } from './raft/journal/file-journal.js';
export { MemoryJournal } from './raft/journal/memory.js';
export { PartialDataCode, PartialDataError } from './raft/journal/startup-check.js';
export type { Journal } from './raft/journal/types.js';
export { type ReplicatedCall, type ReplicatedSpec, replicated } from './raft/replicated.js';
export {
  type ResultCallback,
  type ResultReason,
  RuntimeFailReason,
  resultReasonName,
} from './raft/runtime/outcome.js';
export { type DumpStore, FileDumpStore, MemoryDumpStore } from './raft/snapshot/dump-store.js';
export {
  type CallOptions,
  type LivenessSnapshot,
  PYSYNCOBJ_COMPAT_VERSION,
  SyncObj,
  SyncObjConsumer,
  type SyncObjDeps,
  SyncObjError,
  type SyncObjErrorReason,
  type SyncObjOptions,
  type TransferOptions,
} from './raft/syncobj.js';
export { AddressError } from './raft/transport/address.js';
export { MemoryNetwork, MemoryTransport } from './raft/transport/memory-transport.js';
export { TransportError, TransportErrorCode } from './raft/transport/tcp-transport.js';
export type { PeerId, Transport, TransportHandler } from './raft/transport/types.js';
export { TcpUtility, UtilityError, UtilityErrorCode } from './raft/transport/utility-client.js';
export { RAFTDCS_VERSION } from './version.js';
// ── the wire format ─────────────────────────────────────────────────────────────────────────────
export { WireError, WireErrorCode } from './wire/errors.js';
export type { PyValue } from './wire/value.js';
