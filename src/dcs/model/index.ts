/**
 * Patroni's data model for the Raft DCS: values parsed from KV keys (`Member`, `Leader`,
 * `ClusterConfig`, `Failover`, `SyncState`, `TimelineHistory`, `Status`), `Cluster` and the
 * builders that make clusters from KV entries, plus the Python-compatible JSON and integer helpers
 * the DCS layer needs to read and write values exactly like Patroni.
 *
 * Everything here is pure: no I/O, no network, no clock.
 */
export { Cluster, type ClusterFields } from './cluster.js';
export {
  type BuildOptions,
  buildCluster,
  buildMppClusters,
  buildMppGroups,
  entriesUnder,
} from './cluster-loader.js';
export { ClusterConfig } from './config.js';
export { parseConnectionString, pyParseQsl, pyUnquote } from './conn-string.js';
export { PyDateTime, parseScheduledAt } from './datetime.js';
export { ClusterParseError, ClusterParseErrorCode } from './errors.js';
export { Failover } from './failover.js';
export { textField } from './fields.js';
export { TimelineHistory } from './history.js';
export {
  deepCompare,
  deepFreeze,
  type ExactJsonValue,
  intFromBigInt,
  isJsonArray,
  isJsonObject,
  isPyDict,
  type JsonArray,
  JsonFloat,
  type JsonObject,
  JsonParseError,
  JsonParseErrorCode,
  type JsonValue,
  type ParseOptions,
  PY_INT_MAX_STR_DIGITS,
  type PyJson,
  type PyJsonDict,
  type PyJsonObject,
  parsePyJson,
  pyDictEntries,
  pyFloatRepr,
  pyJsonDumps,
  pyJsonDumpsWith,
  pyRepr,
  pyStr,
  pyStrRepr,
  pyTruthy,
  tryParsePyJson,
} from './json.js';
export type { KvEntries, KvRecordView } from './kv-view.js';
export { compareVersionTuples, Leader, Member, normalizeRole, parsePatroniVersion } from './member.js';
export {
  patroniParseInt,
  patroniStrtod,
  patroniStrtol,
  pyInt,
  pyIntFromFloat,
  pyIntFromString,
  pyRoundHalfEven,
  pyStrip,
} from './pyint.js';
export { Status } from './status.js';
export { SyncState } from './sync-state.js';
