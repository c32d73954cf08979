/**
 * Python `int()` (`pyInt`) and Patroni's `parse_int` (`patroniParseInt`): documented examples
 * (docs/dcs.md §7.7, §7.8, §7.10), then the same inputs against the real Python `int()` and Debian's
 * `patroni.utils.parse_int`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type JsonValue,
  parsePyJson,
  patroniParseInt,
  pyInt,
  pyIntFromString,
  pyJsonDumps,
  pyRoundHalfEven,
  pyStrip,
} from '../../src/dcs/model/index.js';
import { describePython, runPython } from '../helpers/python.js';

/** Inputs as JSON texts, so that Python gets exactly the same values. */
const INPUTS: string[] = [
  '0',
  '7',
  '-5',
  '18446744073709551615',
  '-18446744073709551616',
  '12.7',
  '-12.7',
  '1.9',
  '2.5',
  '3.5',
  '-2.5',
  '0.5',
  '1e16',
  '1e300',
  '-0.0',
  'true',
  'false',
  'null',
  '[1]',
  '{"a":1}',
  'NaN',
  'Infinity',
  '"7"',
  '" 7 "',
  '"\\t7\\n"',
  '"-5"',
  '"+5"',
  '"1_000"',
  '"1__000"',
  '"_1"',
  '"1_"',
  '"+_1"',
  '"7.0"',
  '"2.5"',
  '"12.5"',
  '"4097.5"',
  '"0x10"',
  '"0X10"',
  '" +0x400 "',
  '"-0x1f"',
  '"0x"',
  '"0123"',
  '"-070"',
  '"09"',
  '"08.5"',
  '"0"',
  '"00"',
  '"007"',
  '"1e3"',
  '"1E3"',
  '"1e-3"',
  '"e5"',
  '".5"',
  '"-.5"',
  '"12."',
  '"1.5e1"',
  '"1e400"',
  '"1 d"',
  '"1MB"',
  '"x"',
  '""',
  '"  "',
  '"0/3000060"',
  '"12345678901234567890123"',
  '"\\u0663"',
  '"\\u0661\\u0662"',
  '"\\uff11\\uff12"',
  '"\\ud835\\udfd7"',
  '"\\u00a07\\u00a0"',
  '"\\u001c7"',
  '"\\u20037\\u3000"',
  '"\\u200b7"',
  '"\\ufeff7"',
  '"\\u00857"',
  '"- 5"',
  '"None"',
  '"True"',
  '"inf"',
  '"nan"',
];

describe('pyInt (Python int())', () => {
  it('examples of docs/dcs.md §7.7/§7.8', () => {
    const table: [JsonValue, bigint | null][] = [
      [12, 12n],
      [12.7, 12n],
      [-12.7, -12n],
      [2.9, 2n],
      [1.9, 1n],
      ['12', 12n],
      [' 7 ', 7n],
      ['-5', -5n],
      ['+5', 5n],
      ['1_000', 1000n],
      ['7.0', null],
      ['2.5', null],
      ['a', null],
      ['x', null],
      ['', null],
      [null, null],
      [[1], null],
      [{ a: 1 }, null],
      [true, 1n],
      [false, 0n],
      [18446744073709551615n, 18446744073709551615n],
      [1e300, BigInt(1e300)],
      [Number.NaN, null],
      [Number.POSITIVE_INFINITY, null],
      ['0x10', null],
      ['1e3', null],
      ['٣', 3n],
      ['𝟗', 9n],
      ['\u001c7', null],
      ['\u00857\u3000', 7n],
    ];
    for (const [v, expected] of table) expect(pyInt(v), pyJsonDumps(v)).toBe(expected);
    expect(pyInt(undefined)).toBeNull();
    expect(pyIntFromString('1'.repeat(4300))).toBe(BigInt('1'.repeat(4300)));
    expect(pyIntFromString('1'.repeat(4301))).toBeNull();
    expect(pyIntFromString(`${'1_'.repeat(2200)}1`)).toBe(BigInt('1'.repeat(2201)));
  });
});

describe("patroniParseInt (Patroni's parse_int)", () => {
  it('examples of docs/dcs.md §7.10 and strtol corner cases', () => {
    const table: [JsonValue | undefined, bigint | null][] = [
      ['1', 1n],
      [0, 0n],
      ['100', 100n],
      ['0x10', 16n],
      [' +0x400 ', 1024n],
      ['0123', 83n],
      [' -070 ', -56n],
      ['09', null],
      ['12.5', 12n],
      ['2.5', 2n],
      ['3.5', 4n],
      ['4097.4', 4097n],
      ['4097.5', 4098n],
      ['1e3', 1000n],
      ['.5', 0n],
      ['1.5e1', 15n],
      ['12.', null],
      ['1MB', null],
      [' 1 d ', null],
      ['x', null],
      ['', null],
      [null, null],
      [undefined, null],
      [true, null],
      [7, 7n],
      [12.7, 13n],
      [1e16, 10000000000000000n],
      ['18446744073709551615', 18446744073709551615n],
      [18446744073709551615n, 18446744073709551615n],
      ['1_000', null],
      ['+5', 5n],
      ['1e400', null],
      ['0/3000060', null],
      [[1], null],
      [{ a: 1 }, null],
    ];
    for (const [v, expected] of table) {
      expect(patroniParseInt(v), v === undefined ? 'undefined' : pyJsonDumps(v)).toBe(expected);
    }
  });

  it('rounds half to even and strips like Python', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 0.501, 2 ** 60 + 0].map(pyRoundHalfEven)).toEqual([
      0n,
      2n,
      2n,
      0n,
      -2n,
      1n,
      2n ** 60n,
    ]);
    expect(pyRoundHalfEven(Number.NaN)).toBeNull();
    expect(pyStrip('\u001c\u0085 x \u3000\u001f')).toBe('x');
    expect(pyStrip('\ufeffx')).toBe('\ufeffx');
  });
});

describePython('integer parsers against the real Python', () => {
  it('pyInt equals int() and patroniParseInt equals patroni.utils.parse_int on every input', () => {
    const out = runPython(
      `import json,sys
from patroni.utils import parse_int
res=[]
for t in json.loads(sys.stdin.read()):
    v=json.loads(t)
    try: a=str(int(v))
    except Exception: a=None
    try:
        b=parse_int(v)
        b=None if b is None else str(b)
    except Exception: b=None
    res.append([a,b])
print(json.dumps(res))`,
      JSON.stringify(INPUTS),
    );
    const expected = JSON.parse(out) as [string | null, string | null][];
    INPUTS.forEach((t, i) => {
      const v = parsePyJson(t);
      const ours = [pyInt(v), patroniParseInt(v)].map((x) => (x === null ? null : x.toString()));
      expect(ours, t).toEqual(expected[i]);
    });
  });

  it('random short strings: pyInt and patroniParseInt agree with Python (fast-check)', () => {
    const alphabet = [...'0123456789xXeE.+-_ \t', '\u00a0', '\u0663', '\u001c', 'a', 'M', 'B', 'f'];
    const texts = fc.sample(fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 8 }), {
      numRuns: 800,
      seed: 3,
    });
    const out = runPython(
      `import json,sys
from patroni.utils import parse_int
res=[]
for v in json.loads(sys.stdin.read()):
    try: a=str(int(v))
    except Exception: a=None
    try:
        b=parse_int(v)
        b=None if b is None else str(b)
    except Exception: b=None
    res.append([a,b])
print(json.dumps(res))`,
      JSON.stringify(texts),
    );
    const expected = JSON.parse(out) as [string | null, string | null][];
    texts.forEach((t, i) => {
      const ours = [pyInt(t), patroniParseInt(t)].map((x) => (x === null ? null : x.toString()));
      expect(ours, JSON.stringify(t)).toEqual(expected[i]);
    });
  });
});
