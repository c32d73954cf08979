/**
 * The value model of Patroni's JSON (see json.ts): `JsonFloat`, the parsed value types, what
 * `pyJsonDumps`/`pyRepr`/`deepCompare` accept (`PyJson`), and Python's view of such values:
 * `isinstance(v, dict)`, truthiness, int-vs-float.
 *
 * It must never do I/O or hold global state, and never decide a value's Python type differently
 * from the parser (json-parse.ts) and the dumper (json-dump.ts), which both rely on it.
 */
import { pyFloatRepr } from '../../py/repr.js';

/** A Python float whose int/float distinction must survive (`1.0` is not `1`). */
export class JsonFloat {
  constructor(readonly value: number) {}
  toString(): string {
    return pyFloatRepr(this.value);
  }
}

/** A parsed JSON value (default mode). Objects are null-prototype and frozen; arrays are frozen. */
export type JsonValue = null | boolean | number | bigint | string | JsonArray | JsonObject;
export type JsonArray = readonly JsonValue[];
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/** A parsed JSON value in exact mode: floats are `JsonFloat`, objects are `Map`s (insertion order). */
export type ExactJsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonFloat
  | ExactJsonValue[]
  | Map<string, ExactJsonValue>;

/** Anything `pyJsonDumps`, `pyRepr` and `deepCompare` accept. `undefined` object members are skipped. */
export type PyJson =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonFloat
  | readonly PyJson[]
  | ReadonlyMap<string, PyJson>
  | PyJsonObject;
export interface PyJsonObject {
  readonly [key: string]: PyJson | undefined;
}
/** A Python dict: a `Map` or a plain object. */
export type PyJsonDict = ReadonlyMap<string, PyJson> | PyJsonObject;

/** A Python int as our value model has it: `number` when safe, else `bigint`. */
export function intFromBigInt(b: bigint): number | bigint {
  return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
}

// ---------------------------------------------------------------------------------------------
// Type guards

/** Python `isinstance(v, dict)` for our value model. */
export function isPyDict(v: unknown): v is PyJsonDict {
  if (v instanceof Map) return true;
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof JsonFloat) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

/** A parsed (default-mode) JSON object. */
export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A parsed (default-mode) JSON array. */
export function isJsonArray(v: JsonValue | undefined): v is JsonArray {
  return Array.isArray(v);
}

/** The entries of a dict, skipping `undefined` members of plain objects. */
export function pyDictEntries(d: PyJsonDict): [string, PyJson][] {
  if (d instanceof Map) return [...(d as ReadonlyMap<string, PyJson>)];
  const out: [string, PyJson][] = [];
  for (const k of Object.keys(d)) {
    const v = (d as PyJsonObject)[k];
    if (v !== undefined) out.push([k, v]);
  }
  return out;
}

/** `d[key]` for either form of dict (`undefined` when absent). */
export function pyDictGet(d: PyJsonDict, key: string): PyJson | undefined {
  if (d instanceof Map) return (d as ReadonlyMap<string, PyJson>).get(key);
  return Object.hasOwn(d, key) ? (d as PyJsonObject)[key] : undefined;
}

/** Python truthiness of a JSON value. */
export function pyTruthy(v: PyJson | undefined): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0 || v === 0n) return false;
  if (typeof v === 'number') return true; // NaN is truthy in Python; 0 and −0 were caught above
  if (v instanceof JsonFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (isPyDict(v)) return pyDictEntries(v).length > 0;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** True when a JS number stands for a Python int (a safe integer that is not −0). */
export function numberIsPyInt(x: number): boolean {
  return Number.isSafeInteger(x) && !Object.is(x, -0);
}

/** Freeze a JSON value deeply (arrays and plain objects). Returns the same value. */
export function deepFreeze<T extends JsonValue>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x as JsonValue);
    Object.freeze(v);
  }
  return v;
}
