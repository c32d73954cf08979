/**
 * A JSON form of pysyncobj's message dicts, for feeding messages to a Python SyncObj driven from a
 * script and reading what it sends back: bytes travel as {"$b": hex}, tuples as {"$t": [...]}.
 * `PY_JSON_FUNCTIONS` holds the same two conversions in Python (for the script).
 */
import { type PyDictKey, PyTuple, type PyValue } from '../../src/wire/value.js';

export type J = null | boolean | number | string | J[] | { [k: string]: J };

export function toJ(v: PyValue): J {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return { $b: Buffer.from(v).toString('hex') };
  if (v instanceof PyTuple) return { $t: v.items.map(toJ) };
  if (Array.isArray(v)) return v.map(toJ);
  if (v instanceof Map) {
    const o: { [k: string]: J } = {};
    for (const [k, x] of v) o[String(k)] = toJ(x);
    return o;
  }
  throw new Error(`no JSON form for ${String(v)}`);
}

export function fromJ(j: J): PyValue {
  if (j === null || typeof j !== 'object') return j;
  if (Array.isArray(j)) return j.map(fromJ);
  if (typeof j.$b === 'string') return Buffer.from(j.$b, 'hex');
  if (Array.isArray(j.$t)) return new PyTuple(j.$t.map(fromJ));
  return new Map<PyDictKey, PyValue>(Object.entries(j).map(([k, x]) => [k, fromJ(x)]));
}

export const PY_JSON_FUNCTIONS = `
def fromJ(j):
    if isinstance(j, list): return [fromJ(x) for x in j]
    if isinstance(j, dict):
        if '$b' in j: return bytes.fromhex(j['$b'])
        if '$t' in j: return tuple(fromJ(x) for x in j['$t'])
        return {k: fromJ(v) for k, v in j.items()}
    return j

def toJ(v):
    if isinstance(v, (bytes, bytearray)): return {'$b': bytes(v).hex()}
    if isinstance(v, tuple): return {'$t': [toJ(x) for x in v]}
    if isinstance(v, list): return [toJ(x) for x in v]
    if isinstance(v, dict): return {k: toJ(x) for k, x in v.items()}
    return v
`;
