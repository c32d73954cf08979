/**
 * `ClusterConfig`: the `config` key (dynamic configuration), read by Patroni 4.x rules
 * (`docs/dcs.md` §7.4): a JSON object gives its data and `modifyVersion` = the key's index;
 * invalid JSON or JSON that is not an object gives `{}` and `modifyVersion` 0.
 *
 * Immutable; pure: no I/O, no network.
 */
import { isJsonObject, type JsonObject, tryParsePyJson } from './json.js';

const EMPTY: JsonObject = Object.freeze(Object.create(null) as JsonObject);

export class ClusterConfig {
  constructor(
    /** KV index of the `config` key */
    readonly version: number,
    readonly data: JsonObject,
    /** the index to pass as `prevIndex` when replacing it; 0 when the stored value is unusable */
    readonly modifyVersion: number,
  ) {}

  static fromNode(version: number, value: string): ClusterConfig {
    const parsed = tryParsePyJson(value);
    return isJsonObject(parsed)
      ? new ClusterConfig(version, parsed, version)
      : new ClusterConfig(version, EMPTY, 0);
  }
}
