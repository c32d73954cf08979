/**
 * The golden vectors' typed-JSON notation (test/fixtures/pysyncobj/index.json → typed_json, described in
 * test/fixtures/README.md) to and from our PyValue model.
 */
import {
  type PyDictKey,
  PyFloat,
  PyFrozenSet,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
} from '../../src/wire/value.js';

export type TypedJson = { [k: string]: unknown };

export function fromTypedJson(t: TypedJson): PyValue {
  const keys = Object.keys(t);
  if ('none' in t) return null;
  if ('bool' in t) return t.bool as boolean;
  if ('int' in t) {
    const b = BigInt(t.int as string);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  if ('float' in t) {
    if (typeof t.f64 === 'string') return new PyFloat(Buffer.from(t.f64, 'hex').readDoubleBE(0));
    return new PyFloat(Number(t.float));
  }
  if ('str' in t) return t.str as string;
  if ('bytes' in t) return Buffer.from(t.bytes as string, 'hex');
  if ('tuple' in t) return new PyTuple((t.tuple as TypedJson[]).map(fromTypedJson));
  if ('list' in t) return (t.list as TypedJson[]).map(fromTypedJson);
  if ('dict' in t) {
    const m = new Map<PyDictKey, PyValue>();
    for (const [k, v] of t.dict as [TypedJson, TypedJson][])
      m.set(fromTypedJson(k) as PyDictKey, fromTypedJson(v));
    return m;
  }
  if ('set' in t) return new PySet((t.set as TypedJson[]).map(fromTypedJson));
  if ('frozenset' in t) return new PyFrozenSet((t.frozenset as TypedJson[]).map(fromTypedJson));
  if ('object' in t) {
    const state = fromTypedJson(t.state as TypedJson);
    if (!(state instanceof Map)) throw new Error('object state must be a dict');
    return new PyObject(t.object as string, state);
  }
  throw new Error(`unknown typed-json form: ${keys.join(',')}`);
}

export function toTypedJson(v: PyValue): TypedJson {
  if (v === null) return { none: null };
  if (typeof v === 'boolean') return { bool: v };
  if (typeof v === 'number' || typeof v === 'bigint') return { int: String(v) };
  if (v instanceof PyFloat) {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v.value);
    return { float: String(v.value), f64: b.toString('hex') };
  }
  if (typeof v === 'string') return { str: v };
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (v instanceof PyTuple) return { tuple: v.items.map(toTypedJson) };
  if (Array.isArray(v)) return { list: v.map(toTypedJson) };
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [toTypedJson(k), toTypedJson(x)]) };
  if (v instanceof PySet) return { set: v.items.map(toTypedJson) };
  if (v instanceof PyFrozenSet) return { frozenset: v.items.map(toTypedJson) };
  return { object: v.className, state: toTypedJson(v.state) };
}
