/**
 * Property tests (fast-check) for the FrameDecoder: random and mutated byte strings, with and
 * without a password, and valid Fernet tokens / zlib streams wrapped around mutated inner layers,
 * never raise anything but WireError, always terminate, and respect the size limits.
 *
 * Seed: RAFTDCS_FC_SEED (default below); fast-check prints seed and path of a failure, and every
 * failure message here repeats the seed. ≥ 10^5 cases per run in total.
 */
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/errors.js';
import { Fernet } from '../../src/wire/fernet.js';
import { encodeFrame, FrameDecoder, type FrameDecoderOptions, prefixFrame } from '../../src/wire/frame.js';
import { encodePickle } from '../../src/wire/pickle/index.js';
import { dict, float, PyTuple, type PyValue, pyEquals, tuple } from '../../src/wire/value.js';

const SEED = Number(process.env.RAFTDCS_FC_SEED ?? 424242);
const SCALE = Number(process.env.RAFTDCS_FC_SCALE ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
const params = (numRuns: number): fc.Parameters<unknown> => ({
  seed: SEED,
  numRuns: runs(numRuns),
  endOnFailure: true,
});

const fernet = Fernet.fromPassword('fuzz-password');
const KEY = Buffer.alloc(32, 0x77);
const MAX_FRAME = 4096;
const MAX_INFLATED = 64 * 1024;
let totalCases = 0;

/** Outcome histogram of one property, to check that the fuzzing reaches the layer it aims at. */
function histogram(): { add(code: string): void; expectSeen(...codes: string[]): void } {
  const seen = new Map<string, number>();
  return {
    add: (code) => seen.set(code, (seen.get(code) ?? 0) + 1),
    expectSeen: (...codes) => {
      for (const c of codes) {
        expect(
          seen.get(c) ?? 0,
          `outcome ${c} never happened (seen: ${JSON.stringify([...seen])})`,
        ).toBeGreaterThan(0);
      }
    },
  };
}

/** Feed `bytes` split at `cuts`, draining after every chunk; returns messages; throws what the decoder throws. */
function feed(bytes: Uint8Array, cuts: number[], options: FrameDecoderOptions): PyValue[] {
  totalCases++;
  const dec = new FrameDecoder({ maxFrameBytes: MAX_FRAME, maxInflatedBytes: MAX_INFLATED, ...options });
  const out: PyValue[] = [];
  let prev = 0;
  const points = [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  let steps = 0;
  for (const c of points) {
    dec.push(bytes.subarray(prev, c));
    prev = c;
    for (const f of dec) {
      out.push(f.message);
      if (++steps > bytes.length + 1) throw new Error(`decoder does not make progress (seed ${SEED})`);
      expect(f.frameBytes).toBeLessThanOrEqual(MAX_FRAME + 4);
    }
    // after draining, at most one incomplete frame (without its validated prefix) is buffered
    expect(dec.bufferedBytes).toBeLessThan(MAX_FRAME + 4);
  }
  dec.end();
  for (const f of dec) out.push(f.message);
  return out;
}

/** Run `fn`; anything thrown must be a WireError. Returns the error code or 'ok'. */
function outcome(fn: () => unknown): string {
  const t0 = performance.now();
  let code = 'ok';
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WireError)) {
      throw new Error(`non-WireError thrown (seed ${SEED}): ${(e as Error)?.stack ?? String(e)}`);
    }
    code = e.code;
  }
  const ms = performance.now() - t0;
  if (ms > 2000) throw new Error(`one case took ${ms.toFixed(0)} ms (seed ${SEED})`);
  return code;
}

// ----------------------------------------------------------------------------------------------
// arbitraries

const pyValue: fc.Arbitrary<PyValue> = fc.letrec<{ v: PyValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc
      .bigInt({ min: -(2n ** 80n), max: 2n ** 80n })
      .map((b) => (b >= -(2n ** 53n) && b <= 2n ** 53n ? Number(b) : b)),
    fc.double({ noNaN: true }).map(float),
    fc.string({ maxLength: 20, unit: 'binary' }),
    fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
    fc.array(tie('v'), { maxLength: 5 }).map((items) => new PyTuple(items)),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.array(fc.tuple(fc.string({ maxLength: 8 }), tie('v')), { maxLength: 5 }).map((e) => dict(e)),
  ),
})).v;

/** A handful of realistic messages. */
const realistic: PyValue[] = [
  dict({ type: 'request_vote', term: 7, last_log_index: 40, last_log_term: 6 }),
  dict({
    type: 'append_entries',
    term: 3,
    commit_index: 9,
    entries: [tuple(Buffer.from([1]), 10, 3), tuple(Buffer.from('00800249002e', 'hex'), 11, 3)],
    prevLogIdx: 9,
    prevLogTerm: 2,
  }),
  dict({ type: 'next_node_idx', next_node_idx: 5, reset: false, success: true }),
  '127.0.0.1:21002',
];

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; n: number }
  | { op: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(input: Uint8Array, muts: Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of muts) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'flip') b[at] = (b[at] ?? 0) ^ (1 << m.bit);
    else if (m.op === 'set') b[at] = m.byte;
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
    else b = b.subarray(0, at);
  }
  return b;
}

const cuts = fc.array(fc.nat({ max: 2000 }), { maxLength: 6 });

// ----------------------------------------------------------------------------------------------

describe(`FrameDecoder fuzzing (seed ${SEED})`, () => {
  it('random byte strings, plain and encrypted, random chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, fc.boolean(), (bytes, c, enc) => {
        outcome(() => feed(bytes, c, enc ? { fernet } : {}));
      }),
      params(25_000),
    );
  });

  it('random byte strings behind a plausible length prefix', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: -2, max: 260 }),
        fc.boolean(),
        (bytes, d, enc) => {
          const p = Buffer.alloc(4);
          p.writeInt32LE(bytes.length + (d > 250 ? MAX_FRAME : d - 1));
          outcome(() => feed(Buffer.concat([p, bytes]), [], enc ? { fernet } : {}));
        },
      ),
      params(10_000),
    );
  });

  it('mutated valid plain streams (wrapped and not)', () => {
    const streams = [
      Buffer.concat(realistic.map((m) => encodeFrame(m))),
      Buffer.concat(realistic.map((m) => encodeFrame(m, { sendRandKey: KEY }))),
    ];
    const h = histogram();
    fc.assert(
      fc.property(fc.nat(1), fc.array(mutation, { minLength: 1, maxLength: 4 }), cuts, (which, muts, c) => {
        const opts = which === 1 ? { keys: { recvRandKey: KEY } } : {};
        h.add(outcome(() => feed(mutate(streams[which] as Buffer, muts), c, opts)));
      }),
      params(20_000),
    );
    if (SCALE >= 1)
      h.expectSeen('ok', WireErrorCode.BadZlib, WireErrorCode.FrameTruncated, WireErrorCode.FrameTooLarge);
  });

  it('mutated encrypted streams (mostly HMAC failures)', () => {
    const stream = Buffer.concat(realistic.map((m) => encodeFrame(m, { fernet, sendRandKey: KEY })));
    const h = histogram();
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), cuts, (muts, c) => {
        h.add(outcome(() => feed(mutate(stream, muts), c, { fernet, keys: { recvRandKey: KEY } })));
      }),
      params(8_000),
    );
    if (SCALE >= 1) h.expectSeen(WireErrorCode.BadToken, WireErrorCode.FrameTruncated);
  });

  it('valid tokens around mutated zlib streams', () => {
    const inner = realistic.map((m) => deflateSync(encodePickle(tuple(KEY, m)), { level: 3 }));
    const h = histogram();
    fc.assert(
      fc.property(fc.nat(inner.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), (i, muts) => {
        const token = fernet.encrypt(mutate(inner[i] as Buffer, muts), { timestampSec: 1 });
        h.add(outcome(() => feed(prefixFrame(token), [], { fernet, keys: { recvRandKey: KEY } })));
      }),
      params(8_000),
    );
    if (SCALE >= 1) h.expectSeen(WireErrorCode.BadZlib);
  });

  it('valid zlib (in valid tokens, or plain) around mutated pickles of random values', () => {
    const h = histogram();
    fc.assert(
      fc.property(pyValue, fc.array(mutation, { maxLength: 3 }), fc.boolean(), (v, muts, enc) => {
        const pickle = encodePickle(tuple(KEY, v));
        const compressed = deflateSync(mutate(pickle, muts), { level: 3 });
        const payload = enc ? fernet.encrypt(compressed, { timestampSec: 2 }) : compressed;
        const code = outcome(() => {
          const got = feed(prefixFrame(payload), [], {
            fernet: enc ? fernet : null,
            keys: { recvRandKey: KEY },
          });
          if (muts.length === 0) {
            expect(got).toHaveLength(1);
            expect(pyEquals(got[0], v)).toBe(true);
          }
        });
        h.add(code);
        if (muts.length === 0) expect(code).toBe('ok');
      }),
      params(25_000),
    );
    if (SCALE >= 1) h.expectSeen('ok', WireErrorCode.BadPickle, WireErrorCode.BadRandKey);
  });

  it('the inflate limit holds for highly compressible payloads (zlib bombs)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 * MAX_INFLATED }),
        fc.integer({ min: 0, max: 255 }),
        (n, byte) => {
          const payload = deflateSync(Buffer.alloc(n, byte), { level: 9 });
          if (payload.length > MAX_FRAME) return;
          const code = outcome(() => feed(prefixFrame(payload), [], {}));
          if (n > MAX_INFLATED) expect(code).toBe(WireErrorCode.BadZlib);
          else expect(code).not.toBe(WireErrorCode.BadZlib);
        },
      ),
      params(5_000),
    );
  });

  it(`ran at least 10^5 cases in total`, () => {
    if (SCALE >= 1) expect(totalCases).toBeGreaterThanOrEqual(100_000);
  });
});
