/**
 * The KVStoreTTL state machine: the key → record map and the three replicated operations exactly
 * as Patroni applies them (docs/dcs.md §2.5–§2.8). Pure and deterministic — no clock, no I/O — so the
 * runtime (KVStoreTTL) and the simulator apply the very same code.
 */
import { type PyDict, type PyDictKey, type PyValue, pyEquals, truthy } from '../wire/value.js';
import { checkConditions, type KvRecord, recordView, valuesMatch } from './record.js';

export interface KvCallbacks {
  onSet?(key: string, record: KvRecord): void;
  onDelete?(key: string): void;
}

/**
 * A record dict's keys as one shared string each: every decoded `_set` command brings its own copies
 * of 'value', 'updated' and 'created' (~24 bytes apiece), which the stored record would otherwise
 * keep for as long as the key lives — 7 MiB at 100,000 keys. Equal strings are the same Map key,
 * so this changes nothing else.
 */
const RECORD_KEYS: ReadonlyMap<PyDictKey, string> = new Map(
  ['value', 'updated', 'created', 'expire', 'index'].map((k) => [k, k]),
);

function internedRecord(value: PyDict): Map<PyDictKey, PyValue> {
  const record = new Map<PyDictKey, PyValue>();
  for (const [k, v] of value) record.set(RECORD_KEYS.get(k) ?? k, v);
  return record;
}

export class KvStateMachine {
  private data = new Map<string, PyDict>();
  /** keys carrying an `expire` field (the only ones the leader has to look at) */
  readonly expiring = new Set<string>();

  constructor(private readonly callbacks: KvCallbacks = {}) {}

  /** `_set(key, value, **conditions)` applied at log index `index`. */
  applySet(args: readonly PyValue[], kwargs: PyDict, index: number): KvRecord | false {
    const [key, value] = args;
    if (typeof key !== 'string' || !(value instanceof Map)) return false;
    const old = this.data.get(key);
    if (!checkConditions(old, kwargs)) return false;
    const record = internedRecord(value);
    if (old !== undefined && old.size > 0 && !pyEquals(old.get('created'), record.get('created'))) {
      record.set('created', record.get('updated') ?? null);
    }
    record.set('index', index);
    this.data.set(key, record); // Map.set keeps the position of an existing key, like a Python dict
    if (record.has('expire')) this.expiring.add(key);
    else this.expiring.delete(key);
    const view = recordView(record);
    this.callbacks.onSet?.(key, view);
    return view;
  }

  /** `_delete(key, recursive=False, **conditions)`; a missing key is a no-op (Python crashes). */
  applyDelete(args: readonly PyValue[], kwargs: PyDict): boolean {
    const [key, positionalRecursive] = args;
    if (typeof key !== 'string') return false;
    const conditions = new Map(kwargs);
    const recursive = truthy(
      conditions.has('recursive') ? (conditions.get('recursive') as PyValue) : (positionalRecursive ?? false),
    );
    conditions.delete('recursive');
    if (recursive) {
      for (const k of [...this.data.keys()]) if (k.startsWith(key)) this.pop(k);
      return true;
    }
    const old = this.data.get(key);
    if (!checkConditions(old, conditions)) return false;
    if (old === undefined) return false;
    this.pop(key);
    return true;
  }

  /** `_expire(key, value)`: removes the key when its record still matches. */
  applyExpire(args: readonly PyValue[]): void {
    const [key, value] = args;
    if (typeof key !== 'string' || !(value instanceof Map)) return;
    const current = this.data.get(key);
    if (current !== undefined && current.size > 0 && valuesMatch(current, value)) this.pop(key);
  }

  private pop(key: string): void {
    this.data.delete(key);
    this.expiring.delete(key);
    this.callbacks.onDelete?.(key);
  }

  /** The stored dict (never mutated after being stored; do not mutate it either). */
  raw(key: string): PyDict | undefined {
    return this.data.get(key);
  }

  get(key: string): KvRecord | null {
    const r = this.data.get(key);
    return r === undefined ? null : recordView(r);
  }

  getPrefix(prefix: string): Map<string, KvRecord> {
    const out = new Map<string, KvRecord>();
    for (const [k, r] of this.data) if (k.startsWith(prefix)) out.set(k, recordView(r));
    return out;
  }

  get size(): number {
    return this.data.size;
  }

  /** A point-in-time copy of the map for a dump (records are immutable, so shallow is enough). */
  snapshot(): Map<PyDictKey, PyValue> {
    return new Map<PyDictKey, PyValue>(this.data);
  }

  /** Replace the state from a dump's `_KVStoreTTL__data` (no callbacks, as in Python). */
  restore(data: PyValue | undefined): void {
    this.data = new Map();
    this.expiring.clear();
    if (!(data instanceof Map)) return;
    for (const [k, v] of data) {
      if (typeof k !== 'string' || !(v instanceof Map)) continue;
      this.data.set(k, v);
      if (v.has('expire')) this.expiring.add(k);
    }
  }
}
