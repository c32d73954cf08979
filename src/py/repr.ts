/**
 * Python's `repr()` and `str()` of scalar values, for messages, utility replies and keys that must
 * read exactly as a Python program prints them:
 *
 * - `pyFloatRepr`: `repr(float)` — the shortest digits that round-trip (JavaScript finds the same
 *   digits), laid out as Python does: a `.0` on integral values, exponent form (`1e+16`, `1e-05`)
 *   outside 1e-4 ≤ |x| < 1e16, `nan`, `inf`, `-0.0`.
 * - `pyStrRepr`: `repr(str)` — quote choice, `\t \n \r \\` escapes, and `\xNN` / `\uNNNN` /
 *   `\UNNNNNNNN` for every character Python's `str.isprintable()` rejects (categories Cc, Cf, Cs,
 *   Co, Cn, Zl, Zp and Zs other than the space): `'\x85'`, `'\u2028'`, `'\xa0'`, lone surrogates.
 *   Known limit: "unassigned" (Cn) is judged by the Unicode tables of Node's ICU, which may be newer
 *   than the Python's (Debian bookworm's 3.11 has Unicode 14.0): a character assigned since then is
 *   escaped by that Python and printed as is here.
 * - `pyBytesRepr`: `repr(bytes)` — `b'…'` with `\xNN` for everything outside printable ASCII.
 * - `pyScalarRepr` / `pyScalarStr`: `repr()` / `str()` of None, bool, int (`bigint`), float
 *   (`number`) and str, e.g. a YAML mapping key `True`, `None` or `1.0` as `str(key)` prints it.
 *
 * Hand-written because JavaScript has no equivalent: `String()` and `JSON.stringify` print `1` for
 * 1.0, `10000000000000000` for 1e16, `true` for True, and leave U+0085 or U+2028 unescaped.
 * Pure functions.
 */

/** A Python scalar with the int/float distinction carried by the JS type: `bigint` int, `number` float. */
export type PyScalar = null | boolean | bigint | number | string;

/** Python's `repr(float)`: shortest round-trip digits, exponent form outside 1e-4 ≤ |x| < 1e16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant = '', exp = '0'] = x.toExponential().split('e');
  const sign = mant.startsWith('-') ? '-' : '';
  const digits = mant.replace('-', '').replace('.', '');
  const decpt = Number(exp) + 1; // value = 0.DIGITS × 10^decpt
  if (decpt > 16 || decpt < -3) {
    const e = decpt - 1;
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const es = Math.abs(e) < 10 ? `0${Math.abs(e)}` : String(Math.abs(e));
    return `${sign}${m}e${e < 0 ? '-' : '+'}${es}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** Characters `str.isprintable()` rejects (the space, U+0020, is handled before this test). */
const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

/** Python's `repr(str)`. Lone surrogates (possible in JS strings and Python str alike) are escaped. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x7f || !NON_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + quote;
}

/** Python's `repr(bytes)`. */
export function pyBytesRepr(b: Uint8Array): string {
  let hasSingle = false;
  let hasDouble = false;
  for (const c of b) {
    if (c === 0x27) hasSingle = true;
    if (c === 0x22) hasDouble = true;
  }
  const quote = hasSingle && !hasDouble ? '"' : "'";
  let out = `b${quote}`;
  for (const c of b) {
    const ch = String.fromCharCode(c);
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c >= 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Python's `repr()` of a scalar (`bigint` is an int, `number` a float). */
export function pyScalarRepr(v: PyScalar): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return pyFloatRepr(v);
  return pyStrRepr(v);
}

/** Python's `str()` of a scalar: a str as it is, anything else as its `repr()`. */
export function pyScalarStr(v: PyScalar): string {
  return typeof v === 'string' ? v : pyScalarRepr(v);
}
