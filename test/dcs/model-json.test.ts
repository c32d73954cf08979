/**
 * The Python-compatible JSON layer: the lossless parser (acceptance identical to `json.loads`),
 * `pyJsonDumps` (byte-identical to `json.dumps(separators=(',', ':'))`), `pyRepr`/`pyStr` and
 * Patroni's `deep_compare` — unit tables, plus comparisons against the real Python.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deepCompare,
  type ExactJsonValue,
  JsonFloat,
  JsonParseError,
  JsonParseErrorCode,
  type PyJson,
  parsePyJson,
  pyFloatRepr,
  pyJsonDumps,
  pyRepr,
  pyStr,
  pyTruthy,
  tryParsePyJson,
} from '../../src/dcs/model/index.js';
import { describePython, runPython } from '../helpers/python.js';

/** Texts exercising every corner of json.loads; some valid, some not. */
const TEXTS: string[] = [
  '0',
  '-0',
  '1',
  '-1',
  '9007199254740991',
  '9007199254740992',
  '-9007199254740993',
  '18446744073709551615',
  '123456789012345678901234567890',
  '1.0',
  '-0.0',
  '0.1',
  '1e16',
  '1E+2',
  '1e-7',
  '2.5e-5',
  '123456789012345.0',
  '1.7976931348623157e308',
  '1e400',
  '-1e400',
  '5e-324',
  'NaN',
  'Infinity',
  '-Infinity',
  'true',
  'false',
  'null',
  '""',
  '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"',
  '"\\u00e9\\u20ac\\ud83d\\ude00"',
  '"\\ud800"',
  '"\\udc00x"',
  '"é€😀"',
  '"\u007f\u0080\u00ff"',
  '"\u2028\u2029"',
  ' \t\n\r[1, 2 ,3]\n ',
  '[]',
  '{}',
  '{"b":1,"a":2,"1":3}',
  '{"a":1,"a":2,"b":3}',
  '{"__proto__":{"x":1}}',
  '{"k":[1,{"z":[true,false,null]},"s"]}',
  '[[[[[]]]]]',
  // invalid
  '',
  ' ',
  '01',
  '1.',
  '.5',
  '+1',
  '-',
  '1e',
  '1e+',
  '[1,]',
  '{"a":1,}',
  "{'a':1}",
  '{a:1}',
  '[1 2]',
  '"abc',
  '"a\u0001b"',
  '"\\x41"',
  '"\\u12"',
  '"\\uZZZZ"',
  'nul',
  'True',
  'nan',
  'infinity',
  '-NaN',
  '\ufeff1',
  '1 2',
  '\u000c1',
  '\u00a01',
  '["a"]]',
  '１',
];

/** Python's verdict for each text: dumps output (exact) or null when json.loads raises. */
function pythonDumps(texts: string[]): (string | null)[] {
  const out = runPython(
    `import json,sys
texts=json.loads(sys.stdin.read())
res=[]
for t in texts:
    try:
        res.append(json.dumps(json.loads(t), separators=(',',':')))
    except ValueError:
        res.append(None)
print(json.dumps(res))`,
    JSON.stringify(texts),
  );
  return JSON.parse(out) as (string | null)[];
}

describe('parsePyJson', () => {
  it('keeps integers exact: number when safe, bigint beyond', () => {
    expect(parsePyJson('9007199254740991')).toBe(9007199254740991);
    expect(parsePyJson('9007199254740992')).toBe(9007199254740992n);
    expect(parsePyJson('-9007199254740992')).toBe(-9007199254740992n);
    expect(parsePyJson('18446744073709551615')).toBe(18446744073709551615n);
    expect(parsePyJson('[1,18446744073709551616]')).toEqual([1, 18446744073709551616n]);
    expect(Object.is(parsePyJson('-0'), 0)).toBe(true); // Python int has no −0
    expect(Object.is(parsePyJson('-0.0'), -0)).toBe(true);
    expect(parsePyJson('1.5')).toBe(1.5);
    expect(parsePyJson('1e400')).toBe(Number.POSITIVE_INFINITY);
  });

  it('accepts what Python accepts: NaN, Infinity, duplicate keys (last wins, first position)', () => {
    expect(parsePyJson('NaN')).toBeNaN();
    expect(parsePyJson('-Infinity')).toBe(Number.NEGATIVE_INFINITY);
    const o = parsePyJson('{"a":1,"b":2,"a":3}') as Record<string, number>;
    expect(Object.keys(o)).toEqual(['a', 'b']);
    expect(o['a']).toBe(3);
    expect(parsePyJson('"\\ud800"')).toBe('\ud800');
    expect(parsePyJson('"\\ud83d\\ude00"')).toBe('😀');
  });

  it('objects are null-prototype and frozen; __proto__ is an ordinary key', () => {
    const o = parsePyJson('{"__proto__":{"polluted":1},"constructor":2}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(o)).toBeNull();
    expect(Object.keys(o)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(o, '__proto__')?.value).toEqual({ polluted: 1 });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(parsePyJson('[1]'))).toBe(true);
    expect(tryParsePyJson('{"a":1}')).toEqual({ a: 1 });
  });

  it('exact mode keeps floats as JsonFloat and objects as ordered Maps', () => {
    const v = parsePyJson('{"b":1.0,"1":2,"a":[3,-0.0]}', { exact: true }) as Map<string, ExactJsonValue>;
    expect(v).toBeInstanceOf(Map);
    expect([...v.keys()]).toEqual(['b', '1', 'a']);
    expect(v.get('b')).toEqual(new JsonFloat(1));
    expect(v.get('1')).toBe(2);
    expect(pyJsonDumps(v)).toBe('{"b":1.0,"1":2,"a":[3,-0.0]}');
  });

  it('rejects what Python rejects, with a position and a code', () => {
    const bad = [
      '',
      '01',
      '1.',
      '.5',
      '+1',
      '[1,]',
      '{"a":1,}',
      "{'a':1}",
      '"a\u0001"',
      '\ufeff1',
      '1 2',
      'nan',
    ];
    for (const t of bad) {
      expect(() => parsePyJson(t), JSON.stringify(t)).toThrow(JsonParseError);
      expect(tryParsePyJson(t), JSON.stringify(t)).toBeUndefined();
    }
    expect(() => parsePyJson('[1,\n 2,]')).toThrow(
      expect.objectContaining({
        constructor: JsonParseError,
        message: 'Expecting value: line 2 column 4 (char 7)',
        position: 7,
        code: JsonParseErrorCode.Syntax,
      }),
    );
    expect(() => parsePyJson('1'.repeat(4301))).toThrow(/4300 digits/);
    expect(parsePyJson('1'.repeat(4300))).toBe(BigInt('1'.repeat(4300)));
    expect(parsePyJson(`-${'1'.repeat(4300)}`)).toBe(-BigInt('1'.repeat(4300)));
    expect(() => parsePyJson('['.repeat(2000) + ']'.repeat(2000))).toThrow(
      expect.objectContaining({ constructor: JsonParseError, code: JsonParseErrorCode.TooDeep }),
    );
    expect(() => parsePyJson(`{"a":${'['.repeat(2000)}${']'.repeat(2000)}}`)).toThrow(
      expect.objectContaining({ code: JsonParseErrorCode.TooDeep }),
    );
    expect(parsePyJson(`${'['.repeat(500)}${']'.repeat(500)}`)).toBeTruthy();
  });
});

describe('pyFloatRepr / pyJsonDumps (unit)', () => {
  it('prints floats like Python repr', () => {
    const table: [number, string][] = [
      [1, '1.0'],
      [-0, '-0.0'],
      [0, '0.0'],
      [0.1, '0.1'],
      [1e16, '1e+16'],
      [1e15, '1000000000000000.0'],
      [1.5e300, '1.5e+300'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [2 ** 53, '9007199254740992.0'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [123456789012345.6, '123456789012345.6'],
      [1234567890123456.8, '1234567890123456.8'],
      [Number.NaN, 'nan'],
      [Number.POSITIVE_INFINITY, 'inf'],
    ];
    for (const [x, s] of table) expect(pyFloatRepr(x), s).toBe(s);
  });

  it('numbers: safe integers print as ints, every other number as a Python float', () => {
    expect(
      pyJsonDumps([1, -0, 1e16, 0.5, 2n ** 64n, new JsonFloat(1), Number.NaN, Number.NEGATIVE_INFINITY]),
    ).toBe('[1,-0.0,1e+16,0.5,18446744073709551616,1.0,NaN,-Infinity]');
  });

  it('strings are ASCII with lowercase \\u escapes; key order is kept; undefined members skipped', () => {
    expect(pyJsonDumps('é€😀\u007f\u0000"\\/\b\f\n\r\t')).toBe(
      '"\\u00e9\\u20ac\\ud83d\\ude00\\u007f\\u0000\\"\\\\/\\b\\f\\n\\r\\t"',
    );
    expect(pyJsonDumps({ leader: 'pg1', member: undefined, scheduled_at: 'x' })).toBe(
      '{"leader":"pg1","scheduled_at":"x"}',
    );
    expect(
      pyJsonDumps(
        new Map<string, PyJson>([
          ['b', 1],
          ['1', 2],
        ]),
      ),
    ).toBe('{"b":1,"1":2}');
    expect(pyJsonDumps({ a: [], b: {}, c: [null, true, false] })).toBe(
      '{"a":[],"b":{},"c":[null,true,false]}',
    );
  });

  it('refuses values JSON cannot hold', () => {
    const cyclic: PyJson[] = [];
    (cyclic as PyJson[]).push(cyclic);
    expect(() => pyJsonDumps(cyclic)).toThrow(/Circular/);
    expect(() => pyJsonDumps(new Date() as unknown as PyJson)).toThrow(TypeError);
    expect(() => pyJsonDumps([undefined] as unknown as PyJson)).toThrow(TypeError);
    expect(() => pyJsonDumps((() => 1) as unknown as PyJson)).toThrow(TypeError);
  });
});

describe('pyRepr / pyStr / pyTruthy / deepCompare (unit)', () => {
  it('repr like Python', () => {
    expect(pyRepr(null)).toBe('None');
    expect(pyRepr(true)).toBe('True');
    expect(pyRepr([1, 'a', 1.5, new JsonFloat(2), null])).toBe("[1, 'a', 1.5, 2.0, None]");
    expect(pyRepr({ a: { b: [] } })).toBe("{'a': {'b': []}}");
    expect(pyRepr("it's")).toBe('"it\'s"');
    expect(pyRepr('a\'b"c')).toBe("'a\\'b\"c'");
    expect(pyRepr('\t\n\r\u0001\u007f\u00a0é\u200b😀\ud800')).toBe(
      "'\\t\\n\\r\\x01\\x7f\\xa0é\\u200b😀\\ud800'",
    );
    expect(pyStr('x')).toBe('x');
    expect(pyStr(100)).toBe('100');
    expect(pyStr(18446744073709551615n)).toBe('18446744073709551615');
  });

  it('truthiness like Python', () => {
    for (const v of [null, false, 0, -0, 0n, '', [], {}, new Map(), new JsonFloat(0)] as PyJson[]) {
      expect(pyTruthy(v), pyRepr(v)).toBe(false);
    }
    for (const v of [true, 1, Number.NaN, 1n, ' ', [0], { a: null }, new JsonFloat(0.1)] as PyJson[]) {
      expect(pyTruthy(v), pyRepr(v)).toBe(true);
    }
    expect(pyTruthy(undefined)).toBe(false);
  });

  it('deepCompare: same key sets, nested dicts recursively, other values by str()', () => {
    expect(deepCompare({ 1: null }, {})).toBe(false);
    expect(deepCompare({ 1: {} }, { 1: null })).toBe(false);
    expect(deepCompare({ 1: [1] }, { 1: [2] })).toBe(false);
    expect(deepCompare({ 1: 2 }, { 1: '2' })).toBe(true);
    expect(deepCompare({ 1: { 2: [3, 4] } }, { 1: { 2: [3, 4] } })).toBe(true);
    expect(deepCompare({ a: true }, { a: 'true' })).toBe(false);
    expect(deepCompare({ a: true }, { a: 'True' })).toBe(true);
    expect(deepCompare({ a: 100 }, { a: '100' })).toBe(true);
    expect(deepCompare({ a: [] }, {})).toBe(false);
    expect(deepCompare({ a: ['pg2'] }, { a: ['pg2'] })).toBe(true);
    expect(deepCompare({ a: ['pg2', 'pg3'] }, { a: ['pg3', 'pg2'] })).toBe(false);
    expect(deepCompare({ a: '{}' }, { a: {} })).toBe(true); // str('{}') == str({})
    expect(deepCompare({ a: {} }, { a: '{}' })).toBe(false); // obj1 holds a dict, obj2 does not
    expect(deepCompare({ a: 1 }, { a: new JsonFloat(1) })).toBe(false); // '1' vs '1.0'
    expect(deepCompare({ a: 2n ** 64n }, { a: '18446744073709551616' })).toBe(true);
    expect(deepCompare(new Map([['a', 1]]), { a: 1 })).toBe(true);
    expect(deepCompare({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(
      deepCompare(
        { optime: 100, slots: { a: 1 }, retain_slots: ['pg2'] },
        { optime: 100, retain_slots: ['pg2'] },
      ),
    ).toBe(false);
  });
});

describePython('JSON against the real Python', () => {
  it('parsePyJson accepts exactly what json.loads accepts; exact round trip is byte-identical', () => {
    const expected = pythonDumps(TEXTS);
    TEXTS.forEach((t, i) => {
      let ours: string | null;
      try {
        ours = pyJsonDumps(parsePyJson(t, { exact: true }));
      } catch (e) {
        if (!(e instanceof JsonParseError)) throw e;
        ours = null;
      }
      expect(ours, JSON.stringify(t)).toBe(expected[i]);
    });
  });

  it('random JSON documents round-trip like Python (fast-check)', () => {
    const arb = fc.array(
      fc.oneof(
        fc.json({ depthSize: 'small' }),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.string({ unit: 'grapheme' }).map((s) => JSON.stringify(s)),
        fc.string({ unit: 'binary' }).map((s) => JSON.stringify(s)),
        fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
        fc.double().map((x) => (Number.isFinite(x) ? x.toExponential() : 'NaN')),
      ),
      { minLength: 200, maxLength: 200 },
    );
    const texts = fc.sample(arb, { numRuns: 1, seed: 42 })[0] as string[];
    const expected = pythonDumps(texts);
    texts.forEach((t, i) => {
      expect(pyJsonDumps(parsePyJson(t, { exact: true })), t).toBe(expected[i]);
    });
  });

  it('pyJsonDumps of values built in TypeScript equals json.dumps of the same Python values', () => {
    const ours: PyJson[] = [
      { leader: 'pg1', member: 'pg2', scheduled_at: '2024-05-01T12:00:00+00:00' },
      { optime: 18446744073709551615n, slots: { pg2: 67108960, logical_é: 1 }, retain_slots: ['pg2', 'pg3'] },
      { conn_url: 'postgres://h:5432/postgres', tags: { nofailover: false, x: null }, name: 'Zoë ☃ 😀' },
      [
        1e16,
        0.1,
        new JsonFloat(1),
        -0,
        new JsonFloat(-0),
        1e-5,
        123.456,
        2 ** 53,
        Number.NaN,
        Number.POSITIVE_INFINITY,
      ],
      ['\u0000\u001f\u007f\u0080\u2028\ud800\udfff', '"\\/'],
      { nested: { deeper: { deepest: [[], {}, [[]]] } } },
    ];
    const py = runPython(`import json
vals = [
  {"leader": "pg1", "member": "pg2", "scheduled_at": "2024-05-01T12:00:00+00:00"},
  {"optime": 18446744073709551615, "slots": {"pg2": 67108960, "logical_\\u00e9": 1}, "retain_slots": ["pg2", "pg3"]},
  {"conn_url": "postgres://h:5432/postgres", "tags": {"nofailover": False, "x": None}, "name": "Zo\\u00eb \\u2603 \\U0001f600"},
  [1e16, 0.1, 1.0, -0.0, -0.0, 1e-5, 123.456, 9007199254740992.0, float("nan"), float("inf")],
  ["\\x00\\x1f\\x7f\\x80\\u2028\\ud800\\udfff", '"\\\\/'],
  {"nested": {"deeper": {"deepest": [[], {}, [[]]]}}},
]
for v in vals:
    print(json.dumps(v, separators=(",", ":")))`);
    expect(ours.map(pyJsonDumps)).toEqual(py.trimEnd().split('\n'));
  });

  it('pyFloatRepr equals Python repr on 3000 random doubles', () => {
    const xs = fc.sample(fc.double({ noNaN: true }), { numRuns: 3000, seed: 7 });
    const hex = xs.map((x) => {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(x);
      return b.toString('hex');
    });
    const py = runPython(
      `import sys,struct
for h in sys.stdin.read().split():
    print(repr(struct.unpack('>d', bytes.fromhex(h))[0]))`,
      hex.join('\n'),
    )
      .trimEnd()
      .split('\n');
    expect(xs.map(pyFloatRepr)).toEqual(py);
  });

  it('pyRepr equals Python repr; deepCompare equals patroni.utils.deep_compare', () => {
    const texts = [
      '"plain"',
      '"it\'s"',
      '"a\'b\\"c"',
      '"\\t\\n\\r\\u0001\\u007f\\u0085\\u00a0\\u00e9\\u200b\\u2028\\ud83d\\ude00\\ud800\\ue000\\u0378"',
      '[1, "a", 1.5, 2.0, null, true, [], {}]',
      '{"a": {"b": [1e16, -0.0, 18446744073709551615]}, "c": "x"}',
    ];
    const py = runPython(
      `import json,sys
for t in json.loads(sys.stdin.read()):
    print(json.dumps(repr(json.loads(t))))`,
      JSON.stringify(texts),
    )
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as string);
    expect(texts.map((t) => pyRepr(parsePyJson(t, { exact: true })))).toEqual(py);

    const pairs: [string, string][] = [
      ['{"1": null}', '{}'],
      ['{"1": {}}', '{"1": null}'],
      ['{"1": 2}', '{"1": "2"}'],
      ['{"a": true}', '{"a": "true"}'],
      ['{"a": true}', '{"a": "True"}'],
      ['{"a": "{}"}', '{"a": {}}'],
      ['{"a": {}}', '{"a": "{}"}'],
      ['{"a": 1}', '{"a": 1.0}'],
      ['{"a": [1, "2"]}', '{"a": "[1, \'2\']"}'],
      [
        '{"optime": 100, "slots": {"a": 1}, "retain_slots": ["pg2"]}',
        '{"optime": "100", "slots": {"a": "1"}, "retain_slots": ["pg2"]}',
      ],
      ['{"x": null}', '{"x": "None"}'],
      ['{"x": 1e16}', '{"x": "1e+16"}'],
    ];
    const pyCmp = runPython(
      `import json,sys
from patroni.utils import deep_compare
for a, b in json.loads(sys.stdin.read()):
    print(deep_compare(json.loads(a), json.loads(b)))`,
      JSON.stringify(pairs),
    )
      .trimEnd()
      .split('\n');
    const ours = pairs.map(([a, b]) =>
      deepCompare(
        parsePyJson(a, { exact: true }) as Map<string, ExactJsonValue>,
        parsePyJson(b, { exact: true }) as Map<string, ExactJsonValue>,
      )
        ? 'True'
        : 'False',
    );
    expect(ours).toEqual(pyCmp);
  });
});
