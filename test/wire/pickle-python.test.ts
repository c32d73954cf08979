/**
 * The pickle codec against the real CPython (Debian /usr/bin/python3 with python3-pysyncobj):
 *   - Python loads what we encode (canonical and binbytes) to the same value, and CPython's own
 *     protocol-2 pickle of what it loaded is byte-identical to our canonical bytes (values without a
 *     multi-item set, whose order is Python's hash order);
 *   - we decode what CPython pickles — random and hand-picked values, every protocol 0–5 and
 *     pysyncobj.pickle.dumps — to the same value;
 *   - differential fuzz: random stack-aware pickles (and mutations of them) are loaded by Python with
 *     pysyncobj's semantics (C unpickler, then the patched pure-Python one) behind an allow-list;
 *     whenever we accept, Python must accept and agree on the value; where Python accepts and we do
 *     not, the reason must be one of our documented restrictions.
 * One Python process per batch; values travel as length-prefixed pickles on stdin, answers come back
 * as typed JSON (see test/helpers/typed-json.ts).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { WireError } from '../../src/wire/errors.js';
import { decodePickle, encodePickle } from '../../src/wire/pickle/index.js';
import { PyFrozenSet, PySet, PyTuple, type PyValue } from '../../src/wire/value.js';
import { describePython, runPython } from '../helpers/python.js';
import { fromTypedJson, type TypedJson } from '../helpers/typed-json.js';
import {
  bigValueArb,
  grammarPickleArb,
  mutate,
  mutationArb,
  pickleCases,
  pyValueArb,
  strictDiff,
} from './pickle-support.js';

const SEED = Number(process.env.RAFTDCS_FC_SEED ?? 20_251_126);

/** Python: typed JSON of a value (the golden vectors' notation) */
const TYPED_PY = String.raw`
import io, json, pickle, struct, sys
import pysyncobj.pickle as pp
from pysyncobj.node import Node, TCPNode

def T(v):
    if v is None: return {"none": None}
    if v is True or v is False: return {"bool": v}
    t = type(v)
    if t is int: return {"int": str(v)}
    if t is float: return {"float": repr(v), "f64": struct.pack('>d', v).hex()}
    if t is str: return {"str": v}
    if t is bytes or t is bytearray: return {"bytes": bytes(v).hex()}
    if t is tuple: return {"tuple": [T(x) for x in v]}
    if t is list: return {"list": [T(x) for x in v]}
    if t is dict: return {"dict": [[T(k), T(x)] for k, x in v.items()]}
    if t is set: return {"set": [T(x) for x in v]}
    if t is frozenset: return {"frozenset": [T(x) for x in v]}
    if t is TCPNode or t is Node:
        return {"object": t.__module__ + "." + t.__name__, "state": T(vars(v))}
    raise TypeError("unrepresentable: %r" % t)

def frames():
    data = sys.stdin.buffer.read()
    i = 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], 'little')
        yield data[i + 4:i + 4 + n]
        i += 4 + n

def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
`;

/** Python: load each pickle as pysyncobj does, describe it, and re-pickle it with protocol 2 */
const LOAD_PY = `${TYPED_PY}
for data in frames():
    try:
        v = pp.loads(data)
    except Exception as e:
        reply({"ok": False, "error": repr(e)})
        continue
    reply({"ok": True, "typed": T(v), "repickle": pickle.dumps(v, 2).hex()})
`;

/** Python: pickles of random and chosen values with every protocol */
const DUMP_PY = `${TYPED_PY}
import random
R = random.Random(int(sys.argv[1]))

def rstr():
    c = R.randrange(4)
    if c == 0: return ''.join(chr(R.randrange(0x80)) for _ in range(R.randrange(12)))
    if c == 1: return ''.join(chr(R.randrange(0x110000)) for _ in range(R.randrange(6)))
    if c == 2: return ''.join(chr(R.randrange(0x100)) for _ in range(R.randrange(12)))
    return R.choice(['', 'a', '\\xe9', '\\xff', 'latin1', '_id', 'x' * 300, 'h\\xe9llo \\u20ac \\U0001f418', '\\ud800', '\\\\u0041\\n\\r\\x00'])

def leaf():
    c = R.randrange(11)
    if c == 0: return None
    if c == 1: return R.choice([True, False])
    if c == 2: return R.randint(-70000, 70000)
    if c == 3: return R.choice([2**31, -2**31 - 1, 2**53 + 1, -2**53, 2**63, -2**63, 2**64 + 5, 2**1000 + 7, -(2**2100) - 3, R.getrandbits(80)])
    if c == 4: return R.choice([0.0, -0.0, 1.5, float('inf'), float('-inf'), float('nan'), 1e-300, 5e-324, 1e308, 1795682935.9949803, R.random()])
    if c in (5, 6): return rstr()
    if c == 7: return bytes(R.randrange(256) for _ in range(R.randrange(20)))
    if c == 8: return R.choice([b'', b'\\x01', b'\\x00', bytes(range(256)), b'\\x80' * 300])
    if c == 9: return TCPNode('%s:%d' % (R.choice(['127.0.0.1', 'localhost', 'pg-1.example.com']), R.randrange(65536)))
    return Node(R.choice(['x', 'node-1', '']))

def hashable():
    c = R.randrange(5)
    if c == 0: return tuple(leaf() for _ in range(R.randrange(3)))
    if c == 1: return frozenset(R.randrange(10) for _ in range(R.randrange(3)))
    return leaf()

def key():
    return R.choice([rstr, lambda: R.randint(-1000, 1000), lambda: R.getrandbits(70), lambda: R.choice([True, False, None])])()

def value(d=0):
    if d > 3 or R.random() < 0.35: return leaf()
    c = R.randrange(5)
    if c == 0: return [value(d + 1) for _ in range(R.randrange(5))]
    if c == 1: return tuple(value(d + 1) for _ in range(R.randrange(5)))
    if c == 2: return {key(): value(d + 1) for _ in range(R.randrange(5))}
    if c == 3: return set(hashable() for _ in range(R.randrange(4)))
    return frozenset(hashable() for _ in range(R.randrange(3)))

def nested(n):
    v = 'bottom'
    for i in range(n): v = [v, i] if i % 2 else (v,)
    return v

cmd = b'\\x00' + pickle.dumps((2, ('/service/batman/leader', {'value': 'pg1', 'updated': 1795682945.99, 'created': 1795682935.99, 'expire': 1795682975.99}), {'prevValue': 'pg1'}), 2)
chosen = [
    ('tcpnode', TCPNode('127.0.0.1:1234')),
    ('node', Node('readonly')),
    ('nodes', [TCPNode('127.0.0.1:1'), TCPNode('127.0.0.1:2'), Node('127.0.0.1:1')]),
    ('sets', [{1, 2, 3}, {'a', 'b'}, set(), frozenset([(1, 2), (3, 4)]), {TCPNode('h:1'), TCPNode('h:2')}]),
    ('bigints', [2**64, -2**64, 2**1000, -(2**3000), 2**53 + 1, -(2**53) - 1, 2**31, -2**31 - 1]),
    ('floats', [0.0, -0.0, float('nan'), float('inf'), -float('inf'), 5e-324, 1.7976931348623157e308, 0.1]),
    ('bytes256', bytes(range(256))),
    ('bytes', [b'', b'\\x01', b'\\x01', bytes(range(256)), b'\\xff' * 1000]),
    ('nested', nested(60)),
    ('list2500', list(range(2500))),
    ('dict1500', {'k%04d' % i: i for i in range(1500)}),
    ('append_entries', {'type': 'append_entries', 'term': 7, 'commit_index': 40, 'entries': [(b'\\x01', 1, 0), (cmd, 2, 1), (b'\\x01', 3, 1)], 'prevLogIdx': 0, 'prevLogTerm': 0}),
    ('dump', ({'_SyncObj__enabledCodeVersion': 0, '_KVStoreTTL__data': {'/service/b/leader': {'value': 'pg1', 'index': 4}}}, (cmd, 4, 1), (b'\\x01', 3, 1), {TCPNode('127.0.0.1:21001')})),
    ('bytearray', bytearray(b'ab\\xff')),
    ('strings', ['', 'a', '\\xe9', '\\u0100', '\\ud800', '\\udfff\\ud800', '\\U0010ffff', 'x' * 70000]),
]
values = [('random%d' % i, value()) for i in range(int(sys.argv[2]))] + chosen
for name, v in values:
    typed = T(v)
    dumps = [('pysyncobj', pp.dumps(v))] + [('p%d' % p, pickle.dumps(v, p)) for p in range(6)]
    for proto, data in dumps:
        if type(v) is bytearray and proto != 'p5':
            continue  # below protocol 5 a bytearray needs the builtins.bytearray global (not allowed)
        reply({"name": name, "proto": proto, "hex": data.hex(), "typed": typed})
`;

/**
 * Python: exactly pysyncobj's loads (C pickle.loads, then the patched pure-Python loader), with an
 * audit hook refusing every global outside the allow-list (the fuzz input is hostile).
 */
const FUZZ_PY = `${TYPED_PY}
ALLOWED = {('_codecs', 'encode'), ('__builtin__', 'bytes'), ('builtins', 'bytes'), ('__builtin__', 'set'),
           ('builtins', 'set'), ('__builtin__', 'frozenset'), ('builtins', 'frozenset'),
           ('pysyncobj.node', 'TCPNode'), ('pysyncobj.node', 'Node'), ('copy_reg', '_reconstructor'),
           ('copyreg', '_reconstructor'), ('__builtin__', 'object'), ('builtins', 'object')}

def audit(event, args):
    if event == 'pickle.find_class' and tuple(args) not in ALLOWED:
        raise pickle.UnpicklingError('forbidden global %r' % (args,))

sys.addaudithook(audit)
sys.setrecursionlimit(3000)
# the input may ask for bytes(2**31) and the like: fail such allocations instead of swapping
import resource
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
for data in frames():
    try:
        v = pp.loads(data)
    except Exception as e:
        reply({"ok": False, "error": repr(e)[:200]})
        continue
    try:
        reply({"ok": True, "typed": T(v)})
    except (TypeError, RecursionError, ValueError) as e:
        reply({"ok": "unrepresentable", "error": repr(e)[:200]})
`;

function framesOf(pickles: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pickles) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(p.length);
    parts.push(len, Buffer.from(p));
  }
  return Buffer.concat(parts);
}

function lines<T>(out: string): T[] {
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

function hasMultiItemSet(v: PyValue): boolean {
  if (v instanceof PySet || v instanceof PyFrozenSet)
    return v.items.length > 1 || v.items.some(hasMultiItemSet);
  if (Array.isArray(v)) return v.some(hasMultiItemSet);
  if (v instanceof PyTuple) return v.items.some(hasMultiItemSet);
  if (v instanceof Map) return [...v.values()].some(hasMultiItemSet);
  if (v !== null && typeof v === 'object' && 'state' in v) return hasMultiItemSet(v.state);
  return false;
}

/** our documented restrictions: Python accepts these, we refuse on purpose */
const OUR_RESTRICTIONS =
  /unsupported dict key type|modified after it was stored|stored inside itself|at STOP|after STOP|slot state|cannot be called by REDUCE|only pysyncobj\.node|arguments must be \(\)|keyword arguments must be|argument must be a list|_codecs\.encode needs|bytes\(\)|leading zero|class or function reference|BUILD state is not a dict|frame of N bytes is longer|invalid int literal|ambiguous int literal|invalid float literal|memo index must be a decimal number|FRAME together with|BUILD target is not an object|REDUCE arguments are not a tuple/;

describePython('pickle codec against CPython', () => {
  it('Python loads our encodings to the same value; its protocol-2 re-pickle equals our canonical bytes', () => {
    const values: PyValue[] = [
      ...fc.sample(pyValueArb, { seed: SEED, numRuns: 200 }),
      ...fc.sample(bigValueArb, { seed: SEED, numRuns: 6 }),
      ...pickleCases()
        .filter((c) => c.pickle.length > 0)
        .map((c) => c.value),
    ];
    const canonical = values.map((v) => encodePickle(v));
    const binbytes = values.map((v) => encodePickle(v, { bytes: 'binbytes' }));
    type Answer = { ok: boolean; error?: string; typed: TypedJson; repickle: string };
    const answers = lines<Answer>(runPython(LOAD_PY, framesOf([...canonical, ...binbytes]), 120_000));
    expect(answers.length).toBe(2 * values.length);
    let compared = 0;
    answers.forEach((a, i) => {
      const v = values[i % values.length] as PyValue;
      const form = i < values.length ? 'canonical' : 'binbytes';
      expect(a.ok, `${form} #${i % values.length}: ${a.error}`).toBe(true);
      const d = strictDiff(fromTypedJson(a.typed), v);
      expect(d, `${form} #${i % values.length}: Python loaded a different value: ${d}`).toBeNull();
      if (i < values.length && !hasMultiItemSet(v)) {
        expect(a.repickle, `canonical #${i}: CPython's pickle of the loaded value`).toBe(
          (canonical[i] as Buffer).toString('hex'),
        );
        compared++;
      }
    });
    expect(compared).toBeGreaterThan(150);
  });

  it('we decode what CPython pickles: random and chosen values, protocols 0-5 and pysyncobj.pickle.dumps', () => {
    type Dump = { name: string; proto: string; hex: string; typed: TypedJson };
    const dumps = lines<Dump>(runDump(SEED, 200));
    expect(dumps.length).toBeGreaterThan(1000);
    const protos = new Set(dumps.map((d) => d.proto));
    expect([...protos].sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'pysyncobj']);
    for (const d of dumps) {
      let got: PyValue;
      try {
        got = decodePickle(Buffer.from(d.hex, 'hex'));
      } catch (e) {
        throw new Error(`${d.name} ${d.proto}: ${(e as Error).message}`);
      }
      const diff = strictDiff(got, fromTypedJson(d.typed));
      expect(diff, `${d.name} ${d.proto}`).toBeNull();
    }
  });

  it('the protocol fixtures (pickle-protocols.json) are what CPython produces', () => {
    const code = `${TYPED_PY}
cases = [
 ('tcpnode', TCPNode('127.0.0.1:1234')),
 ('node', Node('x')),
 ('mixed', ['a', b'\\x00\\xff', {1: 2}, (1, 2), 1.5, 10**30, '\\xe9\\u20ac\\U0001f418\\ud800', None, True, {1}, '\\\\x\\n', frozenset([2]), -5, 2**31, -2**31-1, (), [], {}, 'a' * 300, b'\\x01', b'\\x01', b'', float('inf'), -0.0, {'k': [TCPNode('h:1'), TCPNode('h:2')]}]),
]
for name, v in cases:
    for p in range(6):
        reply({"name": "%s_p%d" % (name, p), "hex": pickle.dumps(v, p).hex(), "value": T(v)})
`;
    const fresh = lines<{ name: string; hex: string; value: TypedJson }>(runPython(code));
    const fixtures = (
      JSON.parse(readFileSync(new URL('./pickle-protocols.json', import.meta.url), 'utf8')) as {
        cases: { name: string; hex: string; value: TypedJson }[];
      }
    ).cases;
    expect(fresh).toEqual(fixtures);
  });

  it('differential fuzz: whenever we accept, Python accepts the same value', () => {
    const inputs: Buffer[] = [
      ...fc.sample(grammarPickleArb, { seed: SEED, numRuns: 2500 }),
      ...fc
        .sample(fc.tuple(grammarPickleArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 })), {
          seed: SEED + 1,
          numRuns: 1500,
        })
        .map(([p, ms]) => mutate(p, ms)),
    ];
    type Answer = { ok: boolean | 'unrepresentable'; error?: string; typed?: TypedJson };
    const answers = lines<Answer>(runPython(FUZZ_PY, framesOf(inputs), 120_000));
    expect(answers.length).toBe(inputs.length);
    const stats = { bothOk: 0, bothReject: 0, weStricter: new Map<string, number>() };
    answers.forEach((a, i) => {
      const input = inputs[i] as Buffer;
      const hex = input.toString('hex');
      let ours: PyValue | WireError;
      try {
        ours = decodePickle(input);
      } catch (e) {
        if (!(e instanceof WireError)) throw new Error(`non-WireError for ${hex}: ${e}`);
        ours = e;
      }
      if (!(ours instanceof WireError)) {
        expect(a.ok, `we accept but Python says ${a.ok}: ${a.error} — input ${hex}`).toBe(true);
        const d = strictDiff(ours, fromTypedJson(a.typed as TypedJson));
        expect(d, `values differ for ${hex}`).toBeNull();
        stats.bothOk++;
      } else if (a.ok === true) {
        const reason = ours.message.replace(/^.*?: 0x[0-9a-f]{2} [A-Z_0-9]+: /, '').replace(/\d+/g, 'N');
        expect(reason, `Python accepts ${hex} but we reject: ${ours.message}`).toMatch(OUR_RESTRICTIONS);
        stats.weStricter.set(reason, (stats.weStricter.get(reason) ?? 0) + 1);
      } else {
        stats.bothReject++;
      }
    });
    expect(stats.bothOk).toBeGreaterThan(2000);
  });
});

function runDump(seed: number, randomCount: number): string {
  return runPython(
    `import sys; sys.argv = ['x', '${seed}', '${randomCount}']\n${DUMP_PY}`,
    undefined,
    120_000,
  );
}
