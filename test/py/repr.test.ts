/**
 * src/py/repr.ts (and the value models' repr built on it) against Debian's Python: `repr(str)` over
 * every code point of planes 0 and 1 and a few beyond, `repr(float)`, `repr(bytes)`, `str()` of
 * dict keys. A fixed table (no Python needed) pins the cases the old copies got wrong.
 */
import { describe, expect, it } from 'vitest';
import { pyRepr as jsonRepr } from '../../src/dcs/model/json.js';
import { pyBytesRepr, pyFloatRepr, pyScalarRepr, pyScalarStr, pyStrRepr } from '../../src/py/repr.js';
import { PyFrozenSet, pyRepr as wireRepr } from '../../src/wire/value.js';
import { describeDebianPython } from '../helpers/python.js';
import { askPython, doubleHex, PY_FROMHEX } from './oracle.js';

describe('py/repr: fixed expectations (Python 3.11)', () => {
  it('repr(str) escapes what str.isprintable() rejects, wherever the str comes from', () => {
    const table: [string, string][] = [
      ['\x85', "'\\x85'"], // the wire copy printed it raw
      ['\u2028', "'\\u2028'"],
      ['\xa0', "'\\xa0'"],
      ['\xad', "'\\xad'"],
      ['\u3000', "'\\u3000'"],
      ['\ufeff', "'\\ufeff'"],
      ['\ud800', "'\\ud800'"], // a lone surrogate
      ['\u{1F600}', "'\u{1F600}'"], // printable, astral
      ['\u{E0001}', "'\\U000e0001'"], // Cf, astral
      ['\x7f', "'\\x7f'"],
      [' é\t\n\r\\', "' é\\t\\n\\r\\\\'"],
      ["a'b", `"a'b"`],
      [`a"b'`, `'a"b\\''`],
    ];
    for (const [s, want] of table) {
      expect(pyStrRepr(s), JSON.stringify(s)).toBe(want);
      expect(wireRepr(s), JSON.stringify(s)).toBe(want);
      expect(jsonRepr(s), JSON.stringify(s)).toBe(want);
    }
  });

  it('repr(float)', () => {
    const table: [number, string][] = [
      [1, '1.0'],
      [-0, '-0.0'],
      [1e16, '1e+16'],
      [9999999999999998, '9999999999999998.0'],
      [1e-4, '0.0001'],
      [1e-5, '1e-05'],
      [1.5e-7, '1.5e-07'],
      [1e22, '1e+22'],
      [0.1 + 0.2, '0.30000000000000004'],
      [Number.NaN, 'nan'],
      [Number.NEGATIVE_INFINITY, '-inf'],
      [5e-324, '5e-324'],
    ];
    for (const [x, want] of table) expect(pyFloatRepr(x), want).toBe(want);
  });

  it('repr(bytes), repr(frozenset())', () => {
    expect(pyBytesRepr(Buffer.from([0, 0x27, 0x85, 0x7f, 0x5c, 0x0a, 0x41]))).toBe(
      `b"\\x00'\\x85\\x7f\\\\\\nA"`,
    );
    expect(pyBytesRepr(Buffer.from(`'"`))).toBe(`b'\\'"'`);
    expect(wireRepr(new PyFrozenSet([]))).toBe('frozenset()');
  });

  it('str() of dict keys: True, None, ints and floats as Python prints them', () => {
    expect([true, false, null, 1n, 1, 1.5, 1e20, -0, 'x'].map(pyScalarStr)).toEqual([
      'True',
      'False',
      'None',
      '1',
      '1.0',
      '1.5',
      '1e+20',
      '-0.0',
      'x',
    ]);
    expect(pyScalarRepr('x')).toBe("'x'");
  });
});

describeDebianPython('py/repr against Debian Python', () => {
  it('repr(chr(cp)) for every code point of planes 0 and 1 and a few beyond', () => {
    const cps: number[] = [];
    for (let cp = 0; cp < 0x20000; cp++) cps.push(cp);
    cps.push(0x20000, 0x2a6df, 0x2fa1d, 0xe0001, 0xe0100, 0xf0000, 0x10fffd, 0x10ffff);
    const py = askPython<[string, string][]>(
      `import unicodedata
result = [[repr(chr(cp)), unicodedata.category(chr(cp))] for cp in data]`,
      cps,
    );
    const wrong: string[] = [];
    let newerUnicode = 0;
    cps.forEach((cp, i) => {
      const [want, category] = py[i] as [string, string];
      const s = String.fromCodePoint(cp);
      const ours = pyStrRepr(s);
      if (ours === want) {
        if (wireRepr(s) !== want || jsonRepr(s) !== want) wrong.push(`U+${cp.toString(16)} (model)`);
        return;
      }
      // assigned after the Python's Unicode version (14.0 for 3.11): the documented limit
      if (category === 'Cn' && !/^\p{Cn}$/u.test(s)) {
        newerUnicode++;
        return;
      }
      wrong.push(`U+${cp.toString(16)}: ours ${ours}, Python ${want}`);
    });
    expect(wrong.slice(0, 20)).toEqual([]);
    // Node's ICU knows Unicode versions newer than the Python's (thousands of plane-1 characters)
    expect(newerUnicode).toBeLessThan(10_000);
  });

  it('repr(str) of mixed strings (quotes, escapes, surrogates)', () => {
    const strs = [
      "it's",
      'say "hi"',
      `both ' and "`,
      'back\\slash',
      '\ud83d',
      '\ude00x',
      'a\u{1F600}\x85\u2029b',
      '',
    ];
    expect(strs.map(pyStrRepr)).toEqual(askPython<string[]>('result = [repr(s) for s in data]', strs));
  });

  it('repr(float) on edge values and 3000 random doubles', () => {
    const xs = [0, -0, 1, 1e16, 1e16 - 2, 1e-4, 9.999999999999999e-5, 1e21, 1e22, 2 ** 53, 2 ** 63, 5e-324];
    xs.push(Number.MAX_VALUE, Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY, 0.1, 1 / 3, 123456.789);
    const b = Buffer.alloc(8);
    for (let i = 0; i < 3000; i++) {
      for (let j = 0; j < 8; j++) b[j] = Math.floor(Math.random() * 256);
      xs.push(b.readDoubleBE(0));
      xs.push(Math.random() * 10 ** Math.floor(Math.random() * 40 - 20));
    }
    const py = askPython<string[]>(
      `${PY_FROMHEX}\nresult = [repr(fromhex(h)) for h in data]`,
      xs.map(doubleHex),
    );
    expect(xs.map(pyFloatRepr)).toEqual(py);
  });

  it('repr(bytes) of every byte and of quote mixes', () => {
    const items: number[][] = [];
    for (let c = 0; c < 256; c++) items.push([c]);
    items.push([0x27], [0x22], [0x27, 0x22], [0x27, 0x27, 0x5c], []);
    const py = askPython<string[]>('result = [repr(bytes(b)) for b in data]', items);
    expect(items.map((b) => pyBytesRepr(Uint8Array.from(b)))).toEqual(py);
  });

  it('str() and repr() of scalar dict keys', () => {
    // [kind, value]: the int/float split does not survive JSON, so it travels as a tag
    const keys: [string, string][] = [
      ['bool', 'True'],
      ['bool', 'False'],
      ['none', ''],
      ['int', '1'],
      ['int', '-12345678901234567890'],
      ['float', '1.0'],
      ['float', '1.5'],
      ['float', '1e20'],
      ['float', '-0.0'],
      ['float', 'nan'],
      ['float', 'inf'],
      ['str', 'x y'],
    ];
    const ours = keys.map(([kind, text]) => {
      const v =
        kind === 'bool'
          ? text === 'True'
          : kind === 'none'
            ? null
            : kind === 'int'
              ? BigInt(text)
              : kind === 'float'
                ? Number(text === 'nan' ? Number.NaN : text === 'inf' ? Number.POSITIVE_INFINITY : text)
                : text;
      return [pyScalarStr(v), pyScalarRepr(v)];
    });
    const py = askPython<[string, string][]>(
      `def value(kind, text):
    return {'bool': lambda: text == 'True', 'none': lambda: None, 'int': lambda: int(text),
            'float': lambda: float(text), 'str': lambda: text}[kind]()
result = [[str(value(k, t)), repr(value(k, t))] for k, t in data]`,
      keys,
    );
    expect(ours).toEqual(py);
  });
});
