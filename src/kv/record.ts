/**
 * KVStoreTTL records and the apply-time rules that every node must evaluate exactly like Python
 * (docs/dcs.md §2.5–§2.8): compare-and-set conditions with Python truthiness and equality, the
 * `created` adjustment, expiry matching. Records are stored as the Python dicts that came off the
 * wire (floats kept as the same doubles); callers get immutable plain-object views. Pure code.
 */
import { type PyDict, type PyDictKey, PyFloat, type PyValue, pyEquals, truthy } from '../wire/value.js';

/** A stored key as callers see it. Times are epoch seconds (doubles). */
export interface KvRecord {
  readonly value: string;
  readonly updated: number;
  readonly created: number;
  /** present only for keys written with a TTL */
  readonly expire?: number;
  /** the Raft log index of the entry that produced this record */
  readonly index: number;
}

/** Compare-and-set conditions, exactly the keyword arguments Patroni sends. */
export interface CasConditions {
  /** true: the key must exist; false/null: it must not */
  readonly prevExist?: boolean | null;
  /** the key must exist with this value (null never matches) */
  readonly prevValue?: string | null;
  /** the key must have this index; null imposes nothing (but is still sent) */
  readonly prevIndex?: number | null;
}

const CONDITION_KEYS = ['prevExist', 'prevValue', 'prevIndex'] as const;

function num(v: PyValue | undefined): number | undefined {
  if (v instanceof PyFloat) return v.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

/** A frozen view of a stored record dict (or null when it lacks the fields a record needs). */
export function recordView(stored: PyDict): KvRecord {
  const value = stored.get('value');
  const expire = num(stored.get('expire'));
  const rec: KvRecord = {
    value: typeof value === 'string' ? value : String(value ?? ''),
    updated: num(stored.get('updated')) ?? 0,
    created: num(stored.get('created')) ?? 0,
    ...(stored.has('expire') && expire !== undefined ? { expire } : {}),
    index: num(stored.get('index')) ?? 0,
  };
  return Object.freeze(rec);
}

/** Build the record dict Patroni's `set()` proposes: value, updated, created[, expire]. */
export function newRecordDict(
  value: string,
  nowSeconds: number,
  oldCreated: PyValue | undefined,
  ttl?: number,
): PyDict {
  const updated = new PyFloat(nowSeconds);
  const m = new Map<PyDictKey, PyValue>([
    ['value', value],
    ['updated', updated],
    ['created', oldCreated ?? updated],
  ]);
  if (ttl) m.set('expire', new PyFloat(nowSeconds + ttl));
  return m;
}

/** The kwargs dict for the given conditions, in the order the caller gave them (explicit nulls kept). */
export function conditionKwargs(cas: CasConditions, into: PyDict = new Map()): PyDict {
  for (const key of Object.keys(cas)) {
    if (!(CONDITION_KEYS as readonly string[]).includes(key)) continue;
    const v = (cas as Record<string, boolean | string | number | null | undefined>)[key];
    if (v === undefined) continue;
    into.set(key, v);
  }
  return into;
}

/**
 * Patroni 4.x's `__check_requirements(old, **kwargs)`: every condition present must hold.
 * `old` is the stored dict or undefined when the key is absent.
 */
export function checkConditions(old: PyDict | undefined, kwargs: PyDict): boolean {
  const exists = old !== undefined && old.size > 0;
  if (kwargs.has('prevExist')) {
    if (truthy(kwargs.get('prevExist') as PyValue) !== exists) return false;
  }
  if (kwargs.has('prevValue')) {
    if (!exists || !pyEquals(old.get('value'), kwargs.get('prevValue'))) return false;
  }
  if (kwargs.has('prevIndex')) {
    const want = kwargs.get('prevIndex');
    if (want !== null && want !== undefined) {
      if (!exists || !pyEquals(old.get('index'), want)) return false;
    }
  }
  return true;
}

/** `_expire`'s match: created, updated, expire and value equal (missing compares as None). */
export function valuesMatch(a: PyDict, b: PyDict): boolean {
  for (const k of ['created', 'updated', 'expire', 'value']) {
    if (!pyEquals(a.get(k) ?? null, b.get(k) ?? null)) return false;
  }
  return true;
}
