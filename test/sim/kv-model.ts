/**
 * The reference model of Patroni's KVStoreTTL for the KV simulation checkers, written from
 * docs/dcs.md §2.4–§2.8 independently of src/kv (plain JS values, no PyDict): decoding of the three
 * replicated commands (function ids 0 `_delete`, 1 `_expire`, 2 `_set`) into model commands, the
 * compare-and-set rules, and the apply rules on one key (for the per-key linearizability search)
 * and on the whole insertion-ordered map (for replaying the committed log).
 *
 * The domain is what the simulation's clients send: str keys and values, float times, CAS values
 * bool/None (prevExist), str/None (prevValue), int/None (prevIndex).
 */
import { decodeMethodCall } from '../../src/raft/commands.js';
import { CommandType } from '../../src/raft/core/types.js';
import { PyFloat, type PyValue } from '../../src/wire/value.js';

export const FUNC_DELETE = 0;
export const FUNC_EXPIRE = 1;
export const FUNC_SET = 2;

/** A stored record: what `get` returns. */
export interface ModelRecord {
  readonly value: string;
  readonly updated: number;
  readonly created: number;
  readonly expire?: number;
  readonly index: number;
}

/** The record a `_set` carries (no index) or an `_expire` compares (index ignored). */
export interface SubmittedRecord {
  readonly value: string;
  readonly updated: number;
  readonly created: number;
  readonly expire?: number;
}

/** CAS conditions as given: a key present with value null still counts as given. */
export interface Cas {
  readonly prevExist?: boolean | number | null;
  readonly prevValue?: string | null;
  readonly prevIndex?: number | null;
}

export type ModelCommand =
  | { readonly kind: 'set'; readonly key: string; readonly record: SubmittedRecord; readonly cas: Cas }
  | { readonly kind: 'delete'; readonly key: string; readonly recursive: boolean; readonly cas: Cas }
  | { readonly kind: 'expire'; readonly key: string; readonly record: SubmittedRecord };

/** Faults for proving the checkers can fail: a model that is wrong on purpose. */
export interface ModelFaults {
  /** evaluate prevValue as if it were not given */
  readonly ignorePrevValue?: boolean;
  /** never adjust `created` */
  readonly keepSubmittedCreated?: boolean;
}

// ----------------------------------------------------------------------------------------------
// decoding

function num(v: PyValue | undefined, what: string): number {
  if (v instanceof PyFloat) return v.value;
  if (typeof v === 'number') return v;
  throw new Error(`model: ${what} is not a number`);
}

function submitted(v: PyValue | undefined): SubmittedRecord {
  if (!(v instanceof Map)) throw new Error('model: record is not a dict');
  const value = v.get('value');
  if (typeof value !== 'string') throw new Error('model: record value is not a str');
  const rec: { value: string; updated: number; created: number; expire?: number } = {
    value,
    updated: num(v.get('updated'), 'updated'),
    created: num(v.get('created'), 'created'),
  };
  if (v.has('expire')) rec.expire = num(v.get('expire'), 'expire');
  return rec;
}

function cas(kwargs: ReadonlyMap<PyValue, PyValue> | undefined): Cas {
  const out: { prevExist?: boolean | number | null; prevValue?: string | null; prevIndex?: number | null } =
    {};
  if (!kwargs) return out;
  for (const [k, v] of kwargs) {
    if (k === 'prevExist') {
      if (v !== null && typeof v !== 'boolean' && typeof v !== 'number') throw new Error('model: prevExist');
      out.prevExist = v;
    } else if (k === 'prevValue') {
      if (v !== null && typeof v !== 'string') throw new Error('model: prevValue');
      out.prevValue = v;
    } else if (k === 'prevIndex') {
      if (v !== null && typeof v !== 'number') throw new Error('model: prevIndex');
      out.prevIndex = v;
    }
  }
  return out;
}

/** The model command of a REGULAR log entry (null for other entry types). */
export function decodeModelCommand(command: Uint8Array): ModelCommand | null {
  if (command[0] !== CommandType.Regular) return null;
  const call = decodeMethodCall(command);
  const key = call.args[0];
  if (typeof key !== 'string') throw new Error('model: key is not a str');
  switch (call.funcId) {
    case FUNC_SET:
      return { kind: 'set', key, record: submitted(call.args[1]), cas: cas(call.kwargs) };
    case FUNC_DELETE: {
      const r = call.kwargs?.get('recursive') ?? call.args[1] ?? false;
      return {
        kind: 'delete',
        key,
        recursive: r === true || (typeof r === 'number' && r !== 0),
        cas: cas(call.kwargs),
      };
    }
    case FUNC_EXPIRE:
      return { kind: 'expire', key, record: submitted(call.args[1]) };
    default:
      throw new Error(`model: unknown function id ${call.funcId}`);
  }
}

// ----------------------------------------------------------------------------------------------
// the rules

function truthy(v: boolean | number | null | undefined): boolean {
  return v === true || (typeof v === 'number' && v !== 0);
}

/** Patroni 4.x `__check_requirements`. */
export function casHolds(old: ModelRecord | null, c: Cas, faults: ModelFaults = {}): boolean {
  if ('prevExist' in c && truthy(c.prevExist) !== (old !== null)) return false;
  if ('prevValue' in c && !faults.ignorePrevValue && (old === null || old.value !== c.prevValue))
    return false;
  if ('prevIndex' in c && c.prevIndex !== null && c.prevIndex !== undefined) {
    if (old === null || old.index !== c.prevIndex) return false;
  }
  return true;
}

/** `_set`'s stored record: created replaced by updated when it differs from the stored one. */
export function storedRecord(
  old: ModelRecord | null,
  rec: SubmittedRecord,
  index: number,
  faults: ModelFaults = {},
): ModelRecord {
  const created =
    old !== null && old.created !== rec.created && !faults.keepSubmittedCreated ? rec.updated : rec.created;
  return rec.expire === undefined
    ? { value: rec.value, updated: rec.updated, created, index }
    : { value: rec.value, updated: rec.updated, created, expire: rec.expire, index };
}

/** `_expire`'s match on created, updated, expire and value. */
export function expireMatches(cur: ModelRecord, rec: SubmittedRecord): boolean {
  return (
    cur.created === rec.created &&
    cur.updated === rec.updated &&
    cur.expire === rec.expire &&
    cur.value === rec.value
  );
}

export function sameRecord(a: ModelRecord | null, b: ModelRecord | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.value === b.value &&
    a.updated === b.updated &&
    a.created === b.created &&
    a.expire === b.expire &&
    a.index === b.index &&
    'expire' in a === 'expire' in b
  );
}

/**
 * The whole map, insertion ordered like a Python dict, with the apply rules; used to replay the
 * committed log. Results are those `_set` (record or false) and `_delete` (bool) return.
 */
export class ModelMap {
  readonly data = new Map<string, ModelRecord>();

  constructor(private readonly faults: ModelFaults = {}) {}

  apply(cmd: ModelCommand, index: number): ModelRecord | boolean | null {
    const old = this.data.get(cmd.key) ?? null;
    switch (cmd.kind) {
      case 'set': {
        if (!casHolds(old, cmd.cas, this.faults)) return false;
        const rec = storedRecord(old, cmd.record, index, this.faults);
        this.data.set(cmd.key, rec);
        return rec;
      }
      case 'delete':
        if (cmd.recursive) {
          for (const k of [...this.data.keys()]) if (k.startsWith(cmd.key)) this.data.delete(k);
          return true;
        }
        if (!casHolds(old, cmd.cas, this.faults) || old === null) return false;
        this.data.delete(cmd.key);
        return true;
      case 'expire':
        if (old !== null && expireMatches(old, cmd.record)) this.data.delete(cmd.key);
        return null;
    }
  }
}

/** A canonical text of a map of records (order included), for comparing states. */
export function stateText(entries: Iterable<[string, ModelRecord]>): string {
  let s = '';
  for (const [k, r] of entries) {
    s += `${k}=${r.value}|${r.updated}|${r.created}|${'expire' in r ? r.expire : '-'}|${r.index};`;
  }
  return s;
}
