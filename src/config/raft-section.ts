/**
 * The Patroni `raft:` section as the controller needs it (patroni-dcs.md §6.1, §9, §10): typed,
 * validated, with errors that name the key (`raft.self_addr`, `raft.partner_addrs[1]`, …), the
 * timeout knobs checked in Patroni's order with Patroni's exact messages (§10.2), and Patroni's
 * `data_dir` check (created if missing; "… is not a directory", "… the directory is not
 * writable", "… couldn't create the directory").
 *
 * Interim: a colleague's `src/dcs/raft-config.ts` will own this parsing for the Raft DCS; when it
 * lands the controller switches to it and this module shrinks to what only the CLI needs.
 *
 * Parsing is pure; only validateDataDir touches the file system. Nothing here may print or exit.
 */
import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { SyncObjConfOptions } from '../raft/config.js';
import { ConfigError } from './errors.js';
import { describe, RAFT_TIMEOUT_KEYS, type RaftTimeoutKey } from './patroni-config.js';
import { pyNumberRepr } from './py-numbers.js';
import { type ConfigMap, type ConfigValue, isConfigMap } from './yaml.js';

/** pysyncobj's defaults for the timeout knobs, seconds. */
export const RAFT_TIMEOUT_DEFAULTS: Readonly<Record<RaftTimeoutKey, number>> = {
  append_entries_period: 0.1,
  min_timeout: 0.4,
  max_timeout: 1.4,
  connection_timeout: 3.5,
  connection_retry_time: 5.0,
  leader_fallback_timeout: 30.0,
};

export interface TimeoutValue {
  /** a bigint when the configuration wrote an integer (printed `5`), a number for a float (`5.0`) */
  readonly value: number | bigint;
  /** not set in the configuration: pysyncobj's default */
  readonly isDefault: boolean;
}

export interface RaftSection {
  /** `self_addr`: this node's identity; null = read-only node */
  readonly selfAddr: string | null;
  /** `bind_addr`: where to listen (null: on self_addr) */
  readonly bindAddr: string | null;
  /** `partner_addrs`, duplicates and self_addr removed, order kept */
  readonly partnerAddrs: readonly string[];
  /** `data_dir` ('' = the current directory) */
  readonly dataDir: string;
  readonly password: string | null;
  /** `retry_timeout` or 10, seconds (also the `members` discovery budget) */
  readonly retryTimeout: number;
  /** `ttl` or 30: the DNS cache time, seconds */
  readonly dnsCacheTime: number;
  /** `loop_wait` or 10: the DNS failure cache time, seconds */
  readonly dnsFailCacheTime: number;
  readonly timeouts: Readonly<Record<RaftTimeoutKey, TimeoutValue>>;
  /** Patroni's `Applying custom pysyncobj timeouts: …` line, or null when none is set */
  readonly customTimeoutsMessage: string | null;
}

const KNOWN_KEYS = new Set<string>([
  'self_addr',
  'bind_addr',
  'partner_addrs',
  'data_dir',
  'password',
  'retry_timeout',
  'ttl',
  'loop_wait',
  ...RAFT_TIMEOUT_KEYS,
]);

/**
 * Parse and check the `raft:` section. `prefix` names the section in errors. Unknown keys are
 * returned in `unknownKeys` (Patroni ignores them; the caller may warn).
 */
export function parseRaftSection(
  raw: ConfigValue | undefined,
  prefix = 'raft',
): RaftSection & { readonly unknownKeys: readonly string[] } {
  if (raw === undefined || raw === null) throw new ConfigError(prefix, 'the section is missing');
  if (!isConfigMap(raw)) throw new ConfigError(prefix, `expected a mapping, got ${describe(raw)}`);
  const key = (k: string) => `${prefix}.${k}`;
  const selfAddr = optionalAddress(raw, 'self_addr', key('self_addr'));
  const bindAddr = optionalAddress(raw, 'bind_addr', key('bind_addr'));
  const partnerAddrs = partnerList(raw.partner_addrs, key('partner_addrs')).filter((p) => p !== selfAddr);
  const dataDir = optionalString(raw, 'data_dir', key('data_dir')) ?? '';
  const password = optionalString(raw, 'password', key('password'), 'quote it in the YAML');
  const retryTimeout = Math.trunc(orDefault(raw.retry_timeout, 10, key('retry_timeout')));
  if (!(retryTimeout > 0))
    throw new ConfigError(key('retry_timeout'), `must be >= 1 second, got ${retryTimeout}`);
  const dnsCacheTime = orDefault(raw.ttl, 30, key('ttl'));
  const dnsFailCacheTime = orDefault(raw.loop_wait, 10, key('loop_wait'));
  const { timeouts, message } = parseTimeouts(raw, prefix);
  return {
    selfAddr,
    bindAddr,
    partnerAddrs: [...new Set(partnerAddrs)],
    dataDir,
    password,
    retryTimeout,
    dnsCacheTime,
    dnsFailCacheTime,
    timeouts,
    customTimeoutsMessage: message,
    unknownKeys: Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k)),
  };
}

/**
 * The timeout knobs (§10.2): a null value is unset; a non-number is rejected naming the option;
 * then Patroni's four ordering rules with its exact messages; then what pysyncobj itself needs
 * (finite values, `append_entries_period` > 0, `connection_retry_time` >= 0).
 */
export function parseTimeouts(
  raw: ConfigMap,
  prefix = 'raft',
): { timeouts: Record<RaftTimeoutKey, TimeoutValue>; message: string | null } {
  const timeouts = {} as Record<RaftTimeoutKey, TimeoutValue>;
  const custom: string[] = [];
  for (const k of RAFT_TIMEOUT_KEYS) {
    const v = raw[k];
    if (v === undefined || v === null) {
      timeouts[k] = { value: RAFT_TIMEOUT_DEFAULTS[k], isDefault: true };
      continue;
    }
    if (typeof v !== 'number' && typeof v !== 'bigint') {
      throw new ConfigError(`${prefix}.${k}`, `${k} must be a number of seconds, got ${describe(v)}`);
    }
    if (typeof v === 'number' && !Number.isFinite(v)) {
      throw new ConfigError(
        `${prefix}.${k}`,
        `${k} must be a finite number of seconds, got ${pyNumberRepr(v)}`,
      );
    }
    timeouts[k] = { value: v, isDefault: false };
    custom.push(`${k}=${pyNumberRepr(v)}`);
  }
  if (custom.length === 0) return { timeouts, message: null };

  const num = (k: RaftTimeoutKey) => Number(timeouts[k].value);
  const show = (k: RaftTimeoutKey) => {
    const t = timeouts[k];
    return `${k} (${pyNumberRepr(t.value)}${t.isDefault ? ' (default)' : ''})`;
  };
  const fail = (k: RaftTimeoutKey, text: string): never => {
    throw new ConfigError(`${prefix}.${k}`, text);
  };
  // Patroni's order; double arithmetic as in Python (0.1 * 3 = 0.30000000000000004)
  if (!(num('min_timeout') > num('append_entries_period') * 3)) {
    fail('min_timeout', `${show('min_timeout')} must be > 3 * ${show('append_entries_period')}`);
  }
  if (!(num('max_timeout') > num('min_timeout'))) {
    fail('max_timeout', `${show('max_timeout')} must be > ${show('min_timeout')}`);
  }
  if (!(num('connection_timeout') >= num('max_timeout'))) {
    fail('connection_timeout', `${show('connection_timeout')} must be >= ${show('max_timeout')}`);
  }
  if (!(num('leader_fallback_timeout') > num('append_entries_period'))) {
    fail(
      'leader_fallback_timeout',
      `${show('leader_fallback_timeout')} must be > ${show('append_entries_period')}`,
    );
  }
  if (!(num('append_entries_period') > 0)) {
    fail('append_entries_period', `${show('append_entries_period')} must be > 0`);
  }
  if (!(num('connection_retry_time') >= 0)) {
    fail('connection_retry_time', `${show('connection_retry_time')} must be >= 0`);
  }
  return { timeouts, message: `Applying custom pysyncobj timeouts: ${custom.join(', ')}` };
}

/** The SyncObjConf timeout options for a parsed section (seconds, pysyncobj names). */
export function syncObjTimeouts(section: RaftSection): SyncObjConfOptions {
  const t = section.timeouts;
  const n = (k: RaftTimeoutKey) => Number(t[k].value);
  return {
    appendEntriesPeriod: n('append_entries_period'),
    raftMinTimeout: n('min_timeout'),
    raftMaxTimeout: n('max_timeout'),
    connectionTimeout: n('connection_timeout'),
    connectionRetryTime: n('connection_retry_time'),
    leaderFallbackTimeout: n('leader_fallback_timeout'),
  };
}

/**
 * Patroni's `validate_directory`: create `dir` when missing; else it must be a directory we can
 * create a file in. Errors carry Patroni's texts (`<dir> is not a directory`, …) under `key`.
 */
export function validateDataDir(dir: string, key = 'raft.data_dir'): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ConfigError(key, `${dir} couldn't create the directory (${(e as Error).message})`);
      }
    }
    return;
  }
  if (!isDir) throw new ConfigError(key, `${dir} is not a directory`);
  const probe = join(dir, `.raftdcs-write-test-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch {
    throw new ConfigError(key, `${dir} the directory is not writable`);
  }
}

// ------------------------------------------------------------------------------------------------

const ADDRESS_RE = /^(.+):([0-9]{1,5})$/;

/** A `host:port` string with a port in 1..65535, or the reason it is not. */
export function checkAddress(v: ConfigValue | undefined): string | null {
  if (typeof v !== 'string') {
    const hint =
      typeof v === 'bigint'
        ? ' (YAML 1.1 reads an unquoted 10:20 as the base-60 integer 620: quote the address)'
        : '';
    return `expected a "host:port" string, got ${describe(v)}${hint}`;
  }
  const m = ADDRESS_RE.exec(v);
  const port = m ? Number(m[2]) : 0;
  if (!m || !(port >= 1 && port <= 65535)) {
    return `expected "host:port" with a port from 1 to 65535, got ${JSON.stringify(v)}`;
  }
  return null;
}

function optionalAddress(raw: ConfigMap, k: string, keyPath: string): string | null {
  const v = raw[k];
  if (v === undefined || v === null || v === '') return null;
  const problem = checkAddress(v);
  if (problem) throw new ConfigError(keyPath, problem);
  return v as string;
}

function optionalString(raw: ConfigMap, k: string, keyPath: string, hint?: string): string | null {
  const v = raw[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') {
    throw new ConfigError(keyPath, `expected a string, got ${describe(v)}${hint ? ` (${hint})` : ''}`);
  }
  return v;
}

function partnerList(v: ConfigValue | undefined, keyPath: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    throw new ConfigError(keyPath, `expected a list of "host:port" strings, got ${describe(v)}`);
  }
  return v.map((item, i) => {
    const problem = checkAddress(item);
    if (problem) throw new ConfigError(`${keyPath}[${i}]`, problem);
    return item as string;
  });
}

/** Patroni's `x or default` for a number of seconds (0 / null / absent → default). */
function orDefault(v: ConfigValue | undefined, fallback: number, keyPath: string): number {
  if (v === undefined || v === null || v === 0 || v === 0n || v === false || v === '') return fallback;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  if (typeof v === 'string' && /^\s*[0-9]+\s*$/.test(v)) return Number(v);
  throw new ConfigError(keyPath, `expected a positive number of seconds, got ${describe(v)}`);
}
