/**
 * The Raft DCS configuration — Patroni's `raft:` section plus the top-level keys Patroni copies in
 * (`name`, `scope`, `namespace`, `ttl`, `loop_wait`, `retry_timeout`, `patronictl`, `citus`) —
 * turned into the settings of the Raft node (`docs/dcs.md` §5.4, §10.1–§10.4):
 * self/partner/bind addresses, read-only (patronictl) mode, journal and dump file names, DNS cache
 * times, retry budget and the pysyncobj timeout knobs with Patroni's exact ordering messages.
 * `patroni_raft_controller` reuses it (same names, same rules).
 *
 * Every rejected value gives a `RaftConfigError` that names the key. Numbers follow Python's
 * int/float split: a JS `number` (or a `JsonFloat`) is a Python float, a `bigint` a Python int (a
 * YAML loader with `intAsBigInt` keeps that distinction); integral values print as floats in the
 * ordering messages (`5.0`, as pysyncobj's float defaults do).
 *
 * `raftNodeSettings` is pure. The only I/O here is `prepareDataDir` (create / check `data_dir`),
 * kept apart; nothing here may open a socket, read the journal or start a node.
 */
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../assert.js';
import { DcsErrorCode, RaftError } from '../kv/errors.js';
import { pyIntFromString } from '../py/numbers.js';
import { pyFloatRepr } from '../py/repr.js';
import { checkTimeoutOrdering, type NamedValue, type SyncObjConfOptions } from '../raft/config.js';
import { journalPaths } from '../raft/journal/paths.js';
import { JsonFloat, pyRepr } from './model/json.js';
import { type MppConfig, validateMppConfig } from './paths.js';

/** A configuration error; `key` is the option at fault (e.g. `min_timeout`, `raft.self_addr`, `data_dir`). */
export class RaftConfigError extends RaftError {
  override readonly name: string = 'RaftConfigError';
  override readonly code: DcsErrorCode = DcsErrorCode.RaftConfig;
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/** A timeout as written in the configuration: `number`/`JsonFloat` = Python float, `bigint` = Python int. */
export type ConfigNumber = number | bigint | JsonFloat;

/** Patroni's `raft:` section. */
export interface RaftSection {
  /** `host:port` other nodes reach this node at; absent → read-only node */
  readonly self_addr?: string | null;
  /** `host:port` to listen on (default: `self_addr`) */
  readonly bind_addr?: string | null;
  readonly partner_addrs?: readonly string[] | null;
  /** journal and dump directory ('' or absent: the current directory) */
  readonly data_dir?: string | null;
  /** enables traffic encryption */
  readonly password?: string | null;
  readonly append_entries_period?: ConfigNumber | null;
  readonly min_timeout?: ConfigNumber | null;
  readonly max_timeout?: ConfigNumber | null;
  readonly connection_timeout?: ConfigNumber | null;
  readonly connection_retry_time?: ConfigNumber | null;
  readonly leader_fallback_timeout?: ConfigNumber | null;
}

/** What `RaftDcs.create` receives: the `raft:` section plus the keys Patroni copies in. */
export interface RaftDcsConfig extends RaftSection {
  /** this node's member name */
  readonly name: string;
  /** the cluster name */
  readonly scope: string;
  /** default `service` */
  readonly namespace?: string | null;
  /** leader/member key TTL, seconds (default 30); also the DNS cache time */
  readonly ttl?: number | bigint | null;
  /** HA loop period, seconds (default 10); also the DNS failure cache time */
  readonly loop_wait?: number | bigint | null;
  /** retry budget of DCS writes, seconds (default 10) */
  readonly retry_timeout?: number | bigint | null;
  /** patronictl: run as a read-only node (self_addr becomes a partner) */
  readonly patronictl?: boolean | null;
  /** the MPP (Citus) section: `{group: int, database: str}` */
  readonly citus?: unknown;
}

/** pysyncobj timeout values in seconds, by their pysyncobj names. */
export interface RaftTimeouts {
  readonly appendEntriesPeriod: number;
  readonly raftMinTimeout: number;
  readonly raftMaxTimeout: number;
  readonly connectionTimeout: number;
  readonly connectionRetryTime: number;
  readonly leaderFallbackTimeout: number;
}

type TimeoutKey =
  | 'append_entries_period'
  | 'min_timeout'
  | 'max_timeout'
  | 'connection_timeout'
  | 'connection_retry_time'
  | 'leader_fallback_timeout';

/** The timeout knobs (`docs/dcs.md` §10.3) in Patroni's table order, with pysyncobj's names and defaults. */
export const RAFT_TIMEOUT_KNOBS: readonly {
  readonly key: TimeoutKey;
  readonly conf: keyof RaftTimeouts;
  readonly defaultSeconds: number;
  /** connection_retry_time may be 0 */
  readonly allowZero: boolean;
}[] = [
  { key: 'append_entries_period', conf: 'appendEntriesPeriod', defaultSeconds: 0.1, allowZero: false },
  { key: 'min_timeout', conf: 'raftMinTimeout', defaultSeconds: 0.4, allowZero: false },
  { key: 'max_timeout', conf: 'raftMaxTimeout', defaultSeconds: 1.4, allowZero: false },
  { key: 'connection_timeout', conf: 'connectionTimeout', defaultSeconds: 3.5, allowZero: false },
  { key: 'connection_retry_time', conf: 'connectionRetryTime', defaultSeconds: 5.0, allowZero: true },
  { key: 'leader_fallback_timeout', conf: 'leaderFallbackTimeout', defaultSeconds: 30.0, allowZero: false },
];

export interface ParsedRaftTimeouts {
  /** effective values (set or default) */
  readonly effective: RaftTimeouts;
  /** only the knobs that were set, as SyncObjConf options */
  readonly custom: Partial<RaftTimeouts>;
  /** Patroni's `Applying custom pysyncobj timeouts: k=v, …` line, or null when none is set */
  readonly logLine: string | null;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return pyRepr(v);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'object') return Array.isArray(v) ? 'a list' : 'a mapping';
  return String(v);
}

/** A timeout value in seconds, or undefined when unset (absent or null). */
function timeoutValue(section: Readonly<Record<string, unknown>>, key: TimeoutKey): number | undefined {
  const v = section[key];
  if (v === undefined || v === null) return undefined;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (v instanceof JsonFloat) n = v.value;
  else throw new RaftConfigError(key, `raft.${key} must be a number of seconds, got ${describe(v)}`);
  if (!Number.isFinite(n)) throw new RaftConfigError(key, `raft.${key} must be a finite number, got ${n}`);
  return n;
}

function shownValue(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof JsonFloat) return pyFloatRepr(v.value);
  return pyFloatRepr(v as number);
}

/**
 * The timeout knobs (`docs/dcs.md` §10.3): null = unset; non-numbers rejected naming the key;
 * then Patroni's four ordering rules in Patroni's order with its exact messages (`max_timeout (1.4
 * (default)) must be > min_timeout (1.4)`), then ranges (> 0; `connection_retry_time` ≥ 0) that
 * Patroni leaves to chance.
 */
export function parseRaftTimeouts(section: Readonly<Record<string, unknown>>): ParsedRaftTimeouts {
  const effective: Record<string, number> = {};
  const custom: Partial<Record<keyof RaftTimeouts, number>> = {};
  const named: Partial<Record<keyof RaftTimeouts, NamedValue>> = {};
  /** a knob's value as read (every knob is read in the first loop) */
  const namedOf = (conf: keyof RaftTimeouts): NamedValue => {
    const v = named[conf];
    assert(v !== undefined, `raft timeout ${conf} was not read`);
    return v;
  };
  const shown: string[] = [];
  for (const knob of RAFT_TIMEOUT_KNOBS) {
    const v = timeoutValue(section, knob.key);
    const value = v ?? knob.defaultSeconds;
    effective[knob.conf] = value;
    named[knob.conf] = {
      name: knob.key,
      value,
      isDefault: v === undefined,
      isInt: typeof section[knob.key] === 'bigint',
    };
    if (v !== undefined) {
      custom[knob.conf] = v;
      shown.push(`${knob.key}=${shownValue(section[knob.key])}`);
    }
  }
  if (shown.length > 0) {
    const failure = checkTimeoutOrdering({
      minTimeout: namedOf('raftMinTimeout'),
      maxTimeout: namedOf('raftMaxTimeout'),
      connectionTimeout: namedOf('connectionTimeout'),
      appendEntriesPeriod: namedOf('appendEntriesPeriod'),
      leaderFallbackTimeout: namedOf('leaderFallbackTimeout'),
    });
    if (failure) throw new RaftConfigError(failure.key, failure.message);
    for (const knob of RAFT_TIMEOUT_KNOBS) {
      const { value } = namedOf(knob.conf);
      if (knob.allowZero ? !(value >= 0) : !(value > 0)) {
        throw new RaftConfigError(
          knob.key,
          `raft.${knob.key} must be ${knob.allowZero ? '>= 0' : '> 0'}, got ${shownValue(section[knob.key])}`,
        );
      }
    }
  }
  return {
    effective: effective as unknown as RaftTimeouts,
    custom,
    logLine: shown.length > 0 ? `Applying custom pysyncobj timeouts: ${shown.join(', ')}` : null,
  };
}

/** A numeric top-level setting (number, bigint, JsonFloat or integer text); null when absent or null. */
function numberSetting(config: Readonly<Record<string, unknown>>, key: string): number | null {
  const v = config[key];
  if (v === undefined || v === null) return null;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (v instanceof JsonFloat) n = v.value;
  else if (typeof v === 'string' && pyIntFromString(v) !== null) n = Number(pyIntFromString(v));
  else throw new RaftConfigError(key, `${key} must be a number, got ${describe(v)}`);
  if (!Number.isFinite(n)) throw new RaftConfigError(key, `${key} must be a finite number, got ${n}`);
  return n;
}

/** Python `int(config.get(key) or default)`: floats truncate; absent, null and 0 give the default. */
function intSetting(config: Readonly<Record<string, unknown>>, key: string, defaultValue: number): number {
  return Math.trunc(numberSetting(config, key) || defaultValue) || defaultValue;
}

function optionalString(section: Readonly<Record<string, unknown>>, key: string): string | null {
  const v = section[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string')
    throw new RaftConfigError(key, `raft.${key} must be a string, got ${describe(v)}`);
  return v;
}

export interface RaftNodeSettings {
  /** this node's identity; null for a read-only node (no self_addr, or patronictl) */
  readonly selfAddr: string | null;
  /** partners (deduplicated, configured order; in patronictl mode self_addr is one of them) */
  readonly partnerAddrs: readonly string[];
  readonly readOnly: boolean;
  /** '' = the current directory */
  readonly dataDir: string;
  /** `<data_dir>/<self_addr>.journal` / `.dump`; null for read-only nodes (they keep no files) */
  readonly files: { readonly journal: string; readonly dump: string } | null;
  /** Patroni `int(retry_timeout or 10)` */
  readonly retryTimeout: number;
  /** Patroni `int(ttl or 30)` */
  readonly ttl: number;
  /** Patroni `loop_wait` (default 10) */
  readonly loopWait: number;
  readonly timeouts: ParsedRaftTimeouts;
  /** the validated MPP configuration, or null when MPP is disabled */
  readonly mpp: MppConfig | null;
  /** why a `citus` section that is present was ignored (MPP disabled), else null */
  readonly mppIgnored: string | null;
  /** SyncObjConf for the KV node (Patroni's choices: no batching, dynamic membership, fail fast) */
  readonly conf: SyncObjConfOptions;
}

export interface RaftNodeSettingsOptions {
  /** name files the Windows way (`:` → `_`); default: this platform */
  readonly windows?: boolean;
  /** the controller: `raft.self_addr` must be set */
  readonly requireSelfAddr?: boolean;
}

/**
 * `raft.partner_addrs` as a list of strings, deduplicated in configured order.
 */
function partnerList(c: Readonly<Record<string, unknown>>): string[] {
  const rawPartners = c['partner_addrs'] ?? [];
  if (!Array.isArray(rawPartners)) {
    throw new RaftConfigError(
      'partner_addrs',
      `raft.partner_addrs must be a list of 'host:port' strings, got ${describe(rawPartners)}`,
    );
  }
  const partners: string[] = [];
  for (const p of rawPartners as unknown[]) {
    if (typeof p !== 'string') {
      throw new RaftConfigError(
        'partner_addrs',
        `raft.partner_addrs must hold 'host:port' strings (quote them in YAML), got ${describe(p)}`,
      );
    }
    if (!partners.includes(p)) partners.push(p);
  }
  return partners;
}

/**
 * This node's identity and the full partner list (self_addr, then partner_addrs, then patronictl).
 * In patronictl mode the node is read-only and self_addr becomes one of the partners.
 */
function nodeIdentity(
  c: Readonly<Record<string, unknown>>,
  options: RaftNodeSettingsOptions,
): { selfAddr: string | null; partners: string[] } {
  const configuredSelf = optionalString(c, 'self_addr') || null;
  if (options.requireSelfAddr && configuredSelf === null) {
    throw new RaftConfigError('raft.self_addr', 'raft.self_addr is required (the address of this node)');
  }
  const partners = partnerList(c);
  let selfAddr = configuredSelf;
  const patronictl = Boolean(c['patronictl']);
  if (patronictl) {
    if (selfAddr !== null && !partners.includes(selfAddr)) partners.push(selfAddr);
    selfAddr = null;
  }
  return { selfAddr, partners };
}

/** The journal and dump file names of a node that keeps files; null for a read-only node. */
function nodeFiles(
  dataDir: string,
  selfAddr: string | null,
  options: RaftNodeSettingsOptions,
): RaftNodeSettings['files'] {
  if (selfAddr === null) return null;
  const p = journalPaths(dataDir, selfAddr, { windows: options.windows });
  return { journal: p.journal, dump: p.dump };
}

/** The KV node's SyncObjConf: Patroni's choices (no batching, dynamic membership, fail fast). */
function kvNodeConf(args: {
  password: string | null;
  bindAddr: string | null;
  ttl: number;
  loopWait: number;
  files: RaftNodeSettings['files'];
  timeouts: ParsedRaftTimeouts;
}): SyncObjConfOptions {
  const { files, loopWait, timeouts, ttl } = args;
  return {
    password: args.password,
    bindAddress: args.bindAddr,
    appendEntriesUseBatch: false,
    dynamicMembershipChange: true,
    commandsWaitLeader: false,
    // Patroni: dnsCacheTime = ttl or 30, dnsFailCacheTime = loop_wait or 10 (as configured, not int())
    dnsCacheTime: ttl,
    dnsFailCacheTime: loopWait || 10,
    journalFile: files?.journal ?? null,
    fullDumpFile: files?.dump ?? null,
    ...timeouts.custom,
  };
}

/**
 * Validate the configuration and derive the Raft node's settings (Patroni's `KVStoreTTL.__init__`
 * and `Raft.__init__`). Pure: `data_dir` is only named here; `prepareDataDir` checks it.
 */
export function raftNodeSettings(
  config: RaftDcsConfig | RaftSection,
  options: RaftNodeSettingsOptions = {},
): RaftNodeSettings {
  const c = config as Readonly<Record<string, unknown>>;
  // the order of the checks below decides which error a bad configuration reports first
  const { selfAddr, partners } = nodeIdentity(c, options);
  const dataDir = optionalString(c, 'data_dir') ?? '';
  const password = optionalString(c, 'password');
  const bindAddr = optionalString(c, 'bind_addr');
  const timeouts = parseRaftTimeouts(c);
  const retryTimeout = intSetting(c, 'retry_timeout', 10);
  const ttl = intSetting(c, 'ttl', 30);
  const loopWait = numberSetting(c, 'loop_wait') ?? 10;
  const citus = c['citus'];
  const mppCheck = citus === undefined || citus === null ? null : validateMppConfig(citus);
  const files = nodeFiles(dataDir, selfAddr, options);
  return {
    selfAddr,
    partnerAddrs: partners.filter((p) => p !== selfAddr),
    readOnly: selfAddr === null,
    dataDir,
    files,
    retryTimeout,
    ttl,
    loopWait,
    timeouts,
    mpp: mppCheck?.enabled ? mppCheck.config : null,
    mppIgnored: mppCheck && !mppCheck.enabled ? mppCheck.reason : null,
    conf: kvNodeConf({ password, bindAddr, ttl, loopWait, files, timeouts }),
  };
}

/** The file-system calls `prepareDataDir` makes (replaceable in tests). */
export interface DataDirFs {
  exists(path: string): boolean;
  isDirectory(path: string): boolean;
  mkdirp(path: string): void;
  /** create and remove a file in `dir`; throws when that is not possible */
  probeWrite(dir: string): void;
}

export const nodeDataDirFs: DataDirFs = {
  exists: (p) => existsSync(p),
  isDirectory: (p) => statSync(p).isDirectory(),
  mkdirp: (p) => {
    mkdirSync(p, { recursive: true });
  },
  probeWrite: (dir) => {
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.raftdcs-probe-${process.pid}-${Date.now()}`);
    closeSync(openSync(probe, 'wx'));
    rmSync(probe);
  },
};

/**
 * Patroni's `validate_directory(data_dir)`: create it when missing (`<dir> couldn't create the
 * directory`), else it must be a directory (`<dir> is not a directory`) where a file can be
 * created (`<dir> the directory is not writable`). Done even in patronictl mode.
 */
export function prepareDataDir(dir: string, fs: DataDirFs = nodeDataDirFs): void {
  if (!fs.exists(dir)) {
    try {
      fs.mkdirp(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RaftConfigError('data_dir', `${dir} couldn't create the directory`);
      }
    }
    return;
  }
  if (!fs.isDirectory(dir)) throw new RaftConfigError('data_dir', `${dir} is not a directory`);
  try {
    fs.probeWrite(dir);
  } catch {
    throw new RaftConfigError('data_dir', `${dir} the directory is not writable`);
  }
}
