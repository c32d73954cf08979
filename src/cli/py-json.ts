/**
 * Python values received from a node (utility replies) as JSON for `--json` output and the HTTP
 * endpoint: None → null, ints → numbers (strings beyond 2^53), floats → numbers (non-finite ones
 * as strings), tuples/lists/sets → arrays, dicts → objects (keys as Python's str()), a TCPNode →
 * its address, bytes → Python's repr.
 *
 * Pure; must never throw on any PyValue.
 */
import {
  PyFloat,
  PyFrozenSet,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
  pyRepr,
  pyStr,
} from '../wire/value.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function pyToJson(v: PyValue): Json {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : String(v);
  }
  if (v instanceof PyFloat) return Number.isFinite(v.value) ? v.value : pyRepr(v);
  if (v instanceof Uint8Array) return pyRepr(v);
  if (v instanceof PyTuple) return v.items.map(pyToJson);
  if (Array.isArray(v)) return v.map(pyToJson);
  if (v instanceof PySet || v instanceof PyFrozenSet) return v.items.map(pyToJson);
  if (v instanceof Map) {
    const out: { [key: string]: Json } = {};
    for (const [k, x] of v) out[pyStr(k)] = pyToJson(x);
    return out;
  }
  if (v instanceof PyObject) return pyStr(v);
  return pyRepr(v);
}
