/**
 * How the model turns loosely typed JSON fields into the typed fields consumers read. Patroni keeps
 * whatever JSON type it finds (a failover `leader` of `5` stays the int 5); we expose `string | null`
 * and keep Python's truthiness, which is what Patroni's decisions test: a string stays as it is
 * (also `""`), null/absent and other falsy values (`0`, `false`, `[]`, `{}`) become null, and
 * other truthy values become their Python `str()` form (`5` → `"5"`).
 *
 * Pure: no I/O, no network.
 */
import { type JsonValue, pyStr, pyTruthy } from './json.js';

export function textField(v: JsonValue | undefined): string | null {
  if (typeof v === 'string') return v;
  if (v === undefined || !pyTruthy(v)) return null;
  return pyStr(v);
}
