/**
 * The TypeScript twin of the Python harness's replicated object (test/interop/py/node.py): the same
 * wire names (`incr`, `put`, `rm`, all version 0, so function ids 0, 1, 2 on both sides) and the
 * same apply semantics:
 *
 *   incr(n)    counter += n        -> the new counter value
 *   put(k, v)  dict[k] = v         -> the previous value of k (None when absent)
 *   rm(k)      remove k if present -> the removed value (None when absent)
 *
 * Every apply is recorded as `[index, term, op, ...args]`, exactly as the Python side records it,
 * so the applied sequences of all nodes can be compared element by element. The state travels in
 * dumps under the Python attribute names, so a snapshot installed from either side carries it.
 */
import { type ReplicatedCall, replicated } from '../../src/raft/replicated.js';
import { SyncObj } from '../../src/raft/syncobj.js';
import type { PyDict, PyDictKey, PyValue } from '../../src/wire/value.js';

/** A JSON-representable scalar as both harnesses exchange them. */
export type Scalar = string | number | null;

/** `[index, term, op, ...args]` */
export type AppliedRecord = [number, number, string, ...Scalar[]];

function scalar(v: PyValue | undefined, what: string): string | number {
  if (typeof v === 'string' || typeof v === 'number') return v;
  throw new TypeError(`${what}: expected a str or int, got ${String(v)}`);
}

export class InteropObject extends SyncObj {
  counter = 0;
  readonly dict = new Map<string, string | number>();
  readonly records: AppliedRecord[] = [];

  /**
   * The state in dumps, under the Python harness's attribute names (`counter`, `d`, `records`),
   * so that snapshots travel both ways between the implementations.
   */
  protected override serializeAttributes(): Map<PyDictKey, PyValue> {
    const attrs = super.serializeAttributes();
    attrs.set('counter', this.counter);
    attrs.set('d', new Map<PyDictKey, PyValue>(this.dict));
    attrs.set(
      'records',
      this.records.map((r) => [...r]),
    );
    return attrs;
  }

  protected override restoreAttributes(data: PyDict): void {
    super.restoreAttributes(data);
    const counter = data.get('counter');
    this.counter = typeof counter === 'number' ? counter : 0;
    this.dict.clear();
    const d = data.get('d');
    if (d instanceof Map) for (const [k, v] of d) this.dict.set(String(k), scalar(v, 'dumped dict value'));
    this.records.length = 0;
    const records = data.get('records');
    if (Array.isArray(records)) {
      for (const r of records) {
        if (!Array.isArray(r)) throw new TypeError(`dumped record is not a list: ${String(r)}`);
        this.records.push(
          r.map((x) => (x === null ? null : scalar(x, 'dumped record field'))) as AppliedRecord,
        );
      }
    }
  }

  @replicated({ name: 'incr' })
  incr(call: ReplicatedCall): number {
    const n = call.args[0];
    if (typeof n !== 'number') throw new TypeError(`incr: expected an int, got ${String(n)}`);
    this.counter += n;
    this.records.push([call.index, call.term, 'incr', n]);
    return this.counter;
  }

  @replicated({ name: 'put' })
  put(call: ReplicatedCall): string | number | null {
    const k = String(scalar(call.args[0], 'put key'));
    const v = scalar(call.args[1], 'put value');
    const prev = this.dict.get(k) ?? null;
    this.dict.set(k, v);
    this.records.push([call.index, call.term, 'put', k, v]);
    return prev;
  }

  @replicated({ name: 'rm' })
  rm(call: ReplicatedCall): string | number | null {
    const k = String(scalar(call.args[0], 'rm key'));
    const prev = this.dict.get(k) ?? null;
    this.dict.delete(k);
    this.records.push([call.index, call.term, 'rm', k]);
    return prev;
  }
}
