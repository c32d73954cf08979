/**
 * Text in pickles: the Latin-1 and UTF-8 decoding of string arguments, the protocol-0 quoted STRING
 * and raw-unicode-escape UNICODE forms, and small helpers for error messages.
 *
 * What it is for: turning the bytes of a string opcode into the str Python would load (UTF-8 with
 * surrogatepass; Latin-1 for protocol-2 bytes), fast on the short keys and addresses pickled dicts
 * are made of.
 *
 * What it must never do: read outside [a, e) of the buffer it is given, allocate a string larger than
 * those bytes describe, or throw anything but through the `fail` callback it is given (the decoder
 * turns that into a WireError naming the opcode).
 */

/** Report bad input (throws: the decoder's WireError). */
export type Fail = (message: string) => never;

const MAX_LABEL = 80;

/** a code point ≥ U+0100: not Latin-1 */
export const NON_LATIN1 = /[\u0100-\uffff]/;

/** Node's undocumented but long-stable Buffer.utf8Slice (skips toString's argument handling). */
interface FastBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
}

/** text of buf[a, e) as UTF-8 (invalid sequences become U+FFFD) */
export const utf8Slice: (buf: Buffer, a: number, e: number) => string =
  typeof (Buffer.prototype as Partial<FastBuffer>).utf8Slice === 'function'
    ? (buf, a, e) => (buf as FastBuffer).utf8Slice(a, e)
    : (buf, a, e) => buf.toString('utf8', a, e);

/**
 * Text of buf[a, e) as Latin-1. The plain `toString`: a hand-unrolled String.fromCharCode for short
 * strings and Node's internal `latin1Slice` were no faster in the decoder (bench/latin1.ts).
 */
export function latin1(b: Buffer, a: number, e: number): string {
  return b.toString('latin1', a, e);
}

/**
 * UTF-8 of Latin-1 text → the Latin-1 bytes, in place: out[0, n) holds the UTF-8, afterwards
 * out[0, result) the bytes. Returns -1 (out garbled) when a code point is ≥ U+0100 or the UTF-8 is
 * invalid. One array in the loop and four ASCII bytes per step: the fastest form we measured in V8.
 */
export function compactLatin1(out: Buffer, n: number): number {
  let p = 0;
  let i = 0;
  const last4 = n - 4;
  while (i < n) {
    if (i <= last4) {
      // four ASCII bytes at a time while they last
      const c0 = out[i];
      const c1 = out[i + 1];
      const c2 = out[i + 2];
      const c3 = out[i + 3];
      if (c0 === undefined || c1 === undefined || c2 === undefined || c3 === undefined) return -1;
      if (((c0 | c1 | c2 | c3) & 0x80) === 0) {
        out[p] = c0;
        out[p + 1] = c1;
        out[p + 2] = c2;
        out[p + 3] = c3;
        p += 4;
        i += 4;
        continue;
      }
    }
    const c = out[i];
    if (c === undefined) return -1;
    if (c < 0x80) {
      out[p++] = c;
      i++;
      continue;
    }
    if ((c & 0xfe) !== 0xc2) return -1;
    const d = out[i + 1];
    if (d === undefined || i + 1 >= n || (d & 0xc0) !== 0x80) return -1;
    out[p++] = 0x80 | ((c & 1) << 6) | (d & 0x3f);
    i += 2;
  }
  return p;
}

/** UTF-8 [a, e) as a str, strictly (Python's surrogatepass: lone surrogates pass, invalid UTF-8 fails) */
export function utf8Strict(b: Buffer, a: number, e: number, fail: Fail): string {
  const units: number[] = [];
  let out = '';
  let i = a;
  while (i < e) {
    const c = b[i];
    if (c === undefined) fail(`truncated UTF-8 at offset ${i}`);
    let cp: number;
    let need: number;
    let min: number;
    if (c < 0x80) {
      cp = c;
      need = 0;
      min = 0;
    } else if (c >= 0xc2 && c <= 0xdf) {
      cp = c & 0x1f;
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      cp = c & 0x0f;
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      cp = c & 0x07;
      need = 3;
      min = 0x10000;
    } else {
      fail(`invalid UTF-8 start byte 0x${c.toString(16)} at offset ${i}`);
    }
    if (i + need >= e && need > 0) fail(`truncated UTF-8 sequence at offset ${i}`);
    for (let j = 1; j <= need; j++) {
      const cc = b[i + j];
      if (cc === undefined || (cc & 0xc0) !== 0x80)
        fail(`invalid UTF-8 continuation byte at offset ${i + j}`);
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff) fail(`invalid UTF-8 sequence at offset ${i}`);
    i += need + 1;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
    } else {
      units.push(cp); // lone surrogates (ED A0..BF xx) pass, as with Python's surrogatepass
    }
    if (units.length >= 8192) {
      out += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode(...units);
}

/** protocol 0 STRING: a quoted Python 2 str literal with backslash escapes, ASCII only */
export function quotedString(b: Buffer, a: number, e: number, fail: Fail): string {
  const q = b[a];
  if (e - a < 2 || (q !== 0x27 && q !== 0x22) || b[e - 1] !== q) {
    fail('the STRING argument must be quoted');
  }
  const out: number[] = [];
  const end = e - 1;
  for (let i = a + 1; i < end; i++) {
    const c = b[i];
    if (c === undefined) fail('the STRING argument is truncated');
    if (c === 0x5c) i = unescapeInto(b, i + 1, end, out, fail);
    else out.push(c);
  }
  // unlike SHORT_BINSTRING/BINSTRING, pysyncobj's fallback loader does not keep a non-ASCII STRING
  // as bytes: Python cannot load it at all
  if (out.some((c) => c >= 0x80)) fail('STRING with non-ASCII content (Python cannot load it)');
  return Buffer.from(out).toString('latin1');
}

/** the one-character escapes of a Python 2 str literal: \a \b \f \n \r \t \v \\ \' \" */
const SIMPLE_ESCAPES: ReadonlyMap<number, number> = new Map([
  [0x61, 7],
  [0x62, 8],
  [0x66, 12],
  [0x6e, 10],
  [0x72, 13],
  [0x74, 9],
  [0x76, 11],
  [0x5c, 0x5c],
  [0x27, 0x27],
  [0x22, 0x22],
]);

/**
 * The escape after a backslash, its first character at b[i] (before `end`): push the byte(s) it
 * stands for to `out`; returns the index of its last character.
 */
function unescapeInto(b: Buffer, i: number, end: number, out: number[], fail: Fail): number {
  const c = i < end ? b[i] : undefined;
  if (c === undefined) fail('trailing \\ in STRING');
  if (c === 0x0a) return i; // backslash-newline: line continuation
  const simple = SIMPLE_ESCAPES.get(c);
  if (simple !== undefined) {
    out.push(simple);
    return i;
  }
  if (c === 0x78) {
    // \xhh: exactly two hex digits
    const h1 = i + 1 < end ? hexValue(b[i + 1]) : -1;
    const h2 = i + 2 < end ? hexValue(b[i + 2]) : -1;
    if (h1 < 0 || h2 < 0) fail('invalid \\x escape in STRING');
    out.push(h1 * 16 + h2);
    return i + 2;
  }
  if (c >= 0x30 && c <= 0x37) {
    // \o, \oo, \ooo octal
    let v = c - 0x30;
    for (let k = 0; k < 2 && i + 1 < end; k++) {
      const d = b[i + 1];
      if (d === undefined || d < 0x30 || d > 0x37) break;
      v = v * 8 + d - 0x30;
      i++;
    }
    out.push(v & 0xff);
    return i;
  }
  out.push(0x5c, c); // unknown escape: kept as is
  return i;
}

/** protocol 0 UNICODE: raw-unicode-escape (Latin-1 bytes, \uXXXX and \UXXXXXXXX escapes) */
export function rawUnicodeEscape(b: Buffer, a: number, e: number, fail: Fail): string {
  const first = b.indexOf(0x5c, a);
  if (first < 0 || first >= e) return latin1(b, a, e);
  let out = latin1(b, a, first);
  let i = first;
  while (i < e) {
    const c = b[i++];
    if (c === undefined) fail('the UNICODE argument is truncated');
    const c2 = c === 0x5c && i < e ? b[i++] : undefined;
    if (c2 === undefined) {
      out += String.fromCharCode(c);
      continue;
    }
    const count = c2 === 0x75 ? 4 : c2 === 0x55 ? 8 : 0;
    if (count === 0) {
      out += String.fromCharCode(0x5c, c2);
      continue;
    }
    if (e - i < count) fail('truncated \\uXXXX escape in UNICODE');
    let cp = 0;
    for (let k = 0; k < count; k++) {
      const h = hexValue(b[i++]);
      if (h < 0) fail('truncated \\uXXXX escape in UNICODE');
      cp = cp * 16 + h;
    }
    if (cp > 0x10ffff) fail('\\Uxxxxxxxx out of range in UNICODE');
    out += String.fromCodePoint(cp);
  }
  return out;
}

export function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** a text cut to a length fit for an error message */
export function clip(s: string): string {
  return s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL)}…` : s;
}
