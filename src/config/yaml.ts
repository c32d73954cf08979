/**
 * YAML as Patroni reads it (PyYAML `safe_load`, YAML 1.1: `yes`/`on` are booleans, `0777` is octal,
 * an unquoted `10:20` is the base-60 integer 620) into a plain configuration tree that keeps
 * Python's int/float distinction: integers are `bigint`, floats `number`.
 *
 * Known difference from PyYAML: `1e3` (no dot) is the float 1000 here and the string '1e3' there.
 * Timestamps become ISO strings (PyYAML: datetime objects); nothing in our scope uses them.
 *
 * This module must never read files or the environment; it parses text it is given.
 */
import { parseDocument, Scalar, type ScalarTag, type Tags } from 'yaml';
import { ConfigError } from '../raft/config.js';

export type ConfigScalar = null | boolean | number | bigint | string;
export type ConfigValue = ConfigScalar | ConfigValue[] | ConfigMap;
export interface ConfigMap {
  [key: string]: ConfigValue;
}

export function isConfigMap(v: ConfigValue | undefined): v is ConfigMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A fresh map without a prototype (keys such as `__proto__` or `constructor` are plain keys). */
export function newConfigMap(): ConfigMap {
  return Object.create(null) as ConfigMap;
}

/**
 * Parse one YAML document. `where` names the source in errors (a file name, or
 * `PATRONI_CONFIGURATION`). An empty document gives null, as PyYAML does.
 */
export function parseYaml(text: string, where: string): ConfigValue {
  const doc = parseDocument(text, {
    version: '1.1',
    intAsBigInt: true,
    uniqueKeys: false,
    prettyErrors: true,
    customTags: pyyamlBooleans,
  });
  if (doc.errors.length > 0) {
    const first = doc.errors[0] as { message: string };
    throw new ConfigError('', `${where}: invalid YAML: ${first.message.trim()}`);
  }
  return toConfigValue(doc.toJS({ maxAliasCount: 1000 }) as unknown, where);
}

const BOOL_TAG = 'tag:yaml.org,2002:bool';

/**
 * PyYAML's booleans: yes/no, true/false, on/off in three casings. YAML 1.1 (and the yaml package's
 * 1.1 schema) also reads `y` and `n` as booleans; PyYAML does not, so neither do we.
 */
function pyyamlBooleans(tags: Tags): Tags {
  const pyBool = (value: boolean, test: RegExp): ScalarTag => ({
    identify: (v: unknown) => v === value,
    default: true,
    tag: BOOL_TAG,
    test,
    resolve: () => new Scalar(value),
  });
  return [
    ...tags.filter((t) => (t as { tag?: string }).tag !== BOOL_TAG),
    pyBool(true, /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/),
    pyBool(false, /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/),
  ];
}

function toConfigValue(v: unknown, where: string): ConfigValue {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'boolean':
    case 'number':
    case 'bigint':
    case 'string':
      return v;
    default:
      break;
  }
  if (Array.isArray(v)) return v.map((x) => toConfigValue(x, where));
  if (v instanceof Set) return [...v].map((x) => toConfigValue(x, where));
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
  if (v instanceof Map) {
    const out = newConfigMap();
    for (const [k, x] of v) out[keyText(k)] = toConfigValue(x, where);
    return out;
  }
  if (typeof v === 'object') {
    const out = newConfigMap();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = toConfigValue(x, where);
    return out;
  }
  throw new ConfigError('', `${where}: unsupported YAML value ${String(v)}`);
}

function keyText(k: unknown): string {
  if (k === null || k === undefined) return 'None';
  if (k === true) return 'True';
  if (k === false) return 'False';
  return String(k);
}
