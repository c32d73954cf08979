/**
 * Property tests of the pickle codec (fast-check):
 *   1. every PyValue round-trips encode → decode, in both byte encodings, and canonical encoding is
 *      idempotent (encode(decode(encode(v))) = encode(v));
 *   2. random bytes, 3. random opcode soup, 4. stack-aware random pickles (mostly valid, every opcode)
 *      and 5. mutated valid pickles never raise anything but a
 *      WireError, finish quickly, and any value they do decode to stays within the limits.
 *
 * Seed: RAFTDCS_FC_SEED (default below). A failure prints fast-check's `seed` and `path`; rerun with
 * RAFTDCS_FC_SEED=<seed> (and fast-check's `path`) to replay it exactly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WireError } from '../../src/wire/errors.js';
import { type DecodeLimits, decodePickle, encodePickle } from '../../src/wire/pickle/index.js';
import type { PyValue } from '../../src/wire/value.js';
import {
  bigValueArb,
  grammarPickleArb,
  modelProblem,
  mutate,
  mutationArb,
  pickleCases,
  pyValueArb,
  strictDiff,
  tokenPickleArb,
} from './pickle-support.js';

const SEED = Number(process.env.RAFTDCS_FC_SEED ?? 20_251_126);
const params = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, endOnFailure: true });

/** small limits so that every accepted input is checked against them */
const LIMITS: Required<DecodeLimits> = { maxDepth: 64, maxExpandedSize: 5000 };
const SLOW_MS = 250;

function roundTrip(v: PyValue): void {
  const enc = encodePickle(v);
  const dec = decodePickle(enc);
  const d = strictDiff(dec, v);
  if (d !== null) throw new Error(`canonical round trip differs at ${d}`);
  const again = encodePickle(dec);
  if (!again.equals(enc)) throw new Error('canonical encoding is not idempotent');
  const bb = decodePickle(encodePickle(v, { bytes: 'binbytes' }));
  const d2 = strictDiff(bb, v);
  if (d2 !== null) throw new Error(`binbytes round trip differs at ${d2}`);
}

/** decode hostile input: only WireError, quickly; an accepted value is within the limits and re-encodes */
function robust(input: Uint8Array): void {
  const t0 = performance.now();
  let v: PyValue;
  try {
    v = decodePickle(input, LIMITS);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    if (performance.now() - t0 > SLOW_MS) throw new Error(`rejection took ${performance.now() - t0} ms`);
    return;
  }
  if (performance.now() - t0 > SLOW_MS) throw new Error(`decode took ${performance.now() - t0} ms`);
  const problem = modelProblem(v, LIMITS.maxExpandedSize, LIMITS.maxDepth);
  if (problem !== null) throw new Error(`accepted value breaks the limits: ${problem}`);
  const d = strictDiff(decodePickle(encodePickle(v)), v);
  if (d !== null) throw new Error(`accepted value does not round-trip: ${d}`);
}

describe(`pickle properties (seed ${SEED})`, () => {
  it('random PyValues round-trip (canonical and binbytes)', () => {
    fc.assert(fc.property(pyValueArb, roundTrip), params(25_000));
  });

  it('big containers round-trip (batches of 1000, LONG_BINPUT)', () => {
    fc.assert(fc.property(bigValueArb, roundTrip), params(300));
  });

  it('random bytes: only WireError, quickly, within limits', () => {
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.concat([Buffer.from([0x80, 2]), b])),
    );
    fc.assert(fc.property(arb, robust), params(20_000));
  });

  it('random opcode sequences: only WireError, quickly, within limits', () => {
    fc.assert(fc.property(tokenPickleArb, robust), params(15_000));
  });

  it('stack-aware random pickles: only WireError, quickly, within limits', () => {
    fc.assert(fc.property(grammarPickleArb, robust), params(20_000));
  });

  it('mutated valid pickles: only WireError, quickly, within limits', () => {
    const small = pickleCases()
      .map((c) => c.pickle)
      .filter((p) => p.length > 0 && p.length <= 2048);
    expect(small.length).toBeGreaterThan(50);
    const source = fc.oneof(
      fc.constantFrom(...small),
      pyValueArb.map((v) => encodePickle(v)),
      pyValueArb.map((v) => encodePickle(v, { bytes: 'binbytes' })),
      tokenPickleArb,
      grammarPickleArb,
    );
    fc.assert(
      fc.property(source, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (p, ms) =>
        robust(mutate(p, ms)),
      ),
      params(25_000),
    );
  });
});
