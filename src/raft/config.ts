/**
 * SyncObjConf — pysyncobj's configuration, with its option names, units (seconds) and defaults,
 * validated: every bad value gives a ConfigError naming the option and the reason. raftdcs adds a
 * few options of its own (fsync policy, frame limit, logger), documented where declared.
 */
import { RaftdcsError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import { pyFloatRepr } from '../py/repr.js';

/**
 * Every configuration problem — a SyncObjConf option, a key of the controller's YAML, an
 * environment variable — is reported with this error: which key and why. It never prints or
 * exits; the CLI decides how an error reaches the operator.
 */
export class ConfigError extends RaftdcsError<'CONFIG_INVALID'> {
  override readonly name = 'ConfigError';
  constructor(
    /**
     * the option or dotted config key at fault, e.g. `raftMinTimeout`, `raft.self_addr`,
     * `raft.partner_addrs[1]`; '' when the configuration as a whole is at fault
     */
    readonly key: string,
    /** what was expected and what was found */
    readonly reason: string,
  ) {
    // `raft.self_addr: is required`, or just the reason when no single key is at fault
    super('CONFIG_INVALID', key === '' ? reason : `${key}: ${reason}`);
  }
}

export type FsyncPolicy = 'always' | 'never';

export interface SyncObjConfOptions {
  /** enables Fernet encryption of all traffic (all nodes and utility clients must share it) */
  password?: string | null;
  /** tick automatically on the event loop (false: the embedder calls `doTick()`) */
  autoTick?: boolean;
  /** seconds between automatic ticks */
  autoTickPeriod?: number;
  commandsQueueSize?: number;
  raftMinTimeout?: number;
  raftMaxTimeout?: number;
  appendEntriesPeriod?: number;
  connectionTimeout?: number;
  connectionRetryTime?: number;
  leaderFallbackTimeout?: number;
  appendEntriesUseBatch?: boolean;
  appendEntriesBatchSizeBytes?: number;
  /** `host:port` to listen on (default: the self address's port on all interfaces) */
  bindAddress?: string | null;
  preferredAddrType?: 'ipv4' | 'ipv6' | null;
  sendBufferSize?: number;
  recvBufferSize?: number;
  dnsCacheTime?: number;
  dnsFailCacheTime?: number;
  logCompactionMinEntries?: number;
  logCompactionMinTime?: number;
  logCompactionSplit?: boolean;
  logCompactionBatchSize?: number;
  commandsWaitLeader?: boolean;
  fullDumpFile?: string | null;
  journalFile?: string | null;
  bindRetryTime?: number;
  /** 0 = retry forever */
  maxBindRetries?: number;
  onReady?: (() => void) | null;
  onStateChanged?: ((oldState: number, newState: number) => void) | null;
  onCodeVersionChanged?: ((oldVersion: number, newVersion: number) => void) | null;
  dynamicMembershipChange?: boolean;
  /**
   * raftdcs: when journal writes are fsync'd. `always` (default): entries and term/vote are durable
   * before any acknowledgement or vote leaves the node — safe across power loss. `never`: the OS
   * decides (only for tests and benchmarks: a power loss can lose acknowledged writes and votes).
   */
  fsync?: FsyncPolicy;
  /**
   * raftdcs: start even though the data files show that part of this node's state was lost — the
   * journal missing or empty beside a dump, or empty with no dump, or starting after the dump
   * (src/raft/journal/startup-check.ts). Without it such a start is refused with a
   * PartialDataError naming the files. With it the node starts from what is left, forgetting its
   * vote and the entries it acknowledged: only safe when the other members alone hold every
   * committed entry on a quorum, or after the node was removed from the cluster (then add it back).
   * For one start by hand; never leave it on (pysyncobj has no such option: it always started).
   */
  unsafeAllowPartialData?: boolean;
  /** raftdcs: frames larger than this are refused (the connection is dropped) */
  maxFrameBytes?: number;
  /** raftdcs: where log lines go (pino-compatible) */
  logger?: Logger;
}

const DEFAULTS = {
  password: null,
  autoTick: true,
  autoTickPeriod: 0.05,
  commandsQueueSize: 100_000,
  raftMinTimeout: 0.4,
  raftMaxTimeout: 1.4,
  appendEntriesPeriod: 0.1,
  connectionTimeout: 3.5,
  connectionRetryTime: 5.0,
  leaderFallbackTimeout: 30.0,
  appendEntriesUseBatch: true,
  appendEntriesBatchSizeBytes: 2 ** 16,
  bindAddress: null,
  preferredAddrType: 'ipv4',
  sendBufferSize: 2 ** 16,
  recvBufferSize: 2 ** 16,
  dnsCacheTime: 600.0,
  dnsFailCacheTime: 30.0,
  logCompactionMinEntries: 5000,
  logCompactionMinTime: 300,
  logCompactionSplit: false,
  logCompactionBatchSize: 2 ** 16,
  commandsWaitLeader: true,
  fullDumpFile: null,
  journalFile: null,
  bindRetryTime: 1.0,
  maxBindRetries: 0,
  onReady: null,
  onStateChanged: null,
  onCodeVersionChanged: null,
  dynamicMembershipChange: false,
  fsync: 'always',
  unsafeAllowPartialData: false,
  maxFrameBytes: 64 * 1024 * 1024,
  logger: silentLogger,
} as const satisfies Required<SyncObjConfOptions>;

export type ResolvedConf = {
  readonly [K in keyof SyncObjConfOptions]-?: Exclude<SyncObjConfOptions[K], undefined>;
};

const NUMBER_KEYS = [
  'autoTickPeriod',
  'commandsQueueSize',
  'raftMinTimeout',
  'raftMaxTimeout',
  'appendEntriesPeriod',
  'connectionTimeout',
  'connectionRetryTime',
  'leaderFallbackTimeout',
  'appendEntriesBatchSizeBytes',
  'sendBufferSize',
  'recvBufferSize',
  'dnsCacheTime',
  'dnsFailCacheTime',
  'logCompactionMinEntries',
  'logCompactionMinTime',
  'logCompactionBatchSize',
  'bindRetryTime',
  'maxBindRetries',
  'maxFrameBytes',
] as const;
const BOOLEAN_KEYS = [
  'autoTick',
  'appendEntriesUseBatch',
  'logCompactionSplit',
  'commandsWaitLeader',
  'dynamicMembershipChange',
  'unsafeAllowPartialData',
] as const;
const NULLABLE_STRING_KEYS = ['password', 'bindAddress', 'fullDumpFile', 'journalFile'] as const;
const CALLBACK_KEYS = ['onReady', 'onStateChanged', 'onCodeVersionChanged'] as const;

/** A timeout value as it appears in messages: Python's float repr, `(default)` when not set. */
export interface NamedValue {
  readonly name: string;
  readonly value: number;
  readonly isDefault: boolean;
  /** the value was given as an integer (Python prints `5`, not `5.0`) */
  readonly isInt?: boolean;
}

function show(v: NamedValue): string {
  const text = v.isInt && Number.isInteger(v.value) ? String(v.value) : pyFloatRepr(v.value);
  return `${v.name} (${text}${v.isDefault ? ' (default)' : ''})`;
}

/**
 * The four ordering rules between the timeouts, checked in Patroni's order with Patroni's message
 * shape (e.g. `max_timeout (1.4 (default)) must be > min_timeout (1.4)`); returns the first
 * failure, or null. Arithmetic is double precision, as in Python: 0.1 × 3 = 0.30000000000000004.
 */
export function checkTimeoutOrdering(t: {
  minTimeout: NamedValue;
  maxTimeout: NamedValue;
  connectionTimeout: NamedValue;
  appendEntriesPeriod: NamedValue;
  leaderFallbackTimeout: NamedValue;
}): { key: string; message: string } | null {
  const { minTimeout: min, maxTimeout: max, connectionTimeout: conn, appendEntriesPeriod: aep } = t;
  const lfb = t.leaderFallbackTimeout;
  if (!(min.value > aep.value * 3)) {
    return { key: min.name, message: `${show(min)} must be > 3 * ${show(aep)}` };
  }
  if (!(max.value > min.value)) return { key: max.name, message: `${show(max)} must be > ${show(min)}` };
  if (!(conn.value >= max.value)) return { key: conn.name, message: `${show(conn)} must be >= ${show(max)}` };
  if (!(lfb.value > aep.value)) return { key: lfb.name, message: `${show(lfb)} must be > ${show(aep)}` };
  return null;
}

type NumberKey = (typeof NUMBER_KEYS)[number];

/** The defaults overridden by every option given (not undefined); throws on an unknown option. */
function mergeWithDefaults(given: Readonly<Record<string, unknown>>): Record<string, unknown> {
  for (const key of Object.keys(given)) {
    if (!(key in DEFAULTS)) throw new ConfigError(key, 'unknown option');
  }
  const merged: Record<string, unknown> = { ...DEFAULTS };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) merged[k] = v;
  return merged;
}

/** Every option has its type: numbers, booleans, strings or null, callbacks or null, the enums. */
function checkTypes(merged: Readonly<Record<string, unknown>>): void {
  for (const k of NUMBER_KEYS) {
    const v = merged[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ConfigError(k, `must be a finite number, got ${JSON.stringify(v)}`);
    }
  }
  for (const k of BOOLEAN_KEYS) {
    if (typeof merged[k] !== 'boolean')
      throw new ConfigError(k, `must be true or false, got ${JSON.stringify(merged[k])}`);
  }
  for (const k of NULLABLE_STRING_KEYS) {
    const v = merged[k];
    if (v !== null && typeof v !== 'string')
      throw new ConfigError(k, `must be a string or null, got ${JSON.stringify(v)}`);
  }
  for (const k of CALLBACK_KEYS) {
    const v = merged[k];
    if (v !== null && typeof v !== 'function') throw new ConfigError(k, 'must be a function or null');
  }
  if (!['ipv4', 'ipv6', null].includes(merged.preferredAddrType as string | null)) {
    throw new ConfigError(
      'preferredAddrType',
      `must be 'ipv4', 'ipv6' or null, got ${JSON.stringify(merged.preferredAddrType)}`,
    );
  }
  if (merged.fsync !== 'always' && merged.fsync !== 'never') {
    throw new ConfigError('fsync', `must be 'always' or 'never', got ${JSON.stringify(merged.fsync)}`);
  }
}

/** The numeric options are in range (the timeouts' ordering is checked apart). */
function checkRanges(n: Readonly<Record<NumberKey, number>>): void {
  const positive = (k: NumberKey) => {
    if (!(n[k] > 0)) throw new ConfigError(k, `must be > 0, got ${n[k]}`);
  };
  const nonNegative = (k: NumberKey) => {
    if (!(n[k] >= 0)) throw new ConfigError(k, `must be >= 0, got ${n[k]}`);
  };
  positive('autoTickPeriod');
  nonNegative('commandsQueueSize');
  positive('appendEntriesPeriod');
  nonNegative('connectionRetryTime');
  positive('appendEntriesBatchSizeBytes');
  positive('sendBufferSize');
  positive('recvBufferSize');
  nonNegative('dnsCacheTime');
  nonNegative('dnsFailCacheTime');
  if (!(n.logCompactionMinEntries >= 2)) {
    throw new ConfigError('logCompactionMinEntries', `must be >= 2, got ${n.logCompactionMinEntries}`);
  }
  positive('logCompactionMinTime');
  positive('logCompactionBatchSize');
  positive('bindRetryTime');
  nonNegative('maxBindRetries');
  positive('maxFrameBytes');
}

/** `checkTimeoutOrdering` on the resolved timeouts; an option not given is shown as `(default)`. */
function checkTimeouts(
  n: Readonly<Record<NumberKey, number>>,
  given: Readonly<Record<string, unknown>>,
): void {
  const named = (name: NumberKey): NamedValue => ({
    name,
    value: n[name],
    isDefault: given[name] === undefined,
  });
  const failure = checkTimeoutOrdering({
    minTimeout: named('raftMinTimeout'),
    maxTimeout: named('raftMaxTimeout'),
    connectionTimeout: named('connectionTimeout'),
    appendEntriesPeriod: named('appendEntriesPeriod'),
    leaderFallbackTimeout: named('leaderFallbackTimeout'),
  });
  if (failure) throw new ConfigError(failure.key, failure.message);
}

export class SyncObjConf {
  readonly values: ResolvedConf;

  constructor(options: SyncObjConfOptions = {}) {
    const given = options as Record<string, unknown>;
    const merged = mergeWithDefaults(given);
    checkTypes(merged);
    const n = merged as Record<NumberKey, number>;
    checkRanges(n);
    checkTimeouts(n, given);
    this.values = merged as ResolvedConf;
  }
}
