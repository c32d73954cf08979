/**
 * Where `raftdcs ctl` finds the cluster: patronictl's configuration rules (`patroni/ctl.py`
 * `load_config` + `get_dcs`), for the Raft DCS.
 *
 * - the file: `-c/--config-file`, else `PATRONICTL_CONFIG_FILE`, else
 *   `$XDG_CONFIG_HOME/patroni/patronictl.yaml` (`~/.config/patroni/patronictl.yaml`, click's
 *   `get_app_dir('patroni')`); a file given explicitly must exist and be readable, the default one
 *   may be missing; then Patroni's loader (file or directory of YAML files, `PATRONI_*` variables
 *   patched over it, or `PATRONI_CONFIGURATION` / the variables alone);
 * - the cluster: the positional cluster name, else `scope`; `namespace`; `citus` (with `--group N`
 *   the group — and MPP itself — is forced, as patronictl's `{group: N}` injection does; without
 *   `--group` a configured `citus` section is read as the coordinator, i.e. every group);
 * - the Raft node: `raft.partner_addrs` plus `raft.self_addr` (patronictl adds it to the partners
 *   and runs a read-only node), `raft.password`, the timeout knobs; `ttl`, `loop_wait`,
 *   `retry_timeout` from the top level. `raft.data_dir` is dropped: a read-only node keeps no files
 *   (Patroni would still create the directory).
 *
 * Every rejected value is a `CtlError` naming the key. This module reads files and the
 * environment it is given; it never opens a socket.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, type EnvSource, loadPatroniConfig } from '../../config/patroni-config.js';
import { type ConfigMap, type ConfigValue, isConfigMap } from '../../config/yaml.js';
import { RaftConfigError, type RaftDcsConfig, raftNodeSettings } from '../../dcs/raft-config.js';
import { ConfigError } from '../../raft/config.js';

/** A failure reported to the operator as `Error: <message>` with exit code 1 (click's ClickException). */
export class CtlError extends Error {
  override readonly name = 'CtlError';
  constructor(
    message: string,
    /** the configuration key at fault, when there is one */
    readonly key: string | null = null,
  ) {
    super(message);
  }
}

/** click's `get_app_dir('patroni')` + `patronictl.yaml` on Linux. */
export function defaultConfigPath(env: EnvSource = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'patroni', 'patronictl.yaml');
}

export interface LoadedCtlConfig {
  readonly config: ConfigMap;
  /** the file or directory read, or null when it was the default path and missing */
  readonly path: string | null;
  readonly warnings: readonly string[];
}

/** patronictl's `load_config`: the configuration tree (possibly empty). */
export function loadCtlConfig(explicitPath: string | null, env: EnvSource = process.env): LoadedCtlConfig {
  const fromEnv = env.PATRONICTL_CONFIG_FILE || null;
  const path = explicitPath ?? fromEnv ?? defaultConfigPath(env);
  const isDefault = explicitPath === null && fromEnv === null;
  let readable = existsSync(path);
  if (readable) {
    try {
      accessSync(path, constants.R_OK);
    } catch {
      readable = false;
    }
  }
  if (!readable && !isDefault) {
    throw new CtlError(
      `Provided config file ${path} not existing or no read rights. Check the -c/--config-file parameter`,
    );
  }
  try {
    const loaded = loadPatroniConfig({ path: readable ? path : null, env });
    return { config: loaded.config, path: readable ? path : null, warnings: loaded.warnings };
  } catch (e) {
    if (e instanceof ConfigError && e.message === 'Config is empty.') {
      return { config: Object.create(null) as ConfigMap, path: readable ? path : null, warnings: [] };
    }
    if (e instanceof ConfigError) throw new CtlError(e.message, e.key || null);
    throw e;
  }
}

/** A truthy `citus` section is configured. */
export function citusConfigured(config: ConfigMap): boolean {
  const c = config.citus;
  return isConfigMap(c) && Object.keys(c).length > 0;
}

/** The configured `citus.group` as a number, or null (patronictl's default `--group` of some commands). */
export function configuredGroup(config: ConfigMap): number | null {
  const c = config.citus;
  if (!isConfigMap(c)) return null;
  const g = c.group;
  if (typeof g === 'bigint') return Number(g);
  if (typeof g === 'number' && Number.isInteger(g)) return g;
  return null;
}

export interface ClusterTarget {
  readonly scope: string;
  /** `--group N`, or null */
  readonly group: number | null;
  /** read every MPP group (a citus section without `--group`) */
  readonly coordinatorView: boolean;
}

const TOP_LEVEL_KEYS = new Set(['name', 'scope', 'namespace', 'ttl', 'loop_wait', 'retry_timeout', 'citus']);

function optionalString(config: ConfigMap, key: string): string | null {
  const v = config[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new CtlError(`${key}: expected a string, got ${describe(v)}`, key);
  return v;
}

/** The cluster name: the argument, else `scope`. */
export function resolveScope(
  config: ConfigMap,
  argument: string | null | undefined,
  where: string | null,
): string {
  if (argument) return argument;
  const scope = optionalString(config, 'scope');
  if (scope) return scope;
  throw new CtlError(
    `no cluster name: give it on the command line or set scope in ${where ?? 'the configuration (-c/--config-file)'}`,
    'scope',
  );
}

/**
 * The Raft DCS configuration for a read-only node on this cluster (patronictl's `get_dcs`).
 * @throws CtlError naming the key when the raft section is missing or unusable
 */
export function dcsConfig(config: ConfigMap, target: ClusterTarget): RaftDcsConfig {
  const raft = config.raft;
  if (raft === undefined || raft === null) {
    throw new CtlError(
      'raft: the configuration has no raft section; raftdcs ctl needs raft.partner_addrs (or raft.self_addr) to find the cluster',
      'raft',
    );
  }
  if (!isConfigMap(raft)) throw new CtlError(`raft: expected a mapping, got ${describe(raft)}`, 'raft');
  const section: Record<string, ConfigValue> = { ...raft };
  delete section.data_dir;
  const out: Record<string, unknown> = { ...section };
  for (const key of ['namespace', 'ttl', 'loop_wait', 'retry_timeout'] as const) {
    if (config[key] !== undefined && config[key] !== null) out[key] = config[key];
  }
  out.scope = target.scope;
  out.name = optionalString(config, 'name') || target.scope;
  out.patronictl = true;
  const citus = isConfigMap(config.citus) ? config.citus : null;
  const database = citus && typeof citus.database === 'string' ? citus.database : 'postgres';
  if (target.group !== null) out.citus = { group: BigInt(target.group), database };
  else if (target.coordinatorView) out.citus = { group: 0n, database };
  const dcs = out as unknown as RaftDcsConfig;
  try {
    const settings = raftNodeSettings(dcs);
    if (settings.partnerAddrs.length === 0) {
      throw new CtlError(
        'raft.partner_addrs: no Raft node to ask: set raft.partner_addrs (or raft.self_addr) to the addresses of the cluster',
        'raft.partner_addrs',
      );
    }
  } catch (e) {
    if (e instanceof RaftConfigError) {
      const key = TOP_LEVEL_KEYS.has(e.key) || e.key.startsWith('raft.') ? e.key : `raft.${e.key}`;
      throw new CtlError(e.message.startsWith(key) ? e.message : `${key}: ${e.message}`, key);
    }
    throw e;
  }
  return dcs;
}

/** The partner list the read-only node will ask (for messages). */
export function partnerList(dcs: RaftDcsConfig): readonly string[] {
  return raftNodeSettings(dcs).partnerAddrs;
}
