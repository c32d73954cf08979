/**
 * Python's built-in number parsing of text and its whitespace rule:
 *
 * - `pyStrip(s)`: `str.strip()` with no arguments — removes what `str.isspace()` calls space, which
 *   is not JavaScript's `trim()` set: Python strips U+001C–U+001F and U+0085 (JS does not) and keeps
 *   U+FEFF (JS trims it).
 * - `pyIntFromString(s)`: `int(s)` (base 10) — optional sign, single `_` between digits, any Unicode
 *   decimal digit (`'١٢'` is 12), surrounding whitespace (the `isspace` set without U+001C–U+001F,
 *   which `int()` does not skip), at most 4300 digits (`sys.int_info.default_max_str_digits`).
 *   `'7.0'`, `'0x10'`, `'1e3'` are not ints. JavaScript's `Number()`/`parseInt()` accept other texts.
 * - `pyIntFromFloat(x)`: `int(float)`, truncation toward zero.
 * - `pyRoundHalfEven(x)`: `round(float)` to an int, ties to even.
 *
 * Results are `bigint` (never lossy) or `null` where Python raises. Pure functions.
 */

/** Python's default limit on the number of digits `int()` converts from text. */
export const PY_INT_MAX_STR_DIGITS = 4300;

/** Characters Python's `str.strip()` removes (`str.isspace()`). */
const STRIP_WS =
  '\t\n\u000b\f\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';
/** Characters Python's `int(str)` skips around the number (as `isspace`, but not U+001C–U+001F). */
const INT_WS =
  '\t\n\u000b\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

function stripSet(s: string, set: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && set.includes(s.charAt(a))) a++;
  while (b > a && set.includes(s.charAt(b - 1))) b--;
  return s.slice(a, b);
}

/** Python's `str.strip()` with no arguments. */
export function pyStrip(s: string): string {
  return stripSet(s, STRIP_WS);
}

const ND = /^\p{Nd}$/u;

/** The value of a Unicode decimal digit (Nd characters come in aligned runs of ten, 0 to 9). */
function digitValue(ch: string): number | null {
  const c = ch.charCodeAt(0);
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c < 0x80 || !ND.test(ch)) return null;
  let cp = ch.codePointAt(0) as number;
  let n = 0;
  while (ND.test(String.fromCodePoint(cp - 1))) {
    cp--;
    n++;
  }
  return n % 10;
}

/** Python's `int(text)` (base 10); null where Python raises ValueError. */
export function pyIntFromString(text: string): bigint | null {
  const s = stripSet(text, INT_WS);
  let i = 0;
  let negative = false;
  if (s[0] === '+' || s[0] === '-') {
    negative = s[0] === '-';
    i = 1;
  }
  let digits = '';
  let lastWasDigit = false;
  for (const ch of s.slice(i)) {
    if (ch === '_') {
      if (!lastWasDigit) return null;
      lastWasDigit = false;
      continue;
    }
    const d = digitValue(ch);
    if (d === null) return null;
    digits += String(d);
    lastWasDigit = true;
  }
  if (!lastWasDigit) return null; // empty, or a trailing underscore
  if (digits.length > PY_INT_MAX_STR_DIGITS) return null;
  const v = BigInt(digits);
  return negative ? -v : v;
}

/** Python's `int(float)`: truncation toward zero; null for NaN and infinities (Python raises). */
export function pyIntFromFloat(x: number): bigint | null {
  if (!Number.isFinite(x)) return null;
  return BigInt(Math.trunc(x));
}

/** Python's `round(x)` for a float: nearest integer, ties to even; null for NaN/±inf (Python raises). */
export function pyRoundHalfEven(x: number): bigint | null {
  if (!Number.isFinite(x)) return null;
  const a = Math.abs(x);
  const f = Math.floor(a);
  const diff = a - f; // exact: Sterbenz for a ≥ 1, and f = 0 below
  let r = BigInt(f);
  if (diff > 0.5 || (diff === 0.5 && r % 2n === 1n)) r += 1n;
  return x < 0 ? -r : r;
}
