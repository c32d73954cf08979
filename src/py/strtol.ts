/**
 * Patroni's number readers from `patroni.utils`, on text that is already Python's `str(value)`:
 *
 * - `strtol(text)`: C `strtol` with base 0 after `str.strip()` — hex `0x…`, octal with a leading
 *   `0`, decimal — and the text after the number.
 * - `strtod(text)`: the leading real number (`[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?`) and the rest.
 * - `parseIntNoUnit(text)`: `parse_int(value)` with no base unit — strtol, re-read with strtod when `.`,
 *   `e` or `E` follows (then rounded half to even), null when any other text follows (a unit with no
 *   base unit to convert to) or when nothing numeric leads.
 * - `parseRealNoUnit(text)`: `parse_real(value)` with no base unit.
 *
 * Patroni's regular expressions are ASCII-only (`[0-9]`), so these accept fewer digits than `int()`.
 * Results are `bigint`/`number`, or null where Patroni returns None (or Python raises: `'1e999'`
 * overflows to infinity and `round()` raises). Pure functions.
 */
import { pyRoundHalfEven, pyStrip } from './numbers.js';

const HEX_RE = /^[-+]?0x[0-9a-fA-F]+/;
const OCT_RE = /^[-+]?0[0-7]*/;
const DEC_RE = /^[-+]?(0|[1-9][0-9]*)/;
const DBL_RE = /^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?/;

/** Patroni's `strtol(text)` (strict): the integer read from the start, and the rest of the text. */
export function strtol(text: string): { value: bigint | null; rest: string } {
  const s = pyStrip(text);
  for (const [re, radix] of [
    [HEX_RE, 16],
    [OCT_RE, 8],
    [DEC_RE, 10],
  ] as const) {
    const m = re.exec(s);
    if (m) {
      const lit = m[0];
      const negative = lit.startsWith('-');
      let body = lit.replace(/^[-+]/, '');
      if (radix === 16) body = `0x${body.slice(2)}`;
      else if (radix === 8) body = `0o${body.slice(1) || '0'}`;
      const v = BigInt(body);
      return { value: negative ? -v : v, rest: s.slice(lit.length) };
    }
  }
  return { value: null, rest: s };
}

/** Patroni's `strtod(text)`: the float read from the start, and the rest of the text. */
export function strtod(text: string): { value: number | null; rest: string } {
  const s = pyStrip(text);
  const m = DBL_RE.exec(s);
  if (!m) return { value: null, rest: s };
  return { value: Number(m[0]), rest: s.slice(m[0].length) };
}

/** Patroni's `parse_int(text)` with no base unit. */
export function parseIntNoUnit(text: string): bigint | null {
  const l = strtol(text);
  let result: bigint | number | null = l.value;
  let rest = l.rest;
  const r0 = rest[0];
  if ((result === null && rest.startsWith('.')) || r0 === '.' || r0 === 'e' || r0 === 'E') {
    const d = strtod(text);
    result = d.value;
    rest = d.rest;
  }
  if (result === null) return null;
  if (pyStrip(rest) !== '') return null;
  return typeof result === 'bigint' ? result : pyRoundHalfEven(result);
}

/** Patroni's `parse_real(text)` with no base unit. */
export function parseRealNoUnit(text: string): number | null {
  const d = strtod(text);
  if (d.value === null || pyStrip(d.rest) !== '') return null;
  return d.value;
}
