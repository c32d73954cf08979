/**
 * src/py/numbers.ts (`int()`, `str.strip()`, `round()`) and src/py/strtol.ts (Patroni's strtol,
 * strtod, parse_int, parse_real) against Debian's Python and its patroni package.
 */
import { describe, expect, it } from 'vitest';
import { pyIntFromString, pyRoundHalfEven, pyStrip } from '../../src/py/numbers.js';
import { parseIntNoUnit, parseRealNoUnit, strtod, strtol } from '../../src/py/strtol.js';
import { describeDebianPython } from '../helpers/python.js';
import { askPython, doubleHex, PY_FROMHEX } from './oracle.js';

const TEXTS = [
  '12',
  ' 12 ',
  '+5',
  '-0',
  '1_000',
  '1__0',
  '_1',
  '1_',
  '0x10',
  ' 0x1F ',
  '-0x1f',
  '0o7',
  '017',
  '08',
  '1e3',
  '1.0e3',
  '1.5',
  '2.5',
  '3.5',
  '.5',
  '1e999',
  '5kB',
  '12 s',
  'abc',
  '',
  ' ',
  '+',
  '12\n',
  '\x8512\x85', // U+0085: Python strips it, JavaScript's trim() does not
  '\ufeff12', // U+FEFF: JavaScript's trim() strips it, Python does not
  '\x1c12', // U+001C: str.strip() removes it, int() does not skip it
  '\u2028 7\u3000',
  '\u0661\u0662', // Arabic-Indic digits
  '\uff11\uff12', // fullwidth digits
  '\u{1D7CF}\u{1D7D0}', // mathematical bold digits (astral)
  '1'.repeat(4300),
  '1'.repeat(4301),
];

describe('py/numbers and py/strtol: fixed expectations (Python 3.11, Patroni 3.x)', () => {
  it('int(str)', () => {
    const want: [string, bigint | null][] = [
      [' 12 ', 12n],
      ['1_000', 1000n],
      ['1__0', null],
      ['0x10', null],
      ['1e3', null],
      ['1.0', null],
      ['\x8512\x85', 12n],
      ['\ufeff12', null],
      ['\x1c12', null],
      ['\u0661\u0662', 12n],
      ['\u{1D7CF}\u{1D7D0}', 12n],
    ];
    for (const [s, v] of want) expect(pyIntFromString(s), JSON.stringify(s)).toBe(v);
  });

  it('str.strip()', () => {
    expect(pyStrip('\x1c\x85 x \u3000\x1f')).toBe('x');
    expect(pyStrip('\ufeffx')).toBe('\ufeffx');
  });

  it("Patroni's parse_int / parse_real without a unit", () => {
    expect(parseIntNoUnit(' 0x1F ')).toBe(31n);
    expect(parseIntNoUnit('017')).toBe(15n);
    expect(parseIntNoUnit('2.5')).toBe(2n);
    expect(parseIntNoUnit('1e1')).toBe(10n);
    expect(parseIntNoUnit('\x85 12')).toBe(12n); // the config copy (JS trim) returned null
    expect(parseIntNoUnit('\ufeff12')).toBeNull(); // … and the config copy returned 12
    expect(parseIntNoUnit('5kB')).toBeNull();
    expect(parseRealNoUnit('1e3')).toBe(1000);
    expect(strtol('12kB')).toEqual({ value: 12n, rest: 'kB' });
    expect(pyRoundHalfEven(0.5)).toBe(0n);
    expect(pyRoundHalfEven(-2.5)).toBe(-2n);
  });
});

describeDebianPython('py/numbers and py/strtol against Debian Python', () => {
  it('int(), str.strip() and Patroni strtol/strtod/parse_int/parse_real on a table of texts', () => {
    const py = askPython<
      [
        string | null,
        string,
        [string | null, string],
        [number | null, string],
        string | null,
        number | null,
      ][]
    >(
      `import sys
from patroni.utils import strtol, strtod, parse_int, parse_real
sys.set_int_max_str_digits(0) if hasattr(sys, 'set_int_max_str_digits') else None
def safe(f):
    try:
        return f()
    except (ValueError, OverflowError):
        return None
def intText(s):
    sys.set_int_max_str_digits(4300)
    try:
        v = int(s)
    except ValueError:
        return None
    finally:
        sys.set_int_max_str_digits(0)
    return str(v)
def text(v):
    return None if v is None else str(v)
def fin(v):
    return v if v is not None and abs(v) != float('inf') else None
result = [[intText(s), s.strip(), [text(strtol(s)[0]), strtol(s)[1]], [fin(strtod(s)[0]), strtod(s)[1]],
           text(safe(lambda: parse_int(s))), fin(safe(lambda: parse_real(s)))] for s in data]`,
      TEXTS,
    );
    const ours = TEXTS.map((s) => {
      const l = strtol(s);
      const d = strtod(s);
      const pi = parseIntNoUnit(s);
      const pr = parseRealNoUnit(s);
      const i = pyIntFromString(s);
      return [
        i === null ? null : i.toString(),
        pyStrip(s),
        [l.value === null ? null : l.value.toString(), l.rest],
        [d.value === null || !Number.isFinite(d.value) ? null : d.value, d.rest],
        pi === null ? null : pi.toString(),
        pr === null || !Number.isFinite(pr) ? null : pr,
      ];
    });
    // JSON has no Infinity: both sides write a non-finite float as null
    expect(ours).toEqual(py);
  });

  it('str.isspace() and the whitespace int() skips, over every code point of plane 0', () => {
    const cps: number[] = [];
    for (let cp = 0; cp < 0x10000; cp++) if (cp < 0xd800 || cp > 0xdfff) cps.push(cp);
    const py = askPython<[boolean, boolean][]>(
      `def skips(c):
    try:
        return int(c + '7' + c) == 7
    except ValueError:
        return False
result = [[chr(cp).isspace(), skips(chr(cp))] for cp in data]`,
      cps,
    );
    const ours = cps.map((cp) => {
      const c = String.fromCodePoint(cp);
      return [pyStrip(c) === '', pyIntFromString(`${c}7${c}`) === 7n];
    });
    const diff = cps.filter((_, i) => JSON.stringify(ours[i]) !== JSON.stringify(py[i]));
    expect(diff.map((cp) => `U+${cp.toString(16)}`)).toEqual([]);
  });

  it('int() of every decimal digit Python knows (Nd in planes 0 and 1)', () => {
    const digits = askPython<[number, number][]>(
      'import unicodedata\nresult = [[cp, int(chr(cp))] for cp in range(0x20000) if unicodedata.category(chr(cp)) == "Nd"]',
      null,
    );
    const wrong = digits.filter(([cp, v]) => pyIntFromString(String.fromCodePoint(cp)) !== BigInt(v));
    expect(wrong).toEqual([]);
  });

  it('round() ties to even on random halves and doubles', () => {
    const xs = [0.5, 1.5, 2.5, -0.5, -1.5, 2 ** 52 + 0.5, 4503599627370497, 1e300, 0.49999999999999994];
    for (let i = 0; i < 500; i++) xs.push((Math.floor(Math.random() * 2000) - 1000) / 2, Math.random() * 1e6);
    const py = askPython<string[]>(
      `${PY_FROMHEX}\nresult = [str(round(fromhex(h))) for h in data]`,
      xs.map(doubleHex),
    );
    expect(xs.map((x) => String(pyRoundHalfEven(x)))).toEqual(py);
  });
});
