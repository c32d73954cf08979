/**
 * The Python value model spoken on pysyncobj's wire.
 *
 * Python distinctions that matter on the wire are kept: int vs float, tuple vs list, str vs bytes,
 * set vs frozenset, None, bool, integers beyond 2^53. A value decoded from a Python pickle and
 * encoded again yields the same Python value.
 *
 *   Python        TypeScript
 *   None          null
 *   bool          boolean
 *   int           number (safe integer) | bigint (outside ±(2^53 − 1))
 *   float         PyFloat
 *   str           string
 *   bytes         Uint8Array (a Buffer when decoded)
 *   tuple         PyTuple
 *   list          PyValue[]
 *   dict          PyDict (a Map, insertion order kept; keys: str, int, bool, None)
 *   set           PySet
 *   frozenset     PyFrozenSet
 *   TCPNode/Node  PyObject (class name + state dict)
 *
 * This module holds data types and pure helpers only; it must never do I/O.
 */
import { pyBytesRepr, pyFloatRepr, pyStrRepr } from '../py/repr.js';

/** A Python float. Wrapped so that `1.0` (float) and `1` (int) stay distinct. */
export class PyFloat {
  constructor(readonly value: number) {}
  toString(): string {
    return pyFloatRepr(this.value);
  }
}

/** A Python tuple (immutable sequence), distinct from a list. */
export class PyTuple {
  readonly items: readonly PyValue[];
  constructor(items: readonly PyValue[]) {
    this.items = items;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): PyValue | undefined {
    return this.items[i];
  }
}

/** A Python set. Item order is the order the items were decoded or inserted in (Python's is hash order). */
export class PySet {
  constructor(readonly items: PyValue[]) {}
}

/** A Python frozenset. */
export class PyFrozenSet {
  constructor(readonly items: readonly PyValue[]) {}
}

/** Dict keys we support: the hashable primitives Python programs put in pysyncobj/Patroni dicts. */
export type PyDictKey = string | number | bigint | boolean | null;

/** A Python dict (insertion ordered). */
export type PyDict = Map<PyDictKey, PyValue>;

/** An instance of one of the few whitelisted Python classes (pysyncobj.node.TCPNode / Node). */
export class PyObject {
  constructor(
    /** fully qualified class name, e.g. `pysyncobj.node.TCPNode` */
    readonly className: string,
    /** the instance `__dict__` as restored by BUILD */
    readonly state: PyDict,
  ) {}
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | Uint8Array
  | PyTuple
  | PyValue[]
  | PyDict
  | PySet
  | PyFrozenSet
  | PyObject;

export const TCP_NODE_CLASS = 'pysyncobj.node.TCPNode';
export const NODE_CLASS = 'pysyncobj.node.Node';

// ----------------------------------------------------------------------------------------------
// constructors

export function tuple(...items: PyValue[]): PyTuple {
  return new PyTuple(items);
}

export function float(value: number): PyFloat {
  return new PyFloat(value);
}

/** Build a dict from [key, value] pairs or a plain object (keys in property order). */
export function dict(entries: Iterable<readonly [PyDictKey, PyValue]> | Record<string, PyValue>): PyDict {
  if (Symbol.iterator in entries) return new Map(entries as Iterable<[PyDictKey, PyValue]>);
  return new Map(Object.entries(entries));
}

/** An int: a number when it is a safe integer, else a bigint (normalised form). */
export function int(value: number | bigint): number | bigint {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }
  if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
  return value;
}

/** A `pysyncobj.node.TCPNode` for address `host:port`, with the four state keys Python needs. */
export function tcpNode(address: string): PyObject {
  const cut = address.lastIndexOf(':');
  const host = cut >= 0 ? address.slice(0, cut) : address;
  const portText = cut >= 0 ? address.slice(cut + 1) : '';
  const port = /^[0-9]+$/.test(portText) ? Number(portText) : 0;
  return new PyObject(
    TCP_NODE_CLASS,
    new Map<PyDictKey, PyValue>([
      ['_id', address],
      ['_TCPNode__address', address],
      ['_TCPNode__host', host],
      ['_TCPNode__port', port],
    ]),
  );
}

// ----------------------------------------------------------------------------------------------
// type guards

export function isInt(v: PyValue | undefined): v is number | bigint {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
}

export function isDict(v: PyValue | undefined): v is PyDict {
  return v instanceof Map;
}

export function isTuple(v: PyValue | undefined): v is PyTuple {
  return v instanceof PyTuple;
}

/** The node id (`_id`) of a TCPNode / Node object, or undefined. */
export function nodeId(v: PyValue | undefined): string | undefined {
  if (!(v instanceof PyObject)) return undefined;
  const id = v.state.get('_id');
  return typeof id === 'string' ? id : undefined;
}

/** Python truthiness (`bool(v)`). */
export function truthy(v: PyValue | undefined): boolean {
  if (v === null || v === undefined || v === false) return false;
  if (v === true) return true;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'bigint') return v !== 0n;
  if (typeof v === 'string') return v.length > 0;
  if (v instanceof PyFloat) return v.value !== 0;
  if (v instanceof Uint8Array) return v.length > 0;
  if (v instanceof PyTuple) return v.items.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (v instanceof PySet || v instanceof PyFrozenSet) return v.items.length > 0;
  return true;
}

// ----------------------------------------------------------------------------------------------
// equality (Python `==` restricted to the model; sets compare as sets)

export function pyEquals(a: PyValue | undefined, b: PyValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  // numbers: Python compares int/float/bool by value
  const na = numericValue(a);
  const nb = numericValue(b);
  if (na !== undefined && nb !== undefined) {
    if (typeof na === 'bigint' || typeof nb === 'bigint') {
      if (typeof na === 'number' && !Number.isInteger(na)) return false;
      if (typeof nb === 'number' && !Number.isInteger(nb)) return false;
      return BigInt(na) === BigInt(nb);
    }
    return na === nb;
  }
  if (typeof a === 'string' || typeof b === 'string') return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && bytesEqual(a, b);
  }
  if (a instanceof PyTuple || b instanceof PyTuple) {
    return a instanceof PyTuple && b instanceof PyTuple && seqEquals(a.items, b.items);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && seqEquals(a, b);
  }
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) {
      if (!b.has(k) || !pyEquals(v, b.get(k))) return false;
    }
    return true;
  }
  if ((a instanceof PySet || a instanceof PyFrozenSet) && (b instanceof PySet || b instanceof PyFrozenSet)) {
    if (a.items.length !== b.items.length) return false;
    return a.items.every((x) => b.items.some((y) => pyEquals(x, y)));
  }
  if (a instanceof PyObject && b instanceof PyObject) {
    return a.className === b.className && pyEquals(a.state, b.state);
  }
  return false;
}

function numericValue(v: PyValue): number | bigint | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof PyFloat) return v.value;
  return undefined;
}

function seqEquals(a: readonly PyValue[], b: readonly PyValue[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!pyEquals(a[i], b[i])) return false;
  return true;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ----------------------------------------------------------------------------------------------
// repr (for logs, error messages and utility replies); the scalar forms are src/py/repr.ts

/** Python's `repr()` of a value (approximate for sets; exact for the common types). */
export function pyRepr(v: PyValue): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return pyStrRepr(v);
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  if (v instanceof Uint8Array) return pyBytesRepr(v);
  if (v instanceof PyTuple) {
    const items = v.items.map(pyRepr);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  if (v instanceof PySet) return v.items.length ? `{${v.items.map(pyRepr).join(', ')}}` : 'set()';
  if (v instanceof PyFrozenSet) {
    return v.items.length ? `frozenset({${v.items.map(pyRepr).join(', ')}})` : 'frozenset()';
  }
  return `<${v.className} ${pyRepr(v.state.get('_id') ?? null)}>`;
}

/** Python's `str()`: like repr except for str itself. */
export function pyStr(v: PyValue): string {
  if (typeof v === 'string') return v;
  if (v instanceof PyObject) {
    const id = v.state.get('_id');
    return typeof id === 'string' ? id : pyRepr(v);
  }
  return pyRepr(v);
}
