/**
 * Shared helpers of the pickle codec tests: strict (type-exact) value comparison, a model checker
 * that walks a decoded value, fast-check arbitraries for PyValues and pickle-ish byte strings, and the
 * golden-vector cases of the kinds the pickle codec owns.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { pyHashKey } from '../../src/wire/pickle/index.js';
import {
  int,
  NODE_CLASS,
  type PyDictKey,
  PyFloat,
  PyFrozenSet,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
  tcpNode,
} from '../../src/wire/value.js';
import { fromTypedJson } from '../helpers/typed-json.js';
import { VECTORS_DIR, type Vector, vectorBytes, vectorIndex } from '../helpers/vectors.js';

// ------------------------------------------------------------------------------------------------
// strict comparison

/**
 * Type-exact equality: int vs float vs bool distinct, floats by bit pattern class (Object.is, so
 * -0.0 ≠ 0.0 and NaN = NaN), dicts in insertion order, sets as sets. Returns null when equal, else
 * the path of the first difference.
 */
export function strictDiff(a: PyValue, b: PyValue, path = '$'): string | null {
  if (a === null || b === null) return a === b ? null : `${path}: ${show(a)} vs ${show(b)}`;
  if (typeof a !== 'object' || typeof b !== 'object') {
    if (typeof a !== typeof b) {
      // number and bigint are both Python int: compare by value
      if (
        (typeof a === 'number' || typeof a === 'bigint') &&
        (typeof b === 'number' || typeof b === 'bigint')
      ) {
        return BigInt(a) === BigInt(b) ? null : `${path}: ${show(a)} vs ${show(b)}`;
      }
      return `${path}: ${show(a)} vs ${show(b)}`;
    }
    return a === b ? null : `${path}: ${show(a)} vs ${show(b)}`;
  }
  if (a instanceof PyFloat || b instanceof PyFloat) {
    return a instanceof PyFloat && b instanceof PyFloat && Object.is(a.value, b.value)
      ? null
      : `${path}: ${show(a)} vs ${show(b)}`;
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b))
      ? null
      : `${path}: ${show(a)} vs ${show(b)}`;
  }
  if (a instanceof PyTuple || b instanceof PyTuple) {
    if (!(a instanceof PyTuple && b instanceof PyTuple)) return `${path}: ${show(a)} vs ${show(b)}`;
    return seqDiff(a.items, b.items, path);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!(Array.isArray(a) && Array.isArray(b))) return `${path}: ${show(a)} vs ${show(b)}`;
    return seqDiff(a, b, path);
  }
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map)) return `${path}: ${show(a)} vs ${show(b)}`;
    if (a.size !== b.size) return `${path}: dict of ${a.size} vs ${b.size} items`;
    const ka = [...a.keys()];
    const kb = [...b.keys()];
    for (let i = 0; i < ka.length; i++) {
      const d = strictDiff(ka[i] as PyDictKey, kb[i] as PyDictKey, `${path}.key[${i}]`);
      if (d) return d;
      const d2 = strictDiff(
        a.get(ka[i] as PyDictKey) as PyValue,
        b.get(kb[i] as PyDictKey) as PyValue,
        `${path}[${show(ka[i] as PyDictKey)}]`,
      );
      if (d2) return d2;
    }
    return null;
  }
  if (a instanceof PySet || a instanceof PyFrozenSet || b instanceof PySet || b instanceof PyFrozenSet) {
    if (a.constructor !== b.constructor) return `${path}: ${show(a)} vs ${show(b)}`;
    const ia = (a as PySet).items;
    const ib = (b as PySet).items;
    if (ia.length !== ib.length) return `${path}: set of ${ia.length} vs ${ib.length} items`;
    const used = new Set<number>();
    for (const x of ia) {
      const j = ib.findIndex((y, k) => !used.has(k) && strictDiff(x, y) === null);
      if (j < 0) return `${path}: set item ${show(x)} missing`;
      used.add(j);
    }
    return null;
  }
  if (a instanceof PyObject && b instanceof PyObject) {
    if (a.className !== b.className) return `${path}: class ${a.className} vs ${b.className}`;
    return strictDiff(a.state, b.state, `${path}.state`);
  }
  return `${path}: ${show(a)} vs ${show(b)}`;
}

function seqDiff(a: readonly PyValue[], b: readonly PyValue[], path: string): string | null {
  if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const d = strictDiff(a[i] as PyValue, b[i] as PyValue, `${path}[${i}]`);
    if (d) return d;
  }
  return null;
}

function show(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v !== 'object') return String(v);
  if (v instanceof PyFloat) return `float(${Object.is(v.value, -0) ? '-0' : v.value})`;
  if (v instanceof Uint8Array) return `bytes(${Buffer.from(v).toString('hex').slice(0, 40)})`;
  return v.constructor.name;
}

// ------------------------------------------------------------------------------------------------
// model check

/**
 * Walk a decoded value: every node must be a model type (no internal decoder objects), the tree
 * (memo sharing walked as a tree) must have at most `maxNodes` values and `maxDepth` container
 * levels. Stops walking past the bounds, so a DAG bomb cannot hang the test. Returns a problem or null.
 */
export function modelProblem(v: PyValue, maxNodes: number, maxDepth: number): string | null {
  let nodes = 0;
  const walk = (x: PyValue, depth: number): string | null => {
    if (++nodes > maxNodes) return `more than ${maxNodes} values`;
    if (x === null) return null;
    switch (typeof x) {
      case 'string':
      case 'boolean':
      case 'bigint':
        return null;
      case 'number':
        return Number.isSafeInteger(x) ? null : `non-integer number ${x}`;
      case 'object':
        break;
      default:
        return `a ${typeof x}`;
    }
    if (x instanceof PyFloat || x instanceof Uint8Array) return null;
    if (depth + 1 > maxDepth) return `deeper than ${maxDepth}`;
    let children: readonly PyValue[];
    if (Array.isArray(x)) children = x;
    else if (x instanceof PyTuple || x instanceof PySet || x instanceof PyFrozenSet) children = x.items;
    else if (x instanceof Map) {
      for (const k of x.keys()) {
        if (!(k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k)))
          return 'bad dict key';
        nodes++;
      }
      children = [...x.values()];
    } else if (x instanceof PyObject) {
      if (depth + 2 > maxDepth) return `deeper than ${maxDepth}`;
      return walk(x.state, depth + 1);
    } else return `an object of class ${(x as object).constructor?.name}`;
    for (const c of children) {
      const p = walk(c, depth + 1);
      if (p) return p;
    }
    return null;
  };
  return walk(v, 0);
}

// ------------------------------------------------------------------------------------------------
// arbitraries

const hostArb = fc.oneof(
  fc.ipV4(),
  fc.constantFrom('localhost', 'pg-1.example.com', '::1'),
  fc.domain({ size: 'xsmall' }),
);
export const tcpNodeArb: fc.Arbitrary<PyObject> = fc
  .tuple(hostArb, fc.integer({ min: 0, max: 65535 }))
  .map(([h, p]) => tcpNode(`${h}:${p}`));

export const nodeArb: fc.Arbitrary<PyObject> = fc.oneof(
  tcpNodeArb,
  fc
    .string({ maxLength: 8 })
    .map((id) => new PyObject(NODE_CLASS, new Map<PyDictKey, PyValue>([['_id', id]]))),
);

export const intArb: fc.Arbitrary<number | bigint> = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: -70_000, max: 70_000 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }).map(int),
  fc.bigInt({ min: -(1n << 2100n), max: 1n << 2100n }).map(int),
  fc
    .constantFrom(
      2n ** 31n,
      -(2n ** 31n) - 1n,
      2n ** 53n,
      -(2n ** 53n),
      2n ** 53n - 1n,
      2n ** 63n,
      -(2n ** 63n),
      2n ** 64n,
    )
    .map(int),
);

export const floatArb: fc.Arbitrary<PyFloat> = fc
  .oneof(
    fc.double(),
    fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, -Infinity, 5e-324, 1e308, 1.5),
  )
  .map((x) => new PyFloat(x));

/** str: ASCII, all of Unicode (astral), lone surrogates, and the singletons '' / one Latin-1 char */
export const strArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 6 }),
  fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('', 'latin1', '_id', '_TCPNode__address', 'type', 'append_entries', '\u{1f418}', '\ud800'),
  fc.string({ unit: 'binary', minLength: 250, maxLength: 400 }),
);

export const bytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 12 }),
  fc.uint8Array({ minLength: 0, maxLength: 1 }),
  fc.uint8Array({ minLength: 250, maxLength: 300 }),
);

export const keyArb: fc.Arbitrary<PyDictKey> = fc.oneof(strArb, intArb, fc.boolean(), fc.constant(null));

const hashableLeaf: fc.Arbitrary<PyValue> = fc.oneof(
  strArb,
  intArb,
  fc.boolean(),
  fc.constant(null),
  floatArb.filter((f) => !Number.isNaN(f.value)),
  bytesArb,
  nodeArb,
);

/** hashable values (set items): leaves, tuples of hashables, frozensets */
export const hashableArb: fc.Arbitrary<PyValue> = fc.oneof(
  { weight: 5, arbitrary: hashableLeaf },
  { weight: 1, arbitrary: fc.array(hashableLeaf, { maxLength: 3 }).map((items) => new PyTuple(items)) },
  {
    weight: 1,
    arbitrary: fc
      .uniqueArray(hashableLeaf, { maxLength: 3, selector: (v) => pyHashKey(v) })
      .map((items) => new PyFrozenSet(items)),
  },
);

const uniqueHashables = (max: number) =>
  fc.uniqueArray(hashableArb, { maxLength: max, selector: (v) => pyHashKey(v) });

export const leafArb: fc.Arbitrary<PyValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  intArb,
  floatArb,
  strArb,
  bytesArb,
);

/** every model type, nested */
export const pyValueArb: fc.Arbitrary<PyValue> = fc.letrec<{ value: PyValue }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: leafArb },
    { weight: 2, arbitrary: fc.array(tie('value'), { maxLength: 5 }).map((items) => new PyTuple(items)) },
    { weight: 2, arbitrary: fc.array(tie('value'), { maxLength: 5 }) },
    {
      weight: 2,
      arbitrary: fc
        .uniqueArray(fc.tuple(keyArb, tie('value')), { maxLength: 5, selector: ([k]) => pyHashKey(k) })
        .map((entries) => new Map<PyDictKey, PyValue>(entries)),
    },
    { weight: 1, arbitrary: uniqueHashables(4).map((items) => new PySet(items)) },
    { weight: 1, arbitrary: uniqueHashables(3).map((items) => new PyFrozenSet(items)) },
    { weight: 1, arbitrary: nodeArb },
  ),
})).value;

/** big containers: batches of 1000, LONG_BINPUT/LONG_BINGET past memo index 255 */
export const bigValueArb: fc.Arbitrary<PyValue> = fc.oneof(
  fc.array(leafArb, { minLength: 995, maxLength: 2010 }),
  fc
    .uniqueArray(fc.tuple(keyArb, leafArb), {
      minLength: 995,
      maxLength: 2010,
      selector: ([k]) => pyHashKey(k),
    })
    .map((e) => new Map<PyDictKey, PyValue>(e)),
  fc.array(nodeArb, { minLength: 100, maxLength: 300 }),
  fc.array(
    fc.tuple(bytesArb, intArb, intArb).map((t) => new PyTuple(t)),
    { minLength: 200, maxLength: 400 },
  ),
);

// ------------------------------------------------------------------------------------------------
// pickle-ish byte strings for the robustness properties

const TOKENS: readonly string[] = [
  '(',
  ')',
  ']',
  '}',
  'N',
  '\x88',
  '\x89',
  '0',
  '1',
  '2',
  'a',
  'e',
  's',
  'u',
  't',
  'l',
  'd',
  '\x85',
  '\x86',
  '\x87',
  'R',
  'b',
  '\x81',
  '\x92',
  '\x8f',
  '\x90',
  '\x91',
  '\x94',
  '.',
  'K\x05',
  'K\x00',
  'K\x01',
  'M\x00\x01',
  'J\xff\xff\xff\xff',
  '\x8a\x01\xff',
  '\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x80',
  '\x8b\x02\x00\x00\x00\x01\x02',
  'G?\xf8\x00\x00\x00\x00\x00\x00',
  'F1.5\n',
  'Fnan\n',
  'I12\n',
  'I01\n',
  'L12L\n',
  'h\x00',
  'h\x01',
  'h\x02',
  'q\x00',
  'q\x01',
  'q\x02',
  'j\x00\x00\x00\x00',
  'r\x01\x00\x00\x00',
  'g0\n',
  'p3\n',
  'X\x01\x00\x00\x00a',
  'X\x00\x00\x00\x00',
  'X\x06\x00\x00\x00latin1',
  'X\x02\x00\x00\x00\xc3\xa9',
  '\x8c\x03abc',
  'X\x03\x00\x00\x00_id',
  'Vlatin1\n',
  'V\\u00e9\\U0001f418\n',
  "S'ab\\x00'\n",
  'U\x02ab',
  'U\x01\xff',
  'T\x01\x00\x00\x00z',
  'C\x01z',
  'B\x02\x00\x00\x00zz',
  '\x8e\x01\x00\x00\x00\x00\x00\x00\x00q',
  '\x96\x00\x00\x00\x00\x00\x00\x00\x00',
  'c_codecs\nencode\n',
  'c__builtin__\nset\n',
  'c__builtin__\nfrozenset\n',
  'c__builtin__\nbytes\n',
  'cbuiltins\nobject\n',
  'cpysyncobj.node\nTCPNode\n',
  'cpysyncobj.node\nNode\n',
  'ccopy_reg\n_reconstructor\n',
  '\x8c\x07builtins\x8c\x03set\x93',
  '\x80\x02',
  '\x80\x04',
  '\x95\x02\x00\x00\x00\x00\x00\x00\x00',
];

/** a PROTO header then random opcodes with plausible arguments (often a valid or nearly valid pickle) */
export const tokenPickleArb: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      { weight: 9, arbitrary: fc.constantFrom(...TOKENS) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 3 }) },
    ),
    {
      maxLength: 40,
    },
  )
  .map((tokens) => Buffer.from(`\x80\x02${tokens.join('')}.`, 'latin1'));

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'duplicate'; at: number; len: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
);

export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    switch (m.kind) {
      case 'flip':
        if (at < b.length) b[at] = (b[at] as number) ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case 'set':
        if (at < b.length) b[at] = m.byte;
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
        break;
    }
  }
  return Buffer.from(b);
}

// ------------------------------------------------------------------------------------------------
// golden vectors of the kinds the pickle codec owns

export const PICKLE_KINDS = [
  'pickle',
  'pickle-accepted',
  'command',
  'journal-meta',
  'dump',
  'frame-real',
] as const;

export interface PickleCase {
  /** vector name, with a suffix for vectors that give several pickles */
  name: string;
  kind: string;
  /** the pickle bytes to decode */
  pickle: Buffer;
  /** the value they decode to */
  value: PyValue;
  /** bytes a canonical encoder must produce for `value`, when the vector pins them */
  canonical?: Buffer;
  /** bytes the `{ bytes: 'binbytes' }` encoding must produce, when pinned */
  binbytes?: Buffer;
  /** extra checks on the raw file (command type byte, gzip companion, …) */
  checks: { what: string; ok: boolean }[];
}

function need<T>(v: Vector, field: string, x: T | undefined | null): T {
  if (x === undefined || x === null) throw new Error(`vector ${v.name} (${v.kind}) lacks ${field}`);
  return x;
}

/** all cases; throws (so the suite fails) on a vector of an owned kind it cannot handle */
export function pickleCases(): PickleCase[] {
  const out: PickleCase[] = [];
  for (const v of vectorIndex().vectors) {
    if (!(PICKLE_KINDS as readonly string[]).includes(v.kind)) continue;
    out.push(...casesOf(v));
  }
  return out;
}

function casesOf(v: Vector): PickleCase[] {
  const value = () => fromTypedJson(need(v, 'value', v.value));
  switch (v.kind) {
    case 'pickle': {
      const pickle = vectorBytes(v.file);
      const canonical = v.encode_exact
        ? pickle
        : v.canonical_file
          ? vectorBytes(v.canonical_file)
          : undefined;
      return [{ name: v.name, kind: v.kind, pickle, value: value(), canonical, checks: [] }];
    }
    case 'pickle-accepted': {
      const pickle = vectorBytes(v.file);
      if (v.python_loads !== true) throw new Error(`vector ${v.name}: python_loads is not true`);
      // PROTO 2 + SHORT_BINBYTES without memo is exactly what the binbytes option writes
      const binbytes = v.name === 'accept_proto2_binbytes' ? pickle : undefined;
      return [{ name: v.name, kind: v.kind, pickle, value: value(), binbytes, checks: [] }];
    }
    case 'command': {
      const file = vectorBytes(v.file);
      const typeByte = need(v, 'command_type_byte', v.command_type_byte as number | undefined);
      const checks = [{ what: `type byte ${typeByte}`, ok: file[0] === typeByte }];
      if (v.command_type === 'NO_OP') {
        // NO_OP carries no pickle: the whole command is the single byte 01
        checks.push({
          what: 'NO_OP is exactly 01',
          ok: file.length === 1 && file[0] === 1 && (v.value ?? null) === null,
        });
        return [{ name: v.name, kind: v.kind, pickle: Buffer.alloc(0), value: null, checks }];
      }
      const pickle = file.subarray(1);
      if (typeof v.payload_pickle_hex === 'string') {
        checks.push({
          what: 'payload_pickle_hex',
          ok: Buffer.from(v.payload_pickle_hex, 'hex').equals(pickle),
        });
      }
      const canonical = v.encode_exact
        ? pickle
        : v.canonical_file
          ? vectorBytes(v.canonical_file)
          : undefined;
      return [{ name: v.name, kind: v.kind, pickle, value: value(), canonical, checks }];
    }
    case 'journal-meta': {
      const pickle = vectorBytes(v.file);
      // {'raftCommitIndex': N}: nothing shared, so Python's bytes are the canonical form
      return [{ name: v.name, kind: v.kind, pickle, value: value(), canonical: pickle, checks: [] }];
    }
    case 'dump': {
      const pickle = gunzipSync(vectorBytes(v.file));
      const checks: { what: string; ok: boolean }[] = [];
      if (typeof v.pickle_hex_len === 'number') {
        // despite its name, pickle_hex_len is the pickle's length in bytes
        checks.push({ what: 'pickle_hex_len', ok: pickle.length === v.pickle_hex_len });
      }
      const companion = v.file.replace(/\.(gz|dump)$/, '.pickle');
      if (companion !== v.file && existsSync(join(VECTORS_DIR, companion))) {
        checks.push({ what: `gunzip = ${companion}`, ok: vectorBytes(companion).equals(pickle) });
      }
      return [{ name: v.name, kind: v.kind, pickle, value: value(), checks }];
    }
    case 'frame-real': {
      const pickle = vectorBytes(need(v, 'pickle_file', v.pickle_file as string | undefined));
      let expected = value();
      // after the key exchange the pickle holds (rand_key, message); `value` is the message
      if (typeof v.wrapper_randkey_hex === 'string') {
        expected = new PyTuple([Buffer.from(v.wrapper_randkey_hex, 'hex'), expected]);
      }
      const canonical =
        v.pickle_encode_exact === true
          ? pickle
          : typeof v.pickle_canonical_file === 'string'
            ? vectorBytes(v.pickle_canonical_file)
            : undefined;
      return [{ name: v.name, kind: v.kind, pickle, value: expected, canonical, checks: [] }];
    }
    default:
      throw new Error(`vector ${v.name}: kind ${v.kind} not handled`);
  }
}

export function readFixture(path: string): Buffer {
  return readFileSync(join(VECTORS_DIR, path));
}

// ------------------------------------------------------------------------------------------------
// stack-aware random pickles: mostly valid, exercising every opcode in odd combinations

type SlotKind = 'v' | 'h' | 'L' | 'D' | 'S' | 'O';

const LEAF_TOKENS: readonly string[] = [
  'N',
  '\x88',
  '\x89',
  'K\x05',
  'K\x01',
  'K\x00',
  'M\x00\x01',
  'J\xff\xff\xff\xff',
  '\x8a\x01\xff',
  '\x8a\x00',
  '\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x80',
  '\x8b\x02\x00\x00\x00\x01\x02',
  'G?\xf8\x00\x00\x00\x00\x00\x00',
  'G\x7f\xf8\x00\x00\x00\x00\x00\x00',
  'F1.5\n',
  'F-0.0\n',
  'Finf\n',
  'I12\n',
  'I01\n',
  'I00\n',
  'L-7L\n',
  'X\x01\x00\x00\x00a',
  'X\x00\x00\x00\x00',
  'X\x06\x00\x00\x00latin1',
  'X\x02\x00\x00\x00\xc3\xa9',
  'X\x03\x00\x00\x00\xed\xa0\x80',
  '\x8c\x03abc',
  'Vlatin1\n',
  'V\\u00e9\\U0001f418\n',
  "S'ab\\x00'\n",
  'S"\\101"\n',
  'U\x02ab',
  'U\x01\xff',
  'T\x01\x00\x00\x00z',
  'C\x01z',
  'C\x00',
  'B\x02\x00\x00\x00zz',
  '\x8e\x01\x00\x00\x00\x00\x00\x00\x00q',
  '\x96\x01\x00\x00\x00\x00\x00\x00\x00\x00',
  '\x8d\x01\x00\x00\x00\x00\x00\x00\x00b',
];

/** leaf-valued snippets built with allow-listed globals */
const LEAF_SNIPPETS: readonly string[] = [
  'c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86R',
  'c_codecs\nencode\nX\x01\x00\x00\x00aX\x07\x00\x00\x00latin-1\x86R',
  'c__builtin__\nbytes\n)R',
  'cbuiltins\nbytes\n](K\x01K\x02e\x85R',
  '\x8c\x08builtins\x8c\x05bytes\x93)R',
];

/** container-valued snippets: sets, frozensets, nodes */
const OBJECT_SNIPPETS: readonly [string, SlotKind][] = [
  ['c__builtin__\nset\n](K\x01K\x02K\x01e\x85R', 'S'],
  ['c__builtin__\nfrozenset\n](X\x01\x00\x00\x00aK\x02e\x85R', 'h'],
  ['cbuiltins\nset\n)R', 'S'],
  ['\x8f', 'S'],
  ['cpysyncobj.node\nTCPNode\n)\x81', 'O'],
  ['cpysyncobj.node\nNode\n)}\x92', 'O'],
  ['ccopy_reg\n_reconstructor\ncpysyncobj.node\nTCPNode\nc__builtin__\nobject\nN\x87R', 'O'],
];

const NODE_STATE =
  '}(X\x03\x00\x00\x00_idX\x03\x00\x00\x00a:1X\x11\x00\x00\x00_TCPNode__addressX\x03\x00\x00\x00a:1X\x0e\x00\x00\x00_TCPNode__hostX\x01\x00\x00\x00aX\x0e\x00\x00\x00_TCPNode__portK\x01u';

/** interpret a list of choices as a pickle built by a simulated stack machine */
export function grammarPickle(choices: readonly number[]): Buffer {
  let out = '\x80\x02(';
  const stack: SlotKind[][] = [[]]; // one frame per open MARK
  let memo = 0;
  const memoKinds: SlotKind[] = [];
  const top = () => stack[stack.length - 1] as SlotKind[];
  const push = (k: SlotKind) => top().push(k);
  for (const c of choices) {
    const frame = top();
    const n = frame.length;
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(c / 31) % xs.length] as T;
    switch (c % 31) {
      case 0:
      case 1:
      case 2:
        out += pick(LEAF_TOKENS);
        push('h');
        break;
      case 3:
        out += pick(LEAF_SNIPPETS);
        push('h');
        break;
      case 4: {
        const [s, k] = pick(OBJECT_SNIPPETS);
        out += s;
        push(k);
        break;
      }
      case 5:
        out += ']';
        push('L');
        break;
      case 6:
        out += '}';
        push('D');
        break;
      case 7:
        out += ')';
        push('h');
        break;
      case 8:
        out += '(';
        stack.push([]);
        break;
      case 9:
        if (n >= 2 && frame[n - 2] === 'L') {
          out += 'a';
          frame.pop();
        }
        break;
      case 10:
        if (n >= 3 && frame[n - 3] === 'D' && frame[n - 2] === 'h') {
          out += 's';
          frame.length -= 2;
        }
        break;
      case 11:
      case 12: {
        // close a MARK with the op that fits the slot below it
        if (stack.length < 2) break;
        const below = stack[stack.length - 2] as SlotKind[];
        const under = below[below.length - 1];
        const items = frame;
        const evenHashableKeys = items.length % 2 === 0 && items.every((k, i) => i % 2 === 1 || k === 'h');
        let op: string;
        let result: SlotKind | undefined;
        if (under === 'L' && c % 2 === 0) op = 'e';
        else if (under === 'D' && evenHashableKeys) op = 'u';
        else if (under === 'S' && items.every((k) => k === 'h')) op = '\x90';
        else {
          const forms: [string, SlotKind][] = [
            ['t', items.every((k) => k === 'h') ? 'h' : 'v'],
            ['l', 'L'],
          ];
          if (evenHashableKeys) forms.push(['d', 'D']);
          if (items.every((k) => k === 'h')) forms.push(['\x91', 'h']);
          [op, result] = pick(forms);
        }
        out += op;
        stack.pop();
        if (result !== undefined) top().push(result);
        break;
      }
      case 13:
      case 14:
      case 15: {
        const k = Math.min(n, 1 + (Math.floor(c / 31) % 3));
        if (k === 0) break;
        out += String.fromCharCode(0x84 + k);
        const items = frame.splice(n - k, k);
        push(items.every((x) => x === 'h') ? 'h' : 'v');
        break;
      }
      case 16:
      case 17:
        if (n > 0) {
          out += memo < 256 ? `q${String.fromCharCode(memo)}` : `r${u32(memo)}`;
          memoKinds[memo++] = frame[n - 1] as SlotKind;
        }
        break;
      case 18:
        if (n > 0) {
          out += `p${memo}\n`;
          memoKinds[memo++] = frame[n - 1] as SlotKind;
        }
        break;
      case 19:
      case 20:
        if (memo > 0) {
          const i = Math.floor(c / 31) % memo;
          out += c % 2 === 0 ? `g${i}\n` : i < 256 ? `h${String.fromCharCode(i)}` : `j${u32(i)}`;
          push(memoKinds[i] as SlotKind);
        }
        break;
      case 21:
        if (n > 0 && frame[n - 1] === 'O') {
          out += `${NODE_STATE}b`;
        }
        break;
      case 22:
        if (n > 0) {
          out += '2';
          push(frame[n - 1] as SlotKind);
        }
        break;
      case 23:
        if (n > 0) {
          out += '0';
          frame.pop();
        }
        break;
      case 24:
        if (stack.length > 1) {
          out += '1';
          stack.pop();
        }
        break;
      case 25:
        out += '\x95\x00\x00\x00\x00\x00\x00\x00\x00';
        break;
      case 26:
        if (n > 0 && frame[n - 1] === 'v') {
          out += '\x94';
          memoKinds[memo++] = 'v';
        }
        break;
      default:
        out += pick(LEAF_TOKENS);
        push('h');
    }
  }
  while (stack.length > 1) {
    out += 't';
    stack.pop();
    top().push('v');
  }
  return Buffer.from(`${out}t.`, 'latin1');
}

function u32(n: number): string {
  return String.fromCharCode(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
}

export const grammarPickleArb: fc.Arbitrary<Buffer> = fc
  .array(fc.nat({ max: 31 * 64 }), { maxLength: 80, size: 'large' })
  .map(grammarPickle);
