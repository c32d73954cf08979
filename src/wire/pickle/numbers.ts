/**
 * Numbers in pickles: the little-endian two's-complement ints of LONG1/LONG4 and the decimal text
 * of protocol-0 INT, LONG and FLOAT.
 *
 * What it is for: reading those into the value model's ints (a number when safe, else a bigint
 * through `int()`) and floats, with the stricter rules of docs/protocol.md §5.5 (plain decimal, no
 * leading zeros, CPython's 4300-digit limit).
 *
 * What it must never do: accept a spelling CPython's loaders would read differently, build an int
 * from more than 4300 digits, or throw anything but through the `fail` callback it is given.
 */
import { int } from '../value.js';
import { clip, type Fail } from './text.js';

const MAX_INT_TEXT_DIGITS = 4300; // CPython's int(str) limit (sys.int_info.default_max_str_digits)

/** little-endian two's complement int of `len` bytes at `a` */
export function readLong(b: Buffer, a: number, len: number): number | bigint {
  if (len === 0) return 0;
  if (len <= 6) return b.readIntLE(a, len);
  const hex = Buffer.from(b.subarray(a, a + len))
    .reverse()
    .toString('hex');
  let v = BigInt(`0x${hex}`);
  if (b.readInt8(a + len - 1) < 0) v -= 1n << BigInt(8 * len);
  return int(v);
}

/** INT/LONG text (plain decimal, optional sign, `_` between digits, no leading zero) as an int */
export function parseIntText(text: string, fail: Fail): number | bigint {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(text);
  const spelled = m?.[2];
  if (m === null || spelled === undefined) fail(`invalid int literal ${JSON.stringify(clip(text))}`);
  const digits = spelled.replaceAll('_', '');
  if (digits.length > 1 && digits[0] === '0' && /[^0]/.test(digits)) {
    fail(`invalid int literal ${JSON.stringify(clip(text))} (leading zero)`);
  }
  if (digits.length > MAX_INT_TEXT_DIGITS) fail(`int literal longer than ${MAX_INT_TEXT_DIGITS} digits`);
  if (digits.length <= 15) {
    const v = Number(digits);
    return m[1] === '-' && v !== 0 ? -v : v;
  }
  const v = BigInt(digits);
  return int(m[1] === '-' ? -v : v);
}

/** FLOAT text as Python's float() reads it (decimal, exponent, inf, nan; `_` between digits) */
export function parseFloatText(text: string, fail: Fail): number {
  const t = text.trim().toLowerCase();
  const m =
    /^([+-]?)(?:(inf|infinity)|(nan)|((?:\d(?:_?\d)*)?(?:\.(?:\d(?:_?\d)*)?)?(?:e[+-]?\d(?:_?\d)*)?))$/.exec(
      t,
    );
  const decimal = m?.[4];
  if (m === null || (decimal !== undefined && !/^\.?\d/.test(decimal))) {
    fail(`invalid float literal ${JSON.stringify(clip(text))}`);
  }
  const sign = m[1] === '-' ? -1 : 1;
  if (m[2] !== undefined) return sign * Number.POSITIVE_INFINITY;
  if (decimal === undefined) return Number.NaN; // one of inf, nan and a decimal matched
  return sign * Number(decimal.replaceAll('_', ''));
}
