/**
 * YAML as Patroni reads it into a plain configuration tree. The loading is `src/py/yaml.ts`
 * (PyYAML's `safe_load`: YAML 1.1, `yes`/`on` are booleans, `0777` is octal, `10:20` is 620, `1e3`
 * is a string); this module only maps its result onto the configuration model, which keeps Python's
 * int/float distinction: integers are `bigint`, floats `number`. Mapping keys become strings as
 * Python's `str()` prints them (`True`, `None`, `1.0`, `1.5`).
 *
 * Known difference from Patroni: a configuration map is a JS object, so integer-like keys (`2`)
 * are listed before the others; Python keeps document order.
 *
 * This module must never read files or the environment; it parses text it is given.
 */

import { pyScalarStr } from '../py/repr.js';
import { PyYamlError, type PyYamlValue, pyYamlSafeLoad } from '../py/yaml.js';
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
  let value: PyYamlValue;
  try {
    value = pyYamlSafeLoad(text);
  } catch (e) {
    if (e instanceof PyYamlError) throw new ConfigError('', `${where}: invalid YAML: ${e.message}`);
    throw e;
  }
  return toConfigValue(value);
}

function toConfigValue(v: PyYamlValue): ConfigValue {
  if (Array.isArray(v)) return v.map(toConfigValue);
  if (v instanceof Map) {
    const out = newConfigMap();
    for (const [k, x] of v) out[pyScalarStr(k)] = toConfigValue(x);
    return out;
  }
  return v;
}
