/**
 * The pickle codec against the golden vectors (decode = typed-JSON value; canonical encode = the
 * pinned bytes), every protocol's opcodes, and the rejections that keep the decoder safe: forbidden
 * globals, truncation, unknown opcodes, memo/stack misuse, absurd lengths, deep nesting, memo bombs.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/errors.js';
import { ALLOWED_GLOBALS, decodePickle, encodePickle, PickleOp } from '../../src/wire/pickle/index.js';
import {
  dict,
  float,
  NODE_CLASS,
  type PyDictKey,
  PyFloat,
  PyFrozenSet,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
  pyEquals,
  tcpNode,
  tuple,
} from '../../src/wire/value.js';
import { fromTypedJson, type TypedJson } from '../helpers/typed-json.js';
import { modelProblem, PICKLE_KINDS, pickleCases, strictDiff } from './pickle-support.js';

const here = dirname(fileURLToPath(import.meta.url));
const latin1 = (s: string) => Buffer.from(s, 'latin1');
const p2 = (body: string) => latin1(`\x80\x02${body}.`);

/** run `f`, expect a WireError with `code`; returns it */
function wireError(f: () => unknown, code?: WireErrorCode): WireError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof WireError)) {
    throw new Error(
      `expected a WireError, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`,
    );
  }
  if (code !== undefined && caught.code !== code) {
    throw new Error(`expected ${code}, got ${caught.code}: ${caught.message}`);
  }
  return caught;
}

function expectSame(got: PyValue, want: PyValue): void {
  const d = strictDiff(got, want);
  expect(d, d ?? '').toBeNull();
}

// ------------------------------------------------------------------------------------------------

describe('golden vectors', () => {
  const cases = pickleCases();

  it('has vectors of every kind the codec owns', () => {
    for (const kind of PICKLE_KINDS) {
      expect(cases.filter((c) => c.kind === kind).length, kind).toBeGreaterThan(0);
    }
  });

  for (const c of cases) {
    it(`${c.kind} ${c.name}`, () => {
      for (const check of c.checks) expect(check.ok, check.what).toBe(true);
      if (c.kind === 'command' && c.pickle.length === 0) return; // NO_OP: checked above, no pickle
      const got = decodePickle(c.pickle);
      expect(pyEquals(got, c.value), 'pyEquals(decoded, value)').toBe(true);
      expectSame(got, c.value);
      expect(modelProblem(got, 1e7, 1000)).toBeNull();

      const enc = encodePickle(c.value);
      if (c.canonical) {
        expect(enc.toString('hex')).toBe(c.canonical.toString('hex'));
      }
      // whatever the pinning, our encodings of the value decode back to it
      expectSame(decodePickle(enc), c.value);
      const bb = encodePickle(c.value, { bytes: 'binbytes' });
      expectSame(decodePickle(bb), c.value);
      if (c.binbytes) expect(bb.toString('hex')).toBe(c.binbytes.toString('hex'));
    });
  }
});

describe('every protocol (CPython 3.11 pickles, protocols 0-5)', () => {
  const fixtures = JSON.parse(readFileSync(join(here, 'pickle-protocols.json'), 'utf8')) as {
    cases: { name: string; hex: string; value: TypedJson }[];
  };
  it('has fixtures', () => expect(fixtures.cases.length).toBeGreaterThanOrEqual(18));
  for (const f of fixtures.cases) {
    it(f.name, () => {
      expectSame(decodePickle(Buffer.from(f.hex, 'hex')), fromTypedJson(f.value));
    });
  }
});

// ------------------------------------------------------------------------------------------------

describe('decoder semantics', () => {
  it('SHORT_BINSTRING / BINSTRING: ASCII → str, otherwise bytes (pysyncobj fallback)', () => {
    expectSame(decodePickle(p2('U\x05hello')), 'hello');
    expectSame(decodePickle(p2('U\x02\xc3\xa9')), Buffer.from([0xc3, 0xa9]));
    expectSame(decodePickle(p2('T\x03\x00\x00\x00abc')), 'abc');
    expectSame(decodePickle(p2('T\x01\x00\x00\x00\xff')), Buffer.from([0xff]));
    // the fallback that keeps them as bytes has other FRAME rules: the mix is refused
    wireError(
      () => decodePickle(latin1('\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00U\x01\xff.')),
      WireErrorCode.BadPickle,
    );
    wireError(
      () => decodePickle(latin1('\x80\x04U\x01\xff\x95\x01\x00\x00\x00\x00\x00\x00\x00.')),
      WireErrorCode.BadPickle,
    );
  });

  it('STRING (protocol 0 Python 2 str) with escapes, ASCII only', () => {
    expectSame(decodePickle(latin1("S'a\\'b\\n\\x41\\101\\q'\n.")), "a'b\nAA\\q");
    expectSame(decodePickle(latin1('S"x"\n.')), 'x');
    // non-ASCII: pysyncobj's fallback keeps only SHORT_BINSTRING/BINSTRING as bytes
    wireError(() => decodePickle(latin1("S'\\xff'\n.")), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1("S'\x9d'\n.")), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1("S'abc\n.")), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1("S'\\x4'\n.")), WireErrorCode.BadPickle);
  });

  it('UNICODE: raw-unicode-escape', () => {
    expectSame(decodePickle(latin1('V\\u00e9\\U0001f418\xe9\\x\n.')), 'é\u{1f418}é\\x');
    expectSame(decodePickle(latin1('V\\\\u0041\n.')), '\\\\u0041');
    expectSame(decodePickle(latin1('V\\ud800\n.')), '\ud800');
    wireError(() => decodePickle(latin1('V\\u12\n.')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('V\\U00110000\n.')), WireErrorCode.BadPickle);
  });

  it('BINUNICODE: UTF-8 with surrogatepass; invalid UTF-8 rejected; a real U+FFFD kept', () => {
    expectSame(decodePickle(p2('X\x03\x00\x00\x00\xed\xa0\x80')), '\ud800');
    expectSame(decodePickle(p2('X\x03\x00\x00\x00\xef\xbf\xbd')), '\ufffd');
    expectSame(decodePickle(p2('X\x04\x00\x00\x00\xf0\x9f\x90\x98')), '\u{1f418}');
    for (const bad of ['\xff', '\xc0\x80', '\xe0\x80\x80', '\xf4\x90\x80\x80', '\xc3', 'a\x80', '\xe2\x82']) {
      wireError(
        () => decodePickle(p2(`X${String.fromCharCode(bad.length)}\x00\x00\x00${bad}`)),
        WireErrorCode.BadPickle,
      );
    }
    // Latin-1 text, the bytes carrier: the fast path must agree with the general one
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
    expectSame(decodePickle(encodePickle(all)), all);
  });

  it('ints: text forms, LONG1/LONG4 edges, bigint only beyond 2^53', () => {
    expectSame(decodePickle(latin1('I00\n.')), false);
    expectSame(decodePickle(latin1('I01\n.')), true);
    wireError(() => decodePickle(latin1('I 1\n.')), WireErrorCode.BadPickle); // C: True; Python: 1
    wireError(() => decodePickle(latin1('I+0\n.')), WireErrorCode.BadPickle);
    expectSame(decodePickle(latin1('I-1\n.')), -1);
    expectSame(decodePickle(latin1('I 7\n.')), 7);
    expectSame(decodePickle(latin1('I-42\n.')), -42);
    expectSame(decodePickle(latin1('I 1_000 \n.')), 1000);
    expectSame(decodePickle(latin1('I123456789012345678901\n.')), 123456789012345678901n);
    expectSame(decodePickle(latin1('L12L\n.')), 12);
    expectSame(decodePickle(latin1('L-9007199254740993L\n.')), -9007199254740993n);
    wireError(() => decodePickle(latin1('I0x10\n.')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1(`I${'9'.repeat(4301)}\n.`)), WireErrorCode.BadPickle);
    expectSame(decodePickle(p2('\x8a\x00')), 0);
    expectSame(decodePickle(p2('\x8a\x01\xff')), -1);
    expectSame(decodePickle(p2('\x8a\x01\x80')), -128);
    expectSame(decodePickle(p2('\x8a\x02\xff\x7f')), 32767);
    expectSame(decodePickle(p2('\x8a\x07\xff\xff\xff\xff\xff\xff\x1f')), 2 ** 53 - 1);
    expectSame(decodePickle(p2('\x8a\x07\x00\x00\x00\x00\x00\x00\x20')), 2n ** 53n);
    expectSame(decodePickle(p2('\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80')), -(2n ** 63n));
    expectSame(decodePickle(p2('\x8b\x02\x00\x00\x00\x00\x01')), 256);
    expect(Object.is(decodePickle(latin1('L-0L\n.')), 0)).toBe(true);
  });

  it('floats: BINFLOAT and the text form', () => {
    expectSame(decodePickle(p2('G\x80\x00\x00\x00\x00\x00\x00\x00')), float(-0));
    expectSame(decodePickle(latin1('F1.5\n.')), float(1.5));
    expectSame(decodePickle(latin1('F-inf\n.')), float(Number.NEGATIVE_INFINITY));
    expectSame(decodePickle(latin1('Fnan\n.')), float(Number.NaN));
    expectSame(decodePickle(latin1('F1e-05\n.')), float(1e-5));
    expectSame(decodePickle(latin1('F.5\n.')), float(0.5));
    for (const bad of ['F\n.', 'F0x10\n.', 'F1.5.5\n.', 'Finfinityx\n.', 'F.\n.', 'Fe5\n.']) {
      wireError(() => decodePickle(latin1(bad)), WireErrorCode.BadPickle);
    }
  });

  it('dict keys: True and 1 are one key (Python equality); unhashable keys rejected', () => {
    const d = decodePickle(p2('}(\x88K\x01K\x01K\x02u')) as Map<PyDictKey, PyValue>;
    expect([...d]).toEqual([[true, 2]]);
    wireError(() => decodePickle(p2('}(]K\x01u')), WireErrorCode.BadPickle);
    const e = wireError(
      () => decodePickle(p2('}(G?\xf0\x00\x00\x00\x00\x00\x00K\x01u')),
      WireErrorCode.BadPickle,
    );
    expect(e.message).toMatch(/unsupported dict key type/);
  });

  it('sets: Python equality dedups; unhashable items rejected', () => {
    expectSame(
      decodePickle(
        p2('c__builtin__\nset\n](K\x01G?\xf0\x00\x00\x00\x00\x00\x00\x88X\x01\x00\x00\x00ae\x85R'),
      ),
      new PySet([1, 'a']),
    );
    expectSame(decodePickle(latin1('\x80\x04\x8f(K\x01K\x01\x90(K\x02K\x01\x90.')), new PySet([1, 2]));
    expectSame(decodePickle(latin1('\x80\x04(K\x01K\x01\x91.')), new PyFrozenSet([1]));
    wireError(() => decodePickle(latin1('\x80\x04(]\x91.')), WireErrorCode.BadPickle);
    // Node objects compare by id, whatever the class
    const two = decodePickle(encodePickle(new PySet([tcpNode('a:1')]))) as PySet;
    expect(two.items.length).toBe(1);
  });

  it('stack control: POP, POP_MARK, DUP, MEMOIZE numbering, empty APPENDS/SETITEMS are no-ops', () => {
    expectSame(decodePickle(p2('K\x01K\x020')), 1);
    expectSame(decodePickle(p2('K\x01(K\x02K\x031')), 1);
    expectSame(decodePickle(p2('K\x012\x86')), tuple(1, 1));
    // MEMOIZE stores at len(memo): after BINPUT 5 the next MEMOIZE index is 1
    expectSame(
      decodePickle(latin1('\x80\x04K\x07q\x05K\x08\x94\x86h\x01h\x05\x86\x86.')),
      tuple(tuple(7, 8), tuple(8, 7)),
    );
    expectSame(decodePickle(p2(']q\x00(e(e')), []);
    expectSame(decodePickle(p2('}(u')), new Map());
    // POP of a MARK (CPython pops the mark when nothing is above it)
    expectSame(decodePickle(p2('K\x01(0')), 1);
  });

  it('memo sharing yields the same object; the value is still a tree for consumers', () => {
    const v = decodePickle(p2(']q\x00(X\x02\x00\x00\x00abq\x01h\x01e]q\x02(h\x00h\x00e\x86')) as PyTuple;
    const [a, b] = v.items as [PyValue[], PyValue[]];
    expect(b[0]).toBe(a);
    expectSame(
      v,
      tuple(
        ['ab', 'ab'],
        [
          ['ab', 'ab'],
          ['ab', 'ab'],
        ],
      ),
    );
  });

  it('objects: NEWOBJ, NEWOBJ_EX, _reconstructor + BUILD, BUILD with (state, None)', () => {
    const node = tcpNode('10.0.0.1:5');
    const state = encodePickle(node.state).subarray(2, -1).toString('latin1');
    expectSame(decodePickle(p2(`cpysyncobj.node\nTCPNode\n)\x81${state}b`)), node);
    expectSame(decodePickle(latin1(`\x80\x04cpysyncobj.node\nTCPNode\n)}\x92${state}b.`)), node);
    expectSame(decodePickle(p2(`cpysyncobj.node\nTCPNode\n)\x81${state}N\x86b`)), node);
    expectSame(
      decodePickle(
        p2(`ccopyreg\n_reconstructor\ncpysyncobj.node\nTCPNode\ncbuiltins\nobject\nN\x87R${state}b`),
      ),
      node,
    );
    expectSame(
      decodePickle(p2('cpysyncobj.node\nNode\n)\x81}X\x03\x00\x00\x00_idK\x07sb')),
      new PyObject(NODE_CLASS, new Map([['_id', 7]])),
    );
    wireError(
      () => decodePickle(p2(`cpysyncobj.node\nTCPNode\n)\x81${state}}\x86b`)),
      WireErrorCode.BadPickle,
    );
    wireError(() => decodePickle(p2('cpysyncobj.node\nTCPNode\nK\x01\x85\x81')), WireErrorCode.BadPickle);
    wireError(
      () => decodePickle(p2('cpysyncobj.node\nTCPNode\nX\x03\x00\x00\x00a:1\x85R')),
      WireErrorCode.BadPickle,
    );
    wireError(
      () => decodePickle(p2('ccopyreg\n_reconstructor\ncpysyncobj.node\nTCPNode\nc__builtin__\nset\nN\x87R')),
      WireErrorCode.BadPickle,
    );
    wireError(() => decodePickle(p2(']}b')), WireErrorCode.BadPickle);
  });

  it('bytes: _codecs.encode latin1/latin-1, bytes(), bytes(list); nothing else', () => {
    expectSame(
      decodePickle(p2('c_codecs\nencode\nX\x03\x00\x00\x00\xc3\xbfaX\x07\x00\x00\x00latin-1\x86R')),
      Buffer.from([0xff, 0x61]),
    );
    expectSame(decodePickle(p2('c__builtin__\nbytes\n)R')), Buffer.alloc(0));
    expectSame(decodePickle(p2('cbuiltins\nbytes\n](K\x01K\xffe\x85R')), Buffer.from([1, 255]));
    wireError(
      () => decodePickle(p2('c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R')),
      WireErrorCode.BadPickle,
    );
    wireError(
      () => decodePickle(p2('c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf-8\x86R')),
      WireErrorCode.BadPickle,
    );
    wireError(() => decodePickle(p2('c__builtin__\nbytes\nJ\x00\x00\x00\x7f\x85R')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('c__builtin__\nbytes\n](M\x00\x01e\x85R')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('c__builtin__\nobject\n)R')), WireErrorCode.BadPickle);
  });

  it('the Latin-1 text after _codecs.encode is a str wherever it is not a REDUCE argument', () => {
    const C = 'c_codecs\nencode\n';
    const T = 'X\x02\x00\x00\x00\xc3\xa9'; // 'é' right after the reference: held as bytes
    const L = 'X\x06\x00\x00\x00latin1';
    const cases: [string, PyValue][] = [
      [`${C}${T}q\x0000h\x00`, 'é'],
      [`]${C}${T}q\x0000h\x00a`, ['é']],
      [`}${C}${T}q\x0000h\x00K\x01s`, new Map([['é', 1]])],
      [`\x8f(${C}${T}q\x0000h\x00\x90`, new PySet(['é'])],
      [`(${C}${T}q\x0000h\x00\x91`, new PyFrozenSet(['é'])],
      [`]${C}${T}\x85q\x0000h\x00a`, [tuple('é')]],
      [`}X\x01\x00\x00\x00k${C}${T}${L}\x86q\x0100h\x01s`, new Map([['k', tuple('é', 'latin1')]])],
      [`${C}${T}${L}\x86q\x0000h\x00\x85`, tuple(tuple('é', 'latin1'))],
      [
        `${C}X\x07\x00\x00\x00_codecsq\x0000h\x00\x8c\x06encode\x93X\x01\x00\x00\x00a${L}\x86R`,
        Buffer.from('a'),
      ],
      [`${C}${T}2\x86\x85q\x0000h\x00`, tuple(tuple('é', 'é'))],
    ];
    for (const [body, want] of cases) {
      const got = decodePickle(p2(body));
      expectSame(got, want);
      expect(modelProblem(got, 100, 10)).toBeNull();
    }
    // one argument tuple reduced twice: equal values, distinct buffers
    const twice = decodePickle(p2(`${C}q\x00${T}${L}\x86q\x01Rh\x00h\x01R\x86`)) as PyTuple;
    expectSame(twice, tuple(Buffer.from([0xe9]), Buffer.from([0xe9])));
    expect(twice.items[0]).not.toBe(twice.items[1]);
    // a text that is not Latin-1 stays an ordinary str (and REDUCE refuses it)
    wireError(() => decodePickle(p2(`${C}X\x02\x00\x00\x00\xc4\x80${L}\x86R`)), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2(`${C}${T}\x85R`)), WireErrorCode.BadPickle);
  });

  it('accepts any Uint8Array view and copies bytes out of the input', () => {
    const enc = encodePickle([Buffer.from('payload'), 'x']);
    const big = new Uint8Array(enc.length + 10);
    big.set(enc, 7);
    const view = big.subarray(7, 7 + enc.length);
    const v = decodePickle(view) as [Uint8Array, string];
    expectSame(v, [Buffer.from('payload'), 'x']);
    big.fill(0);
    expect(Buffer.from(v[0]).toString()).toBe('payload');
    const v2 = decodePickle(p2('C\x03abc')) as Uint8Array;
    expect(Buffer.isBuffer(v2)).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------

describe('rejections', () => {
  const forbidden = [
    ['os', 'system'],
    ['posix', 'system'],
    ['builtins', 'eval'],
    ['__builtin__', 'eval'],
    ['builtins', 'getattr'],
    ['__builtin__', 'bytearray'],
    ['subprocess', 'Popen'],
    ['_codecs', 'decode'],
    ['codecs', 'encode'],
    ['pysyncobj.node', 'TCPNodeX'],
    ['pysyncobj.syncobj', 'SyncObj'],
    ['copyreg', '__newobj__'],
    ['pysyncobj.node.TCPNode', ''],
    ['pysyncobj', 'node.TCPNode'],
    ['os\x00', 'system'],
  ] as const;

  for (const [module, name] of forbidden) {
    it(`forbids ${JSON.stringify(`${module}.${name}`)} (GLOBAL, STACK_GLOBAL, INST)`, () => {
      const g = wireError(
        () => decodePickle(p2(`c${module}\n${name}\nX\x02\x00\x00\x00ls\x85R`)),
        WireErrorCode.ForbiddenGlobal,
      );
      expect(g.offset).toBe(2);
      expect(g.message).toContain('0x63 GLOBAL');
      expect(g.message).toContain(JSON.stringify(`${module}.${name}`));
      const m = Buffer.from(module, 'utf8');
      const n = Buffer.from(name, 'utf8');
      const sg = Buffer.concat([
        latin1('\x80\x04\x8c'),
        Buffer.from([m.length]),
        m,
        latin1('\x8c'),
        Buffer.from([n.length]),
        n,
        latin1('\x93)R.'),
      ]);
      const s = wireError(() => decodePickle(sg), WireErrorCode.ForbiddenGlobal);
      expect(s.message).toContain('STACK_GLOBAL');
      expect(s.offset).toBe(6 + m.length + n.length);
      wireError(() => decodePickle(latin1(`(i${module}\n${name}\n.`)), WireErrorCode.ForbiddenGlobal);
    });
  }

  it('Python 2 module names only below protocol 3 (where Python maps them)', () => {
    expectSame(decodePickle(latin1('\x80\x02c__builtin__\nset\n)R.')), new PySet([]));
    expectSame(decodePickle(latin1('c__builtin__\nset\n)R.')), new PySet([]));
    expectSame(decodePickle(latin1('\x80\x04cbuiltins\nset\n)R.')), new PySet([]));
    wireError(() => decodePickle(latin1('\x80\x03c__builtin__\nset\n)R.')), WireErrorCode.BadPickle);
    wireError(
      () => decodePickle(latin1('\x80\x04\x8c\x0b__builtin__\x8c\x03set\x93)R.')),
      WireErrorCode.BadPickle,
    );
    wireError(
      () =>
        decodePickle(
          latin1('\x80\x04ccopy_reg\n_reconstructor\ncpysyncobj.node\nNode\ncbuiltins\nobject\nN\x87R.'),
        ),
      WireErrorCode.BadPickle,
    );
  });

  it('the allow-list is exactly the documented one', () => {
    expect([...ALLOWED_GLOBALS].sort()).toEqual(
      [
        '_codecs.encode',
        '__builtin__.bytes',
        'builtins.bytes',
        '__builtin__.set',
        'builtins.set',
        '__builtin__.frozenset',
        'builtins.frozenset',
        'pysyncobj.node.TCPNode',
        'pysyncobj.node.Node',
        'copy_reg._reconstructor',
        'copyreg._reconstructor',
        '__builtin__.object',
        'builtins.object',
      ].sort(),
    );
  });

  it('a global reference is never a value', () => {
    wireError(() => decodePickle(p2('c__builtin__\nset\n')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2(']c__builtin__\nset\na')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('}X\x01\x00\x00\x00ac__builtin__\nset\ns')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('c__builtin__\nset\n\x85')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('c__builtin__\nset\n\x85\x85')), WireErrorCode.BadPickle);
  });

  it('every truncation of the golden pickles (≤ 4 KiB) is a BadPickle naming an offset', () => {
    let n = 0;
    for (const c of pickleCases()) {
      if (c.pickle.length === 0 || c.pickle.length > 4096) continue;
      for (let cut = 0; cut < c.pickle.length; cut++) {
        const e = wireError(() => decodePickle(c.pickle.subarray(0, cut)), WireErrorCode.BadPickle);
        expect(e.offset, `${c.name} cut at ${cut}`).toBeLessThanOrEqual(cut);
        n++;
      }
    }
    expect(n).toBeGreaterThan(10_000);
  });

  it('unknown and unsupported opcodes', () => {
    const known = new Set<number>(Object.values(PickleOp));
    for (let op = 0; op < 256; op++) {
      if (known.has(op)) continue;
      const e = wireError(() => decodePickle(Buffer.from([0x80, 2, op, 0x2e])), WireErrorCode.BadPickle);
      expect(e.offset).toBe(2);
      expect(e.message).toContain(`0x${op.toString(16).padStart(2, '0')}`);
      expect(e.message).toContain('unknown opcode');
    }
    for (const body of ['P1\n', 'Q', '\x82\x01', '\x83\x01\x00', '\x84\x01\x00\x00\x00', '\x97', '\x98']) {
      wireError(() => decodePickle(latin1(`\x80\x05N${body}.`)), WireErrorCode.BadPickle);
    }
    wireError(() => decodePickle(latin1('\x80\x06N.')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('(cpysyncobj.node\nTCPNode\no.')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('(ipysyncobj.node\nTCPNode\n.')), WireErrorCode.BadPickle);
  });

  it('memo misuse', () => {
    wireError(() => decodePickle(p2('h\x00')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('K\x01q\x00h\x01')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('j\xff\xff\xff\xff')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('q\x00')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('K\x01(q\x00')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('\x80\x04\x94.')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('K\x01p-1\n.')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('K\x01p\n.')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('g99999999999\n.')), WireErrorCode.BadPickle);
    // huge but legal memo indexes allocate nothing
    expectSame(decodePickle(p2('K\x01r\xfe\xff\xff\xffj\xfe\xff\xff\xff\x86')), tuple(1, 1));
  });

  it('stack misuse', () => {
    const bad = [
      '',
      'a',
      'K\x01a',
      '(e',
      ']K\x01(e(',
      '}K\x01s',
      '}(K\x01u',
      ')K\x01a',
      'K\x01K\x01s',
      ']K\x01K\x02',
      '(',
      'K\x01(',
      'K\x01(K\x02',
      '\x85',
      'K\x01\x86',
      't',
      'l',
      'd',
      'u',
      'e',
      '\x90',
      '\x91',
      'R',
      'b',
      '\x81',
      '\x92',
      '0',
      '1',
      '2',
      'N)R',
      ')\x85R',
      '\x93',
      'K\x01K\x02\x93',
      '(K\x01\x90',
      '\x8f(]\x90',
    ];
    for (const body of bad) {
      wireError(() => decodePickle(latin1(`\x80\x02${body}.`)), WireErrorCode.BadPickle);
    }
    wireError(() => decodePickle(Buffer.alloc(0)), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('\x80\x02N.N')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(latin1('\x80\x02N')), WireErrorCode.BadPickle);
    wireError(() => decodePickle('not bytes' as unknown as Uint8Array), WireErrorCode.BadPickle);
  });

  it('cycles and modification after embedding', () => {
    // l = []; l.append(l)
    wireError(() => decodePickle(p2(']q\x00h\x00a')), WireErrorCode.BadPickle);
    wireError(() => decodePickle(p2('}q\x00X\x01\x00\x00\x00ah\x00s')), WireErrorCode.BadPickle);
    // a list modified after it was stored in a tuple
    wireError(() => decodePickle(p2(']q\x00\x85h\x00K\x01a0')), WireErrorCode.BadPickle);
    // an object built after being stored
    wireError(
      () => decodePickle(p2('cpysyncobj.node\nNode\n)\x81q\x00\x85h\x00}X\x03\x00\x00\x00_idK\x01sb0')),
      WireErrorCode.BadPickle,
    );
  });

  it('absurd lengths fail before allocating', () => {
    const bodies = [
      'X\xff\xff\xff\xffabc',
      'B\xff\xff\xff\xffabc',
      'C\xffabc',
      '\x8c\xffabc',
      '\x8d\xff\xff\xff\xff\xff\xff\xff\x7fabc',
      '\x8e\x00\x00\x00\x00\x00\x00\x00\x01abc',
      '\x96\xff\xff\xff\xff\xff\xff\xff\xffabc',
      '\x8b\xff\xff\xff\x7f\x01',
      '\x8b\xff\xff\xff\xff\x01',
      'T\xff\xff\xff\xffab',
      'T\xff\xff\xff\x7fab',
      'U\xffab',
      '\x8a\xff\x01',
      '\x95\xff\xff\xff',
      '\x95\xff\xff\xff\xff\xff\xff\xff\xff',
      '\x95\x00\x00\x00\x00\x01\x00\x00\x00N',
    ];
    for (const body of bodies) {
      const t0 = performance.now();
      wireError(() => decodePickle(latin1(`\x80\x04${body}.`)), WireErrorCode.BadPickle);
      expect(performance.now() - t0).toBeLessThan(50);
    }
  });

  it('100k nested containers → PickleLimit, no stack overflow', () => {
    const n = 100_000;
    const shapes = [
      `${']'.repeat(n)}${'a'.repeat(n - 1)}`, // EMPTY_LIST + APPEND
      `)${'\x85'.repeat(n)}`, // TUPLE1
      `${'('.repeat(n)}${'l'.repeat(n)}`, // MARK + LIST
      `${'('.repeat(n)}${'t'.repeat(n)}`, // MARK + TUPLE
      `${'('.repeat(n)}${'\x91'.repeat(n)}`, // MARK + FROZENSET
      `${'}K\x01'.repeat(n)}}${'s'.repeat(n)}`, // EMPTY_DICT + SETITEM
    ];
    for (const body of shapes) {
      const t0 = performance.now();
      const e = wireError(() => decodePickle(p2(body)), WireErrorCode.PickleLimit);
      expect(e.message).toMatch(/maxDepth/);
      expect(performance.now() - t0).toBeLessThan(2000);
    }
    // the limit itself: depth 1000 is fine, 1001 is not
    expectSame((decodePickle(p2(`)${'\x85'.repeat(999)}`)) as PyTuple).length, 1);
    wireError(() => decodePickle(p2(`)${'\x85'.repeat(1000)}`)), WireErrorCode.PickleLimit);
    expect(() => decodePickle(p2(`)${'\x85'.repeat(1000)}`), { maxDepth: 1001 })).not.toThrow();
    // an unclosed run of MARKs is only malformed
    wireError(() => decodePickle(p2('('.repeat(n))), WireErrorCode.BadPickle);
  });

  it('memo "billion laughs" → PickleLimit quickly', () => {
    const bombs: string[] = [];
    // lists: L0 = [], Li = [L(i-1)] * 10
    let s = ']q\x000';
    for (let i = 1; i <= 9; i++)
      s += `]q${String.fromCharCode(i)}(${`h${String.fromCharCode(i - 1)}`.repeat(10)}e${i < 9 ? '0' : ''}`;
    bombs.push(s);
    // tuples
    s = 'K\x01q\x000';
    for (let i = 1; i <= 9; i++)
      s += `(${`h${String.fromCharCode(i - 1)}`.repeat(10)}tq${String.fromCharCode(i)}${i < 9 ? '0' : ''}`;
    bombs.push(s);
    // dict values and frozensets of distinct tuples
    s = 'K\x01q\x000';
    for (let i = 1; i <= 9; i++) {
      let items = '';
      for (let k = 0; k < 10; k++) items += `K${String.fromCharCode(k)}h${String.fromCharCode(i - 1)}\x86`;
      s += `(${items}\x91q${String.fromCharCode(i)}${i < 9 ? '0' : ''}`;
    }
    bombs.push(s);
    for (const body of bombs) {
      const t0 = performance.now();
      const e = wireError(() => decodePickle(p2(body)), WireErrorCode.PickleLimit);
      expect(e.message).toMatch(/maxExpandedSize/);
      expect(performance.now() - t0).toBeLessThan(500);
    }
    // the size limit is exact: a list of n ints counts 1 + n values
    const list = (n: number) => encodePickle(Array.from({ length: n }, () => 1));
    expect(() => decodePickle(list(999), { maxExpandedSize: 1000 })).not.toThrow();
    wireError(() => decodePickle(list(1000), { maxExpandedSize: 1000 }), WireErrorCode.PickleLimit);
    // Infinity turns a limit off; a nonsense limit is the caller's bug
    expect(() => decodePickle(list(1000), { maxExpandedSize: Number.POSITIVE_INFINITY })).not.toThrow();
    expect(() => decodePickle(list(1), { maxDepth: -1 })).toThrow(RangeError);
    expect(() => decodePickle(list(1), { maxExpandedSize: Number.NaN })).toThrow(RangeError);
    // a dict counts its keys too
    const d = encodePickle(new Map(Array.from({ length: 10 }, (_, i) => [i, i] as [number, number])));
    expect(() => decodePickle(d, { maxExpandedSize: 21 })).not.toThrow();
    wireError(() => decodePickle(d, { maxExpandedSize: 20 }), WireErrorCode.PickleLimit);
  });
});

// ------------------------------------------------------------------------------------------------

describe('encoder', () => {
  const hex = (v: PyValue, opts?: Parameters<typeof encodePickle>[1]) =>
    encodePickle(v, opts).toString('hex');

  it('ints: smallest opcode, minimal LONG1, LONG4 past 255 bytes; bigint and number alike', () => {
    expect(hex(5n)).toBe(hex(5));
    expect(hex(-1)).toBe('80024affffffff2e');
    expect(hex(2 ** 31)).toBe('80028a0500000080002e');
    expect(hex(-(2 ** 31) - 1)).toBe('80028a05ffffff7fff2e');
    expect(hex(2 ** 40)).toBe('80028a06000000000001' + '2e');
    expect(hex(-(2 ** 47))).toBe('80028a06000000000080' + '2e');
    expect(hex(2 ** 53 + 2)).toBe(hex(2n ** 53n + 2n));
    expect(hex(-128n * 2n ** 56n)).toBe('80028a0800000000000000802e');
    const huge = 2n ** 3000n;
    const enc = encodePickle(huge);
    expect(enc[2]).toBe(PickleOp.LONG4);
    expect(enc.readUInt32LE(3)).toBe(376);
    expectSame(decodePickle(enc), huge);
  });

  it('prefix: one byte before the pickle, in the same buffer, small and large outputs alike', () => {
    for (const v of [5, ['add', 'a:1'], 'x'.repeat(300_000)] as PyValue[]) {
      const plain = encodePickle(v);
      const withPrefix = encodePickle(v, { prefix: 2 });
      expect(withPrefix.length).toBe(plain.length + 1);
      expect(withPrefix[0]).toBe(2);
      expect(Buffer.compare(withPrefix.subarray(1), plain)).toBe(0);
      expectSame(decodePickle(withPrefix.subarray(1)), v);
    }
    for (const bad of [-1, 256, 1.5]) {
      expect(() => encodePickle(1, { prefix: bad })).toThrow(WireError);
    }
  });

  it('floats are BINFLOAT, never memoized', () => {
    expect(hex([float(1.5), float(1.5)])).toBe('80025d710028473ff800000000000047' + '3ff8000000000000652e');
    expect(hex(float(Number.NaN))).toBe('8002477ff80000000000002e');
  });

  it('str singletons shared by value: "" and one char < U+0100, also with a 1-byte bytes text', () => {
    expect(hex(['a', 'a', 'ab', 'ab'])).toBe(
      '80025d710028580100000061710168015802000000616271025802000000616271036' + '52e',
    );
    // b'A' is _codecs.encode('A', 'latin1'): its text is the 'A' singleton
    const v = [Buffer.from('A'), 'A', Buffer.from('A'), '', ''];
    const enc = encodePickle(v);
    expect(enc.toString('latin1')).toContain('X\x01\x00\x00\x00Aq\x02'); // text memoized once
    expect(enc.toString('latin1').split('X\x01\x00\x00\x00A').length).toBe(2);
    expectSame(decodePickle(enc), v);
    // a char ≥ U+0100 is not a singleton
    expect(encodePickle(['\u0100', '\u0100']).toString('latin1').split('X\x02\x00\x00\x00').length).toBe(3);
  });

  it('lone surrogates are written as Python does (surrogatepass)', () => {
    expect(hex('\ud800')).toBe('80025803000000eda08071002e');
    expect(hex('a\udc00\ud83d\udc18')).toBe('80025808000000' + '61edb080f09f9098' + '71002e');
    expectSame(decodePickle(encodePickle('x\udfff\ud800')), 'x\udfff\ud800');
  });

  it('TCPNode: address = BINGET of _id; attribute names shared across nodes', () => {
    const enc = encodePickle([
      tcpNode('h:1'),
      tcpNode('h:2'),
      new PyObject(NODE_CLASS, new Map([['_id', 'h:1']])),
    ]);
    const text = enc.toString('latin1');
    expect(text.split('_TCPNode__address').length).toBe(2);
    expect(text.split('_id').length).toBe(2);
    expect(text.split('cpysyncobj.node\nTCPNode\n').length).toBe(2);
    expectSame(decodePickle(enc), [
      tcpNode('h:1'),
      tcpNode('h:2'),
      new PyObject(NODE_CLASS, new Map([['_id', 'h:1']])),
    ]);
    // a state whose address differs from its id is written as is
    const odd = new PyObject(
      'pysyncobj.node.TCPNode',
      dict([
        ['_TCPNode__address', 'x:1'],
        ['_id', 'y:2'],
      ]),
    );
    expectSame(decodePickle(encodePickle(odd)), odd);
  });

  it('binbytes option: SHORT_BINBYTES / BINBYTES, no memo', () => {
    expect(hex(Buffer.from([0, 1, 2]), { bytes: 'binbytes' })).toBe('80024303000102' + '2e');
    const big = Buffer.alloc(300, 7);
    const enc = encodePickle(big, { bytes: 'binbytes' });
    expect(enc[2]).toBe(PickleOp.BINBYTES);
    expect(enc.readUInt32LE(3)).toBe(300);
    expectSame(decodePickle(enc), big);
  });

  it('batches of 1000 and LONG_BINPUT past memo 255', () => {
    const list = Array.from({ length: 2001 }, (_, i) => `s${i}`);
    const enc = encodePickle(list);
    expectSame(decodePickle(enc), list);
    expect(enc.includes(latin1('r\x00\x01\x00\x00'))).toBe(true);
    const m = new Map<PyDictKey, PyValue>(list.map((s, i) => [s, i]));
    expectSame(decodePickle(encodePickle(m)), m);
    // CPython's C pickler follows a full batch of dict items with another, even empty, batch
    const full = new Map<PyDictKey, PyValue>(Array.from({ length: 2000 }, (_, i) => [i, i]));
    expect(encodePickle(full).subarray(-4).toString('latin1')).toBe('u(u.');
    expect(encodePickle(list.slice(0, 1000)).subarray(-2).toString('latin1')).toBe('e.');
  });

  it('refuses values outside the model with Unencodable', () => {
    const cyclic: PyValue[] = [];
    cyclic.push(cyclic);
    let deep: PyValue = [];
    for (let i = 0; i < 1500; i++) deep = [deep];
    const bad: unknown[] = [
      undefined,
      () => 1,
      Symbol('x'),
      { a: 1 },
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      new Int8Array(2),
      new Map<unknown, PyValue>([[{}, 1]]),
      new Map<unknown, PyValue>([[1.5, 1]]),
      new Map<unknown, PyValue>([[float(1), 1]]),
      new PyObject('os.system', new Map()),
      [undefined],
      new PyTuple([undefined as unknown as PyValue]),
      cyclic,
      deep,
      new PySet([() => 1] as unknown as PyValue[]),
      new PySet([[1]]),
      new PyFrozenSet([new Map()]),
      new PySet([new PyTuple([[]])]),
    ];
    for (const v of bad) wireError(() => encodePickle(v as PyValue), WireErrorCode.Unencodable);
    expect(() => encodePickle(deep, { maxDepth: 2000 })).not.toThrow();
  });

  it('output is a fresh buffer each call', () => {
    const a = encodePickle('first');
    const b = encodePickle('second');
    expect(a.toString('latin1')).toContain('first');
    expect(b.toString('latin1')).toContain('second');
    expect(a.buffer === b.buffer && a.byteOffset === b.byteOffset).toBe(false);
  });

  it('PyFloat and int stay distinct through a round trip', () => {
    const v = [1, float(1), true, 1n << 80n, float(-0), new PyFloat(2 ** 60)];
    expectSame(decodePickle(encodePickle(v)), v);
  });
});
