/**
 * Python equality keys for hashable values: two values get the same key exactly when Python's `==`
 * (and therefore `hash`) treats them as the same set member / dict key — `1`, `1.0` and `True` are
 * one key; `'a'` and `b'a'` are two; pysyncobj Nodes are equal when their ids are.
 *
 * Used to deduplicate set items while decoding (a pickle may describe `set([1, 1, True])`, which is
 * `{1}` in Python) and by tests that build sets. Pure functions; must never do I/O, mutate values, or
 * take time exponential in the input: a key of a container is built from short interned ids of its
 * items (hash-consing) and cached per object, so a memo-shared DAG of nested tuples/frozensets costs
 * time linear in the pickle, not in its expanded tree.
 * Hand-written for the same reason as the rest of this folder: the key rules are Python's, not
 * JavaScript's (see decode.ts).
 */
import { PyFloat, PyFrozenSet, PyObject, PyTuple, type PyValue } from '../value.js';

/** The key of a value that is hashable but never equal to anything else (it holds a NaN). */
export const NEVER_EQUAL = null;

type Key = string | null | undefined;

/**
 * Computes keys. With `compact` (what the decoder uses, one instance per pickle) a container's key is
 * built from short interned ids of its items and cached per object, and a NaN is keyed by identity
 * (so the same NaN object twice is one set item, as in Python); such keys are only comparable with
 * keys of the same instance. Without it keys are self-contained strings and NaN is NEVER_EQUAL.
 */
export class PyHasher {
  private readonly cache = new Map<object, Key>();
  private readonly ids = new Map<string, string>();

  constructor(
    private readonly compact: boolean,
    /** byte arrays that stand for a Python bytearray (mutable, so unhashable) */
    private readonly bytearrays?: ReadonlySet<object>,
  ) {}

  /**
   * The equality key of `v`, `NEVER_EQUAL` (null) when `v` is hashable but holds a NaN (NaN != NaN),
   * or undefined when Python could not hash it (list, dict, set, or a tuple holding one).
   */
  key(v: PyValue): Key {
    if (v === null) return 'N';
    switch (typeof v) {
      case 'string':
        return `s${v}`;
      case 'number':
        return `i${v}`;
      case 'bigint':
        return `i${v.toString()}`;
      case 'boolean':
        return v ? 'i1' : 'i0';
    }
    if (v instanceof PyFloat) {
      const x = v.value;
      if (Number.isNaN(x)) return this.compact ? this.nanKey(v) : NEVER_EQUAL;
      if (Number.isInteger(x))
        return `i${Number.isSafeInteger(x) ? String(x === 0 ? 0 : x) : BigInt(x).toString()}`;
      return `f${String(x)}`;
    }
    if (v instanceof Uint8Array) {
      if (this.bytearrays?.has(v)) return undefined;
      return `b${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1')}`;
    }
    if (v instanceof PyTuple || v instanceof PyFrozenSet || v instanceof PyObject) {
      if (!this.compact) return this.containerKey(v);
      if (this.cache.has(v)) return this.cache.get(v);
      const k = this.containerKey(v);
      this.cache.set(v, k);
      return k;
    }
    return undefined; // list, dict, set: unhashable
  }

  /**
   * A NaN equals only itself (Python compares identity first, and since 3.10 hashes a NaN by
   * identity): one key per PyFloat object.
   */
  private nanKey(v: PyFloat): string {
    let id = this.nans.get(v);
    if (id === undefined) {
      id = this.nans.size;
      this.nans.set(v, id);
    }
    return `n${id}`;
  }

  private readonly nans = new Map<PyFloat, number>();

  private containerKey(v: PyTuple | PyFrozenSet | PyObject): Key {
    if (v instanceof PyObject) {
      // pysyncobj's Node compares and hashes by id (any Node subclass); without an id it cannot hash
      const id = v.state.get('_id');
      if (id === undefined) return undefined;
      const k = this.key(id);
      return k === undefined || k === null ? k : `o${this.part(k)}`;
    }
    const parts: string[] = [];
    let never = false;
    for (const item of v.items) {
      const k = this.key(item);
      if (k === undefined) return undefined;
      if (k === null) never = true;
      else parts.push(this.part(k));
    }
    if (never) return NEVER_EQUAL;
    if (v instanceof PyFrozenSet) parts.sort();
    return `${v instanceof PyTuple ? 't' : 'F'}${parts.join('')}`;
  }

  /** an unambiguous piece of a composite key: an interned id, or the length-prefixed key */
  private part(k: string): string {
    if (!this.compact) return `${k.length}:${k}`;
    let id = this.ids.get(k);
    if (id === undefined) {
      id = `${this.ids.size};`;
      this.ids.set(k, id);
    }
    return id;
  }
}

/** The self-contained equality key of one value (see PyHasher.key). */
export function pyHashKey(v: PyValue): string | null | undefined {
  return new PyHasher(false).key(v);
}
