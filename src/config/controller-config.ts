/**
 * What `raftdcs controller` runs with, from a loaded Patroni configuration plus command-line
 * overrides: the `raft:` section (the only Patroni section the controller reads, as
 * `patroni_raft_controller`) and raftdcs's own optional `raftdcs:` section, which Patroni
 * ignores (`log.level` is read by the CLI's logging):
 *
 * ```yaml
 * raftdcs:
 *   http: 127.0.0.1:8009     # GET /status and /metrics (off when absent)
 *   max_bind_retries: 5      # attempts to bind raft.bind_addr / self_addr before giving up (0 = forever)
 *   bind_retry_time: 1.0     # seconds between those attempts
 * ```
 *
 * Pure (no I/O): data_dir is checked by the controller at start-up (validateDataDir).
 */
import { type JournalPaths, journalPaths } from '../raft/journal/paths.js';
import { ConfigError } from './errors.js';
import { describe } from './patroni-config.js';
import { parseRaftSection, type RaftSection } from './raft-section.js';
import { type ConfigMap, type ConfigValue, isConfigMap } from './yaml.js';

export const DEFAULT_MAX_BIND_RETRIES = 5;
export const DEFAULT_BIND_RETRY_TIME = 1.0;

export interface HttpListen {
  readonly host: string;
  /** 0 = any free port */
  readonly port: number;
}

export interface ControllerSettings {
  readonly raft: RaftSection & { readonly selfAddr: string };
  readonly unknownRaftKeys: readonly string[];
  /** journal and dump file names, exactly as Patroni names them */
  readonly files: JournalPaths;
  readonly http: HttpListen | null;
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
  if (!isConfigMap(rawRaft) || rawRaft.self_addr === undefined || rawRaft.self_addr === null) {
    throw new ConfigError(
      'raft.self_addr',
      rawRaft === undefined
        ? 'is required: the configuration has no raft: section (set raft.self_addr or PATRONI_RAFT_SELF_ADDR)'
        : 'is required (set raft.self_addr or PATRONI_RAFT_SELF_ADDR)',
    );
  }
  const parsed = parseRaftSection(rawRaft, 'raft');
  if (parsed.selfAddr === null) throw new ConfigError('raft.self_addr', 'is required (it is empty)');
  const { unknownKeys, ...raft } = parsed;

  const ours = config.raftdcs;
  if (ours !== undefined && ours !== null && !isConfigMap(ours)) {
    throw new ConfigError('raftdcs', `expected a mapping, got ${describe(ours)}`);
  }
  const section: ConfigMap = isConfigMap(ours) ? ours : {};
  const httpText = overrides.http ?? section.http ?? null;
  const http =
    httpText === null ? null : parseHttpListen(httpText, overrides.http ? '--http' : 'raftdcs.http');
  const maxBindRetries =
    overrides.maxBindRetries ??
    nonNegativeInt(section.max_bind_retries, DEFAULT_MAX_BIND_RETRIES, 'raftdcs.max_bind_retries');
  const bindRetryTime = positiveSeconds(
    section.bind_retry_time,
    DEFAULT_BIND_RETRY_TIME,
    'raftdcs.bind_retry_time',
  );

  return {
    raft: { ...raft, selfAddr: parsed.selfAddr },
    unknownRaftKeys: unknownKeys,
    files: journalPaths(raft.dataDir, parsed.selfAddr),
    http,
    maxBindRetries,
    bindRetryTime,
  };
}

/** `host:port` (IPv6 as `[::1]:8009`), port 0–65535 (0 = any free port). */
export function parseHttpListen(v: ConfigValue, keyPath: string): HttpListen {
  if (typeof v !== 'string') throw new ConfigError(keyPath, `expected "host:port", got ${describe(v)}`);
  const m = /^(.*):([0-9]{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535 || m[1] === '') {
    throw new ConfigError(
      keyPath,
      `expected "host:port" with a port from 0 to 65535, got ${JSON.stringify(v)}`,
    );
  }
  const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1');
  return { host, port };
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
