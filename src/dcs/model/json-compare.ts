/**
 * Patroni's `deep_compare` on JSON dicts: how Patroni decides whether a configuration changed.
 *
 * It must never compare otherwise than Python's `str()` forms do (`100` equals `'100'`, `true` does
 * not equal `'true'`).
 */
import { pyStr } from './json-dump.js';
import { isPyDict, type PyJson, type PyJsonDict, pyDictEntries, pyDictGet } from './json-value.js';

/**
 * Patroni's `deep_compare(obj1, obj2)`: the same key sets; where `obj1` holds a dict, `obj2` must
 * hold a dict that compares equal recursively; every other value is compared by its Python `str()`
 * form (`100` equals `'100'`; `true` and `'true'` differ because `str(True)` is `'True'`).
 */
export function deepCompare(a: PyJsonDict, b: PyJsonDict): boolean {
  const ea = pyDictEntries(a);
  const eb = pyDictEntries(b);
  const kb = new Set(eb.map(([k]) => k));
  const ka = new Set(ea.map(([k]) => k));
  if (ka.size !== kb.size) return false;
  for (const k of ka) if (!kb.has(k)) return false;
  for (const [k, va] of ea) {
    const vb = pyDictGet(b, k) as PyJson;
    if (isPyDict(va)) {
      if (!(isPyDict(vb) && deepCompare(va, vb))) return false;
    } else if (pyStr(va) !== pyStr(vb)) {
      return false;
    }
  }
  return true;
}
