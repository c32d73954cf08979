/**
 * Loading a Patroni configuration the way Patroni does (patroni/config.py), for the parts raftdcs
 * uses:
 *
 * 1. the `PATRONI_*` environment variables are read first (each one read is removed from the
 *    environment when `consumeEnv` is set, as Patroni pops them; empty ones are ignored);
 * 2. if a configuration path is given and exists: a YAML file, or a directory whose `*.yml` /
 *    `*.yaml` regular files are merged in sorted name order (a key in a later file wins), then the
 *    environment values are patched over it;
 * 3. otherwise the YAML in `PATRONI_CONFIGURATION` (as it is — Patroni does not patch the other
 *    variables over it), or, when that is unset or empty, the environment values alone;
 * 4. the result must be non-empty (`Config is empty.`).
 *
 * A given path that does not exist falls back to step 3, as in Patroni (we add a warning).
 * Deliberate improvements: YAML errors, a non-mapping document and an empty file in a directory
 * are reported as ConfigErrors instead of Python tracebacks; unusable environment values (a
 * timeout with a unit, an unparsable partner list) come back as warnings.
 *
 * This module must never print, exit, or validate a section's meaning (src/dcs/raft-config.ts and
 * ./controller-config.ts do that); it builds the merged tree and says where it came from.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RAFT_TIMEOUT_KNOBS } from '../dcs/raft-config.js';
import { pyFloatRepr, pyScalarRepr, pyStrRepr } from '../py/repr.js';
import { parseIntNoUnit, parseRealNoUnit } from '../py/strtol.js';
import { ConfigError } from '../raft/config.js';
import { compareAddresses } from '../raft/transport/address.js';
import { type ConfigMap, type ConfigValue, isConfigMap, newConfigMap, parseYaml } from './yaml.js';

export type EnvSource = Record<string, string | undefined>;

export const PATRONI_CONFIG_VARIABLE = 'PATRONI_CONFIGURATION';

export type ConfigSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'directory'; readonly path: string; readonly files: readonly string[] }
  | { readonly kind: 'PATRONI_CONFIGURATION' }
  | { readonly kind: 'environment' };

export interface LoadedConfig {
  /** the merged configuration */
  readonly config: ConfigMap;
  readonly source: ConfigSource;
  /** what the PATRONI_* variables contributed (patched over the file again on reload) */
  readonly environment: ConfigMap;
  /** names of the non-empty variables that were used */
  readonly variablesUsed: readonly string[];
  /** things the operator should know (unusable variable values, a missing path); never secrets */
  readonly warnings: readonly string[];
}

export interface LoadOptions {
  /** a YAML file or a directory of them; '' / null / undefined = none */
  readonly path?: string | null;
  /** default: process.env */
  readonly env?: EnvSource;
  /** remove each variable read from `env`, as Patroni does (default false: `env` is not touched) */
  readonly consumeEnv?: boolean;
}

/** The timeout knobs (master-only in Patroni); their variables are `PATRONI_RAFT_<NAME>`. */
const RAFT_TIMEOUT_KEYS: readonly string[] = RAFT_TIMEOUT_KNOBS.map((k) => k.key);

const RAFT_STRING_KEYS = ['data_dir', 'self_addr', 'partner_addrs', 'password', 'bind_addr'] as const;

/** Load the configuration by Patroni's rules (see the module comment). */
export function loadPatroniConfig(options: LoadOptions = {}): LoadedConfig {
  const realEnv = options.env ?? (process.env as EnvSource);
  const env: EnvSource = options.consumeEnv ? realEnv : { ...realEnv };
  const warnings: string[] = [];
  const fromEnv = environmentConfiguration(env, warnings);
  const path = options.path ?? '';

  let config: ConfigMap;
  let source: ConfigSource;
  if (path !== '' && pathExists(path)) {
    const read = readConfigPath(path);
    config = read.config;
    source = read.source;
    patchConfig(config, deepCopy(fromEnv.config));
  } else {
    if (path !== '') {
      warnings.push(
        `config path ${path} does not exist; reading the configuration from ${PATRONI_CONFIG_VARIABLE} or the environment`,
      );
    }
    const text = env[PATRONI_CONFIG_VARIABLE];
    delete env[PATRONI_CONFIG_VARIABLE];
    const parsed = text ? parseYaml(text, PATRONI_CONFIG_VARIABLE) : null;
    if (pyTruthy(parsed)) {
      if (!isConfigMap(parsed)) {
        throw new ConfigError(
          '',
          `${PATRONI_CONFIG_VARIABLE}: the top level must be a mapping, got ${describe(parsed)}`,
        );
      }
      config = parsed;
      source = { kind: 'PATRONI_CONFIGURATION' };
    } else {
      config = deepCopy(fromEnv.config) as ConfigMap;
      source = { kind: 'environment' };
    }
  }
  if (Object.keys(config).length === 0) throw new ConfigError('', 'Config is empty.');
  return { config, source, environment: fromEnv.config, variablesUsed: fromEnv.used, warnings };
}

/**
 * Re-read the configuration from where it came from (Patroni's `reload_local_configuration`, on
 * SIGHUP): a file or directory is read again and the environment values patched over it; a
 * configuration from the environment cannot change (the variables were read at start-up).
 */
export function reloadPatroniConfig(loaded: LoadedConfig): ConfigMap {
  const { source } = loaded;
  if (source.kind !== 'file' && source.kind !== 'directory') return loaded.config;
  const config = readConfigPath(source.path).config;
  patchConfig(config, deepCopy(loaded.environment));
  if (Object.keys(config).length === 0) throw new ConfigError('', 'Config is empty.');
  return config;
}

/** Read a YAML file, or merge a directory's `*.yml` / `*.yaml` files in sorted order. */
export function readConfigPath(path: string): { config: ConfigMap; source: ConfigSource } {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ConfigError('', `config path ${path}: ${(e as Error).message}`);
  }
  let files: string[];
  let source: ConfigSource;
  if (st.isFile()) {
    files = [path];
    source = { kind: 'file', path };
  } else if (st.isDirectory()) {
    let names: string[];
    try {
      names = readdirSync(path);
    } catch (e) {
      throw new ConfigError('', `config path ${path}: ${(e as Error).message}`);
    }
    files = names
      .filter((f) => (f.endsWith('.yml') || f.endsWith('.yaml')) && isRegularFile(join(path, f)))
      .sort(compareAddresses)
      .map((f) => join(path, f));
    source = { kind: 'directory', path, files };
  } else {
    throw new ConfigError('', `config path ${path} is neither directory nor file`);
  }
  const overall = newConfigMap();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError('', `${file}: cannot read: ${(e as Error).message}`);
    }
    const doc = parseYaml(text, file);
    if (doc === null) continue; // an empty file adds nothing (Patroni would crash on it)
    if (!isConfigMap(doc)) {
      throw new ConfigError('', `${file}: the top level must be a mapping, got ${describe(doc)}`);
    }
    patchConfig(overall, doc);
  }
  return { config: overall, source };
}

/**
 * What the PATRONI_* variables say, as a configuration tree (Patroni's
 * `_build_environment_configuration`, restricted to the variables raftdcs uses). Variables are
 * removed from `env` as they are read. Unusable values are skipped with a warning.
 */
export function environmentConfiguration(
  env: EnvSource,
  warnings: string[] = [],
): { config: ConfigMap; used: string[] } {
  const out = newConfigMap();
  const used: string[] = [];
  const pop = (name: string): string | undefined => {
    const v = env[name];
    delete env[name];
    if (v === undefined || v === '') return undefined;
    used.push(name);
    return v;
  };
  const section = (name: string): ConfigMap => {
    const s = out[name];
    if (isConfigMap(s)) return s;
    const fresh = newConfigMap();
    out[name] = fresh;
    return fresh;
  };

  for (const param of ['name', 'namespace', 'scope']) {
    const v = pop(`PATRONI_${param.toUpperCase()}`);
    if (v !== undefined) out[param] = v;
  }

  // the old PATRONI_LOGLEVEL fills in PATRONI_LOG_LEVEL when that one is not set
  const oldLevel = pop('PATRONI_LOGLEVEL');
  if (oldLevel !== undefined && env.PATRONI_LOG_LEVEL === undefined) env.PATRONI_LOG_LEVEL = oldLevel;
  const level = pop('PATRONI_LOG_LEVEL');
  if (level !== undefined) section('log').level = level;

  for (const key of RAFT_STRING_KEYS) {
    const name = `PATRONI_RAFT_${key.toUpperCase()}`;
    const v = pop(name);
    if (v === undefined) continue;
    if (key === 'partner_addrs') {
      const list = parseEnvList(v);
      if (list.ok) {
        if (pyTruthy(list.value)) section('raft').partner_addrs = list.value;
      } else {
        warnings.push(`${name} is not a valid list (${list.error}); ignored`);
      }
    } else {
      section('raft')[key] = v;
    }
  }
  for (const key of RAFT_TIMEOUT_KEYS) {
    const name = `PATRONI_RAFT_${key.toUpperCase()}`;
    const v = pop(name);
    if (v === undefined) continue;
    const real = parseRealNoUnit(v);
    if (real === null) warnings.push(`${name}=${JSON.stringify(v)} is not a number of seconds; ignored`);
    else section('raft')[key] = real;
  }

  // the REST API client settings patronictl reads (`raftdcs ctl`'s REST commands)
  for (const key of ['certfile', 'keyfile', 'keyfile_password', 'cafile']) {
    const v = pop(`PATRONI_RESTAPI_${key.toUpperCase()}`);
    if (v !== undefined) section('restapi')[key] = v;
  }
  const authentication = newConfigMap();
  for (const key of ['username', 'password']) {
    const v = pop(`PATRONI_RESTAPI_${key.toUpperCase()}`);
    if (v !== undefined) authentication[key] = v;
  }
  if (Object.keys(authentication).length > 0) section('restapi').authentication = authentication;
  for (const key of ['cacert', 'certfile', 'keyfile', 'keyfile_password']) {
    const v = pop(`PATRONI_CTL_${key.toUpperCase()}`);
    if (v !== undefined) section('ctl')[key] = v;
  }
  const insecure = pop('PATRONI_CTL_INSECURE');
  if (insecure !== undefined) {
    const b = parseBoolText(insecure);
    if (b === null)
      warnings.push(`PATRONI_CTL_INSECURE=${JSON.stringify(insecure)} is not a boolean; ignored`);
    else section('ctl').insecure = b;
  }

  const group = pop('PATRONI_CITUS_GROUP');
  if (group !== undefined) {
    const n = parseIntNoUnit(group);
    if (n === null) warnings.push(`PATRONI_CITUS_GROUP=${JSON.stringify(group)} is not an integer; ignored`);
    else section('citus').group = n;
  }
  const database = pop('PATRONI_CITUS_DATABASE');
  if (database !== undefined) section('citus').database = database;

  return { config: out, used };
}

/** Patroni's `parse_bool` of a text: on/true/yes/1, off/false/no/0 (any case), else null. */
function parseBoolText(text: string): boolean | null {
  const t = text.toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(t)) return true;
  if (['off', 'false', 'no', '0'].includes(t)) return false;
  return null;
}

/**
 * Patroni's `_parse_list`: a YAML list; text that neither starts with `-` nor contains `[` is
 * wrapped in `[…]` first, so both `'a','b'` and `a,b` give two entries.
 */
export function parseEnvList(value: string): { ok: true; value: ConfigValue } | { ok: false; error: string } {
  const text = value.trim().startsWith('-') || value.includes('[') ? value : `[${value}]`;
  try {
    return { ok: true, value: parseYaml(text, 'list') };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/**
 * Patroni's `patch_config`: merge `patch` into `config` recursively; a null value removes the
 * key; a scalar replaces the old one unless both print the same. Returns whether anything changed.
 */
export function patchConfig(config: ConfigMap, patch: ConfigMap): boolean {
  let changed = false;
  for (const [name, value] of Object.entries(patch)) {
    const has = Object.hasOwn(config, name);
    if (value === null) {
      if (has) {
        if (config[name] !== null) changed = true;
        delete config[name];
      }
    } else if (has) {
      const old = config[name];
      if (isConfigMap(value)) {
        if (isConfigMap(old)) {
          if (patchConfig(old, value)) changed = true;
        } else {
          config[name] = value;
          changed = true;
        }
      } else if (pyStrOf(old) !== pyStrOf(value)) {
        config[name] = value;
        changed = true;
      }
    } else {
      config[name] = value;
      changed = true;
    }
  }
  return changed;
}

/** A deep copy of a configuration value (maps stay prototype-free). */
export function deepCopy<T extends ConfigValue>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => deepCopy(x)) as T;
  if (isConfigMap(v)) {
    const out = newConfigMap();
    for (const [k, x] of Object.entries(v)) out[k] = deepCopy(x);
    return out as T;
  }
  return v;
}

/** Python truthiness of a configuration value. */
export function pyTruthy(v: ConfigValue | undefined): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0 || v === 0n) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isConfigMap(v)) return Object.keys(v).length > 0;
  return true;
}

/** A short description of a value's type for messages: `a list`, `the string "x"`, `the integer 620`. */
export function describe(v: ConfigValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (typeof v === 'bigint') return `the integer ${v}`;
  if (typeof v === 'number') return `the number ${pyFloatRepr(v)}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (Array.isArray(v)) return 'a list';
  return 'a mapping';
}

/** Python's `str()` of a value, as patch_config compares them (`undefined`: a missing key). */
function pyStrOf(v: ConfigValue | undefined): string {
  if (v === undefined) return '\u0000undefined';
  return typeof v === 'string' ? v : pyReprOf(v);
}

/** Python's `repr()` of a configuration value (bigint = int, number = float). */
function pyReprOf(v: ConfigValue): string {
  if (Array.isArray(v)) return `[${v.map(pyReprOf).join(', ')}]`;
  if (isConfigMap(v)) {
    return `{${Object.entries(v)
      .map(([k, x]) => `${pyStrRepr(k)}: ${pyReprOf(x)}`)
      .join(', ')}}`;
  }
  return pyScalarRepr(v);
}

function pathExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
