/**
 * What `raftdcs controller` runs with, from a loaded Patroni configuration plus command-line
 * overrides: the `raft:` section (the only Patroni section the controller reads, as
 * `patroni_raft_controller`; parsed by the Raft DCS's own rules in src/dcs/raft-config.ts, with
 * `raft.self_addr` required) and raftdcs's own optional `raftdcs:` section, which Patroni ignores
 * (`log.level` is read by the CLI's logging):
 *
 * ```yaml
 * raftdcs:
 *   http: 127.0.0.1:8009     # GET /status, /health, /readyz and /metrics (off when absent)
 *   ready_max_lag: 1000      # /readyz: entries the applied index may trail the leader's commit
 *   max_bind_retries: 5      # attempts to bind the Raft port before giving up (0 = forever)
 *   bind_retry_time: 1.0     # seconds between those attempts
 * ```
 *
 * Every problem is a ConfigError naming the key under `raft.` / `raftdcs.`. Pure except
 * prepareControllerDataDir (Patroni's data_dir check: it may create the directory).
 */
import {
  prepareDataDir,
  RaftConfigError,
  type RaftNodeSettings,
  raftNodeSettings,
} from '../dcs/raft-config.js';
import { ConfigError } from '../raft/config.js';
import { describe } from './patroni-config.js';
import { type ConfigMap, type ConfigValue, isConfigMap } from './yaml.js';

export const DEFAULT_MAX_BIND_RETRIES = 5;
export const DEFAULT_BIND_RETRY_TIME = 1.0;

/**
 * Default `max_lag` of /readyz, in log entries. A follower keeping up trails the leader's commit
 * index by the entries of one replication round at most; 1000 leaves room for bursts of writes while
 * a node that is really behind (restarted, partitioned, overloaded) is reported. A node that has
 * not caught up once since start is not ready whatever its lag.
 */
export const DEFAULT_READY_MAX_LAG = 1000;

/** The keys Patroni's Raft DCS reads from `raft:` (others are ignored; the controller warns). */
const KNOWN_RAFT_KEYS: ReadonlySet<string> = new Set([
  'self_addr',
  'bind_addr',
  'partner_addrs',
  'data_dir',
  'password',
  'retry_timeout',
  'ttl',
  'loop_wait',
  'append_entries_period',
  'min_timeout',
  'max_timeout',
  'connection_timeout',
  'connection_retry_time',
  'leader_fallback_timeout',
]);

export interface HttpListen {
  readonly host: string;
  /** 0 = any free port */
  readonly port: number;
}

export interface ControllerSettings {
  /** the Raft node's settings (addresses, files, retry budget, timeouts, SyncObjConf options) */
  readonly node: RaftNodeSettings & {
    readonly selfAddr: string;
    readonly files: { readonly journal: string; readonly dump: string };
  };
  /** `raft.bind_addr` (null: pysyncobj's default, every interface on self_addr's port) */
  readonly bindAddr: string | null;
  readonly password: string | null;
  readonly unknownRaftKeys: readonly string[];
  readonly http: HttpListen | null;
  /** /readyz's max_lag when a request gives none (`raftdcs.ready_max_lag`) */
  readonly readyMaxLag: number;
  readonly maxBindRetries: number;
  readonly bindRetryTime: number;
}

export interface ControllerOverrides {
  /** `--http host:port` */
  readonly http?: string | null;
  /** `--max-bind-retries n` */
  readonly maxBindRetries?: number | null;
}

export function controllerSettings(
  config: ConfigMap,
  overrides: ControllerOverrides = {},
): ControllerSettings {
  const rawRaft = config.raft;
  if (!isConfigMap(rawRaft)) {
    throw new ConfigError(
      'raft.self_addr',
      rawRaft === undefined
        ? 'is required: the configuration has no raft: section (set raft.self_addr or PATRONI_RAFT_SELF_ADDR)'
        : `is required: raft must be a mapping, got ${describe(rawRaft)}`,
    );
  }
  const node = asConfigError(() => raftNodeSettings(rawRaft, { requireSelfAddr: true }));
  if (node.selfAddr === null || node.files === null) {
    throw new ConfigError('raft.patronictl', 'the controller is a voting member: it cannot run read-only');
  }

  const ours = config.raftdcs;
  if (ours !== undefined && ours !== null && !isConfigMap(ours)) {
    throw new ConfigError('raftdcs', `expected a mapping, got ${describe(ours)}`);
  }
  const section: ConfigMap = isConfigMap(ours) ? ours : {};
  const httpText = overrides.http ?? section.http ?? null;
  const http =
    httpText === null ? null : parseHttpListen(httpText, overrides.http ? '--http' : 'raftdcs.http');
  const readyMaxLag = nonNegativeInt(section.ready_max_lag, DEFAULT_READY_MAX_LAG, 'raftdcs.ready_max_lag');
  const maxBindRetries =
    overrides.maxBindRetries ??
    nonNegativeInt(section.max_bind_retries, DEFAULT_MAX_BIND_RETRIES, 'raftdcs.max_bind_retries');
  const bindRetryTime = positiveSeconds(
    section.bind_retry_time,
    DEFAULT_BIND_RETRY_TIME,
    'raftdcs.bind_retry_time',
  );

  return {
    node: { ...node, selfAddr: node.selfAddr, files: node.files },
    bindAddr: node.conf.bindAddress ?? null,
    password: node.conf.password ?? null,
    unknownRaftKeys: Object.keys(rawRaft).filter((k) => !KNOWN_RAFT_KEYS.has(k)),
    http,
    readyMaxLag,
    maxBindRetries,
    bindRetryTime,
  };
}

/**
 * Patroni's `validate_directory(data_dir)` for the controller: created when missing, else it must
 * be a writable directory (`<dir> is not a directory`, `<dir> the directory is not writable`,
 * `<dir> couldn't create the directory`), reported as a ConfigError on `raft.data_dir`.
 */
export function prepareControllerDataDir(dir: string): void {
  if (dir !== '') asConfigError(() => prepareDataDir(dir));
}

/** `host:port` (IPv6 as `[::1]:8009`), port 0–65535 (0 = any free port). */
export function parseHttpListen(v: ConfigValue, keyPath: string): HttpListen {
  if (typeof v !== 'string') throw new ConfigError(keyPath, `expected "host:port", got ${describe(v)}`);
  const m = /^(.*):([0-9]{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : -1;
  const hostPart = m?.[1];
  if (!hostPart || port > 65535) {
    throw new ConfigError(
      keyPath,
      `expected "host:port" with a port from 0 to 65535, got ${JSON.stringify(v)}`,
    );
  }
  const host = hostPart.replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/** The Raft DCS's RaftConfigError as our ConfigError: key under `raft.`, no repeated key in the text. */
function asConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof RaftConfigError)) throw e;
    const key = e.key.startsWith('raft.') ? e.key : `raft.${e.key}`;
    const reason = e.message.startsWith(`${key} `) ? e.message.slice(key.length + 1) : e.message;
    throw new ConfigError(key, reason);
  }
}

function nonNegativeInt(v: ConfigValue | undefined, fallback: number, keyPath: string): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'bigint' && v >= 0n && v <= 1_000_000n) return Number(v);
  throw new ConfigError(keyPath, `expected a whole number >= 0, got ${describe(v)}`);
}

function positiveSeconds(v: ConfigValue | undefined, fallback: number, keyPath: string): number {
  if (v === undefined || v === null) return fallback;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n === 'number' && Number.isFinite(n) && n > 0) return n;
  throw new ConfigError(keyPath, `expected a positive number of seconds, got ${describe(v)}`);
}
