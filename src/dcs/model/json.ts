/**
 * JSON the way Patroni's Python reads and writes it.
 *
 * - `parsePyJson` accepts exactly what Python's `json.loads` accepts (NaN, Infinity, -Infinity,
 *   duplicate keys with the last value winning at the first key's position, lone surrogates, the
 *   4300-digit limit on integers, no BOM, no control characters in strings) and never loses an
 *   integer: integers within ±(2^53 − 1) become `number`, larger ones `bigint`.
 * - `pyJsonDumps` prints Python's `json.dumps(value, separators=(',', ':'))` bytes: ASCII only with
 *   lowercase `\uXXXX` escapes, key order as given, floats in Python `repr` form.
 * - `pyRepr` / `pyStr` give Python's `repr()` / `str()` of such values; `deepCompare` is Patroni's
 *   `deep_compare` built on them.
 *
 * Why our own parser: `JSON.parse` turns 2^64 − 1 into 18446744073709552000, and on Node 20 a
 * reviver cannot see a number's source text (the `context.source` proposal ships in later V8s).
 * Libraries evaluated: `json-bigint` (1.0.0, unmaintained since 2020, no NaN/Infinity, its own
 * prototype handling), `lossless-json` (4.x, maintained, custom number parser with the source text,
 * but strict JSON: rejects NaN/Infinity and throws on duplicate keys, both of which Python accepts —
 * and "is this valid JSON?" decides how Patroni reads member, failover and sync values). Matching
 * Python's acceptance exactly is the point, so a ~200-line parser of our own is the smaller risk.
 *
 * Value model (default mode): null, boolean, number (safe integers and every float), bigint
 * (integers beyond the safe range), string, frozen arrays, frozen null-prototype objects (so a key
 * named `__proto__` is an ordinary key). A JS `number` that is a safe integer (and not −0) stands
 * for a Python int, any other `number` for a Python float; `JsonFloat` marks a Python float whose
 * value happens to be integral (`1.0`). `{ exact: true }` keeps every float as `JsonFloat` and every
 * object as a `Map` (JS objects list integer-like keys such as "1" first), so that
 * `pyJsonDumps(parsePyJson(t, { exact: true }))` is byte-identical to Python's
 * `json.dumps(json.loads(t), separators=(',', ':'))`.
 *
 * This module is pure: no I/O, no network, no global state.
 *
 * The parts: the value model and Python's view of it (json-value.ts), the parser (json-parse.ts),
 * `json.dumps`/`repr`/`str` (json-dump.ts), `deep_compare` (json-compare.ts). This file gathers them.
 */

export { PY_INT_MAX_STR_DIGITS } from '../../py/numbers.js';
export { pyFloatRepr, pyStrRepr } from '../../py/repr.js';
export { deepCompare } from './json-compare.js';
export { pyJsonDictKey, pyJsonDumps, pyJsonDumpsWith, pyRepr, pyStr } from './json-dump.js';
export {
  JsonParseError,
  JsonParseErrorCode,
  type ParseOptions,
  parsePyJson,
  parsePyJsonReference,
  tryParsePyJson,
} from './json-parse.js';
export {
  deepFreeze,
  type ExactJsonValue,
  intFromBigInt,
  isJsonArray,
  isJsonObject,
  isPyDict,
  type JsonArray,
  JsonFloat,
  type JsonObject,
  type JsonValue,
  type PyJson,
  type PyJsonDict,
  type PyJsonObject,
  pyDictEntries,
  pyTruthy,
} from './json-value.js';
