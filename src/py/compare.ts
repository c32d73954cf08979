/**
 * Python's `str` ordering (`<`, `sorted()`, `min()`): by Unicode code point.
 *
 * JavaScript's `<` and the default `Array.prototype.sort()` compare UTF-16 code units, which puts an
 * astral character (U+10000 and above, stored as a surrogate pair D800–DBFF) before U+E000…U+FFFF;
 * Python puts it after. Every place that must order strings as a Python peer does (pysyncobj's
 * "connect to smaller addresses" rule, Patroni's and patronictl's sorted names and keys) uses this.
 * Pure function.
 */

/** Python's comparison of two str: -1, 0 or 1 by code points. */
export function pyStrCompare(a: string, b: string): -1 | 0 | 1 {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(j) as number;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  if (i < a.length) return 1;
  if (j < b.length) return -1;
  return 0;
}

/** Python's `sorted(strings)`: a new array in code-point order. */
export function pySorted(strings: Iterable<string>): string[] {
  return [...strings].sort(pyStrCompare);
}
