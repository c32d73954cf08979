/**
 * Numbers in configuration values the way Patroni reads and prints them.
 *
 * Configuration trees keep Python's int/float distinction: a YAML integer becomes a `bigint`, a
 * YAML float a `number` (see ./yaml.ts), so messages can print `5` for an integer and `5.0` for a
 * float as Python does. Environment variables go through Patroni's `parse_int` (strtol-like, base
 * 0) and `parse_real` (strtod-like); a unit suffix or garbage means "no value" (the variable is
 * ignored), as in Patroni when no base unit is given.
 *
 * Pure functions; this module must never read the environment or do I/O.
 */
import { pyFloatRepr } from '../wire/value.js';

const HEX_RE = /^[-+]?0x[0-9a-fA-F]+/;
const OCT_RE = /^[-+]?0[0-7]*/;
const DEC_RE = /^[-+]?(0|[1-9][0-9]*)/;
const DBL_RE = /^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?/;

/** Python's `str.strip()`: JavaScript's whitespace plus the separators U+001C–U+001F. */
function pyStrip(s: string): string {
  const isSpace = (c: string) => c.trim() === '' || (c >= '\u001c' && c <= '\u001f');
  let start = 0;
  let end = s.length;
  while (start < end && isSpace(s[start] as string)) start++;
  while (end > start && isSpace(s[end - 1] as string)) end--;
  return s.slice(start, end);
}

/** Patroni's `strtol(value)`: the leading integer (hex, octal or decimal) and the rest. */
export function strtol(value: string): { value: bigint | null; rest: string } {
  const s = pyStrip(value);
  for (const [re, base] of [
    [HEX_RE, 16],
    [OCT_RE, 8],
    [DEC_RE, 10],
  ] as const) {
    const m = re.exec(s);
    if (m) {
      const text = m[0];
      const negative = text.startsWith('-');
      const digits = text.replace(/^[-+]/, '').replace(/^0x/, '');
      let v = 0n;
      for (const ch of digits) v = v * BigInt(base) + BigInt(Number.parseInt(ch, base));
      return { value: negative ? -v : v, rest: s.slice(text.length) };
    }
  }
  return { value: null, rest: s };
}

/** Patroni's `strtod(value)`: the leading real number and the rest. */
export function strtod(value: string): { value: number | null; rest: string } {
  const s = pyStrip(value);
  const m = DBL_RE.exec(s);
  if (!m) return { value: null, rest: s };
  return { value: Number(m[0]), rest: s.slice(m[0].length) };
}

/** Python's round-half-to-even of a float, as Patroni's `rint`. */
export function rint(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Patroni's `parse_int(value)` without a base unit: an integer (a real is rounded half to even),
 * or null when the text is not a number or carries a unit.
 */
export function parsePyInt(value: string): bigint | null {
  const t = strtol(value);
  let v: number | bigint | null = t.value;
  let rest = t.rest;
  if ((v === null && rest.startsWith('.')) || (rest !== '' && '.eE'.includes(rest[0] as string))) {
    const d = strtod(value);
    v = d.value;
    rest = d.rest;
  }
  if (v === null || pyStrip(rest) !== '') return null;
  if (typeof v === 'bigint') return v;
  return Number.isFinite(v) ? BigInt(rint(v)) : null;
}

/** Patroni's `parse_real(value)` without a base unit: a float, or null (not a number, or a unit). */
export function parsePyReal(value: string): number | null {
  const d = strtod(value);
  if (d.value === null || pyStrip(d.rest) !== '') return null;
  return d.value;
}

/** A configuration number as Python's `str()` prints it: ints bare (`5`), floats with a fraction (`5.0`). */
export function pyNumberRepr(v: number | bigint): string {
  return typeof v === 'bigint' ? v.toString() : pyFloatRepr(v);
}
