/**
 * The two integer conversions Patroni applies to values read from the DCS, kept apart because they
 * disagree on many inputs:
 *
 * - `pyInt` is Python's built-in `int(x)` (used for `status.optime`, `sync.quorum`, the history
 *   timeline and the parts of a member's `version`): ints as they are, floats truncated toward zero,
 *   `True` → 1, decimal text with optional sign, surrounding whitespace and single `_` between
 *   digits (Unicode decimal digits count as digits). `"7.0"`, `"0x10"`, `"1e3"` are not convertible.
 * - `patroniParseInt` is Patroni's `parse_int(value)` without a base unit (used for member LSNs and
 *   `Cluster.slots`): C `strtol` with base 0 on `str(value).strip()` — hex `0x…`, octal with a
 *   leading `0`, decimal — re-read as a float when `.`/`e`/`E` follows, any other trailing text
 *   makes it null, and the result is rounded half to even.
 *
 * Both return `bigint` (never lossy) or `null` where Python raises or Patroni returns None.
 * Pure functions: no I/O, no network.
 */
import { isPyDict, JsonFloat, PY_INT_MAX_STR_DIGITS, type PyJson, pyStr } from './json.js';

/** Characters Python's `str.strip()` removes (`str.isspace()`). */
const STRIP_WS =
  '\t\n\u000b\f\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';
/** Characters Python's `int(str)` skips around the number (as `isspace`, but not U+001C–U+001F). */
const INT_WS =
  '\t\n\u000b\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

function stripSet(s: string, set: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && set.includes(s[a] as string)) a++;
  while (b > a && set.includes(s[b - 1] as string)) b--;
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

/** Python's `int(text)` (base 10). */
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

/**
 * Python's `int(value)` for a JSON value. Null where Python raises (None, lists, dicts,
 * unconvertible text, NaN, ±inf).
 */
export function pyInt(value: PyJson | undefined): bigint | null {
  if (value === true) return 1n;
  if (value === false) return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return pyIntFromFloat(value);
  if (value instanceof JsonFloat) return pyIntFromFloat(value.value);
  if (typeof value === 'string') return pyIntFromString(value);
  return null;
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

const HEX_RE = /^[-+]?0x[0-9a-fA-F]+/;
const OCT_RE = /^[-+]?0[0-7]*/;
const DEC_RE = /^[-+]?(0|[1-9][0-9]*)/;
const DBL_RE = /^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?/;

/** Patroni's `strtol(value)` (strict): the integer read from the start and the rest of the text. */
export function patroniStrtol(value: PyJson | undefined): { value: bigint | null; rest: string } {
  const text = pyStrip(value === undefined ? 'None' : pyStr(value));
  for (const [re, radix] of [
    [HEX_RE, 16],
    [OCT_RE, 8],
    [DEC_RE, 10],
  ] as const) {
    const m = re.exec(text);
    if (m) {
      const lit = m[0];
      const negative = lit.startsWith('-');
      let body = lit.replace(/^[-+]/, '');
      if (radix === 16) body = `0x${body.slice(2)}`;
      else if (radix === 8) body = `0o${body.slice(1) || '0'}`;
      const v = BigInt(body);
      return { value: negative ? -v : v, rest: text.slice(lit.length) };
    }
  }
  return { value: null, rest: text };
}

/** Patroni's `strtod(value)`: the float read from the start and the rest of the text. */
export function patroniStrtod(value: PyJson | undefined): { value: number | null; rest: string } {
  const text = pyStrip(value === undefined ? 'None' : pyStr(value));
  const m = DBL_RE.exec(text);
  if (!m) return { value: null, rest: text };
  return { value: Number(m[0]), rest: text.slice(m[0].length) };
}

/**
 * Patroni's `parse_int(value)` with no base unit. `undefined` (a missing key) reads as Python's
 * `None` and gives null. Where Python would raise (a float overflowing to infinity, e.g. `"1e999"`)
 * this returns null.
 */
export function patroniParseInt(value: PyJson | undefined): bigint | null {
  if (isPyDict(value) || Array.isArray(value)) return null; // their str() never starts with a number
  const l = patroniStrtol(value);
  let result: bigint | number | null = l.value;
  let rest = l.rest;
  const r0 = rest[0];
  if ((result === null && rest.startsWith('.')) || r0 === '.' || r0 === 'e' || r0 === 'E') {
    const d = patroniStrtod(value);
    result = d.value;
    rest = d.rest;
  }
  if (result === null) return null;
  if (pyStrip(rest) !== '') return null; // a unit suffix with no base unit to convert to
  return typeof result === 'bigint' ? result : pyRoundHalfEven(result);
}
