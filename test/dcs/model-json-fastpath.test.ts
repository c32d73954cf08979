/** The native JSON.parse fast path of parsePyJson gives exactly the reference parser's values. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonFloat, JsonParseError, parsePyJson, parsePyJsonReference } from '../../src/dcs/model/json.js';

function outcome(f: () => unknown): unknown {
  try {
    return { ok: normalise(f()) };
  } catch (e) {
    if (e instanceof JsonParseError) return { error: e.code };
    throw e;
  }
}

function normalise(v: unknown): unknown {
  if (v instanceof JsonFloat) return { float: v.value };
  if (typeof v === 'bigint') return { bigint: v.toString() };
  if (typeof v === 'number' && Object.is(v, -0)) return { negzero: true };
  if (Array.isArray(v)) return { frozen: Object.isFrozen(v), items: v.map(normalise) };
  if (v !== null && typeof v === 'object') {
    return {
      frozen: Object.isFrozen(v),
      proto: Object.getPrototypeOf(v) === null,
      entries: Object.keys(v).map((k) => [k, normalise((v as Record<string, unknown>)[k])]),
    };
  }
  return v;
}

const SEED = Number(process.env.RAFTDCS_FC_SEED ?? 20261126);

describe('parsePyJson native fast path', () => {
  it('agrees with the reference parser on chosen texts', () => {
    const texts = [
      '{"a":1,"b":1.0,"c":1e3,"d":-0,"e":-0.0,"f":1.5,"g":12345678901234567890,"h":[1,2,{"x":null}]}',
      '{"conn_url":"postgres://10.0.0.1:5432/postgres","xlog_location":67108960,"tags":{"nofailover":false}}',
      '[NaN, Infinity, -Infinity]',
      '{"__proto__":1,"constructor":2,"1":3,"a":4}',
      '{"a":1,"a":2}',
      ' \n[1e400, -1e-400, 0.1, 123456789012345, 9007199254740993]\t',
      '{"s":"\\ud800 \\u00e9 \\" \\\\ \\/"}',
      '{',
      '[1,]',
      '"\u0001"',
      '',
      '01',
      '-',
      '['.repeat(1200) + ']'.repeat(1200),
    ];
    for (const t of texts)
      expect(
        outcome(() => parsePyJson(t)),
        t.slice(0, 60),
      ).toEqual(outcome(() => parsePyJsonReference(t)));
  });

  it('agrees with the reference parser on random JSON and random text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.jsonValue().map((v) => JSON.stringify(v, null, 1)),
          fc.string({
            unit: fc.constantFrom(...'{}[],:"\\0123456789.eE+-tfnulNaIy aé'.split('')),
            maxLength: 40,
          }),
          fc.double().map((d) => `[${String(d)}, ${d}]`),
          fc.bigInt().map((b) => `{"n":${b}}`),
        ),
        (t) => {
          expect(outcome(() => parsePyJson(t))).toEqual(outcome(() => parsePyJsonReference(t)));
        },
      ),
      { numRuns: 20_000, seed: SEED },
    );
  });
});
